"""The console's page and assets as the app serves them: only the whitelisted files, with their
types, versioned URLs that may be cached for good, and revalidation for everything else; the
same page behind API Gateway's stage prefix; and static checks of the page, script, styles and
labels where a regression would not show in a screenshot."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chalice.local import LambdaContext
from chalice.test import Client

from app import app
from chalicelib.http.console_page import ASSET_TYPES, CONSOLE_DIR, path_prefix
from chalicelib.services.agent_actions import ATTACHMENT_MAX_BYTES


@pytest.fixture(scope="module")
def client() -> Iterator[Client]:
    with Client(app) as opened:
        yield opened


def test_the_page_links_each_asset_by_its_content_version(client: Client) -> None:
    page = client.http.get("/console")
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Cache-Control"] == "no-cache"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    html = page.body.decode()
    linked = dict(re.findall(r"/console/assets/([\w.]+)\?v=(\w+)", html))
    assert set(linked) == set(ASSET_TYPES)

    for name, version in linked.items():
        asset = client.http.get(f"/console/assets/{name}?v={version}")
        assert asset.status_code == 200
        assert asset.headers["Content-Type"] == ASSET_TYPES[name]
        assert asset.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert asset.body == (CONSOLE_DIR / name).read_bytes()


def test_an_unversioned_or_stale_asset_url_is_revalidated(client: Client) -> None:
    fresh = client.http.get("/console/assets/console.js")
    assert fresh.headers["Cache-Control"] == "no-cache"
    stale = client.http.get("/console/assets/console.js?v=0123456789ab")
    assert stale.headers["Cache-Control"] == "no-cache"

    again = client.http.get(
        "/console/assets/console.js", headers={"If-None-Match": fresh.headers["ETag"]}
    )
    assert again.status_code == 304
    assert again.body == b""


@pytest.mark.parametrize("name", ["index.html", "..%2Fapp.py", "secrets.json", "console.map"])
def test_only_the_console_assets_are_served(client: Client, name: str) -> None:
    answer = client.http.get(f"/console/assets/{name}")
    assert answer.status_code == 404


# --- behind API Gateway's stage ---------------------------------------------------------------


def gateway_event(path: str, resource: str, *, stage: str = "api") -> dict[str, Any]:
    """A REST API proxy event as API Gateway sends it for https://…/<stage><path>."""
    return {
        "resource": resource,
        "path": path.removeprefix(f"/{stage}"),
        "httpMethod": "GET",
        "headers": {"Host": "abc123.execute-api.eu-west-1.amazonaws.com", "Accept": "text/html"},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "multiValueQueryStringParameters": None,
        "pathParameters": None,
        "stageVariables": None,
        "requestContext": {
            "resourcePath": resource,
            "path": path,
            "httpMethod": "GET",
            "stage": stage,
            "domainName": "abc123.execute-api.eu-west-1.amazonaws.com",
            "identity": {"sourceIp": "203.0.113.9"},
        },
        "body": None,
        "isBase64Encoded": False,
    }


@pytest.mark.parametrize(
    ("context", "prefix"),
    [
        ({"path": "/api/console", "resourcePath": "/console"}, "/api"),
        ({"path": "/prod/v2/console", "resourcePath": "/console"}, "/prod/v2"),  # a base path
        ({"path": "/console", "resourcePath": "/console"}, ""),  # chalice local
        ({"resourcePath": "/console"}, ""),
        ({"path": "/other", "resourcePath": "/console"}, ""),
        ({"path": '/"><script>/console', "resourcePath": "/console"}, ""),
        (None, ""),
    ],
)
def test_the_prefix_is_what_the_gateway_puts_before_the_route(
    context: dict[str, str] | None, prefix: str
) -> None:
    assert path_prefix(context) == prefix


def test_under_a_stage_the_page_links_its_assets_and_api_through_the_stage(
    client: Client,
) -> None:
    # The app object is the API's Lambda handler: called with the event API Gateway sends.
    response = app(gateway_event("/api/console", "/console"), LambdaContext("api_handler", 128))
    assert response["statusCode"] == 200
    html = response["body"]

    linked = re.findall(r'"(/[\w/]*)/console/assets/([\w.]+)\?v=\w+"', html)
    assert {name for _, name in linked} == set(ASSET_TYPES)
    assert {prefix for prefix, _ in linked} == {"/api"}
    assert re.search(r'<meta name="console-api" content="/api/console/api">', html)

    # Locally (and in every test above) the page names the API at the root.
    local = client.http.get("/console").body.decode()
    assert '<meta name="console-api" content="/console/api">' in local
    assert "/api/console/assets/" not in local


def test_the_script_sends_every_api_call_to_the_address_the_page_gives() -> None:
    script = (CONSOLE_DIR / "console.js").read_text(encoding="utf-8")
    assert re.search(
        r"""const API = document\.querySelector\('meta\[name="console-api"\]'\)""", script
    )
    calls = re.findall(r"fetch\(([^,)]+)", script)
    assert calls, "no fetch in console.js?"
    for argument in calls:
        assert argument.strip() in ("`${API}${path}`", "url"), argument  # url: i18n.json's meta
    assert re.search(r"""meta\[name="console-i18n"\]""", script)


# --- strings ----------------------------------------------------------------------------------

PLURAL_FORMS = ("zero", "one", "two", "few", "many", "other")
_PLURAL_KEY = re.compile(r"^(?P<base>.+)_(?P<form>" + "|".join(PLURAL_FORMS) + ")$")


def _strings() -> dict[str, dict[str, str]]:
    return json.loads((CONSOLE_DIR / "i18n.json").read_text(encoding="utf-8"))


def _plural_bases(table: dict[str, str]) -> set[str]:
    return {m["base"] for key in table if (m := _PLURAL_KEY.match(key)) and m["form"] == "other"}


def _singular_keys(table: dict[str, str]) -> set[str]:
    bases = _plural_bases(table)
    return {key for key in table if not ((m := _PLURAL_KEY.match(key)) and m["base"] in bases)}


def test_every_language_has_every_label() -> None:
    strings = _strings()
    assert set(strings) == {"pt", "es", "en", "ar"}
    english = strings["en"]
    for language, table in strings.items():
        # Counted labels may have the forms their language needs (Arabic: zero, two, few,
        # many); every language has `_other`, the fallback.
        assert _singular_keys(table) == _singular_keys(english), language
        assert _plural_bases(table) == _plural_bases(english), language
        assert all(isinstance(text, str) and text.strip() for text in table.values()), language


def test_every_label_the_page_and_script_use_exists() -> None:
    script = (CONSOLE_DIR / "console.js").read_text(encoding="utf-8")
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    strings = _strings()
    keys = set(strings["en"])
    used = set(re.findall(r"""\bt\(\s*["']([\w.]+)["']""", script))
    used |= set(re.findall(r'"(shortcut_\w+)"', script))  # the SHORTCUTS table
    used |= set(re.findall(r'data-i18n(?:-aria-label|-placeholder|-title)?="([\w.]+)"', page))
    counted = set(re.findall(r"""\bplural\(\s*["']([\w.]+)["']""", script))
    prefixes = set(re.findall(r"\bt\(\s*`(\w+)\$\{", script))  # t(`status_${row.status}`)
    assert len(used) > 150 and counted and prefixes, "the patterns no longer match console.js"

    missing = sorted(used - keys)
    assert not missing, f"labels used but not in i18n.json: {missing}"
    for base in counted:
        for language, table in strings.items():
            assert f"{base}_other" in table, (language, base)
    for prefix in prefixes:
        assert any(key.startswith(prefix) for key in keys), prefix


def test_every_conflict_the_services_raise_has_a_translated_message() -> None:
    """The server's messages are English: the console shows `error_<code>` in the agent's
    language, so every code the actions send needs one."""
    from chalicelib.services import agent_actions, console_context

    sources = [
        Path(module.__file__).read_text(encoding="utf-8")
        for module in (agent_actions, console_context)
    ]
    codes = {code for source in sources for code in re.findall(r'\bcode="(\w+)"', source)}
    codes |= {agent_actions.WINDOW_CLOSED, console_context.CHANGED}
    assert {"no_room", "opted_out", "no_consent", "resolved", "superseded"} <= codes
    for language, table in _strings().items():
        missing = sorted(code for code in codes if f"error_{code}" not in table)
        assert not missing, (language, missing)


def test_counts_are_never_glued_to_a_plural_word() -> None:
    """Labels with {count} are chosen by Intl.PluralRules (key_one / key_other), so "1 results"
    cannot happen; the bare key is gone."""
    for language, table in _strings().items():
        for key, text in table.items():
            if "{count}" in text:
                assert _PLURAL_KEY.match(key), (language, key)


# --- what the review found, checked where a regression would show --------------------------


def _relative_luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(one: str, other: str) -> float:
    high, low = sorted((_relative_luminance(one), _relative_luminance(other)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_form_borders_and_chart_bars_stand_out_from_their_background() -> None:
    """WCAG 1.4.11: at least 3:1 for what identifies a control or a chart's series."""
    css = (CONSOLE_DIR / "console.css").read_text(encoding="utf-8")
    variables = dict(re.findall(r"(--[\w-]+):\s*(#[0-9a-fA-F]{6})", css))
    control_rule = re.search(r'input\[type="text"\][^{]*\{([^}]*)\}', css)
    assert control_rule is not None
    border = re.search(r"border:\s*1px solid var\((--[\w-]+)\)", control_rule.group(1))
    assert border is not None
    for background in ("#ffffff", variables["--panel-alt"], variables["--bg"]):
        assert _contrast(variables[border.group(1)], background) >= 3, background

    bars = dict(re.findall(r"\.bar-(\w+), \.swatch-\w+ \{ fill: (#[0-9a-fA-F]{6})", css))
    assert set(bars) == {"opened", "handed", "resolved"}
    for series, colour in bars.items():
        assert _contrast(colour, "#ffffff") >= 3, series


def test_the_page_has_no_live_timeline_and_no_combobox_textarea() -> None:
    page = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    timeline = re.search(r'<div id="timeline"[^>]*>', page)
    composer = re.search(r'<textarea id="composer-text"[^>]*>', page, re.DOTALL)
    assert timeline is not None and composer is not None
    # New messages are announced once through #announcer; a live timeline re-reads redraws.
    assert "aria-live" not in timeline.group(0) and 'role="log"' not in timeline.group(0)
    assert 'role="combobox"' not in composer.group(0)
    assert "aria-expanded" not in composer.group(0)  # not allowed on a textbox
    assert 'aria-controls="quick-replies"' in composer.group(0)
    summary = re.search(r'<details id="user-menu".*?<summary([^>]*)>(.*?)</summary>', page, re.S)
    assert summary is not None
    assert "aria-label" not in summary.group(1)  # its name is what it shows, then the purpose
    assert 'id="me-name"' in summary.group(2)
    assert re.search(r'<button id="presence-button"[^>]*aria-pressed=', page)
    assert re.search(r'<h2 id="conversation-name" tabindex="-1">', page)


def test_the_browser_and_the_server_limit_attachments_alike() -> None:
    """4 MiB: base64 grows it by a third, and Lambda refuses requests over 6 MB."""
    script = (CONSOLE_DIR / "console.js").read_text(encoding="utf-8")
    limit = re.search(r"const MAX_UPLOAD = (\d+) \* 1024 \* 1024;", script)
    assert limit is not None
    assert int(limit.group(1)) * 1024 * 1024 == ATTACHMENT_MAX_BYTES == 4 * 1024 * 1024
    assert ATTACHMENT_MAX_BYTES * 4 / 3 + 4096 < 6 * 1000 * 1000
    for language, table in _strings().items():
        assert "4" in table["file_too_big"] and "5" not in table["file_too_big"], language
