"""Calendar periods of the configuration (`retention:`): when one that starts at a moment ends."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib.domain.bot.definition import Period


def at(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("period", "start", "end"),
    [
        (Period(30, "days"), at(2026, 11, 23, 10, 30), at(2026, 12, 23, 10, 30)),
        (Period(2, "weeks"), at(2026, 12, 25, 8, 0), at(2027, 1, 8, 8, 0)),
        (Period(24, "months"), at(2026, 11, 23, 10, 30), at(2028, 11, 23, 10, 30)),
        (Period(1, "months"), at(2027, 1, 31, 12, 0), at(2027, 2, 28, 12, 0)),  # shorter month
        (Period(1, "months"), at(2027, 12, 15), at(2028, 1, 15)),  # into the next year
        (Period(5, "years"), at(2028, 2, 29), at(2033, 2, 28)),  # no 29 February then
    ],
)
def test_a_period_ends_on_the_calendar(period: Period, start: datetime, end: datetime) -> None:
    assert period.after(start) == end


def test_unknown_units_are_refused() -> None:
    with pytest.raises(ValueError, match="fortnights"):
        Period(1, "fortnights").after(at(2026, 1, 1))
