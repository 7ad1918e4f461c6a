"""/console/api sign-in and sign-out, and the refusals that must not be 500s, through the real app
(chalice.test.Client) against moto, the WhatsApp simulator and, where moto cannot misbehave on
demand, small stand-ins for Cognito's and WhatsApp's endpoints: a token whose e-mail is not
verified is refused; signing out sets the agent Away (their conversations go to colleagues) and
revokes the refresh token; Cognito's throttling is 429, Cognito or WhatsApp not answering 503;
times and dates past the calendar's end are 400 naming the field; a resident erased while being
tagged is 404."""

from __future__ import annotations

import base64
import dataclasses
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from joserfc.jwk import RSAKey

from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.domain.conversations import ConversationStatus
from chalicelib.settings import get_settings
from chalicelib.wiring import container
from tests.app.conftest import REGION
from tests.app.test_console_api import FINANCE, FINANCE_2, PNG, Console, moto_key, seed, token_for
from tests.app.test_console_api import console as api_console  # noqa: F401 - a fixture
from tests.integration.test_cognito_directory import StandIn, cognito_error, teach_moto_revoke_token

pytestmark = pytest.mark.filterwarnings("ignore:CognitoUserPoolAuthorizer:UserWarning")

PASSWORD = "a-long-password-1"


@pytest.fixture
def console(api_console: Console) -> Console:  # noqa: F811 - the imported fixture
    """test_console_api's: the app on a fresh stage, with finance, works and supervisor agents."""
    return api_console


@pytest.fixture
def stand_ins() -> Iterator[list[StandIn]]:
    started: list[StandIn] = []
    yield started
    for server in started:
        server.close()


def fresh_container() -> None:
    """The app reads its settings and builds its clients again (after an environment change)."""
    get_settings.cache_clear()
    container.cache_clear()


def sign_in(console: Console, email: str) -> dict[str, Any]:
    reply = console.call("POST", "/session", {"email": email, "password": PASSWORD})
    assert reply.status == 200, reply.body
    return reply.body


# --- only a verified e-mail names an agent ----------------------------------------------------


@pytest.mark.parametrize("verified", [True, "true"])
def test_a_verified_e_mail_opens_the_console(console: Console, verified: Any) -> None:
    token = token_for(console.harness, moto_key(), email_verified=verified)
    assert console.call("GET", "/me", token=token).status == 200


@pytest.mark.parametrize("verified", [None, False, "false", "True", 1, ""])
def test_an_unverified_e_mail_is_refused(console: Console, verified: Any) -> None:
    # An agent could set their address to a colleague's through Cognito's public client before
    # verifying it: the token would carry the colleague's e-mail with email_verified false.
    claims = {} if verified is None else {"email_verified": verified}
    token = token_for(console.harness, moto_key(), **claims)

    reply = console.call("GET", "/me", token=token)

    assert reply.status == 401
    assert reply.body["error"] == {
        "code": "unauthorized",
        "message": "the e-mail of this account is not verified",
        "field": None,
    }


def test_a_real_sign_in_carries_a_verified_e_mail(console: Console) -> None:
    tokens = sign_in(console, FINANCE)
    assert console.call("GET", "/me", token=tokens["id_token"]).status == 200
    refreshed = console.call("POST", "/session/refresh", {"refresh_token": tokens["refresh_token"]})
    assert console.call("GET", "/me", token=refreshed.body["id_token"]).status == 200


# --- signing out ------------------------------------------------------------------------------


def test_signing_out_hands_the_work_to_colleagues_and_ends_the_session(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    teach_moto_revoke_token(monkeypatch)
    harness = console.harness
    console.agents.set_online(FINANCE_2, False, datetime.now(UTC))
    waiting = seed(harness, team="finance")
    tokens = sign_in(console, FINANCE)
    session = {"refresh_token": tokens["refresh_token"]}
    token = tokens["id_token"]
    assert console.call("POST", "/me/presence", {"online": True}, token=token).status == 200
    assert console.agents.get(FINANCE).open_count == 1
    console.agents.set_online(FINANCE_2, True, datetime.now(UTC))

    reply = console.call("DELETE", "/session", session, token=token)

    assert reply.status == 200, reply.body
    assert reply.body["revoked"] is True
    assert reply.body["agent"]["id"] == FINANCE and reply.body["agent"]["online"] is False
    gone = console.agents.get(FINANCE)
    assert (gone.online, gone.open_count) == (False, 0)
    row = console.as_agent(FINANCE_2, "GET", f"/conversations/{waiting.id}").body["conversation"]
    assert (row["status"], row["assignee"]) == ("assigned", FINANCE_2)
    events = [
        m["payload"].get("event")
        for m in console.as_agent(FINANCE_2, "GET", f"/conversations/{waiting.id}/messages").body[
            "items"
        ]
        if m["type"] == "event"
    ]
    assert "returned_to_queue" in events
    # The session cannot be renewed any more.
    renewed = console.call("POST", "/session/refresh", session)
    assert renewed.status == 401 and renewed.body["error"]["code"] == "unauthorized"
    # Signing out twice does no harm.
    again = console.call("DELETE", "/session", session, token=token)
    assert again.status == 200 and again.body["agent"]["online"] is False


def test_signing_out_where_tokens_cannot_be_revoked_still_signs_out(console: Console) -> None:
    # moto has no RevokeToken (the local stack): the agent still goes Away, and is told the
    # refresh token was not revoked.
    tokens = sign_in(console, FINANCE_2)
    assert console.agents.get(FINANCE_2).online is True

    reply = console.call(
        "DELETE", "/session", {"refresh_token": tokens["refresh_token"]}, token=tokens["id_token"]
    )

    assert reply.status == 200, reply.body
    assert reply.body["revoked"] is False and reply.body["agent"]["online"] is False
    assert console.agents.get(FINANCE_2).online is False
    without = console.call("DELETE", "/session", {}, token=tokens["id_token"])
    assert without.status == 200 and without.body["revoked"] is False


def test_signing_out_needs_the_agents_token_and_a_proper_body(console: Console) -> None:
    harness = console.harness
    forger = RSAKey.generate_key(2048)
    for token in [None, token_for(harness, forger, email_verified=True)]:
        refused = console.call("DELETE", "/session", {"refresh_token": "x"}, token=token)
        assert refused.status == 401 and refused.body["error"]["code"] == "unauthorized"
    token = sign_in(console, FINANCE)["id_token"]
    assert console.call("DELETE", "/session", raw="{not json", token=token).status == 400
    wrong = console.call("DELETE", "/session", {"refresh_token": 42}, token=token)
    assert (wrong.status, wrong.body["error"]["field"]) == (400, "refresh_token")


# --- Cognito busy or away ---------------------------------------------------------------------


@pytest.mark.parametrize("code", ["TooManyRequestsException", "LimitExceededException"])
def test_cognitos_rate_limit_is_429_not_500(
    console: Console,
    monkeypatch: pytest.MonkeyPatch,
    stand_ins: list[StandIn],
    code: str,
) -> None:
    stand_ins.append(cognito_error(code))
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", stand_ins[-1].url)
    fresh_container()

    for path, body in [
        ("/session", {"email": FINANCE, "password": PASSWORD}),
        ("/session/refresh", {"refresh_token": "a-refresh-token"}),
        ("/session/password", {"email": FINANCE, "session": "s" * 40, "new_password": PASSWORD}),
    ]:
        reply = console.call("POST", path, body)
        assert reply.status == 429, (path, reply.body)
        assert reply.body["error"]["code"] == "too_many_requests"
        assert "try again" in reply.body["error"]["message"]
        assert int(reply.headers["retry-after"]) > 0


def test_cognito_not_answering_is_503_not_500(
    console: Console, monkeypatch: pytest.MonkeyPatch, stand_ins: list[StandIn]
) -> None:
    stand_ins.append(cognito_error("InternalErrorException", 500))
    for url in (stand_ins[-1].url, "http://127.0.0.1:9"):  # failing; nobody listening
        monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", url)
        fresh_container()
        reply = console.call("POST", "/session", {"email": FINANCE, "password": PASSWORD})
        assert reply.status == 503, reply.body
        assert reply.body["error"]["code"] == "unavailable"


# --- WhatsApp not answering an upload ---------------------------------------------------------


def attach(console: Console, conversation_id: str) -> Any:
    return console.as_agent(
        FINANCE,
        "POST",
        f"/conversations/{conversation_id}/attachments",
        {
            "filename": "receipt.png",
            "mime_type": "image/png",
            "data_base64": base64.b64encode(PNG).decode(),
        },
    )


def graph_error(status: int, code: int | None, message: str = "") -> StandIn:
    if code is None:
        return StandIn(status, b"", "text/html")  # e.g. a proxy's empty 503
    body = {"error": {"message": f"(#{code}) {message}", "type": "OAuthException", "code": code}}
    return StandIn(status, json.dumps(body).encode())


@pytest.mark.parametrize(
    "answer",
    [
        None,  # nobody listening: a connection error
        (500, 2, "Service temporarily unavailable"),  # Meta: temporary downtime
        (503, None, ""),  # an empty 503 from a proxy
        (429, 4, "Application request limit reached"),  # rate limit
    ],
    ids=["no-answer", "code-2", "proxy-503", "throttled"],
)
def test_a_temporary_whatsapp_failure_is_503_try_again(
    console: Console,
    monkeypatch: pytest.MonkeyPatch,
    stand_ins: list[StandIn],
    answer: tuple[int, int | None, str] | None,
) -> None:
    conversation = seed(console.harness, team="finance")
    url = "http://127.0.0.1:9"
    if answer is not None:
        stand_ins.append(graph_error(*answer))
        url = stand_ins[-1].url
    monkeypatch.setenv("WHATSAPP_API_URL", f"{url}/v23.0")
    fresh_container()

    reply = attach(console, conversation.id)

    assert reply.status == 503, reply.body
    assert reply.body["error"] == {
        "code": "unavailable",
        "message": "WhatsApp did not answer, try again",
        "field": None,
    }
    if answer is not None:
        assert stand_ins[-1].calls and stand_ins[-1].calls[0].endswith("/media")


def test_a_file_whatsapp_refuses_is_still_422(
    console: Console, monkeypatch: pytest.MonkeyPatch, stand_ins: list[StandIn]
) -> None:
    conversation = seed(console.harness, team="finance")
    stand_ins.append(graph_error(400, 131053, "Media upload error"))
    monkeypatch.setenv("WHATSAPP_API_URL", f"{stand_ins[-1].url}/v23.0")
    fresh_container()

    reply = attach(console, conversation.id)

    assert reply.status == 422, reply.body
    assert reply.body["error"]["field"] == "data_base64"
    assert "WhatsApp refused the file" in reply.body["error"]["message"]


# --- values past the calendar's end -----------------------------------------------------------


def test_times_and_dates_past_the_calendar_are_400_naming_the_field(console: Console) -> None:
    conversation = seed(console.harness, team="finance")
    path = f"/conversations/{conversation.id}"
    edge = "9999-12-31T23:00:00-05:00".replace("+", "%2B")  # later than datetime.max in UTC
    early = "0001-01-01T00:30:00%2B05:00"  # earlier than datetime.min in UTC

    for after in (edge, early):
        reply = console.as_agent(FINANCE, "GET", f"{path}/messages?after={after}")
        assert (reply.status, reply.body["error"]["field"]) == (400, "after"), reply.body
    far = console.as_agent(FINANCE, "GET", f"{path}/messages?after=9999-12-31T23:59:59Z")
    assert far.status == 200 and far.body["items"] == []
    snooze = console.as_agent(
        FINANCE, "POST", f"{path}/snooze", {"until": "9999-12-31T23:00:00-05:00"}
    )
    assert (snooze.status, snooze.body["error"]["field"]) == (400, "until")
    too_far = console.as_agent(FINANCE, "POST", f"{path}/snooze", {"until": "9999-12-31T23:00Z"})
    assert (too_far.status, too_far.body["error"]["field"]) == (422, "until")

    supervisor = "boss@town.example"
    for query, field in [
        ("from=9999-12-01&to=9999-12-31", "to"),
        ("from=9999-12-31&to=9999-12-31", "from"),
    ]:
        for report in ("/reports", "/reports/csv"):
            reply = console.as_agent(supervisor, "GET", f"{report}?{query}")
            assert (reply.status, reply.body["error"]["field"]) == (400, field), (query, reply.body)
    fine = console.as_agent(supervisor, "GET", "/reports?from=9999-12-01&to=9999-12-30")
    assert fine.status == 200 and fine.body["totals"]["opened"] == 0


# --- a resident erased while being tagged -----------------------------------------------------


class ErasedOnRead:
    """The stage's resident store, except that a resident is erased from the table right after
    it is read: an erasure racing the agent's action."""

    def __init__(self, residents: Any, table_name: str) -> None:
        self._residents = residents
        self._table = boto3.resource("dynamodb", region_name=REGION).Table(table_name)

    def get(self, resident_key: str) -> Any:
        resident = self._residents.get(resident_key)
        self._table.delete_item(Key={"resident_key": resident_key})
        return resident

    def __getattr__(self, name: str) -> Any:
        return getattr(self._residents, name)


def test_a_resident_erased_while_being_tagged_is_404(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    conversation = seed(console.harness, team="finance")
    deps = container()
    table = stage_tables(console.harness.names, REGION).residents.Meta.table_name
    erasing = ErasedOnRead(deps.console_ports.residents, table)
    monkeypatch.setattr(
        deps, "console_ports", dataclasses.replace(deps.console_ports, residents=erasing)
    )

    reply = console.as_agent(
        FINANCE, "POST", f"/conversations/{conversation.id}/tags", {"add": ["vip"]}
    )

    assert reply.status == 404, reply.body
    assert reply.body["error"]["code"] == "not_found"
    assert console.agents.get(FINANCE) is not None
    still = container().console_conversations.get(conversation.id)
    assert still is not None and still.status is ConversationStatus.QUEUED
