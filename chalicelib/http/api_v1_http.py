"""The back-office API's authentication, error and JSON helpers (`http/api_v1`) under public
names, for the blueprints that sit beside it (`api_v1_broadcasts`): they share its prefix, API
keys, error shape and the one place that maps the services' exceptions to HTTP, without reaching
into its private names."""

from __future__ import annotations

from chalicelib.http.api_v1 import ANY_CONTENT, PREFIX, ApiError
from chalicelib.http.api_v1 import _endpoint as endpoint
from chalicelib.http.api_v1 import _json as json_response
from chalicelib.http.api_v1 import _json_body as json_body
from chalicelib.http.api_v1 import _now as now

__all__ = ["ANY_CONTENT", "PREFIX", "ApiError", "endpoint", "json_body", "json_response", "now"]
