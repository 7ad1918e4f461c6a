"""The agents' console: one HTML page and its static assets, served from the package so they
ship in the Lambda bundle. No build step; the page talks only to /console/api.

Asset URLs in the page carry a short content hash (`?v=`), so a browser may keep them for a
year and still picks up a new deployment at once; the page itself is always revalidated.

Deployed, API Gateway serves the app under its stage (https://…/api/console), while Chalice
sees only the resource path (/console). The page is written with the prefix the request came
through (see `path_prefix`), so its asset links and the API address it gives console.js (the
`console-api` meta) work under any stage or base path mapping; locally the prefix is empty."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from chalice import Blueprint, Response

console_page = Blueprint(__name__)

CONSOLE_DIR = Path(__file__).resolve().parent.parent / "console"
ASSET_PREFIX = "/console/assets/"
# Only these files are served; anything else under /console/assets is a 404.
ASSET_TYPES = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
    "i18n.json": "application/json; charset=utf-8",
}
_IMMUTABLE = "public, max-age=31536000, immutable"
_REVALIDATE = "no-cache"
API_PATH = "/console/api"
_ASSET_URL = re.compile(re.escape(ASSET_PREFIX) + r"(?P<name>[A-Za-z0-9_.-]+)")
_API_META = re.compile(r'(<meta name="console-api" content=")' + re.escape(API_PATH) + '"')
# A stage name or base path: path segments of URL-safe characters only (it goes into the page).
_PREFIX = re.compile(r"(?:/[A-Za-z0-9._~-]+)*")
# Presigned media links point at the media bucket's own host, so images, audio and video may
# come from any https origin (and http for the local emulator); everything else is same-origin.
_SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob: https: http:; "
        "media-src 'self' blob: https: http:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


@dataclass(frozen=True, slots=True)
class Asset:
    body: str
    content_type: str
    etag: str
    version: str


@cache
def _asset(name: str) -> Asset:
    raw = (CONSOLE_DIR / name).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    return Asset(raw.decode("utf-8"), ASSET_TYPES[name], f'"{digest[:32]}"', digest[:12])


def path_prefix(context: Mapping[str, Any] | None) -> str:
    """What stands before the route in the URL the browser used: API Gateway's requestContext
    has `path` (/api/console, with the stage) and `resourcePath` (/console); the prefix is the
    difference ("/api"). Empty locally, or when the context does not say."""
    path = (context or {}).get("path")
    resource = (context or {}).get("resourcePath")
    if not isinstance(path, str) or not isinstance(resource, str) or not resource:
        return ""
    if not path.endswith(resource):
        return ""
    prefix = path[: len(path) - len(resource)].rstrip("/")
    return prefix if _PREFIX.fullmatch(prefix) else ""


@lru_cache(maxsize=16)  # one page per prefix; in practice one per deployment
def _page(prefix: str = "") -> Asset:
    source = (CONSOLE_DIR / "index.html").read_text(encoding="utf-8")
    escaped = html.escape(prefix, quote=True)

    def versioned(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in ASSET_TYPES:
            return match.group(0)
        return f"{escaped}{ASSET_PREFIX}{name}?v={_asset(name).version}"

    body = _ASSET_URL.sub(versioned, source)
    body = _API_META.sub(lambda match: f'{match.group(1)}{escaped}{API_PATH}"', body)
    digest = hashlib.sha256(body.encode()).hexdigest()
    return Asset(body, "text/html; charset=utf-8", f'"{digest[:32]}"', digest[:12])


def _respond(asset: Asset, cache_control: str, extra: dict[str, str] | None = None) -> Response:
    request = console_page.current_request
    headers = {"ETag": asset.etag, "Cache-Control": cache_control, **(extra or {})}
    if (request.headers or {}).get("if-none-match") == asset.etag:
        return Response(body="", status_code=304, headers=headers)
    return Response(
        body=asset.body, status_code=200, headers={"Content-Type": asset.content_type, **headers}
    )


@console_page.route("/console", methods=["GET"])
def console_index() -> Response:
    prefix = path_prefix(console_page.current_request.context)
    return _respond(_page(prefix), _REVALIDATE, _SECURITY_HEADERS)


@console_page.route("/console/assets/{name}", methods=["GET"])
def console_asset(name: str) -> Response:
    if name not in ASSET_TYPES:
        return Response(body="not found", status_code=404, headers={"Content-Type": "text/plain"})
    asset = _asset(name)
    requested = (console_page.current_request.query_params or {}).get("v")
    cache_control = _IMMUTABLE if requested == asset.version else _REVALIDATE
    return _respond(asset, cache_control, {"X-Content-Type-Options": "nosniff"})
