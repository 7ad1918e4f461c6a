"""The console API's sign-in, error and JSON helpers (`http/console_api`) under public names, for
the blueprints that sit beside it (`console_data_rights`, `console_audit`, `console_broadcasts`): they share its
routes' prefix, authorizer, error shape and `Cache-Control: no-store`, without reaching into
its private names."""

from __future__ import annotations

from chalicelib.http.console_api import AGENTS, ANY_CONTENT, PREFIX, ConsoleApiError
from chalicelib.http.console_api import _body as body
from chalicelib.http.console_api import _endpoint as endpoint
from chalicelib.http.console_api import _json as json_response
from chalicelib.http.console_api import _now as now
from chalicelib.http.console_api import _query as query

__all__ = [
    "AGENTS",
    "ANY_CONTENT",
    "PREFIX",
    "ConsoleApiError",
    "body",
    "endpoint",
    "json_response",
    "now",
    "query",
]
