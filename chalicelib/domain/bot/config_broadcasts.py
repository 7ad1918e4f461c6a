"""Reading `broadcasts:` — the messaging limit, the marketing switch and the price table. Part of
`config_loader`, split out to keep each module small.

    broadcasts:
      daily_limit: 1000        # or "unlimited": Meta's levels are 250, 2000, 10000, 100000
      allow_marketing: false   # marketing templates are refused for government use unless true
      prices: {currency: EUR, utility: 0.0300, marketing: 0.0500, authentication: 0.0300}
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from chalicelib.domain.bot.config_reader import Reader
from chalicelib.domain.bot.definition import DEFAULT_CURRENCY, BroadcastPolicy

UNLIMITED = "unlimited"
PRICE_CATEGORIES = ("utility", "marketing", "authentication")
_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_DAILY_LIMIT = 10_000_000


def read_broadcasts(reader: Reader, value: Any) -> BroadcastPolicy | None:
    """The `broadcasts:` section, each problem reported under its path."""
    data = reader.mapping(value, "broadcasts")
    if data is None:
        return None
    reader.keys(data, "broadcasts", ("daily_limit", "allow_marketing", "prices"))
    daily_limit = _daily_limit(reader, data.get("daily_limit"))
    allow_marketing = False
    if data.get("allow_marketing") is not None:
        allow_marketing = bool(reader.flag(data["allow_marketing"], "broadcasts.allow_marketing"))
    currency, prices = _prices(reader, data.get("prices"))
    if daily_limit is False:
        return None
    return BroadcastPolicy(
        daily_limit=daily_limit or None,
        allow_marketing=allow_marketing,
        currency=currency,
        prices=MappingProxyType(prices),
    )


def _daily_limit(reader: Reader, value: Any) -> int | bool | None:
    """The limit; None for unlimited; False when it is wrong (reported)."""
    path = "broadcasts.daily_limit"
    if value == UNLIMITED:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        reader.wrong(path, f"a whole number or '{UNLIMITED}'", value)
        return False
    if not 1 <= value <= MAX_DAILY_LIMIT:
        reader.problem(path, f"{value} is not between 1 and {MAX_DAILY_LIMIT}")
        return False
    return value


def _prices(reader: Reader, value: Any) -> tuple[str, dict[str, Decimal]]:
    path = "broadcasts.prices"
    data = reader.mapping(value, path)  # None: reported as missing
    if data is None:
        return DEFAULT_CURRENCY, {}
    reader.keys(data, path, ("currency", *PRICE_CATEGORIES))
    currency = reader.text(data.get("currency"), f"{path}.currency") or DEFAULT_CURRENCY
    if not _CURRENCY.match(currency):
        reader.problem(f"{path}.currency", f"'{currency}' is not a currency code like EUR")
    prices: dict[str, Decimal] = {}
    for category in PRICE_CATEGORIES:
        raw = data.get(category)
        where = f"{path}.{category}"
        if raw is None:
            if category != "authentication":  # towns rarely broadcast one-time codes
                reader.missing(where)
            continue
        price = _price(raw)
        if price is None:
            reader.wrong(where, "a price of 0 or more, like 0.0300", raw)
            continue
        prices[category] = price
    return currency, prices


def _price(raw: Any) -> Decimal | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        price = Decimal(str(raw))  # str(): 0.03 from YAML is the float 0.03, not 0.0299999…
    except InvalidOperation:
        return None
    return price if price.is_finite() and price >= 0 else None
