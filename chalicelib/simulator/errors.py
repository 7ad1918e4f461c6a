"""The Meta-shaped errors the simulator answers with, declared once (facts sheet §6).

The simulator keeps its own table rather than importing `chalicelib.whatsapp.errors`: it stands
in for Meta, so it must not share the app's assumptions about what Meta says.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

ERROR_CODES_HREF = "/documentation/business-messaging/whatsapp/support/error-codes"


@dataclass(frozen=True, slots=True)
class ErrorKind:
    title: str
    http_status: int
    details: str


# Meta publishes HTTP statuses only for 100 and 131009 (400); 400 for the throttling codes and
# 403 for the integrity codes follow the BSP copies of Meta's older table; 500 for 131000 and 503
# for 2 and 131016 are third-party claims (facts sheet §6.2, §6.3). The codes the simulator
# never decides on its own (2, 4, 368, 80007, 1310xx/1304xx account codes) are here so that
# fault injection can answer them.
ERROR_KINDS: dict[int, ErrorKind] = {
    1: ErrorKind("An unknown error occurred", 500, "The simulator failed on this request."),
    2: ErrorKind("API Service", 503, "Temporary due to downtime or due to being overloaded."),
    4: ErrorKind("API Too Many Calls", 400, "The app has reached its API call rate limit."),
    100: ErrorKind("Invalid parameter", 400, "Invalid parameter."),
    190: ErrorKind(
        "Invalid OAuth access token - Cannot parse access token",
        401,
        "The access token is missing, malformed, expired or not the one issued to this app.",
    ),
    368: ErrorKind(
        "Temporarily blocked for policies violations",
        403,
        "The WhatsApp Business Account is restricted for violating a platform policy.",
    ),
    80007: ErrorKind(
        "Rate limit issues", 400, "The WhatsApp Business Account has reached its rate limit."
    ),
    130429: ErrorKind("Rate limit hit", 400, "Cloud API message throughput has been reached."),
    130497: ErrorKind(
        "Business account is restricted from messaging users in this country",
        403,
        "The business is restricted from messaging users in this country.",
    ),
    131000: ErrorKind(
        "Something went wrong", 500, "Message failed to send due to an unknown error."
    ),
    131008: ErrorKind("Required parameter is missing", 400, "A required parameter is missing."),
    131009: ErrorKind("Parameter value is not valid", 400, "A parameter value is not valid."),
    131016: ErrorKind("Service unavailable", 503, "A service is temporarily unavailable."),
    131031: ErrorKind(
        "Account has been locked", 403, "The business account has been locked or disabled."
    ),
    131047: ErrorKind(
        "Re-engagement message",
        400,
        "Message failed to send because more than 24 hours have passed since the customer "
        "last replied to this number.",
    ),
    131048: ErrorKind(
        "Spam rate limit hit",
        400,
        "Message failed to send because there are restrictions on how many messages can be "
        "sent from this phone number.",
    ),
    131053: ErrorKind("Media upload error", 400, "The uploaded media could not be processed."),
    131056: ErrorKind(
        "(Business Account, Consumer Account) pair rate limit hit",
        400,
        "Message failed to send because there were too many messages sent from this phone "
        "number to the same phone number in a short period of time.",
    ),
    131057: ErrorKind(
        "Account in maintenance mode", 400, "The business account is in maintenance mode."
    ),
    132001: ErrorKind(
        "Template name does not exist in the translation",
        400,
        "The template does not exist or is not approved in this language.",
    ),
}


class GraphError(Exception):
    """A refusal the Graph side answers synchronously, as Meta would."""

    def __init__(
        self, code: int, details: str | None = None, *, http_status: int | None = None
    ) -> None:
        kind = ERROR_KINDS[code]
        self.code = code
        self.title = kind.title
        # Overridden only by fault injection: Meta's statuses are not stable per code (§6.2).
        self.http_status = http_status or kind.http_status
        self.details = details or kind.details
        super().__init__(f"({code}) {self.title}: {self.details}")


def new_fbtrace_id() -> str:
    return "A" + secrets.token_urlsafe(16)[:22]


def graph_error_body(error: GraphError, fbtrace_id: str | None = None) -> dict[str, Any]:
    """The synchronous error object of facts sheet §6.1."""
    return {
        "error": {
            "message": f"(#{error.code}) {error.title}",
            "type": "OAuthException",
            "code": error.code,
            "error_data": {"messaging_product": "whatsapp", "details": error.details},
            "fbtrace_id": fbtrace_id or new_fbtrace_id(),
        }
    }


def webhook_error_object(code: int, details: str | None = None) -> dict[str, Any]:
    """The error object carried by `statuses[].errors[]` (facts sheet §2.3)."""
    kind = ERROR_KINDS[code]
    return {
        "code": code,
        "title": kind.title,
        "message": kind.title,
        "error_data": {"details": details or kind.details},
        "href": ERROR_CODES_HREF,
    }
