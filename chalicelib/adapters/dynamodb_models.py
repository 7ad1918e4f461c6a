"""PynamoDB models: the single definition of the tables (keys, indexes, attributes).

`infra.data_resources` derives the CloudFormation tables from these classes, so a key or index
changes here and nowhere else.

The base classes below carry the schema but no table name, so they cannot talk to DynamoDB.
`stage_tables(names, region)` makes per-stage subclasses bound to the stage's physical tables;
two stages can live in one process (tests do) without rebinding shared globals. The
composition root may instead call `bind_tables(names, region)` once, making that stage the
default for stores built without `tables`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any, ClassVar, TypeVar

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import PutError, TransactWriteError, UpdateError
from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    KeysOnlyProjection,
)
from pynamodb.models import Model

from chalicelib.domain.agents import Agent, Role
from chalicelib.domain.conversations import Conversation, ConversationStatus, SlaTarget
from chalicelib.domain.inbox import (
    ALL_OPEN_KEY,
    InboxView,
    inbox_keys,
    inbox_sort_key,
    sla_check_key,
)
from chalicelib.domain.messages import DeliveryStatus, Direction, Priority, StoredMessage
from chalicelib.domain.residents import (
    ConsentAction,
    ConsentEvent,
    ConsentState,
    Resident,
    TopicSubscription,
)
from chalicelib.domain.tickets import Location, Ticket, TicketAttachment, TicketStatus
from chalicelib.resource_names import ResourceNames

QUEUED_MARKER = "queued"  # the only value of the sparse `queued_since` index's hash key


class _UnboundMeta:
    # PynamoDB refuses any request while table_name is None: only stage subclasses do I/O.
    table_name: str | None = None
    billing_mode = "PAY_PER_REQUEST"


# --- residents --------------------------------------------------------------------------------


class ResidentModel(Model):
    logical_name: ClassVar[str] = "residents"

    class Meta(_UnboundMeta):
        pass

    resident_key = UnicodeAttribute(hash_key=True)
    wa_id = UnicodeAttribute(null=True)
    user_id = UnicodeAttribute(null=True)
    username = UnicodeAttribute(null=True)
    profile_name = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    consent = UnicodeAttribute(default=ConsentState.UNKNOWN.value)
    consent_version = UnicodeAttribute(null=True)
    consent_at = UTCDateTimeAttribute(null=True)
    opted_out = BooleanAttribute(default=False)
    opted_out_at = UTCDateTimeAttribute(null=True)
    tags = ListAttribute(of=UnicodeAttribute, null=True)
    custom_fields = MapAttribute(null=True)  # raw map of str → str
    subscriptions = JSONAttribute(null=True)  # [{topic, subscribed, at, text_version}]
    consent_history = JSONAttribute(null=True)  # [{action, at, text_version, topic}]
    last_inbound_at = UTCDateTimeAttribute(null=True)
    current_conversation_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()

    @classmethod
    def from_resident(cls, resident: Resident) -> ResidentModel:
        return cls(
            resident.key,
            wa_id=resident.wa_id,
            user_id=resident.user_id,
            username=resident.username,
            profile_name=resident.profile_name,
            language=resident.language,
            consent=resident.consent.value,
            consent_version=resident.consent_version,
            consent_at=resident.consent_at,
            opted_out=resident.opted_out,
            opted_out_at=resident.opted_out_at,
            tags=list(resident.tags),
            custom_fields=dict(resident.custom_fields),
            subscriptions=[_subscription_json(s) for s in resident.subscriptions] or None,
            consent_history=[consent_event_json(e) for e in resident.consent_history] or None,
            last_inbound_at=resident.last_inbound_at,
            current_conversation_id=resident.current_conversation_id,
            created_at=resident.created_at,
        )

    def to_resident(self) -> Resident:
        return Resident(
            key=self.resident_key,
            wa_id=self.wa_id,
            user_id=self.user_id,
            username=self.username,
            profile_name=self.profile_name,
            language=self.language,
            consent=ConsentState(self.consent),
            consent_version=self.consent_version,
            consent_at=self.consent_at,
            opted_out=bool(self.opted_out),
            opted_out_at=self.opted_out_at,
            tags=tuple(self.tags or ()),
            custom_fields=_plain_dict(self.custom_fields),
            subscriptions=tuple(_subscription(item) for item in self.subscriptions or ()),
            consent_history=tuple(_consent_event(item) for item in self.consent_history or ()),
            last_inbound_at=self.last_inbound_at,
            current_conversation_id=self.current_conversation_id,
            created_at=self.created_at,
        )


def _subscription_json(subscription: TopicSubscription) -> dict[str, Any]:
    return {
        "topic": subscription.topic,
        "subscribed": subscription.subscribed,
        "at": subscription.at.isoformat(),
        "text_version": subscription.text_version,
    }


def _subscription(item: dict[str, Any]) -> TopicSubscription:
    return TopicSubscription(
        topic=item["topic"],
        subscribed=bool(item["subscribed"]),
        at=datetime.fromisoformat(item["at"]),
        text_version=item.get("text_version"),
    )


def consent_event_json(event: ConsentEvent) -> dict[str, Any]:
    """As stored in `consent_history` (also by set_opted_out, which appends to it)."""
    return {
        "action": event.action.value,
        "at": event.at.isoformat(),
        "text_version": event.text_version,
        "topic": event.topic,
    }


def _consent_event(item: dict[str, Any]) -> ConsentEvent:
    return ConsentEvent(
        action=ConsentAction(item["action"]),
        at=datetime.fromisoformat(item["at"]),
        text_version=item.get("text_version"),
        topic=item.get("topic"),
    )


# --- conversations ----------------------------------------------------------------------------


class ConversationsByResident(GlobalSecondaryIndex["ConversationModel"]):
    class Meta:
        index_name = "by_resident"
        projection = AllProjection()

    resident_key = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


# The console's indexes. Each is sparse: its hash key attribute is set (by from_conversation,
# from domain.inbox.inbox_keys) only while the conversation belongs in it, so a Query reads
# nothing else. All project every attribute: a page of an inbox is one Query, no second read.


class TeamInbox(GlobalSecondaryIndex["ConversationModel"]):
    """A team's open conversations (queued, assigned, snoozed), most urgent first."""

    class Meta:
        index_name = "team_inbox"
        projection = AllProjection()

    inbox_team = UnicodeAttribute(hash_key=True)
    urgency = UnicodeAttribute(range_key=True)


class TeamQueue(GlobalSecondaryIndex["ConversationModel"]):
    """A team's queued conversations, waiting for an agent."""

    class Meta:
        index_name = "team_queue"
        projection = AllProjection()

    queue_team = UnicodeAttribute(hash_key=True)
    urgency = UnicodeAttribute(range_key=True)


class AgentInbox(GlobalSecondaryIndex["ConversationModel"]):
    """An agent's assigned and snoozed conversations."""

    class Meta:
        index_name = "agent_inbox"
        projection = AllProjection()

    open_assignee = UnicodeAttribute(hash_key=True)
    urgency = UnicodeAttribute(range_key=True)


class AllOpen(GlobalSecondaryIndex["ConversationModel"]):
    """Every conversation open with people, under one hash key (OPEN_MARKER). One partition
    holds them all: fine for a town hall's few thousand open conversations."""

    class Meta:
        index_name = "all_open"
        projection = AllProjection()

    open_marker = UnicodeAttribute(hash_key=True)
    urgency = UnicodeAttribute(range_key=True)


class SlaChecks(GlobalSecondaryIndex["ConversationModel"]):
    """Conversations with an sla_next_check, by that moment: what the SLA job must look at."""

    class Meta:
        index_name = "sla_checks"
        projection = AllProjection()

    sla_marker = UnicodeAttribute(hash_key=True)
    sla_check_key = UnicodeAttribute(range_key=True)


class ConversationsByOpenedDay(GlobalSecondaryIndex["ConversationModel"]):
    """Every conversation by its opening's UTC day, for reports (one Query per day)."""

    class Meta:
        index_name = "by_opened_day"
        projection = AllProjection()

    opened_day = UnicodeAttribute(hash_key=True)
    opened_at = UTCDateTimeAttribute(range_key=True)


OPEN_MARKER = ALL_OPEN_KEY  # the only value of `all_open`'s hash key
SLA_MARKER = "sla"  # the only value of `sla_checks`' hash key


def opened_day(moment: datetime) -> str:
    return moment.astimezone(UTC).date().isoformat()


class ConversationModel(Model):
    logical_name: ClassVar[str] = "conversations"

    class Meta(_UnboundMeta):
        pass

    conversation_id = UnicodeAttribute(hash_key=True)
    resident_key = UnicodeAttribute()
    status = UnicodeAttribute(default=ConversationStatus.BOT.value)
    bot_state = JSONAttribute(null=True)
    team = UnicodeAttribute(null=True)
    assignee = UnicodeAttribute(null=True)
    opened_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    last_inbound_at = UTCDateTimeAttribute(null=True)
    resolved_at = UTCDateTimeAttribute(null=True)
    csat_score = NumberAttribute(null=True)
    csat_at = UTCDateTimeAttribute(null=True)
    handed_off_at = UTCDateTimeAttribute(null=True)
    assigned_at = UTCDateTimeAttribute(null=True)
    last_agent = UnicodeAttribute(null=True)
    first_response_at = UTCDateTimeAttribute(null=True)
    first_response_due = UTCDateTimeAttribute(null=True)
    resolution_due = UTCDateTimeAttribute(null=True)
    resolution_started_at = UTCDateTimeAttribute(null=True)
    sla_warned = ListAttribute(of=UnicodeAttribute, null=True)  # SlaTarget values
    sla_breached = ListAttribute(of=UnicodeAttribute, null=True)
    sla_next_check = UTCDateTimeAttribute(null=True)
    snoozed_until = UTCDateTimeAttribute(null=True)
    resident_name = UnicodeAttribute(null=True)
    preview = UnicodeAttribute(null=True)
    last_message_at = UTCDateTimeAttribute(null=True)
    # Kept no longer than its messages: retention.messages after its last change (set by the
    # stores, see store_rules.conversation_expiry). TTL attribute.
    expires_at = TTLAttribute(null=True)
    # Index keys, all derived from the fields above by from_conversation; never read back.
    urgency = UnicodeAttribute(null=True)
    inbox_team = UnicodeAttribute(null=True)
    queue_team = UnicodeAttribute(null=True)
    open_assignee = UnicodeAttribute(null=True)
    open_marker = UnicodeAttribute(null=True)
    sla_marker = UnicodeAttribute(null=True)
    sla_check_key = UnicodeAttribute(null=True)
    opened_day = UnicodeAttribute(null=True)
    # PynamoDB adds `version = read version` (or "does not exist") to every save and stores +1.
    version = VersionAttribute()

    by_resident = ConversationsByResident()
    team_inbox = TeamInbox()
    team_queue = TeamQueue()
    agent_inbox = AgentInbox()
    all_open = AllOpen()
    sla_checks = SlaChecks()
    by_opened_day = ConversationsByOpenedDay()

    @classmethod
    def from_conversation(cls, conversation: Conversation) -> ConversationModel:
        # Domain version 0 = never stored: leave PynamoDB's version unset, which makes the save
        # conditional on the item not existing yet.
        version = {"version": conversation.version} if conversation.version else {}
        inboxes = inbox_keys(conversation)
        check_key = sla_check_key(conversation)
        return cls(
            conversation.id,
            resident_key=conversation.resident_key,
            status=conversation.status.value,
            bot_state=conversation.bot_state,
            team=conversation.team,
            assignee=conversation.assignee,
            opened_at=conversation.opened_at,
            updated_at=conversation.updated_at,
            last_inbound_at=conversation.last_inbound_at,
            resolved_at=conversation.resolved_at,
            csat_score=conversation.csat_score,
            csat_at=conversation.csat_at,
            handed_off_at=conversation.handed_off_at,
            assigned_at=conversation.assigned_at,
            last_agent=conversation.last_agent,
            first_response_at=conversation.first_response_at,
            first_response_due=conversation.first_response_due,
            resolution_due=conversation.resolution_due,
            resolution_started_at=conversation.resolution_started_at,
            sla_warned=sorted(target.value for target in conversation.sla_warned) or None,
            sla_breached=sorted(target.value for target in conversation.sla_breached) or None,
            sla_next_check=conversation.sla_next_check,
            snoozed_until=conversation.snoozed_until,
            resident_name=conversation.resident_name,
            preview=conversation.preview,
            last_message_at=conversation.last_message_at,
            urgency=inbox_sort_key(conversation),
            inbox_team=inboxes[InboxView.TEAM],
            queue_team=inboxes[InboxView.UNASSIGNED],
            open_assignee=inboxes[InboxView.MINE],
            open_marker=inboxes[InboxView.ALL],
            sla_marker=None if check_key is None else SLA_MARKER,
            sla_check_key=check_key,
            opened_day=opened_day(conversation.opened_at),
            **version,
        )

    def to_conversation(self) -> Conversation:
        return Conversation(
            id=self.conversation_id,
            resident_key=self.resident_key,
            status=ConversationStatus(self.status),
            bot_state=dict(self.bot_state or {}),
            team=self.team,
            assignee=self.assignee,
            opened_at=self.opened_at,
            updated_at=self.updated_at,
            last_inbound_at=self.last_inbound_at,
            resolved_at=self.resolved_at,
            csat_score=None if self.csat_score is None else int(self.csat_score),
            csat_at=self.csat_at,
            handed_off_at=self.handed_off_at,
            assigned_at=self.assigned_at,
            last_agent=self.last_agent,
            first_response_at=self.first_response_at,
            first_response_due=self.first_response_due,
            resolution_due=self.resolution_due,
            resolution_started_at=self.resolution_started_at,
            sla_warned=frozenset(SlaTarget(value) for value in self.sla_warned or ()),
            sla_breached=frozenset(SlaTarget(value) for value in self.sla_breached or ()),
            sla_next_check=self.sla_next_check,
            snoozed_until=self.snoozed_until,
            resident_name=self.resident_name,
            preview=self.preview,
            last_message_at=self.last_message_at,
            version=int(self.version or 0),
        )


# --- messages ---------------------------------------------------------------------------------


class MessagesByWamid(GlobalSecondaryIndex["MessageModel"]):
    """Status webhooks name a message by wamid. Keys only: the lookup just needs message_id, and
    messages are rewritten on every status change, so a full projection would double writes."""

    class Meta:
        index_name = "by_wamid"
        projection = KeysOnlyProjection()

    wamid = UnicodeAttribute(hash_key=True)


class MessagesByConversation(GlobalSecondaryIndex["MessageModel"]):
    class Meta:
        index_name = "by_conversation"
        projection = AllProjection()

    conversation_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class MessagesQueuedSince(GlobalSecondaryIndex["MessageModel"]):
    """Sparse: only messages carrying `queued_marker` (i.e. still queued) are in it."""

    class Meta:
        index_name = "queued_since"
        projection = AllProjection()

    queued_marker = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class MessagesByResident(GlobalSecondaryIndex["MessageModel"]):
    """Every message of one resident, for their data export and erasure. Keys only: both read
    the messages by key afterwards, and they are rare."""

    class Meta:
        index_name = "by_resident"
        projection = KeysOnlyProjection()

    resident_key = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class MessagesByBroadcast(GlobalSecondaryIndex["MessageModel"]):
    """Sparse: only broadcast messages carry `broadcast_id`. Projects what a broadcast's
    progress counts, so a progress read never touches the table."""

    class Meta:
        index_name = "by_broadcast"
        projection = IncludeProjection(["status", "status_at", "error_code", "error_title"])

    broadcast_id = UnicodeAttribute(hash_key=True)


class MessageModel(Model):
    logical_name: ClassVar[str] = "messages"

    class Meta(_UnboundMeta):
        pass

    message_id = UnicodeAttribute(hash_key=True)
    direction = UnicodeAttribute()
    resident_key = UnicodeAttribute()
    conversation_id = UnicodeAttribute(null=True)
    message_type = UnicodeAttribute()
    body = UnicodeAttribute(null=True)
    payload = JSONAttribute(null=True)
    media_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    status = UnicodeAttribute()
    status_at = UTCDateTimeAttribute()
    wamid = UnicodeAttribute(null=True)
    recipient = UnicodeAttribute(null=True)
    priority = UnicodeAttribute(default=Priority.REPLY.value)
    error_code = NumberAttribute(null=True)
    error_title = UnicodeAttribute(null=True)
    reply_ids = ListAttribute(of=UnicodeAttribute, null=True)
    sent_by = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    note = UnicodeAttribute(null=True)
    media_key = UnicodeAttribute(null=True)  # inbound media kept in the media archive
    # What record_media was told about the kept file; not part of StoredMessage.
    media_mime_type = UnicodeAttribute(null=True)
    media_size = NumberAttribute(null=True)
    queued_marker = UnicodeAttribute(null=True)
    broadcast_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # retention.messages after created_at

    by_wamid = MessagesByWamid()
    by_conversation = MessagesByConversation()
    queued_since = MessagesQueuedSince()
    by_resident = MessagesByResident()
    by_broadcast = MessagesByBroadcast()

    @classmethod
    def from_message(cls, message: StoredMessage) -> MessageModel:
        return cls(
            message.id,
            direction=message.direction.value,
            resident_key=message.resident_key,
            conversation_id=message.conversation_id,
            message_type=message.message_type,
            body=message.body,
            payload=message.payload,
            media_id=message.media_id,
            created_at=message.created_at,
            status=message.status.value,
            status_at=message.status_at,
            wamid=message.wamid,
            recipient=message.recipient,
            priority=message.priority.value,
            error_code=message.error_code,
            error_title=message.error_title,
            reply_ids=list(message.reply_ids),
            sent_by=message.sent_by,
            attempts=message.attempts,
            note=message.note,
            media_key=message.media_key,
            queued_marker=QUEUED_MARKER if message.status is DeliveryStatus.QUEUED else None,
            broadcast_id=message.broadcast_id,
            expires_at=message.expires_at,
        )

    def to_message(self) -> StoredMessage:
        return StoredMessage(
            id=self.message_id,
            direction=Direction(self.direction),
            resident_key=self.resident_key,
            conversation_id=self.conversation_id,
            message_type=self.message_type,
            body=self.body,
            payload=dict(self.payload or {}),
            media_id=self.media_id,
            created_at=self.created_at,
            status=DeliveryStatus(self.status),
            status_at=self.status_at,
            wamid=self.wamid,
            recipient=self.recipient,
            priority=Priority(self.priority),
            error_code=None if self.error_code is None else int(self.error_code),
            error_title=self.error_title,
            reply_ids=tuple(self.reply_ids or ()),
            sent_by=self.sent_by,
            attempts=int(self.attempts or 0),
            note=self.note,
            media_key=self.media_key,
            broadcast_id=self.broadcast_id,
            expires_at=self.expires_at,
        )


# --- tickets ----------------------------------------------------------------------------------

SEQUENCE_KEY_PREFIX = "#seq#"  # references never start with "#"


def sequence_key(prefix: str, year: int) -> str:
    """The item of `tickets` holding the yearly counter of a reference prefix."""
    return f"{SEQUENCE_KEY_PREFIX}{prefix}#{year}"


class TicketsByResident(GlobalSecondaryIndex["TicketModel"]):
    """Sparse: the sequence items carry no resident_key, so only tickets are in it."""

    class Meta:
        index_name = "by_resident"
        projection = AllProjection()

    resident_key = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class LocationMap(MapAttribute[str, Any]):
    latitude = NumberAttribute()
    longitude = NumberAttribute()
    name = UnicodeAttribute(null=True)
    address = UnicodeAttribute(null=True)


class AttachmentMap(MapAttribute[str, Any]):
    message_id = UnicodeAttribute()
    media_key = UnicodeAttribute()
    mime_type = UnicodeAttribute(null=True)


class TicketModel(Model):
    """A ticket, keyed by its reference. The same table holds the yearly reference counters
    (`sequence_key`), which have only `reference` and `counter`: they are written with
    UpdateItem ADD and never read as tickets."""

    logical_name: ClassVar[str] = "tickets"

    class Meta(_UnboundMeta):
        pass

    reference = UnicodeAttribute(hash_key=True)
    resident_key = UnicodeAttribute()
    conversation_id = UnicodeAttribute()
    flow = UnicodeAttribute()
    category = UnicodeAttribute(null=True)
    team = UnicodeAttribute(null=True)
    description = UnicodeAttribute(null=True)
    location = LocationMap(null=True)
    address = UnicodeAttribute(null=True)
    attachments = ListAttribute(of=AttachmentMap, null=True)
    status = UnicodeAttribute(default=TicketStatus.OPEN.value)
    language = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    counter = NumberAttribute(null=True)  # sequence items only
    expires_at = TTLAttribute(null=True)  # retention.tickets after updated_at (store_rules)

    by_resident = TicketsByResident()

    @classmethod
    def from_ticket(cls, ticket: Ticket) -> TicketModel:
        location = ticket.location
        return cls(
            ticket.reference,
            resident_key=ticket.resident_key,
            conversation_id=ticket.conversation_id,
            flow=ticket.flow,
            category=ticket.category,
            team=ticket.team,
            description=ticket.description,
            location=None
            if location is None
            else LocationMap(
                latitude=location.latitude,
                longitude=location.longitude,
                name=location.name,
                address=location.address,
            ),
            address=ticket.address,
            attachments=[
                AttachmentMap(
                    message_id=attachment.message_id,
                    media_key=attachment.media_key,
                    mime_type=attachment.mime_type,
                )
                for attachment in ticket.attachments
            ],
            status=ticket.status.value,
            language=ticket.language,
            created_at=ticket.created_at,
            updated_at=ticket.updated_at,
        )

    def to_ticket(self) -> Ticket:
        location = self.location
        return Ticket(
            reference=self.reference,
            resident_key=self.resident_key,
            conversation_id=self.conversation_id,
            flow=self.flow,
            category=self.category,
            team=self.team,
            description=self.description,
            location=None
            if location is None
            else Location(
                latitude=location.latitude,
                longitude=location.longitude,
                name=location.name,
                address=location.address,
            ),
            address=self.address,
            attachments=tuple(
                TicketAttachment(
                    message_id=attachment.message_id,
                    media_key=attachment.media_key,
                    mime_type=attachment.mime_type or "",
                )
                for attachment in self.attachments or ()
            ),
            status=TicketStatus(self.status),
            language=self.language,
            created_at=self.created_at,
            updated_at=self.updated_at,
        )


# --- pacing -----------------------------------------------------------------------------------


class RateLimitModel(Model):
    """GCRA state of one rate limit (`chalicelib.domain.pacing`): a business number's throughput
    or a (number, recipient) pair. `DynamoDBRateLimiter` writes it with hand-made UpdateItem
    calls; this class carries the schema for infra/ and the stage binding."""

    logical_name: ClassVar[str] = "pacing"

    class Meta(_UnboundMeta):
        pass

    limit_key = UnicodeAttribute(hash_key=True)
    tat = NumberAttribute()  # theoretical arrival time, integer microseconds since the epoch
    # A day after `tat` the item says nothing a missing item wouldn't: let DynamoDB drop it, so
    # a pair key per resident ever messaged doesn't pile up.
    expires_at = TTLAttribute(null=True)
    # Items `msglimit#...` instead count the residents the broadcasts reached, for the daily
    # messaging limit (adapters/dynamodb_daily_budget.py); they carry no `tat`.
    hours = JSONAttribute(null=True)  # {UTC hour: residents reached in it}


# --- API keys ---------------------------------------------------------------------------------

API_KEY_NAME_PREFIX = "name#"  # key hashes are hex digits: a name item never collides with one


class ApiKeyModel(Model):
    """Back-office API keys, by the sha256 of the key (the key itself is never stored). The
    table also holds one `name#<name>` item per name, pointing at the name's current key: the
    name is claimed by a conditional put in the key's own transaction (names stay unique), and
    `apikey revoke --name` finds the key with a GetItem. The logical name has no underscore:
    CloudFormation logical ids (`ApikeysTable`) must be alphanumeric."""

    logical_name: ClassVar[str] = "apikeys"

    class Meta(_UnboundMeta):
        pass

    key_hash = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    scopes = ListAttribute(of=UnicodeAttribute, null=True)  # key items
    created_at = UTCDateTimeAttribute(null=True)  # key items
    revoked_at = UTCDateTimeAttribute(null=True)  # key items
    current_hash = UnicodeAttribute(null=True)  # name items: the key the name belongs to
    revoked = BooleanAttribute(null=True)  # name items: that key was revoked, the name is free


# --- obligations, reminders and notifications ------------------------------------------------
# Conversions to and from the domain live in adapters/dynamodb_reminder_stores.py.

WATERMARK_KEY = "#watermark"  # the `reminders` item holding the last slot the job finished


class ObligationsByResident(GlobalSecondaryIndex["ObligationModel"]):
    """A resident's obligations by due date (the console's profile panel)."""

    class Meta:
        index_name = "by_resident"
        projection = AllProjection()

    resident_key = UnicodeAttribute(hash_key=True)
    due_date = UnicodeAttribute(range_key=True)


class ObligationModel(Model):
    """A due date a back office registered. `reminder_ids` is every reminder ever planned for it
    (a string set, added to by each save), so its reminders are read by key, with no index."""

    logical_name: ClassVar[str] = "obligations"

    class Meta(_UnboundMeta):
        pass

    external_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    phone = UnicodeAttribute()
    resident_key = UnicodeAttribute()
    language = UnicodeAttribute()
    due_date = UnicodeAttribute()  # YYYY-MM-DD
    params = JSONAttribute(null=True)
    state = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    registered_by = UnicodeAttribute()
    reminder_ids = UnicodeSetAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # retention.messages after due_date (store_rules)

    by_resident = ObligationsByResident()


class DueReminders(GlobalSecondaryIndex["ReminderModel"]):
    """Sparse: only scheduled reminders carry `due_slot` (their send_at's 15-minute UTC slot), so
    the job's one Query per slot reads exactly what is due. All attributes are projected: each
    due item carries a copy of its obligation, and the job needs no second read to send it."""

    class Meta:
        index_name = "due"
        projection = AllProjection()

    due_slot = UnicodeAttribute(hash_key=True)
    send_at = UTCDateTimeAttribute(range_key=True)


class ReminderModel(Model):
    """One planned reminder (`reminder_id` = rem|<external id>|<offset>), and the job's
    WATERMARK_KEY item, which has `watermark` only: hence every other attribute is nullable."""

    logical_name: ClassVar[str] = "reminders"

    class Meta(_UnboundMeta):
        pass

    reminder_id = UnicodeAttribute(hash_key=True)
    external_id = UnicodeAttribute(null=True)
    offset_days = NumberAttribute(null=True)
    send_at = UTCDateTimeAttribute(null=True)
    expires_at = UTCDateTimeAttribute(null=True)
    status = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    updated_at = UTCDateTimeAttribute(null=True)
    due_slot = UnicodeAttribute(null=True)  # set only while scheduled
    due_date = UnicodeAttribute(null=True)  # the obligation's when this was planned
    obligation = JSONAttribute(null=True)  # the obligation as it was when this was planned
    watermark = UnicodeAttribute(null=True)  # WATERMARK_KEY item only
    # The TTL attribute (`expires_at` above is the reminder's own "never send after"):
    # retention.messages after the later of send_at and the due date (store_rules).
    purge_at = TTLAttribute(null=True)

    due = DueReminders()


class DueNotifications(GlobalSecondaryIndex["NotificationModel"]):
    """Sparse, like the reminders' `due`: only scheduled notifications carry `due_slot`."""

    class Meta:
        index_name = "due"
        projection = AllProjection()

    due_slot = UnicodeAttribute(hash_key=True)
    send_at = UTCDateTimeAttribute(range_key=True)


class NotificationsByResident(GlobalSecondaryIndex["NotificationModel"]):
    """A resident's notifications, for their data export and erasure. Keys only: both read the
    items by key afterwards, and they are rare."""

    class Meta:
        index_name = "by_resident"
        projection = KeysOnlyProjection()

    resident_key = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class NotificationModel(Model):
    logical_name: ClassVar[str] = "notifications"

    class Meta(_UnboundMeta):
        pass

    external_id = UnicodeAttribute(hash_key=True)
    kind = UnicodeAttribute()
    phone = UnicodeAttribute()
    resident_key = UnicodeAttribute()
    language = UnicodeAttribute()
    params = JSONAttribute(null=True)
    send_at = UTCDateTimeAttribute()
    status = UnicodeAttribute()
    message_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    registered_by = UnicodeAttribute()
    due_slot = UnicodeAttribute(null=True)  # set only while scheduled
    expires_at = TTLAttribute(null=True)  # retention.messages after send_at (store_rules)

    due = DueNotifications()
    by_resident = NotificationsByResident()


# --- the agents' console ----------------------------------------------------------------------

TEAM_MEMBERS_PREFIX = "#team#"  # agent ids are e-mail addresses: they never start with "#"
ALL_AGENTS_KEY = "#all"


def team_members_key(team: str) -> str:
    """The `agents` item listing the members of `team`."""
    return f"{TEAM_MEMBERS_PREFIX}{team}"


class AgentModel(Model):
    """Agents by id (their lower-cased e-mail). The table also holds membership items,
    `team_members_key(team)` and ALL_AGENTS_KEY, whose string set `members` names agent ids:
    a team's members are one GetItem and one BatchGetItem, never a Scan. Hence every agent
    attribute is nullable."""

    logical_name: ClassVar[str] = "agents"

    class Meta(_UnboundMeta):
        pass

    agent_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute(null=True)
    role = UnicodeAttribute(null=True)
    teams = ListAttribute(of=UnicodeAttribute, null=True)
    capacity = NumberAttribute(null=True)
    online = BooleanAttribute(null=True)
    last_seen_at = UTCDateTimeAttribute(null=True)
    open_count = NumberAttribute(null=True)
    last_assigned_at = UTCDateTimeAttribute(null=True)
    disabled = BooleanAttribute(null=True)
    created_at = UTCDateTimeAttribute(null=True)
    members = UnicodeSetAttribute(null=True)  # membership items only

    @classmethod
    def from_agent(cls, agent: Agent) -> AgentModel:
        return cls(
            agent.id,
            name=agent.name,
            role=agent.role.value,
            teams=list(agent.teams),
            capacity=agent.capacity,
            online=agent.online,
            last_seen_at=agent.last_seen_at,
            open_count=agent.open_count,
            last_assigned_at=agent.last_assigned_at,
            disabled=agent.disabled,
            created_at=agent.created_at,
        )

    def to_agent(self) -> Agent:
        return Agent(
            id=self.agent_id,
            name=self.name or "",
            role=Role(self.role),
            teams=tuple(self.teams or ()),
            capacity=int(self.capacity or 0),
            online=bool(self.online),
            last_seen_at=self.last_seen_at,
            open_count=int(self.open_count or 0),
            last_assigned_at=self.last_assigned_at,
            disabled=bool(self.disabled),
            created_at=self.created_at,  # type: ignore[arg-type]
        )


class SearchTermsByConversation(GlobalSecondaryIndex["SearchTermModel"]):
    """What indexes one conversation, so erasing a resident removes their words too."""

    class Meta:
        index_name = "by_conversation"
        projection = KeysOnlyProjection()

    conversation_id = UnicodeAttribute(hash_key=True)


class SearchTermModel(Model):
    """The console's search index: `term` (see domain.search_terms) was said in, or names the
    resident of, `conversation_id` at the moment `entry` starts with (store_rules.search_entry).
    Residents' words are kept no longer than their messages: `expires_at` is the config's
    `retention.messages` after the moment (DynamoDB's TTL deletes the item)."""

    logical_name: ClassVar[str] = "search"

    class Meta(_UnboundMeta):
        pass

    term = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)
    conversation_id = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)

    by_conversation = SearchTermsByConversation()


# --- broadcasts (see chalicelib/adapters/dynamodb_broadcast_store.py) ---------------------------


BROADCAST_SETTLING = "settling"  # the only value of the sparse `settling` index's hash key
BROADCAST_LISTED = "broadcast"  # the only value of `by_created`'s hash key


class BroadcastsSettling(GlobalSecondaryIndex["BroadcastModel"]):
    """Sparse: only broadcasts the job still has work on (scheduled, running, cancelled and not
    yet reported) carry `settling_marker`, so the job's one Query a minute reads only those."""

    class Meta:
        index_name = "settling"
        projection = AllProjection()

    settling_marker = UnicodeAttribute(hash_key=True)
    send_at = UTCDateTimeAttribute(range_key=True)


class BroadcastsByCreated(GlobalSecondaryIndex["BroadcastModel"]):
    """Every broadcast, newest first, under one hash key: a town sends a few a week."""

    class Meta:
        index_name = "by_created"
        projection = AllProjection()

    listed_marker = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class BroadcastModel(Model):
    """One broadcast: what is sent, to which segment, and how far the sending got. It names no
    resident: the audience is read from the residents table segment by segment (the cursor is
    `next_segment`), and the messages carry `broadcast_id`."""

    logical_name: ClassVar[str] = "broadcasts"

    class Meta(_UnboundMeta):
        pass

    broadcast_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    template = UnicodeAttribute()
    category = UnicodeAttribute()
    params = JSONAttribute()  # [strings] or {language: [strings]}
    segment = JSONAttribute()  # {topic, languages, tags, custom_fields}
    status = UnicodeAttribute()
    send_at = UTCDateTimeAttribute()
    created_by = UnicodeAttribute()
    created_at = UTCDateTimeAttribute()
    started_at = UTCDateTimeAttribute(null=True)
    finished_at = UTCDateTimeAttribute(null=True)
    cancelled_by = UnicodeAttribute(null=True)
    cancel_reason = UnicodeAttribute(null=True)  # the job's own cancel: template_not_allowed
    lease_until = UTCDateTimeAttribute(null=True)  # a run of the job works on it until then
    estimate = JSONAttribute()  # prices as strings (decimals)
    total_segments = NumberAttribute()
    next_segment = NumberAttribute(default=0)
    queued = NumberAttribute(default=0)
    progress = JSONAttribute(null=True)
    report = JSONAttribute(null=True)
    settling_marker = UnicodeAttribute(null=True)  # BROADCAST_SETTLING while the job has work
    listed_marker = UnicodeAttribute(default=BROADCAST_LISTED)
    version = VersionAttribute()

    settling = BroadcastsSettling()
    by_created = BroadcastsByCreated()


# --- audit log (see chalicelib/adapters/dynamodb_audit_log.py) ---------------------------------

AUDIT_LOG_MARKER = "all"  # the only value of the `recent` index's hash key


class AuditRecent(GlobalSecondaryIndex["AuditModel"]):
    """Everyone's events by time, for the supervisors' "recent" list. One partition: audit
    events are people's actions (a few a second at most, well under a partition's 1,000
    writes a second), and one Query pages through them newest first."""

    class Meta:
        index_name = "recent"
        projection = AllProjection()

    log = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)


class AuditModel(Model):
    """Who viewed, exported, erased or messaged a resident's data. Keyed by the resident's
    pseudonym (never their phone number), so the log outlives an erasure without naming them."""

    logical_name: ClassVar[str] = "audit"

    class Meta(_UnboundMeta):
        pass

    resident_ref = UnicodeAttribute(hash_key=True)
    entry = UnicodeAttribute(range_key=True)  # audit_rules.audit_entry: "<time>#<fingerprint>"
    log = UnicodeAttribute(default=AUDIT_LOG_MARKER)
    at = UTCDateTimeAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()
    detail = UnicodeAttribute(null=True)
    counts = JSONAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # retention.audit (default 5 years) after `at`

    recent = AuditRecent()


MODEL_CLASSES: tuple[type[Model], ...] = (
    ResidentModel,
    ConversationModel,
    MessageModel,
    RateLimitModel,
    TicketModel,
    ApiKeyModel,
    ObligationModel,
    ReminderModel,
    NotificationModel,
    AgentModel,
    SearchTermModel,
    BroadcastModel,
    AuditModel,
)


# --- binding to a stage -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StageTables:
    """The models bound to one stage's physical tables."""

    residents: type[ResidentModel]
    conversations: type[ConversationModel]
    messages: type[MessageModel]
    rate_limits: type[RateLimitModel]
    tickets: type[TicketModel]
    api_keys: type[ApiKeyModel]
    obligations: type[ObligationModel]
    reminders: type[ReminderModel]
    notifications: type[NotificationModel]
    agents: type[AgentModel]
    search: type[SearchTermModel]
    broadcasts: type[BroadcastModel]
    audit: type[AuditModel]

    @property
    def connection(self) -> Connection:
        """The PynamoDB Connection all of them share (for transactions across the tables)."""
        return self.residents._get_connection().connection


def stage_tables(
    names: ResourceNames,
    region: str,
    *,
    host: str | None = None,
    dynamodb_client: Any | None = None,
) -> StageTables:
    """Models bound to the tables of `names.stage`, all on one PynamoDB Connection (one
    botocore client: each costs ~80 ms of cold start).

    `host=None` lets botocore resolve the endpoint, which honours AWS_ENDPOINT_URL (moto locally).
    The client is created lazily on the first request. The same (stage, region, host) always
    gives the same classes, so asking twice never makes a second client. Pass `dynamodb_client`
    (a boto3/botocore DynamoDB client) to get fresh classes that use that client instead, e.g. to
    hook its events and count requests."""
    if dynamodb_client is None:
        return _shared_stage_tables(names, region, host)
    tables = _new_stage_tables(names, region, host)
    # PynamoDB has no public way to hand over a ready-made client; its Connection uses
    # `_client` when set, and only creates one when it is not.
    tables.connection._client = dynamodb_client
    return tables


_default_tables: StageTables | None = None


def bind_tables(names: ResourceNames, region: str, *, host: str | None = None) -> StageTables:
    """Make this stage the process's default: what stores built without `tables` use. Idempotent
    (the same stage gives the same classes); the composition root calls it once."""
    global _default_tables
    _default_tables = stage_tables(names, region, host=host)
    return _default_tables


def bound_tables() -> StageTables:
    if _default_tables is None:
        raise RuntimeError("no DynamoDB tables bound: call bind_tables(names, region) first")
    return _default_tables


CONDITION_FAILED = "ConditionalCheckFailedException"  # botocore's code for a failed condition
TRANSACTION_CANCELLED = "TransactionCanceledException"
ITEM_CHECK_FAILED = "ConditionalCheckFailed"  # a cancelled transaction's reason for one item


def cancellation_codes(error: TransactWriteError) -> list[str | None]:
    """A cancelled transaction's reason code for each of its items, in the order sent."""
    return [reason.code if reason else None for reason in error.cancellation_reasons]


def conditional_update(item: Model, actions: list[Action], condition: Condition) -> bool:
    """One UpdateItem on `item`; False when the condition failed. The item holds the new
    attribute values afterwards."""
    try:
        item.update(actions=actions, condition=condition)
    except UpdateError as error:
        if error.cause_response_code == CONDITION_FAILED:
            return False
        raise
    return True


def conditional_save(item: Model, condition: Condition | None = None) -> bool:
    """One PutItem of `item` (conditional on its VersionAttribute, if it has one, and on
    `condition`); False when the condition failed."""
    try:
        item.save(condition=condition)
    except PutError as error:
        if error.cause_response_code == CONDITION_FAILED:
            return False
        raise
    return True


class StageTableStore:
    """Base of the DynamoDB stores: the tables given to the constructor (from
    `stage_tables(...)`) or, when None, the ones `bind_tables` bound, looked up on first use."""

    def __init__(self, tables: StageTables | None = None) -> None:
        self._given_tables = tables

    @property
    def _tables(self) -> StageTables:
        return self._given_tables or bound_tables()


def _new_stage_tables(names: ResourceNames, region: str, host: str | None) -> StageTables:
    residents = _bind(ResidentModel, names, region, host)
    conversations = _bind(ConversationModel, names, region, host)
    messages = _bind(MessageModel, names, region, host)
    rate_limits = _bind(RateLimitModel, names, region, host)
    tickets = _bind(TicketModel, names, region, host)
    api_keys = _bind(ApiKeyModel, names, region, host)
    obligations = _bind(ObligationModel, names, region, host)
    reminders = _bind(ReminderModel, names, region, host)
    notifications = _bind(NotificationModel, names, region, host)
    agents = _bind(AgentModel, names, region, host)
    search = _bind(SearchTermModel, names, region, host)
    broadcasts = _bind(BroadcastModel, names, region, host)
    audit = _bind(AuditModel, names, region, host)
    # A PynamoDB Connection serves any number of tables once it knows their key schemas;
    # building the TableConnections makes no request and creates no client yet.
    shared = residents._get_connection().connection
    for model in (
        conversations,
        messages,
        rate_limits,
        tickets,
        api_keys,
        obligations,
        reminders,
        notifications,
        agents,
        search,
        broadcasts,
        audit,
    ):
        table_connection = model._get_connection()
        shared.add_meta_table(table_connection.get_meta_table())
        table_connection.connection = shared
    return StageTables(
        residents=residents,
        conversations=conversations,
        messages=messages,
        rate_limits=rate_limits,
        tickets=tickets,
        api_keys=api_keys,
        obligations=obligations,
        reminders=reminders,
        notifications=notifications,
        agents=agents,
        search=search,
        broadcasts=broadcasts,
        audit=audit,
    )


_shared_stage_tables = cache(_new_stage_tables)


_M = TypeVar("_M", bound=Model)


def _bind(base: type[_M], names: ResourceNames, region: str, host: str | None) -> type[_M]:
    meta = type(
        "Meta",
        (_UnboundMeta,),
        {"table_name": names.table(base.logical_name), "region": region, "host": host},  # type: ignore[attr-defined]
    )
    stage_model = type(
        f"{base.__name__}_{_identifier(names.stage)}",
        (base,),
        {"Meta": meta, "__module__": __name__},
    )
    return stage_model


def _identifier(stage: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in stage)


def _plain_dict(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if isinstance(value, MapAttribute):
        return value.as_dict()
    return dict(value)
