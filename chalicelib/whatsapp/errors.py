"""Cloud API error codes, declared once: code → (title, what a sender should do about it).

Meta says to branch on the numeric `code` (and `error_data.details`), never on titles, subcodes
or HTTP status (facts sheet §6.1). The HTTP status only helps when a response carried no code at
all (a proxy's HTML 502, a timeout page): see `classify`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

NO_ERROR_CODE = -1
"""The code `GraphApiClient` puts on a refusal whose body held no Meta error object."""


class ErrorClass(Enum):
    RETRY_LATER = "retry_later"  # transient on Meta's side: retry the same request with backoff
    THROTTLED = "throttled"  # a rate limit: slow down (per number, per pair, per app/WABA)
    RECIPIENT = "recipient"  # this resident can't get this message now; other sends unaffected
    CONFIGURATION = "configuration"  # our request, token, template or number setup is wrong
    ACCOUNT = "account"  # the business account is restricted: stop sending and alert

    @property
    def should_retry(self) -> bool:
        """Whether sending the same request again later can succeed."""
        return self in (ErrorClass.RETRY_LATER, ErrorClass.THROTTLED)


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    title: str
    error_class: ErrorClass


_RETRY = ErrorClass.RETRY_LATER
_THROTTLED = ErrorClass.THROTTLED
_RECIPIENT = ErrorClass.RECIPIENT
_CONFIG = ErrorClass.CONFIGURATION
_ACCOUNT = ErrorClass.ACCOUNT

# Facts sheet §6.3, classes from its retry summary.
_ERRORS: dict[int, ErrorInfo] = {
    0: ErrorInfo("AuthException: access token invalid or expired", _CONFIG),
    # "Invalid request or possible server error": resending the same bytes rarely helps.
    1: ErrorInfo("API Unknown: invalid request or possible server error", _CONFIG),
    2: ErrorInfo("API Service: temporary downtime or overload", _RETRY),
    3: ErrorInfo("API Method: capability or permission issue", _CONFIG),
    4: ErrorInfo("Too many calls: app-level API rate limit", _THROTTLED),
    10: ErrorInfo("Permission denied", _CONFIG),
    33: ErrorInfo("Business phone number deleted", _CONFIG),
    100: ErrorInfo("Invalid parameter", _CONFIG),
    190: ErrorInfo("Access token expired", _CONFIG),
    368: ErrorInfo("Temporarily blocked for policy violations", _ACCOUNT),
    80007: ErrorInfo("WABA rate limit reached", _THROTTLED),
    130403: ErrorInfo("Business has blocked this user", _RECIPIENT),
    130429: ErrorInfo("Cloud API throughput reached", _THROTTLED),
    130472: ErrorInfo("User's number is part of an experiment", _RECIPIENT),
    130497: ErrorInfo("Business account restricted from messaging users in this country", _ACCOUNT),
    131000: ErrorInfo("Something went wrong", _RETRY),
    131005: ErrorInfo("Access denied", _CONFIG),
    131008: ErrorInfo("Required parameter is missing", _CONFIG),
    131009: ErrorInfo("Parameter value is not valid", _CONFIG),
    131016: ErrorInfo("Service unavailable", _RETRY),
    # Our own number as recipient: only that "resident" is affected.
    131021: ErrorInfo("Recipient cannot be sender", _RECIPIENT),
    131026: ErrorInfo("Message undeliverable", _RECIPIENT),
    131031: ErrorInfo("Business account has been locked", _ACCOUNT),
    131037: ErrorInfo("Display name needs approval", _CONFIG),
    131042: ErrorInfo("Business eligibility payment issue", _ACCOUNT),
    131045: ErrorInfo("Incorrect certificate: phone number not registered", _CONFIG),
    131047: ErrorInfo("Re-engagement message: more than 24 hours since the last reply", _RECIPIENT),
    131048: ErrorInfo("Spam rate limit hit", _ACCOUNT),
    131049: ErrorInfo("Not delivered to maintain healthy ecosystem engagement", _RECIPIENT),
    131050: ErrorInfo("User stopped marketing messages", _RECIPIENT),
    131051: ErrorInfo("Unsupported message type", _CONFIG),
    # Inbound only: the resident's own upload could not be fetched; ask them to resend.
    131052: ErrorInfo("Media download error", _RECIPIENT),
    131053: ErrorInfo("Media upload error", _CONFIG),
    131056: ErrorInfo("Pair rate limit hit: too many messages to this user", _THROTTLED),
    131057: ErrorInfo("Account in maintenance mode", _RETRY),
    131063: ErrorInfo("Marketing templates disabled for Cloud API on this WABA", _CONFIG),
    131064: ErrorInfo("Portfolio limited for template classification violations", _ACCOUNT),
    132000: ErrorInfo("Template parameter count mismatch", _CONFIG),
    132001: ErrorInfo("Template does not exist in this language or is not approved", _CONFIG),
    132005: ErrorInfo("Template hydrated text too long", _CONFIG),
    132007: ErrorInfo("Template format character policy violated", _CONFIG),
    132012: ErrorInfo("Template parameter format mismatch", _CONFIG),
    132015: ErrorInfo("Template is paused", _CONFIG),
    132016: ErrorInfo("Template is disabled", _CONFIG),
    132068: ErrorInfo("Flow is in blocked state", _CONFIG),
    132069: ErrorInfo("Flow is in throttled state", _CONFIG),
    # Registration attempts, not sends: waiting is the only remedy.
    133016: ErrorInfo("Account register/deregister rate limit exceeded", _THROTTLED),
    135000: ErrorInfo("Generic user error", _CONFIG),
}

# (first, last, info): families Meta documents as ranges.
_RANGES: tuple[tuple[int, int, ErrorInfo], ...] = (
    (200, 299, ErrorInfo("Permission not granted or removed", _CONFIG)),
    (133000, 133015, ErrorInfo("Phone number registration error", _CONFIG)),
)

# Unknown codes are treated as configuration errors: retrying an unknown refusal blindly could
# hammer Meta for days (and risk account-level penalties), while a configuration error stops the
# message and surfaces the code for a human to add to this table.
_UNKNOWN = ErrorInfo("Unknown error", _CONFIG)


def describe(code: int) -> ErrorInfo:
    """Title and class for a Meta error code; unknown codes get `Unknown error`/CONFIGURATION."""
    info = _ERRORS.get(code)
    if info is not None:
        return info
    for first, last, family in _RANGES:
        if first <= code <= last:
            return family
    return _UNKNOWN


def classify(code: int, *, http_status: int | None = None) -> ErrorClass:
    """What to do about a refusal. A known code decides; `http_status` is only consulted when
    the code is unknown (e.g. `NO_ERROR_CODE` for a non-JSON 5xx from a proxy): 5xx and 408 are
    transient, 429 is throttling. Everything else unknown is CONFIGURATION (see `_UNKNOWN`)."""
    info = describe(code)
    if info is not _UNKNOWN or http_status is None:
        return info.error_class
    if http_status >= 500 or http_status == 408:
        return ErrorClass.RETRY_LATER
    if http_status == 429:
        return ErrorClass.THROTTLED
    return info.error_class


def error_title(code: int) -> str:
    return describe(code).title


def pair_rate_backoff_seconds(attempt: int) -> int:
    """Meta's pair-rate retry recipe (131056): wait 4^X seconds, X = 0, 1, 2, … per failure."""
    if attempt < 0:
        raise ValueError(f"attempt must be 0 or more, got {attempt}")
    return 4**attempt
