"""The agents' console API, `/console/api`: sign-in, inboxes, conversations, actions, reports.

Signing in (`POST /session*`) is open; every other route, signing out included, needs the ID
token of a signed-in agent (see `console_auth`). Errors are JSON, `{"error": {"code", "message",
"field"}}`, mapped from the services' ConsoleErrors in one place (`_endpoint`): 400 a malformed
request, 401 not signed in, 403 not allowed, 404 missing or not visible, 409 a conflict, 422
refused by a rule, 429 Cognito's rate limit, 503 Cognito or WhatsApp did not answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from chalice import Blueprint, CognitoUserPoolAuthorizer, Response

from chalicelib.observability import logger
from chalicelib.settings import console_user_pool_arn
from chalicelib.wiring import container, new_id

if TYPE_CHECKING:
    from chalicelib.adapters.cognito_directory import NewPasswordRequired, Tokens
    from chalicelib.domain.agents import Agent

console_api = Blueprint(__name__)

PREFIX = "/console/api"
ANY_CONTENT = ["*/*"]  # bodies are read as JSON whatever the header says
_JSON = {"Content-Type": "application/json"}
# API Gateway checks the token against the stack's pool (infra/agent_directory.py patches the
# ARN into the packaged template); locally Chalice only decodes it and console_auth verifies it.
AGENTS = CognitoUserPoolAuthorizer("agents", provider_arns=[console_user_pool_arn()])
INBOX_PAGE = 50
HISTORY_PAGE = 50
RETRY_AFTER_SECONDS = "5"  # after Cognito's rate limit


class ConsoleApiError(Exception):
    def __init__(self, status: int, code: str, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def _error(status: int, code: str, message: str, field: str | None = None) -> Response:
    error: dict[str, Any] = {"code": code, "message": message, "field": field}
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="civicchat-console"'
    if status == 429:
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    return _json({"error": error}, status, headers)


def _endpoint(
    *, signed_in: bool = True
) -> Callable[[Callable[..., Response]], Callable[..., Response]]:
    """Run the route (with the signed-in agent first unless `signed_in` is False) and turn every
    refusal into a JSON error."""

    def decorate(route: Callable[..., Response]) -> Callable[..., Response]:
        @wraps(route)
        def handle(**path: str) -> Response:
            from chalicelib.adapters.cognito_directory import (
                DirectoryBusy,
                DirectoryError,
                DirectoryUnavailable,
                PasswordRejected,
                SignInRefused,
            )
            from chalicelib.http.console_auth import Unauthorized, current_agent
            from chalicelib.services.console_context import ConsoleError
            from chalicelib.settings import SettingsError

            path = {name: _path_value(value) for name, value in path.items()}
            try:
                if not signed_in:
                    return route(**path)
                agent = current_agent(console_api.current_request, now=_now())
                logger.append_keys(agent=agent.id)
                return route(agent, **path)
            except ConsoleApiError as error:
                return _error(error.status, error.code, error.message, error.field)
            except ConsoleError as error:
                return _error(error.status, error.code, error.message, error.field)
            except Unauthorized as error:
                return _error(401, error.code, error.message)
            except SignInRefused as error:
                return _error(401, "unauthorized", str(error))
            except PasswordRejected as error:
                return _error(400, "invalid", str(error), "new_password")
            except DirectoryBusy as error:
                logger.warning("Cognito throttled the console", extra={"reason": str(error)})
                return _error(429, "too_many_requests", str(error))
            except DirectoryUnavailable as error:
                logger.warning("Cognito did not answer", extra={"reason": str(error)})
                return _error(503, "unavailable", str(error))
            except DirectoryError as error:
                return _error(400, "invalid", str(error))
            except SettingsError as error:
                logger.error("console not configured", extra={"reason": str(error)})
                return _error(503, "unavailable", "the console is not configured on this stage")

        return handle

    return decorate


# --- request parsing --------------------------------------------------------------------------


def _path_value(value: str) -> str:
    from urllib.parse import unquote

    return unquote(value)  # API Gateway decodes path parameters; chalice local does not


def _body() -> dict[str, Any]:
    raw = console_api.current_request.raw_body or b""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else str(raw)
        body = json.loads(text) if text.strip() else {}
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ConsoleApiError(400, "invalid", "the body is not JSON", field="body") from None
    if not isinstance(body, dict):
        raise ConsoleApiError(400, "invalid", "the body must be a JSON object", field="body")
    return body


def _text(body: dict[str, Any], field: str, *, required: bool = True) -> str | None:
    value = body.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ConsoleApiError(400, "missing", f"{field} is required", field=field)
        return None
    if not isinstance(value, str):
        raise ConsoleApiError(400, "invalid", f"{field} must be text", field=field)
    return value


def _texts(body: dict[str, Any], field: str) -> tuple[str, ...]:
    value = body.get(field)
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ConsoleApiError(400, "invalid", f"{field} must be a list of texts", field=field)
    return tuple(value)


def _query(name: str) -> str | None:
    params = console_api.current_request.query_params or {}
    value = params.get(name)
    return value if value not in (None, "") else None


def _moment(value: str | None, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise ConsoleApiError(
            400, "invalid", f"{field} must be an ISO 8601 time with its offset", field=field
        )
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00-05:00 is past the last representable time
        raise ConsoleApiError(400, "invalid", f"{field} is out of range", field=field) from None


def _day(value: str | None, field: str) -> date:
    if value is None:
        raise ConsoleApiError(400, "missing", f"{field} is required (YYYY-MM-DD)", field=field)
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise ConsoleApiError(
            400, "invalid", f"{field} must be a date, YYYY-MM-DD", field=field
        ) from None
    # Reports read the local day's span in UTC: both ends must exist (not so near year 1 or 9999).
    zone = container().definition.zone
    try:
        for start in (day, day + timedelta(days=1)):
            datetime.combine(start, time.min, tzinfo=zone).astimezone(UTC)
    except OverflowError:
        raise ConsoleApiError(400, "invalid", f"{field} is out of range", field=field) from None
    return day


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        body=body,
        status_code=status,
        headers={**_JSON, "Cache-Control": "no-store", **(headers or {})},
    )


T = TypeVar("T")


def _act(use_case: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an agent's action with what every action needs: the config, the stores, the time and
    a source of ids."""
    deps = container()
    return use_case(
        *args,
        definition=deps.definition,
        ports=deps.console_ports,
        now=_now(),
        new_id=new_id,
        **kwargs,
    )


def _now() -> datetime:
    return datetime.now(UTC)


def _rows() -> Any:
    from chalicelib.http.console_views import RowMaker

    return RowMaker(container().definition, _now())


def _row_of(conversation: Any) -> Response:
    return _json({"conversation": _rows().row(conversation)})


# --- sign-in ----------------------------------------------------------------------------------


def _tokens_json(outcome: Tokens | NewPasswordRequired) -> dict[str, Any]:
    from chalicelib.adapters.cognito_directory import NewPasswordRequired

    if isinstance(outcome, NewPasswordRequired):
        return {"challenge": "new_password", "session": outcome.session}
    tokens: dict[str, Any] = {"id_token": outcome.id_token, "expires_in": outcome.expires_in}
    if outcome.refresh_token is not None:
        tokens["refresh_token"] = outcome.refresh_token
    return tokens


@console_api.route(f"{PREFIX}/session", methods=["POST"], content_types=ANY_CONTENT)
@_endpoint(signed_in=False)
def sign_in() -> Response:
    body = _body()
    email, password = _text(body, "email"), _text(body, "password")
    assert email is not None and password is not None
    outcome = container().agent_directory.sign_in(email, password)
    return _json(_tokens_json(outcome))


@console_api.route(f"{PREFIX}/session/password", methods=["POST"], content_types=ANY_CONTENT)
@_endpoint(signed_in=False)
def choose_password() -> Response:
    body = _body()
    email, session = _text(body, "email"), _text(body, "session")
    new_password = _text(body, "new_password")
    assert email is not None and session is not None and new_password is not None
    tokens = container().agent_directory.set_new_password(email, session, new_password)
    return _json(_tokens_json(tokens))


@console_api.route(f"{PREFIX}/session/refresh", methods=["POST"], content_types=ANY_CONTENT)
@_endpoint(signed_in=False)
def refresh_session() -> Response:
    refresh_token = _text(_body(), "refresh_token")
    assert refresh_token is not None
    return _json(_tokens_json(container().agent_directory.refresh(refresh_token)))


@console_api.route(
    f"{PREFIX}/session", methods=["DELETE"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def sign_out(agent: Agent) -> Response:
    """The agent leaves: offline first (their assigned conversations go back to the queues, as
    when they choose Away), then the refresh token is revoked so the session cannot be renewed.
    A revocation Cognito could not do is reported (`revoked: false`), not an error: the agent is
    signed out of the console either way, and the browser forgets its tokens."""
    from chalicelib.adapters.cognito_directory import DirectoryError
    from chalicelib.http.console_views import agent_json
    from chalicelib.services.assign_conversations import set_presence

    refresh_token = _text(_body(), "refresh_token", required=False)
    updated = _act(set_presence, agent, False)
    revoked = False
    if refresh_token is not None:
        try:
            revoked = container().agent_directory.revoke(refresh_token)
        except DirectoryError as error:
            logger.warning("refresh token not revoked", extra={"reason": str(error)})
    return _json({"agent": agent_json(updated), "revoked": revoked})


# --- the agent --------------------------------------------------------------------------------


@console_api.route(f"{PREFIX}/me", methods=["GET"], authorizer=AGENTS)
@_endpoint()
def me(agent: Agent) -> Response:
    from chalicelib.http.console_views import me_json

    deps = container()
    return _json(me_json(agent, definition=deps.definition, colleagues=deps.agents.list_all()))


@console_api.route(
    f"{PREFIX}/me/presence", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def presence(agent: Agent) -> Response:
    from chalicelib.http.console_views import agent_json
    from chalicelib.services.assign_conversations import set_presence

    online = _body().get("online")
    if not isinstance(online, bool):
        raise ConsoleApiError(400, "invalid", "online must be true or false", field="online")
    updated = _act(set_presence, agent, online)
    return _json({"agent": agent_json(updated)})


# --- inboxes and search -----------------------------------------------------------------------


@console_api.route(f"{PREFIX}/inbox", methods=["GET"], authorizer=AGENTS)
@_endpoint()
def inbox(agent: Agent) -> Response:
    from chalicelib.services.console_inbox import list_inbox
    from chalicelib.services.console_ports import InboxView

    view_name = _query("view") or InboxView.MINE.value
    try:
        view = InboxView(view_name)
    except ValueError:
        raise ConsoleApiError(
            400,
            "invalid",
            "view must be one of " + ", ".join(v.value for v in InboxView),
            field="view",
        ) from None
    page = list_inbox(
        agent,
        view,
        _query("team"),
        _query("cursor"),
        ports=container().console_ports,
        limit=INBOX_PAGE,
    )
    return _json({"items": _rows().rows(page.items), "cursor": page.cursor})


@console_api.route(f"{PREFIX}/search", methods=["GET"], authorizer=AGENTS)
@_endpoint()
def search(agent: Agent) -> Response:
    from chalicelib.services.console_inbox import search_conversations

    deps = container()
    found = search_conversations(
        agent, _query("q") or "", definition=deps.definition, ports=deps.console_ports
    )
    return _json({"items": _rows().rows(found)})


# --- one conversation -------------------------------------------------------------------------

CONVERSATION = f"{PREFIX}/conversations/{{conversation_id}}"


@console_api.route(CONVERSATION, methods=["GET"], authorizer=AGENTS)
@_endpoint()
def conversation(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.http.console_views import detail_json
    from chalicelib.services.console_conversation import open_conversation

    deps = container()
    detail = open_conversation(
        agent, conversation_id, definition=deps.definition, ports=deps.console_ports, now=_now()
    )
    return _json(detail_json(detail))


@console_api.route(f"{CONVERSATION}/messages", methods=["GET"], authorizer=AGENTS)
@_endpoint()
def history(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.http.console_views import message_json
    from chalicelib.services.console_conversation import conversation_history

    page = conversation_history(
        agent,
        conversation_id,
        ports=container().console_ports,
        cursor=_query("cursor"),
        after=_moment(_query("after"), "after"),
        limit=HISTORY_PAGE,
        now=_now(),
    )
    return _json({"items": [message_json(m) for m in page.items], "cursor": page.cursor})


@console_api.route(
    f"{CONVERSATION}/messages", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def reply(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.http.console_views import message_json
    from chalicelib.services.agent_actions import send_agent_reply

    body = _body()
    template = _text(body, "template", required=False)
    text = None if template else _text(body, "text")
    message = _act(
        send_agent_reply,
        agent,
        conversation_id,
        text=text,
        template=template,
        params=_texts(body, "params"),
    )
    return _json({"message": message_json(message)}, 201)


@console_api.route(
    f"{CONVERSATION}/attachments", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def attachment(agent: Agent, conversation_id: str) -> Response:
    import base64
    import binascii

    from chalicelib.http.console_views import message_json
    from chalicelib.services.agent_actions import send_agent_attachment

    body = _body()
    filename, mime_type = _text(body, "filename"), _text(body, "mime_type")
    encoded = _text(body, "data_base64")
    assert filename is not None and mime_type is not None and encoded is not None
    try:
        content = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise ConsoleApiError(
            400, "invalid", "data_base64 is not base64", field="data_base64"
        ) from None
    message = _act(
        send_agent_attachment,
        agent,
        conversation_id,
        filename=filename,
        mime_type=mime_type,
        content=content,
        caption=_text(body, "caption", required=False),
    )
    return _json({"message": message_json(message)}, 201)


@console_api.route(
    f"{CONVERSATION}/notes", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def note(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.http.console_views import message_json
    from chalicelib.services.agent_actions import add_note

    text = _text(_body(), "text")
    message = _act(add_note, agent, conversation_id, text)
    return _json({"message": message_json(message)}, 201)


@console_api.route(
    f"{CONVERSATION}/assign", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def assign(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.services.agent_actions import assign as assign_to

    target = _text(_body(), "agent_id", required=False) or agent.id
    changed = _act(assign_to, agent, conversation_id, target)
    return _row_of(changed)


@console_api.route(
    f"{CONVERSATION}/transfer", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def transfer(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.services.agent_actions import transfer as transfer_to

    body = _body()
    changed = _act(
        transfer_to,
        agent,
        conversation_id,
        team=_text(body, "team"),
        agent_id=_text(body, "agent_id", required=False),
        note=_text(body, "note", required=False),
    )
    return _row_of(changed)


@console_api.route(
    f"{CONVERSATION}/resolve", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def resolve(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.services.agent_actions import resolve as resolve_it

    changed = _act(resolve_it, agent, conversation_id)
    return _row_of(changed)


@console_api.route(
    f"{CONVERSATION}/snooze", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def snooze(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.services.agent_actions import snooze as snooze_it

    until = _moment(_text(_body(), "until"), "until")
    changed = _act(snooze_it, agent, conversation_id, until)
    return _row_of(changed)


@console_api.route(
    f"{CONVERSATION}/reopen", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def reopen(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.services.agent_actions import reopen as reopen_it

    changed = _act(reopen_it, agent, conversation_id)
    return _row_of(changed)


@console_api.route(
    f"{CONVERSATION}/tags", methods=["POST"], content_types=ANY_CONTENT, authorizer=AGENTS
)
@_endpoint()
def tags(agent: Agent, conversation_id: str) -> Response:
    from chalicelib.services.agent_actions import set_tags

    body = _body()
    current = _act(set_tags, agent, conversation_id, _texts(body, "add"), _texts(body, "remove"))
    return _json({"tags": list(current)})


@console_api.route(f"{CONVERSATION}/media/{{message_id}}", methods=["GET"], authorizer=AGENTS)
@_endpoint()
def media(agent: Agent, conversation_id: str, message_id: str) -> Response:
    from chalicelib.services.console_conversation import media_link

    url = media_link(agent, conversation_id, message_id, ports=container().console_ports)
    return _json({"url": url})


# --- reports ----------------------------------------------------------------------------------


def _report(agent: Agent) -> Any:
    from chalicelib.services.console_reports import console_report

    deps = container()
    return console_report(
        agent,
        start=_day(_query("from"), "from"),
        end=_day(_query("to"), "to"),
        team=_query("team"),
        definition=deps.definition,
        ports=deps.console_ports,
    )


@console_api.route(f"{PREFIX}/reports", methods=["GET"], authorizer=AGENTS)
@_endpoint()
def report(agent: Agent) -> Response:
    from chalicelib.domain.reports import report_to_dict

    return _json(report_to_dict(_report(agent)))


@console_api.route(f"{PREFIX}/reports/csv", methods=["GET"], authorizer=AGENTS)
@_endpoint()
def report_csv(agent: Agent) -> Response:
    from chalicelib.domain.reports import report_csv as as_csv

    built = _report(agent)
    filename = f"civicchat-report-{built.start.isoformat()}-{built.end.isoformat()}.csv"
    return Response(
        body=as_csv(built),
        status_code=200,
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{filename}"',
            "Cache-Control": "no-store",
        },
    )
