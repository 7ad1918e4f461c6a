"""/console/api through the real app (chalice.test.Client): sign-in against moto's Cognito (the
first sign-in's new password included), every endpoint on DynamoDB/SQS/S3 in moto and the
WhatsApp simulator, and who may see what: an agent of one team gets 404 for another team's
conversation and 403 for its inbox and for reports; a forged, expired or foreign token is 401."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
import requests
from joserfc import jwt
from joserfc.jwk import RSAKey

from chalicelib.adapters.cognito_directory import CognitoDirectory
from chalicelib.adapters.dynamodb_console_stores import DynamoDBAgentStore
from chalicelib.adapters.dynamodb_models import stage_tables
from chalicelib.adapters.dynamodb_stores import DynamoDBResidentStore
from chalicelib.domain.agents import Agent, Role
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.messages import DeliveryStatus, Direction, StoredMessage
from chalicelib.domain.residents import ConsentState, Resident
from chalicelib.domain.search_terms import name_terms, text_terms
from chalicelib.domain.sla import clock_for, start_sla
from chalicelib.domain.tickets import Ticket
from chalicelib.services.ports import InboundTurn, SearchTerm
from chalicelib.settings import MEDIA_BUCKET_VARIABLE, get_settings
from chalicelib.wiring import container
from tests.app.api_v1_support import Reply
from tests.app.conftest import REGION, AppHarness

# Chalice's local gateway warns that it lets requests without a token through to our code
# (which refuses them): expected here.
pytestmark = pytest.mark.filterwarnings("ignore:CognitoUserPoolAuthorizer:UserWarning")

PASSWORD = "a-long-password-1"
API = "/console/api"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


@dataclass
class Console:
    harness: AppHarness
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def directory(self) -> CognitoDirectory:
        return CognitoDirectory(
            self.harness.user_pool_id, self.harness.user_pool_client_id, region=REGION
        )

    @property
    def agents(self) -> DynamoDBAgentStore:
        return DynamoDBAgentStore(stage_tables(self.harness.names, REGION))

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        token: str | None = None,
        raw: str | None = None,
    ) -> Reply:
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = token
        payload = raw if raw is not None else (json.dumps(body) if body is not None else "")
        response = self.harness.client.http.request(
            method, f"{API}{path}", headers=headers, body=payload
        )
        text = response.body.decode() if isinstance(response.body, bytes) else response.body
        headers_out = {k.lower(): v for k, v in response.headers.items()}
        is_json = headers_out.get("content-type", "").startswith("application/json")
        return Reply(response.status_code, headers_out, json.loads(text) if is_json else text)

    def add_agent(
        self, email: str, role: Role, teams: tuple[str, ...], *, online: bool = False
    ) -> Agent:
        """The sign-in and the record, as `civicchat agent create --password` makes them."""
        self.directory.create_user(email, email.split("@")[0].title(), password=PASSWORD)
        agent = Agent(
            id=email,
            name=email.split("@")[0].title(),
            role=role,
            teams=teams,
            created_at=datetime.now(UTC),
        )
        self.agents.save_profile(agent)
        if online:
            self.agents.set_online(email, True, datetime.now(UTC))
        return agent

    def sign_in(self, email: str, password: str = PASSWORD) -> str:
        reply = self.call("POST", "/session", {"email": email, "password": password})
        assert reply.status == 200, reply.body
        return reply.body["id_token"]

    def token(self, email: str) -> str:
        if email not in self.tokens:
            self.tokens[email] = self.sign_in(email)
        return self.tokens[email]

    def as_agent(self, email: str, method: str, path: str, body: Any = None) -> Reply:
        return self.call(method, path, body, token=self.token(email))


FINANCE = "fin@town.example"
FINANCE_2 = "fin2@town.example"
WORKS = "works@town.example"
SUPERVISOR = "boss@town.example"


@pytest.fixture
def console(harness: AppHarness, monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    # The stack's media bucket, as the deployment names it to the app (attachments, media links).
    cloudformation = boto3.client("cloudformation", region_name=REGION)
    outputs = cloudformation.describe_stacks(StackName=harness.names.stack)["Stacks"][0]["Outputs"]
    bucket = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "MediaBucketName")
    monkeypatch.setenv(MEDIA_BUCKET_VARIABLE, bucket)
    get_settings.cache_clear()
    container.cache_clear()
    console = Console(harness)
    console.add_agent(FINANCE, Role.AGENT, ("finance",))
    console.add_agent(FINANCE_2, Role.AGENT, ("finance",), online=True)
    console.add_agent(WORKS, Role.AGENT, ("public_works",))
    console.add_agent(SUPERVISOR, Role.SUPERVISOR, ("front_desk",))
    yield console
    get_settings.cache_clear()
    container.cache_clear()


def seed(
    harness: AppHarness,
    *,
    team: str,
    text: str = "I have a question about my water bill payment",
    name: str = "Maria Sousa",
    language: str = "en",
    wa_id: str | None = None,
    ago: timedelta = timedelta(minutes=5),
    message_type: str = "text",
    media_key: str | None = None,
    ticket: str | None = None,
) -> Conversation:
    """A resident's conversation handed to `team`'s queue, stored the way the inbound worker
    stores a turn (resident, conversation, message, search terms and the ticket the turn
    opened, `ticket` its reference, in one transaction)."""
    definition = container().definition
    wa_id = wa_id or f"35191{uuid.uuid4().int % 10**7:07d}"
    at = datetime.now(UTC) - ago
    conversation_id = uuid.uuid4().hex
    key = f"wa:{wa_id}"
    resident = Resident(
        key=key,
        wa_id=wa_id,
        profile_name=name,
        language=language,
        consent=ConsentState.GIVEN,
        consent_at=at,
        last_inbound_at=at,
        current_conversation_id=conversation_id,
        created_at=at,
    )
    conversation = Conversation(
        id=conversation_id,
        resident_key=key,
        status=ConversationStatus.QUEUED,
        team=team,
        bot_state={"v": 2, "language": language, "mode": "with_person", "team": team},
        opened_at=at,
        updated_at=at,
        last_inbound_at=at,
        resident_name=name,
        preview=text,
        last_message_at=at,
    )
    conversation = start_sla(conversation, definition.sla, clock_for(definition), at)
    wamid = f"wamid.{uuid.uuid4().hex}"
    payload: dict[str, Any] = {"type": "text", "text": {"body": text}}
    if message_type == "image":
        payload = {"type": "image", "image": {"id": "media-1", "mime_type": "image/jpeg"}}
    inbound = StoredMessage(
        id=wamid,
        wamid=wamid,
        direction=Direction.INBOUND,
        resident_key=key,
        conversation_id=conversation_id,
        message_type=message_type,
        body=text,
        payload=payload,
        media_key=media_key,
        created_at=at,
        status=DeliveryStatus.RECEIVED,
        status_at=at,
    )
    terms = (*text_terms(text), *name_terms(name))
    saved = DynamoDBResidentStore(
        stage_tables(harness.names, REGION), retention=lambda: None
    ).save_turn(
        InboundTurn(
            inbound=inbound,
            resident=resident,
            resident_is_new=True,
            conversation=conversation,
            replies=(),
            tickets=tuple(
                Ticket(
                    reference=reference,
                    resident_key=key,
                    conversation_id=conversation_id,
                    flow="report_problem",
                    team=team,
                    description=text,
                    created_at=at,
                    updated_at=at,
                )
                for reference in ([ticket] if ticket else [])
            ),
            search_terms=tuple(
                SearchTerm(term=t, conversation_id=conversation_id, at=at) for t in terms
            ),
        )
    )
    assert saved
    return conversation


def moto_key() -> RSAKey:
    """The key moto signs every pool's tokens with."""
    from moto.utilities.utils import load_resource

    return RSAKey.import_key(load_resource("cognitoidp/resources/jwks-private.json"))


def token_for(harness: AppHarness, key: RSAKey, **changes: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": f"https://cognito-idp.{REGION}.amazonaws.com/{harness.user_pool_id}",
        "aud": harness.user_pool_client_id,
        "token_use": "id",
        "cognito:username": "someone",
        "email": FINANCE,
        "iat": now,
        "exp": now + 600,
        **changes,
    }
    return jwt.encode({"alg": "RS256", "kid": "dummy"}, claims, key)


# --- sign-in ----------------------------------------------------------------------------------


def test_first_sign_in_sets_a_new_password_then_the_token_opens_the_console(
    console: Console,
) -> None:
    console.directory.create_user("new@town.example", "Nuno", temporary_password="temporary-123")
    console.agents.save_profile(
        Agent(
            id="new@town.example",
            name="Nuno",
            role=Role.AGENT,
            teams=("finance",),
            created_at=datetime.now(UTC),
        )
    )

    first = console.call(
        "POST", "/session", {"email": "New@Town.Example", "password": "temporary-123"}
    )
    assert first.status == 200
    assert first.body["challenge"] == "new_password" and first.body["session"]
    weak = console.call(
        "POST",
        "/session/password",
        {"email": "new@town.example", "session": first.body["session"], "new_password": "short"},
    )
    assert weak.status == 400 and weak.body["error"]["field"] == "new_password"
    chosen = console.call(
        "POST",
        "/session/password",
        {
            "email": "new@town.example",
            "session": first.body["session"],
            "new_password": PASSWORD,
        },
    )
    assert chosen.status == 200, chosen.body
    assert set(chosen.body) == {"id_token", "refresh_token", "expires_in"}

    me = console.call("GET", "/me", token=chosen.body["id_token"])
    assert me.status == 200
    assert me.body["agent"]["id"] == "new@town.example"
    assert me.headers["cache-control"] == "no-store"

    refreshed = console.call(
        "POST", "/session/refresh", {"refresh_token": chosen.body["refresh_token"]}
    )
    assert refreshed.status == 200 and set(refreshed.body) == {"id_token", "expires_in"}
    again = console.call("GET", "/me", token=f"Bearer {refreshed.body['id_token']}")
    assert again.status == 200
    seen = console.agents.get("new@town.example")
    assert seen is not None and seen.last_seen_at is not None  # the console counts as seen


def test_sign_in_refusals(console: Console) -> None:
    wrong = console.call("POST", "/session", {"email": FINANCE, "password": "not-the-password"})
    assert wrong.status == 401 and wrong.body["error"]["code"] == "unauthorized"
    unknown = console.call("POST", "/session", {"email": "who@x.example", "password": PASSWORD})
    assert unknown.status == 401
    assert unknown.body["error"]["message"] == wrong.body["error"]["message"]

    missing = console.call("POST", "/session", {"email": FINANCE})
    assert (missing.status, missing.body["error"]["field"]) == (400, "password")
    assert console.call("POST", "/session", raw="{not json").status == 400
    assert console.call("POST", "/session", [FINANCE, PASSWORD]).status == 400
    expired = console.call(
        "POST",
        "/session/password",
        {"email": FINANCE, "session": "s" * 40, "new_password": PASSWORD},
    )
    assert expired.status == 401
    assert console.call("POST", "/session/refresh", {"refresh_token": "x" * 40}).status == 401
    assert console.call("POST", "/session/refresh", {}).status == 400


PROTECTED = [
    ("GET", "/me"),
    ("POST", "/me/presence"),
    ("GET", "/inbox"),
    ("GET", "/search?q=maria"),
    ("GET", "/conversations/c1"),
    ("GET", "/conversations/c1/messages"),
    ("POST", "/conversations/c1/messages"),
    ("POST", "/conversations/c1/attachments"),
    ("POST", "/conversations/c1/notes"),
    ("POST", "/conversations/c1/assign"),
    ("POST", "/conversations/c1/transfer"),
    ("POST", "/conversations/c1/resolve"),
    ("POST", "/conversations/c1/snooze"),
    ("POST", "/conversations/c1/reopen"),
    ("POST", "/conversations/c1/tags"),
    ("GET", "/conversations/c1/media/m1"),
    ("GET", "/reports?from=2026-01-01&to=2026-01-31"),
    ("GET", "/reports/csv?from=2026-01-01&to=2026-01-31"),
]


@pytest.mark.parametrize(("method", "path"), PROTECTED)
def test_every_route_needs_a_valid_token_of_a_known_agent(
    console: Console, method: str, path: str
) -> None:
    harness = console.harness
    console.directory.create_user("ghost@town.example", "Ghost", password=PASSWORD)
    console.agents.save_profile(
        Agent(
            id="gone@town.example",
            name="Gone",
            role=Role.SUPERVISOR,
            teams=("finance",),
            disabled=True,
            created_at=datetime.now(UTC),
        )
    )
    console.directory.create_user("gone@town.example", "Gone", password=PASSWORD)
    forger = RSAKey.generate_key(2048)
    for token in [
        None,
        token_for(harness, forger),  # forged signature
        token_for(harness, moto_key(), exp=int(time.time()) - 120),  # expired
        token_for(harness, moto_key(), aud="another-app"),  # another app's token
        token_for(harness, moto_key(), token_use="access"),
        console.sign_in("ghost@town.example"),  # a sign-in without an agent record
        console.sign_in("gone@town.example"),  # a disabled agent
    ]:
        reply = console.call(method, path, {}, token=token)
        assert reply.status == 401, (token, reply.body)
        assert reply.body["error"]["code"] == "unauthorized"
        assert reply.headers["www-authenticate"].startswith("Bearer")
    # The same route with the pool's own signature on the same claims gets through.
    verified = token_for(harness, moto_key(), email_verified=True)
    assert console.call(method, path, {}, token=verified).status != 401


# --- the agent --------------------------------------------------------------------------------


def test_me_lists_the_agent_colleagues_teams_quick_replies_and_templates(console: Console) -> None:
    me = console.as_agent(FINANCE, "GET", "/me").body

    assert me["agent"] == {
        "id": FINANCE,
        "name": "Fin",
        "role": "agent",
        "teams": ["finance"],
        "capacity": 5,
        "online": False,
        "open_count": 0,
        "last_seen_at": me["agent"]["last_seen_at"],
        "sees_all": False,
    }
    assert [t["id"] for t in me["teams"]] == ["front_desk", "public_works", "finance"]
    assert {a["id"] for a in me["agents"]} == {FINANCE, FINANCE_2, WORKS, SUPERVISOR}
    assert set(me["agents"][0]) == {"id", "name", "teams", "online"}
    horario = next(q for q in me["quick_replies"] if q["shortcut"] == "/horario")
    assert set(horario["text"]) == {"pt", "es", "en", "ar"}
    reopen = next(t for t in me["templates"] if t["name"] == "reopen_conversation")
    assert reopen == {
        "name": "reopen_conversation",
        "languages": ["pt", "es", "en", "ar"],
        "category": "utility",
    }
    assert me["languages"] == ["pt", "es", "en", "ar"] and me["default_language"] == "pt"


def test_going_online_takes_waiting_conversations(console: Console) -> None:
    waiting = seed(console.harness, team="finance")
    console.agents.set_online(FINANCE_2, False, datetime.now(UTC))

    bad = console.as_agent(FINANCE, "POST", "/me/presence", {"online": "yes"})
    assert (bad.status, bad.body["error"]["field"]) == (400, "online")
    online = console.as_agent(FINANCE, "POST", "/me/presence", {"online": True})

    assert online.status == 200 and online.body["agent"]["online"] is True
    mine = console.as_agent(FINANCE, "GET", "/inbox?view=mine").body["items"]
    assert [row["id"] for row in mine] == [waiting.id]
    assert mine[0]["status"] == "assigned" and mine[0]["assignee"] == FINANCE

    offline = console.as_agent(FINANCE, "POST", "/me/presence", {"online": False})
    assert offline.body["agent"]["online"] is False
    assert console.as_agent(FINANCE, "GET", "/inbox?view=mine").body["items"] == []


# --- inboxes and search -----------------------------------------------------------------------


def test_inboxes_show_only_what_the_agent_may_see(console: Console) -> None:
    harness = console.harness
    console.agents.set_online(FINANCE_2, False, datetime.now(UTC))  # nobody takes them
    older = seed(harness, team="finance", ago=timedelta(minutes=30), name="Ana Costa")
    newer = seed(harness, team="finance", ago=timedelta(minutes=2))
    works = seed(harness, team="public_works", text="A pothole on my street")

    queue = console.as_agent(FINANCE, "GET", "/inbox?view=unassigned")
    assert queue.status == 200
    items = queue.body["items"]
    assert {row["id"] for row in items} == {older.id, newer.id}
    dues = [row["sla"]["due"] for row in items]  # most urgent first (both due at once off hours)
    assert dues == sorted(dues)
    row = next(row for row in items if row["id"] == older.id)
    assert row == {
        "id": older.id,
        "status": "queued",
        "team": "finance",
        "assignee": None,
        "resident_key": older.resident_key,
        "phone": older.resident_key.removeprefix("wa:"),
        "name": "Ana Costa",
        "language": "en",
        "preview": "I have a question about my water bill payment",
        "last_message_at": row["last_message_at"],
        "opened_at": row["opened_at"],
        "snoozed_until": None,
        "sla": row["sla"],
    }
    assert row["opened_at"].endswith("Z")
    assert row["sla"] is None or row["sla"]["target"] == "first_response"
    assert "cursor" in queue.body
    team = console.as_agent(FINANCE, "GET", "/inbox?view=team&team=finance").body["items"]
    assert {r["id"] for r in team} == {older.id, newer.id}

    for path in ("/inbox?view=unassigned&team=public_works", "/inbox?view=team&team=public_works"):
        forbidden = console.as_agent(FINANCE, "GET", path)
        assert forbidden.status == 403 and forbidden.body["error"]["code"] == "forbidden"
    assert console.as_agent(FINANCE, "GET", "/inbox?view=all").status == 403
    assert console.as_agent(FINANCE, "GET", "/inbox?view=everything").status == 400

    everything = console.as_agent(SUPERVISOR, "GET", "/inbox?view=all").body["items"]
    assert {r["id"] for r in everything} >= {older.id, newer.id, works.id}
    works_queue = console.as_agent(SUPERVISOR, "GET", "/inbox?view=unassigned&team=public_works")
    assert [r["id"] for r in works_queue.body["items"]] == [works.id]


def test_search_finds_by_phone_and_words_but_never_another_teams(console: Console) -> None:
    harness = console.harness
    mine = seed(harness, team="finance", name="Joana Pires", wa_id="351912000111")
    theirs = seed(harness, team="public_works", name="Joana Pires", text="Broken street light")

    by_phone = console.as_agent(FINANCE, "GET", "/search?q=%2B351%20912%20000%20111")
    assert [r["id"] for r in by_phone.body["items"]] == [mine.id]
    by_name = console.as_agent(FINANCE, "GET", "/search?q=joana")
    assert [r["id"] for r in by_name.body["items"]] == [mine.id]
    assert console.as_agent(FINANCE, "GET", "/search?q=street").body["items"] == []
    by_word = console.as_agent(SUPERVISOR, "GET", "/search?q=street").body["items"]
    assert [r["id"] for r in by_word] == [theirs.id]
    assert console.as_agent(FINANCE, "GET", "/search").body == {"items": []}


def test_search_finds_a_ticket_by_its_reference_however_it_is_typed(console: Console) -> None:
    harness = console.harness
    mine = seed(harness, team="finance", ticket="VNR-2026-000123")
    theirs = seed(harness, team="public_works", ticket="VNR-2026-000124")
    seed(harness, team="finance", text="Reference VNR 2026 125 is mentioned in words only")

    for typed in ("VNR-2026-000123", "vnr 2026 123", "vnr/2026/000123"):
        found = console.as_agent(FINANCE, "GET", f"/search?q={typed.replace(' ', '%20')}")
        assert found.status == 200, found.body
        assert [r["id"] for r in found.body["items"]] == [mine.id], typed
    # Another team's ticket is not there for the agent, and is for a supervisor.
    assert console.as_agent(FINANCE, "GET", "/search?q=VNR-2026-000124").body["items"] == []
    by_boss = console.as_agent(SUPERVISOR, "GET", "/search?q=VNR-2026-000124").body["items"]
    assert [r["id"] for r in by_boss] == [theirs.id]
    # A reference with no ticket finds nothing (it is not looked up as words).
    assert console.as_agent(SUPERVISOR, "GET", "/search?q=VNR-2026-000125").body["items"] == []


def test_an_inbox_is_read_page_by_page_with_its_cursor(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chalicelib.http.console_api.INBOX_PAGE", 2)
    harness = console.harness
    console.agents.set_online(FINANCE_2, False, datetime.now(UTC))  # nobody takes them
    waiting = [
        seed(harness, team="finance", ago=timedelta(minutes=minutes))
        for minutes in (50, 40, 30, 20, 10)
    ]

    pages: list[list[str]] = []
    cursor: str | None = None
    while True:
        query = "/inbox?view=unassigned&team=finance" + (f"&cursor={cursor}" if cursor else "")
        page = console.as_agent(FINANCE, "GET", query)
        assert page.status == 200, page.body
        pages.append([row["id"] for row in page.body["items"]])
        cursor = page.body["cursor"]
        if cursor is None:
            break
        assert len(pages) < 5, "the cursor never ends"

    assert [len(ids) for ids in pages[:3]] == [2, 2, 1]
    assert all(ids == [] for ids in pages[3:])
    seen = [conversation_id for ids in pages for conversation_id in ids]
    assert sorted(seen) == sorted(c.id for c in waiting)  # each once, none lost
    assert seen == [c.id for c in waiting]  # longest waiting first (their deadlines too)

    bad = console.as_agent(FINANCE, "GET", "/inbox?view=unassigned&cursor=not-a-cursor")
    assert (bad.status, bad.body["error"]["field"]) == (422, "cursor")


def test_a_history_is_read_backwards_page_by_page_with_its_cursor(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("chalicelib.http.console_api.HISTORY_PAGE", 2)
    conversation = seed(console.harness, team="finance")
    path = f"/conversations/{conversation.id}/messages"
    for n in range(4):
        note = console.as_agent(
            FINANCE, "POST", f"/conversations/{conversation.id}/notes", {"text": f"note {n}"}
        )
        assert note.status == 201, note.body

    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    while True:
        page = console.as_agent(FINANCE, "GET", path + (f"?cursor={cursor}" if cursor else ""))
        assert page.status == 200, page.body
        pages.append(page.body["items"])
        cursor = page.body["cursor"]
        if cursor is None:
            break
        assert len(pages) < 5, "the cursor never ends"

    messages = [m for items in pages for m in items]
    assert [len(items) for items in pages[:3]] == [2, 2, 1]
    assert [m["body"] for m in messages] == [
        "note 3",
        "note 2",
        "note 1",
        "note 0",
        "I have a question about my water bill payment",
    ]  # newest first, each once
    times = [m["created_at"] for m in messages]
    assert times == sorted(times, reverse=True)

    bad = console.as_agent(FINANCE, "GET", f"{path}?cursor=not-a-cursor")
    assert (bad.status, bad.body["error"]["field"]) == (422, "cursor")


# --- one conversation -------------------------------------------------------------------------


def test_a_conversation_with_its_resident_and_history(console: Console) -> None:
    conversation = seed(console.harness, team="finance", name="Rita Gomes")

    detail = console.as_agent(FINANCE, "GET", f"/conversations/{conversation.id}")

    assert detail.status == 200
    body = detail.body
    assert body["conversation"]["id"] == conversation.id
    assert body["resident"] == {
        "key": conversation.resident_key,
        "phone": conversation.resident_key.removeprefix("wa:"),
        "name": "Rita Gomes",
        "language": "en",
        "tags": [],
        "custom_fields": {},
        "consent": "given",
        "consent_at": body["resident"]["consent_at"],
        "opted_out": False,
    }
    assert body["tickets"] == [] and body["reminders"] == [] and body["past_conversations"] == []
    assert body["window_open"] is True and body["window_closes_at"].endswith("Z")

    history = console.as_agent(FINANCE, "GET", f"/conversations/{conversation.id}/messages")
    assert history.status == 200
    [message] = history.body["items"]
    assert message["direction"] == "in" and message["type"] == "text"
    assert message["body"] == "I have a question about my water bill payment"
    assert message["media"] is None and message["location"] is None
    assert set(message) == {
        "id",
        "direction",
        "type",
        "body",
        "payload",
        "status",
        "created_at",
        "sent_by",
        "media",
        "location",
        "error_title",
    }
    later = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    newer = console.as_agent(
        FINANCE,
        "GET",
        f"/conversations/{conversation.id}/messages?after={later.replace('+', '%2B')}",
    )
    assert newer.body["items"] == []
    bad = console.as_agent(
        FINANCE, "GET", f"/conversations/{conversation.id}/messages?after=yesterday"
    )
    assert (bad.status, bad.body["error"]["field"]) == (400, "after")


def test_another_teams_conversation_does_not_exist_for_an_agent(console: Console) -> None:
    works = seed(console.harness, team="public_works")
    paths = [
        ("GET", f"/conversations/{works.id}", None),
        ("GET", f"/conversations/{works.id}/messages", None),
        ("POST", f"/conversations/{works.id}/messages", {"text": "hello"}),
        ("POST", f"/conversations/{works.id}/notes", {"text": "hm"}),
        ("POST", f"/conversations/{works.id}/assign", {"agent_id": FINANCE}),
        ("POST", f"/conversations/{works.id}/transfer", {"team": "finance"}),
        ("POST", f"/conversations/{works.id}/resolve", None),
        ("POST", f"/conversations/{works.id}/reopen", None),
        (
            "POST",
            f"/conversations/{works.id}/snooze",
            {"until": (datetime.now(UTC) + timedelta(hours=1)).isoformat()},
        ),
        (
            "POST",
            f"/conversations/{works.id}/attachments",
            {
                "filename": "receipt.png",
                "mime_type": "image/png",
                "data_base64": base64.b64encode(PNG).decode(),
            },
        ),
        ("POST", f"/conversations/{works.id}/tags", {"add": ["x"]}),
        ("GET", f"/conversations/{works.id}/media/nothing", None),
        ("GET", "/conversations/no-such-id", None),
    ]
    for method, path, body in paths:
        reply = console.as_agent(FINANCE, method, path, body)
        assert reply.status == 404, (path, reply.body)
        assert reply.body["error"]["code"] == "not_found"

    assert console.as_agent(SUPERVISOR, "GET", f"/conversations/{works.id}").status == 200
    assert console.as_agent(WORKS, "GET", f"/conversations/{works.id}").status == 200


def test_replies_reach_the_resident_and_notes_never_do(console: Console) -> None:
    harness = console.harness
    conversation = seed(harness, team="finance", language="en")
    wa_id = conversation.resident_key.removeprefix("wa:")
    path = f"/conversations/{conversation.id}"

    sent = console.as_agent(FINANCE, "POST", f"{path}/messages", {"text": "Hello Maria, checking."})
    quick = console.as_agent(FINANCE, "POST", f"{path}/messages", {"text": "/horario"})
    note = console.as_agent(FINANCE, "POST", f"{path}/notes", {"text": "Called the bank."})
    empty = console.as_agent(FINANCE, "POST", f"{path}/messages", {})

    assert sent.status == 201, sent.body
    assert sent.body["message"]["direction"] == "out"
    assert sent.body["message"]["status"] == "queued"
    assert sent.body["message"]["sent_by"] == FINANCE
    assert quick.status == 201 and quick.body["message"]["body"].startswith("We're open Monday")
    assert note.status == 201 and note.body["message"]["direction"] == "note"
    assert (empty.status, empty.body["error"]["field"]) == (400, "text")
    harness.run_worker("reply_sender", harness.names.outbound_replies_queue)
    outbox = [m for m in harness.simulator.outbox() if m["to"] == wa_id]
    delivered = [m["body"].get("text", {}).get("body") for m in outbox]
    assert "Hello Maria, checking." in delivered
    assert len(delivered) == 2  # the two replies; never the note

    # Replying to a queued conversation takes it.
    row = console.as_agent(FINANCE, "GET", path).body["conversation"]
    assert (row["status"], row["assignee"]) == ("assigned", FINANCE)
    history = console.as_agent(FINANCE, "GET", f"{path}/messages").body["items"]
    directions = [m["direction"] for m in history]
    assert directions.count("out") == 2 and directions[-1] == "in"  # newest first
    assert any(m["direction"] == "note" and m["body"] == "Called the bank." for m in history)


def test_outside_the_window_only_a_template_goes(console: Console) -> None:
    conversation = seed(console.harness, team="finance", ago=timedelta(hours=30))
    path = f"/conversations/{conversation.id}/messages"

    closed = console.as_agent(FINANCE, "POST", path, {"text": "Are you there?"})
    assert closed.status == 409 and closed.body["error"]["code"] == "window_closed"
    template = console.as_agent(
        FINANCE, "POST", path, {"template": "reopen_conversation", "params": ["Maria"]}
    )
    assert template.status == 201, template.body
    assert template.body["message"]["type"] == "template"
    detail = console.as_agent(FINANCE, "GET", f"/conversations/{conversation.id}").body
    assert detail["window_open"] is False


def test_attachments_and_media_links(console: Console) -> None:
    harness = console.harness
    conversation = seed(
        harness,
        team="finance",
        message_type="image",
        text="photo of the bill",
        media_key="residents/test/inbound/photo.jpg",
    )
    path = f"/conversations/{conversation.id}"
    photo = console.as_agent(FINANCE, "GET", f"{path}/messages").body["items"][0]
    assert photo["media"] == {
        "message_id": photo["id"],
        "mime_type": "image/jpeg",
        "filename": None,
    }

    link = console.as_agent(FINANCE, "GET", f"{path}/media/{photo['id']}")
    assert link.status == 200 and link.body["url"].startswith("http")
    assert "photo.jpg" in link.body["url"]
    other = seed(harness, team="finance")
    elsewhere = console.as_agent(FINANCE, "GET", f"/conversations/{other.id}/media/{photo['id']}")
    assert elsewhere.status == 404

    sent = console.as_agent(
        FINANCE,
        "POST",
        f"{path}/attachments",
        {
            "filename": "receipt.png",
            "mime_type": "image/png",
            "data_base64": base64.b64encode(PNG).decode(),
            "caption": "Your receipt",
        },
    )
    assert sent.status == 201, sent.body
    assert sent.body["message"]["direction"] == "out"
    assert sent.body["message"]["media"]["message_id"] == sent.body["message"]["id"]
    bad = console.as_agent(
        FINANCE,
        "POST",
        f"{path}/attachments",
        {"filename": "x.png", "mime_type": "image/png", "data_base64": "%%%"},
    )
    assert (bad.status, bad.body["error"]["field"]) == (400, "data_base64")
    # 4 MiB at most: base64 in JSON must stay under Lambda's 6 MB request limit.
    too_big = console.as_agent(
        FINANCE,
        "POST",
        f"{path}/attachments",
        {
            "filename": "scan.pdf",
            "mime_type": "application/pdf",
            "data_base64": base64.b64encode(b"%" * (4 * 1024 * 1024 + 1)).decode(),
        },
    )
    assert (too_big.status, too_big.body["error"]["field"]) == (422, "data_base64"), too_big.body


def test_a_document_link_downloads_and_a_photo_link_shows(console: Console) -> None:
    """Only images, audio and video open in the browser; anything else (a PDF here; an HTML
    file a resident sent) comes with Content-Disposition: attachment, never opened as a page."""
    conversation = seed(console.harness, team="finance")
    path = f"/conversations/{conversation.id}"
    links = {}
    for filename, mime_type, content in [
        ("receipt.png", "image/png", PNG),
        ("statement.pdf", "application/pdf", b"%PDF-1.4\n%%EOF\n"),
    ]:
        sent = console.as_agent(
            FINANCE,
            "POST",
            f"{path}/attachments",
            {
                "filename": filename,
                "mime_type": mime_type,
                "data_base64": base64.b64encode(content).decode(),
            },
        )
        assert sent.status == 201, sent.body
        link = console.as_agent(FINANCE, "GET", f"{path}/media/{sent.body['message']['id']}")
        assert link.status == 200, link.body
        links[filename] = link.body["url"]

    assert "response-content-disposition=attachment" in links["statement.pdf"]
    assert "response-content-disposition" not in links["receipt.png"]
    page = requests.get(links["statement.pdf"], timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Disposition"] == "attachment"
    photo = requests.get(links["receipt.png"], timeout=10)
    assert photo.status_code == 200 and "Content-Disposition" not in photo.headers


def test_assign_transfer_snooze_resolve_reopen_and_tag(console: Console) -> None:
    harness = console.harness
    conversation = seed(harness, team="finance")
    path = f"/conversations/{conversation.id}"

    taken = console.as_agent(FINANCE, "POST", f"{path}/assign", {"agent_id": FINANCE_2})
    assert taken.status == 200, taken.body
    assert (taken.body["conversation"]["assignee"], taken.body["conversation"]["status"]) == (
        FINANCE_2,
        "assigned",
    )
    # An agent gives their team's conversations only to their teammates.
    outsider = console.as_agent(FINANCE, "POST", f"{path}/assign", {"agent_id": WORKS})
    assert (outsider.status, outsider.body["error"]["code"], outsider.body["error"]["field"]) == (
        422,
        "invalid",
        "agent_id",
    ), outsider.body
    assert "not in this conversation's team" in outsider.body["error"]["message"]
    row = console.as_agent(FINANCE, "GET", path).body["conversation"]
    assert row["assignee"] == FINANCE_2  # unchanged

    past = console.as_agent(FINANCE_2, "POST", f"{path}/snooze", {"until": "2020-01-01T09:00:00Z"})
    assert (past.status, past.body["error"]["field"]) == (422, "until")
    naive = console.as_agent(FINANCE_2, "POST", f"{path}/snooze", {"until": "2030-01-01T09:00"})
    assert (naive.status, naive.body["error"]["field"]) == (400, "until")
    until = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    snoozed = console.as_agent(FINANCE_2, "POST", f"{path}/snooze", {"until": until.isoformat()})
    assert snoozed.status == 200
    assert snoozed.body["conversation"]["status"] == "snoozed"
    assert snoozed.body["conversation"]["snoozed_until"] == until.isoformat().replace("+00:00", "Z")

    tags = console.as_agent(FINANCE_2, "POST", f"{path}/tags", {"add": ["VIP", "debt"]})
    assert tags.status == 200 and sorted(tags.body["tags"]) == ["debt", "vip"]
    removed = console.as_agent(FINANCE_2, "POST", f"{path}/tags", {"remove": ["debt"]})
    assert removed.body == {"tags": ["vip"]}
    invalid = console.as_agent(FINANCE_2, "POST", f"{path}/tags", {"add": ["not a tag!"]})
    assert (invalid.status, invalid.body["error"]["field"]) == (422, "tags")
    assert console.as_agent(FINANCE_2, "POST", f"{path}/tags", {"add": "vip"}).status == 400

    resolved = console.as_agent(FINANCE_2, "POST", f"{path}/resolve")
    assert resolved.status == 200 and resolved.body["conversation"]["status"] == "resolved"
    again = console.as_agent(FINANCE_2, "POST", f"{path}/resolve")  # a double click: no harm
    assert again.status == 200 and again.body["conversation"]["status"] == "resolved"
    reopened = console.as_agent(FINANCE_2, "POST", f"{path}/reopen")
    assert reopened.status == 200, reopened.body
    assert reopened.body["conversation"]["status"] in ("assigned", "queued")

    moved = console.as_agent(
        FINANCE_2, "POST", f"{path}/transfer", {"team": "public_works", "note": "potholes"}
    )
    assert moved.status == 200, moved.body
    assert moved.body["conversation"]["team"] == "public_works"
    assert console.as_agent(FINANCE_2, "GET", path).status == 404  # no longer theirs to see
    assert console.as_agent(WORKS, "GET", path).status == 200
    events = [
        m["payload"].get("event")
        for m in console.as_agent(WORKS, "GET", f"{path}/messages").body["items"]
        if m["type"] == "event"
    ]
    assert {"assigned", "snoozed", "tagged", "resolved", "reopened", "transferred"} <= set(events)
    missing_team = console.as_agent(WORKS, "POST", f"{path}/transfer", {})
    assert (missing_team.status, missing_team.body["error"]["field"]) == (400, "team")


# --- reports ----------------------------------------------------------------------------------


def test_reports_are_for_supervisors(console: Console) -> None:
    seed(console.harness, team="finance")
    today = datetime.now(UTC).date()
    query = f"from={(today - timedelta(days=1)).isoformat()}&to={(today + timedelta(days=1)).isoformat()}"

    assert console.as_agent(FINANCE, "GET", f"/reports?{query}").status == 403
    assert console.as_agent(FINANCE, "GET", f"/reports/csv?{query}").status == 403
    report = console.as_agent(SUPERVISOR, "GET", f"/reports?{query}")
    assert report.status == 200
    assert report.body["totals"]["opened"] >= 1 and report.body["totals"]["handed_off"] >= 1
    assert len(report.body["days"]) == 3
    finance = console.as_agent(SUPERVISOR, "GET", f"/reports?{query}&team=finance")
    assert finance.body["team"] == "finance"

    csv = console.as_agent(SUPERVISOR, "GET", f"/reports/csv?{query}")
    assert csv.status == 200
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.headers["content-disposition"].startswith('attachment; filename="civicchat-report-')
    assert isinstance(csv.body, str) and csv.body.count("\n") > 4

    missing = console.as_agent(SUPERVISOR, "GET", "/reports?to=2026-01-01")
    assert (missing.status, missing.body["error"]["field"]) == (400, "from")
    backwards = console.as_agent(SUPERVISOR, "GET", "/reports?from=2026-02-01&to=2026-01-01")
    assert backwards.status == 422


# --- the whole way ----------------------------------------------------------------------------


def test_a_resident_who_asks_for_a_person_reaches_the_console_and_gets_the_reply(
    console: Console,
) -> None:
    harness = console.harness
    wa_id = "447700900555"

    def resident(**message: Any) -> None:
        wamid = harness.simulator.resident_says(wa_id, name="Olivia Brown", **message)
        delivery = next(d for d in harness.simulator.webhook_log() if d["wamid"] == wamid)
        assert harness.post_webhook(delivery["payload"]).status_code == 200
        harness.drain()

    resident(text="Hello")
    resident(type="button_reply", reply_id="consent:accept", title="I agree")
    resident(type="list_reply", reply_id="human", title="Talk to a person")

    waiting = console.as_agent(SUPERVISOR, "GET", "/inbox?view=all").body["items"]
    [row] = [r for r in waiting if r["phone"] == wa_id]
    assert row["status"] in ("queued", "assigned") and row["team"]
    assert row["name"] == "Olivia Brown"
    sent = console.as_agent(
        SUPERVISOR, "POST", f"/conversations/{row['id']}/messages", {"text": "Hi Olivia!"}
    )
    assert sent.status == 201, sent.body
    harness.drain()
    texts = [
        m["body"].get("text", {}).get("body")
        for m in harness.simulator.outbox()
        if m["to"].lstrip("+") == wa_id
    ]
    assert texts[-1] == "Hi Olivia!"
