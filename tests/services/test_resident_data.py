"""Export and erasure of a resident's data (services.resident_data) on the in-memory stores: the
export holds every item, erasure leaves nothing naming the resident but an anonymous ticket and
the erasure record, a second erasure is `already_erased`, and an interrupted one finishes."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.adapters.config_file import load_municipality_file
from chalicelib.adapters.memory_audit_log import InMemoryAuditLog
from chalicelib.adapters.memory_media import InMemoryMediaArchive
from chalicelib.adapters.memory_reminder_stores import (
    InMemoryNotificationStore,
    InMemoryObligationStore,
)
from chalicelib.adapters.memory_resident_data import InMemoryResidentData
from chalicelib.adapters.memory_stores import InMemoryDatabase, InMemoryResidentStore
from chalicelib.domain.audit import AuditAction
from chalicelib.domain.conversations import Conversation, ConversationStatus
from chalicelib.domain.data_rights import ERASED_RESIDENT_KEY, anonymised_ticket
from chalicelib.domain.messages import DeliveryStatus, Direction, StoredMessage
from chalicelib.domain.residents import (
    ConsentAction,
    ConsentEvent,
    ConsentState,
    Resident,
    TopicSubscription,
)
from chalicelib.domain.search_terms import text_terms
from chalicelib.domain.tickets import Location, Ticket, TicketAttachment, media_object_key
from chalicelib.services.audit_trail import AuditTrail
from chalicelib.services.ports import InboundTurn, SearchTerm
from chalicelib.services.resident_data import (
    DataRightsPorts,
    ResidentNotFoundError,
    erase_resident,
    export_resident,
)
from chalicelib.settings import BUNDLED_CONFIG
from tests.resident_data_support import register_for

AT = datetime(2026, 10, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 23, 10, 30, tzinfo=UTC)
PSEUDONYM_KEY = b"k" * 32
ANN = "351911000001"
BOB = "351922000002"
SECRET_WORDS = "pothole outside number forty two"


@dataclass
class World:
    database: InMemoryDatabase
    media: InMemoryMediaArchive
    audit: InMemoryAuditLog
    ports: DataRightsPorts


@pytest.fixture
def world() -> World:
    database = InMemoryDatabase()
    media = InMemoryMediaArchive()
    audit = InMemoryAuditLog()
    ports = DataRightsPorts(
        data=InMemoryResidentData(database, media),
        audit=AuditTrail(audit, PSEUDONYM_KEY),
        media_links=media,
    )
    return World(database, media, audit, ports)


def give_history(world: World, digits: str, text: str) -> None:
    """A resident with a consent history, a conversation (message in, reply out, agent's note),
    search terms, a ticket with a photo, an obligation with its reminders and a notification."""
    key = f"wa:{digits}"
    conversation_id = f"conv-{digits}"
    wamid = f"wamid.{digits}"
    resident = Resident(
        key=key,
        wa_id=digits,
        profile_name="Ann Example",
        consent=ConsentState.GIVEN,
        consent_version="v1",
        consent_at=AT,
        subscriptions=(TopicSubscription(topic="roadworks", subscribed=True, at=AT),),
        consent_history=(
            ConsentEvent(action=ConsentAction.CONSENT_GIVEN, at=AT, text_version="v1"),
            ConsentEvent(action=ConsentAction.SUBSCRIBED, at=AT, topic="roadworks"),
        ),
        current_conversation_id=conversation_id,
        created_at=AT,
    )
    conversation = Conversation(
        id=conversation_id,
        resident_key=key,
        status=ConversationStatus.QUEUED,
        team="public_works",
        opened_at=AT,
        updated_at=AT,
        preview=text,
    )

    def message(message_id: str, direction: Direction, body: str) -> StoredMessage:
        return StoredMessage(
            id=message_id,
            direction=direction,
            resident_key=key,
            conversation_id=conversation_id,
            message_type="text",
            body=body,
            created_at=AT,
            status=DeliveryStatus.RECEIVED,
            status_at=AT,
            recipient=digits if direction is Direction.OUTBOUND else None,
        )

    photo_key = media_object_key(key, wamid)
    ticket = Ticket(
        reference=f"VNR-2026-{digits[-6:]}",
        resident_key=key,
        conversation_id=conversation_id,
        flow="report_problem",
        category="road",
        team="public_works",
        description=text,
        location=Location(latitude=38.7223456, longitude=-9.1393456, name="Home"),
        address=f"Rua {text.split()[0]} 42",
        attachments=(
            TicketAttachment(message_id=wamid, media_key=photo_key, mime_type="image/jpeg"),
        ),
        created_at=AT,
        updated_at=AT,
    )
    stored = InMemoryResidentStore(world.database).save_turn(
        InboundTurn(
            inbound=message(wamid, Direction.INBOUND, text),
            resident=resident,
            resident_is_new=True,
            conversation=conversation,
            replies=(message(f"out-{digits}", Direction.OUTBOUND, "Thanks, we got it"),),
            tickets=(ticket,),
            search_terms=tuple(
                SearchTerm(term=term, conversation_id=conversation_id, at=AT)
                for term in text_terms(text)
            ),
        )
    )
    assert stored
    note = message(f"note-{digits}", Direction.NOTE, f"called back about {text}")
    world.database.messages[note.id] = note
    world.media.put(photo_key, b"\xff\xd8photo", "image/jpeg")
    register_for(
        digits,
        AT,
        obligations=InMemoryObligationStore(world.database),
        notifications=InMemoryNotificationStore(world.database),
    )


def everything_stored(world: World) -> str:
    """Every stored item and every file's key, as text."""
    db = world.database
    tables = {
        "residents": db.residents,
        "conversations": db.conversations,
        "messages": db.messages,
        "tickets": db.tickets,
        "obligations": db.obligations,
        "reminders": db.reminders,
        "notifications": db.notifications,
        "search": db.search,
    }
    text = json.dumps({name: repr(table) for name, table in tables.items()})
    return text + " ".join(world.media.keys())


def test_the_export_holds_every_item_with_links_and_records_who_exported(world: World) -> None:
    give_history(world, ANN, SECRET_WORDS)
    give_history(world, BOB, "bins not collected")

    export = export_resident(
        f"wa:{ANN}", ports=world.ports, actor="agent:boss@town.example", now=NOW
    )

    assert export["resident"]["wa_id"] == ANN
    assert export["resident"]["subscriptions"][0]["topic"] == "roadworks"
    assert [e["action"] for e in export["resident"]["consent_history"]] == [
        "consent_given",
        "subscribed",
    ]
    assert export["counts"] == {
        "residents": 1,
        "conversations": 1,
        "messages": 3,
        "search": len(list(text_terms(SECRET_WORDS))),
        "tickets": 1,
        "obligations": 1,
        "reminders": 3,
        "notifications": 1,
        "media": 1,
    }
    assert sorted(m["direction"] for m in export["messages"]) == ["in", "note", "out"]
    [attachment] = export["tickets"][0]["attachments"]
    assert attachment["url"] == f"memory://{attachment['media_key']}?download"
    assert export["media"] == [
        {
            "key": f"residents/wa:{ANN}/media/wamid.{ANN}",
            "size": 7,
            "url": f"memory://residents/wa:{ANN}/media/wamid.{ANN}?download",
        }
    ]
    assert BOB not in json.dumps(export)
    json.dumps(export)  # JSON-ready throughout
    [event] = world.ports.audit.for_resident(f"wa:{ANN}").events
    assert (event.action, event.actor) == (AuditAction.EXPORTED, "agent:boss@town.example")
    assert export["resident_ref"] == event.resident_ref and ANN not in event.resident_ref


def test_nobody_known_is_not_found(world: World) -> None:
    with pytest.raises(ResidentNotFoundError):
        export_resident("wa:351900000000", ports=world.ports, actor="cli:ops", now=NOW)
    with pytest.raises(ResidentNotFoundError):
        erase_resident("wa:351900000000", ports=world.ports, actor="cli:ops", now=NOW)


def test_erasure_leaves_nothing_but_an_anonymous_ticket_and_the_record(world: World) -> None:
    give_history(world, ANN, SECRET_WORDS)
    give_history(world, BOB, "bins not collected")
    bob_before = everything_stored(world).count(BOB)

    outcome = erase_resident(f"wa:{ANN}", ports=world.ports, actor="cli:ops", now=NOW)

    assert not outcome.already_erased and outcome.erased_at == NOW
    assert outcome.erased["messages"] == 3 and outcome.erased["media"] == 1
    left = everything_stored(world)
    for trace in (ANN, "pothole", "forty", "Rua pothole"):
        assert trace not in left
    [ticket] = [t for t in world.database.tickets.values() if t.resident_key == ERASED_RESIDENT_KEY]
    assert (ticket.category, ticket.team, ticket.flow) == ("road", "public_works", "report_problem")
    assert ticket.location == Location(latitude=38.722, longitude=-9.139)
    assert everything_stored(world).count(BOB) == bob_before
    [event] = world.audit.for_resident(outcome.resident_ref)
    assert event.action is AuditAction.ERASED and dict(event.counts or {}) == outcome.erased


def test_erasing_again_is_already_erased_with_the_first_time(world: World) -> None:
    give_history(world, ANN, SECRET_WORDS)
    first = erase_resident(f"wa:{ANN}", ports=world.ports, actor="cli:ops", now=NOW)

    again = erase_resident(
        f"wa:{ANN}", ports=world.ports, actor="cli:ops", now=NOW + timedelta(days=1)
    )

    assert again.already_erased and again.erased == {} and again.erased_at == NOW
    assert again.resident_ref == first.resident_ref
    assert len(world.audit.for_resident(first.resident_ref)) == 1
    with pytest.raises(ResidentNotFoundError):  # nothing left to export
        export_resident(f"wa:{ANN}", ports=world.ports, actor="cli:ops", now=NOW)


def test_an_interrupted_erasure_finishes_when_run_again(world: World) -> None:
    give_history(world, ANN, SECRET_WORDS)

    class FailingAfterMessages(InMemoryResidentData):
        def erase(self, records):  # type: ignore[no-untyped-def]
            world.database.messages.clear()  # got as far as the messages...
            raise RuntimeError("Lambda timed out")

    broken = DataRightsPorts(
        data=FailingAfterMessages(world.database, world.media), audit=world.ports.audit
    )
    with pytest.raises(RuntimeError):
        erase_resident(f"wa:{ANN}", ports=broken, actor="cli:ops", now=NOW)
    assert f"wa:{ANN}" in world.database.residents  # the resident item goes last

    outcome = erase_resident(f"wa:{ANN}", ports=world.ports, actor="cli:ops", now=NOW)

    assert not outcome.already_erased and "residents" in outcome.erased
    assert ANN not in everything_stored(world)


def test_anonymising_is_idempotent_and_keeps_the_municipal_facts() -> None:
    ticket = Ticket(
        reference="VNR-2026-000001",
        resident_key="wa:351911000001",
        conversation_id="c1",
        flow="report_problem",
        category="road",
        description="my neighbour's car",
        location=Location(latitude=1.23456, longitude=2.34567, address="Rua 1"),
        created_at=AT,
        updated_at=AT,
    )
    once = anonymised_ticket(ticket)
    assert anonymised_ticket(once) == once
    assert once.description is None and once.location == Location(latitude=1.235, longitude=2.346)
    assert (once.reference, once.category, once.created_at) == (ticket.reference, "road", AT)


def test_erasure_strips_the_detail_of_earlier_audit_events(world: World) -> None:
    give_history(world, ANN, SECRET_WORDS)
    trail = world.ports.audit
    trail.record(
        f"wa:{ANN}", actor="apikey:finance", action=AuditAction.MESSAGED, at=AT, detail="TAX-9"
    )
    later = AT + timedelta(minutes=1)
    trail.record_view(f"wa:{ANN}", actor="agent:ana", at=later, detail=f"conversation conv-{ANN}")

    outcome = erase_resident(f"wa:{ANN}", ports=world.ports, actor="cli:ops", now=NOW)

    events = world.audit.for_resident(outcome.resident_ref)
    assert [(e.actor, e.action, e.at, e.detail) for e in events] == [
        ("cli:ops", AuditAction.ERASED, NOW, None),
        ("agent:ana", AuditAction.VIEWED, later, None),
        ("apikey:finance", AuditAction.MESSAGED, AT, None),  # who did what and when stays
    ]


def test_an_obligation_moved_to_another_phone_leaves_no_trace_of_the_first(
    world: World,
) -> None:
    from chalicelib.adapters.memory_reminder_stores import InMemoryReminderSchedule
    from chalicelib.adapters.memory_stores import InMemoryMessageStore
    from chalicelib.services.back_office import register_obligation

    definition = load_municipality_file(BUNDLED_CONFIG)
    obligations = InMemoryObligationStore(world.database)

    def register(digits: str) -> None:
        register_obligation(
            "LIC-1",
            {
                "phone": f"+{digits}",
                "kind": "driving_licence",
                "due_date": "2027-03-15",
                "params": {"name": "Someone", "renewal_url": "https://imt.example/r"},
            },
            definition=definition,
            obligations=obligations,
            residents=InMemoryResidentStore(world.database),
            messages=InMemoryMessageStore(world.database),
            registered_by="imt",
            now=AT,
        )

    give_history(world, ANN, SECRET_WORDS)
    register(ANN)
    first = obligations.reminders_of("LIC-1")[0]
    assert InMemoryReminderSchedule(world.database).claim(first, "out-reminder", AT)  # sent
    register(BOB)  # the back office corrects the phone: same id, same due date

    erase_resident(f"wa:{ANN}", ports=world.ports, actor="cli:ops", now=NOW)

    assert ANN not in everything_stored(world)
    assert {r.obligation.phone for r in world.database.reminders.values()} >= {f"+{BOB}"}
