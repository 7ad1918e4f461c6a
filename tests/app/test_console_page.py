"""The console's page and assets as the app serves them: only the whitelisted files, with their
types, versioned URLs that may be cached for good, and revalidation for everything else."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from chalice.test import Client

from app import app
from chalicelib.http.console_page import ASSET_TYPES, CONSOLE_DIR


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


def test_every_language_has_every_label() -> None:
    strings = json.loads((CONSOLE_DIR / "i18n.json").read_text(encoding="utf-8"))
    assert set(strings) == {"pt", "es", "en", "ar"}
    keys = set(strings["en"])
    for language, table in strings.items():
        assert set(table) == keys, language
        assert all(isinstance(text, str) and text.strip() for text in table.values()), language
