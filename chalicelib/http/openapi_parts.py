"""The OpenAPI document's building blocks (`http/openapi`) under public names, for the parts of
the document built beside it (`openapi_broadcasts`): the same error responses, security and
formats, without reaching into its private names."""

from __future__ import annotations

from chalicelib.http.openapi import _DATE_TIME as DATE_TIME
from chalicelib.http.openapi import _PARAM_VALUE as PARAM_VALUE
from chalicelib.http.openapi import Schema
from chalicelib.http.openapi import _json_response as json_response
from chalicelib.http.openapi import _links as links
from chalicelib.http.openapi import _nullable as nullable
from chalicelib.http.openapi import _operation as operation
from chalicelib.http.openapi import _ref as ref

__all__ = [
    "DATE_TIME",
    "PARAM_VALUE",
    "Schema",
    "json_response",
    "links",
    "nullable",
    "operation",
    "ref",
]
