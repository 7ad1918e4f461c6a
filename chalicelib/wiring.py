"""Composition root: builds adapters on first use and hands them to the use cases.

Nothing heavy is imported at module import time (boto3, PynamoDB, requests, YAML): `app.py`
imports this module in every Lambda, and only the functions that need an adapter pay for it.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import TYPE_CHECKING

from chalicelib.settings import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.adapters.cognito_directory import CognitoDirectory
    from chalicelib.adapters.dynamodb_models import StageTables
    from chalicelib.adapters.jwks_token_verifier import JwksTokenVerifier
    from chalicelib.adapters.sqs_queues import SqsRecordDelay
    from chalicelib.domain.bot.definition import MunicipalityDefinition, Retention
    from chalicelib.domain.messages import Priority
    from chalicelib.services.audit_ports import AuditLog
    from chalicelib.services.audit_trail import AuditTrail
    from chalicelib.services.broadcast_ports import BroadcastPorts, BroadcastStore
    from chalicelib.services.console_context import ConsolePorts
    from chalicelib.services.console_ports import AgentStore, ConsoleConversationStore
    from chalicelib.services.handle_inbound_message import InboundPorts
    from chalicelib.services.pacing_ports import RateLimiter
    from chalicelib.services.ports import (
        ApiKeyStore,
        InboundQueue,
        MediaArchive,
        MediaQueue,
        MessageSender,
        MessageStore,
        NotificationStore,
        ObligationStore,
        OutboundQueue,
        ReminderSchedule,
        ResidentStore,
        SenderControl,
        TicketStore,
    )
    from chalicelib.services.resident_data import DataRightsPorts
    from chalicelib.services.send_queued_message import Clock, Outbox, SendingPolicy
    from chalicelib.services.store_inbound_media import MediaSource
    from chalicelib.whatsapp.graph_api_client import GraphApiClient


class Container:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    @cached_property
    def definition(self) -> MunicipalityDefinition:
        from chalicelib.adapters.config_file import load_municipality_file

        return load_municipality_file(self.settings.config_path)

    def retention(self) -> Retention | None:
        """The config's `retention:`; the stores ask on their first write (see store_rules), so
        a function that writes no message never loads the config for it."""
        return self.definition.retention

    @cached_property
    def tables(self) -> StageTables:
        """This stage's DynamoDB tables, on one lazily created client shared by every store."""
        from chalicelib.adapters.dynamodb_models import bind_tables

        return bind_tables(self.settings.names, self.settings.aws_region)

    @cached_property
    def residents(self) -> ResidentStore:
        from chalicelib.adapters.dynamodb_stores import DynamoDBResidentStore

        return DynamoDBResidentStore(self.tables, retention=self.retention)

    @cached_property
    def tickets(self) -> TicketStore:
        from chalicelib.adapters.dynamodb_ticket_store import DynamoDBTicketStore

        return DynamoDBTicketStore(self.tables)

    @cached_property
    def obligations(self) -> ObligationStore:
        from chalicelib.adapters.dynamodb_reminder_stores import DynamoDBObligationStore

        return DynamoDBObligationStore(self.tables, retention=self.retention)

    @cached_property
    def reminder_schedule(self) -> ReminderSchedule:
        from chalicelib.adapters.dynamodb_reminder_stores import DynamoDBReminderSchedule

        return DynamoDBReminderSchedule(self.tables)

    @cached_property
    def notification_store(self) -> NotificationStore:
        from chalicelib.adapters.dynamodb_reminder_stores import DynamoDBNotificationStore

        return DynamoDBNotificationStore(self.tables, retention=self.retention)

    @cached_property
    def bulk_concurrency(self) -> int:
        """How many rows of a bulk upload are saved at once: many on AWS; one at a time against
        an emulator (moto, in `civicchat run` and the tests), whose DynamoDB fails concurrent
        writes to one table."""
        from urllib.parse import urlparse

        from chalicelib.services.back_office import BULK_CONCURRENCY

        host = urlparse(self.tables.connection.client.meta.endpoint_url).hostname or ""
        on_aws = host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
        return BULK_CONCURRENCY if on_aws else 1

    @cached_property
    def api_keys(self) -> ApiKeyStore:
        from chalicelib.adapters.dynamodb_api_key_store import DynamoDBApiKeyStore

        return DynamoDBApiKeyStore(self.tables)

    @cached_property
    def inbound_ports(self) -> InboundPorts:
        from chalicelib.services.handle_inbound_message import InboundPorts

        return InboundPorts(
            residents=self.residents,
            messages=self.messages,
            tickets=self.tickets,
            outbound=self.outbound_queue,
            media=self.media_queue,
        )

    @cached_property
    def messages(self) -> MessageStore:
        from chalicelib.adapters.dynamodb_stores import DynamoDBMessageStore

        return DynamoDBMessageStore(self.tables, retention=self.retention)

    @cached_property
    def inbound_queue(self) -> InboundQueue:
        from chalicelib.adapters.sqs_queues import SqsInboundQueue

        return SqsInboundQueue(self.settings.names.inbound_queue)

    @cached_property
    def outbound_queue(self) -> OutboundQueue:
        from chalicelib.adapters.sqs_queues import SqsOutboundQueue

        names = self.settings.names
        return SqsOutboundQueue(
            names.outbound_replies_queue,
            names.outbound_bulk_queue,
            reply_dead_letter_queue=names.dead_letter_queue(names.outbound_replies_queue),
            bulk_dead_letter_queue=names.dead_letter_queue(names.outbound_bulk_queue),
            region_name=self.settings.aws_region,
        )

    @cached_property
    def record_delay(self) -> SqsRecordDelay:
        from chalicelib.adapters.sqs_queues import SqsRecordDelay

        return SqsRecordDelay()

    @cached_property
    def rate_limiter(self) -> RateLimiter:
        from chalicelib.adapters.dynamodb_rate_limiter import DynamoDBRateLimiter

        return DynamoDBRateLimiter(self.tables)

    @cached_property
    def sender_control(self) -> SenderControl:
        from chalicelib.adapters.dynamodb_sender_control import DynamoDBSenderControl

        return DynamoDBSenderControl(self.tables)

    @cached_property
    def outbox(self) -> Outbox:
        from chalicelib.services.send_queued_message import Outbox

        return Outbox(
            messages=self.messages,
            residents=self.residents,
            graph=self.sender,
            limiter=self.rate_limiter,
            control=self.sender_control,
            dead_letters=self.outbound_queue,
            broadcasts=self.broadcasts,
        )

    # --- broadcasts --------------------------------------------------------------------------

    @cached_property
    def broadcasts(self) -> BroadcastStore:
        from chalicelib.adapters.dynamodb_broadcast_store import DynamoDBBroadcastStore

        return DynamoDBBroadcastStore(self.tables)

    @cached_property
    def broadcast_ports(self) -> BroadcastPorts:
        from chalicelib.adapters.dynamodb_broadcast_store import DynamoDBAudienceSource
        from chalicelib.adapters.dynamodb_daily_budget import DynamoDBDailyBudget
        from chalicelib.services.broadcast_ports import BroadcastPorts

        return BroadcastPorts(
            broadcasts=self.broadcasts,
            audience=DynamoDBAudienceSource(self.tables),
            budget=DynamoDBDailyBudget(self.settings.whatsapp_phone_number_id, self.tables),
            messages=self.messages,
            outbound=self.outbound_queue,
        )

    @cached_property
    def sending_policy(self) -> SendingPolicy:
        from chalicelib.domain.pacing import number_rate, pair_rate
        from chalicelib.domain.service_window import reopen_template_codes
        from chalicelib.services.send_queued_message import SendingPolicy

        definition = self.definition
        return SendingPolicy(
            phone_number_id=self.settings.whatsapp_phone_number_id,
            number_rate=number_rate(self.settings.whatsapp_max_mps),
            pair_rate=pair_rate(),
            reopen_template_codes=reopen_template_codes(definition),
            default_language=definition.default_language,
        )

    @cached_property
    def clock(self) -> Clock:
        import random
        import time

        from chalicelib.services.send_queued_message import Clock

        return Clock(now=utc_now, sleep=time.sleep, jitter=random.random)

    def priority_of_queue(self, event_source_arn: str) -> Priority:
        from chalicelib.domain.messages import Priority

        bulk = self.settings.names.outbound_bulk_queue
        return Priority.BULK if event_source_arn.endswith(f":{bulk}") else Priority.REPLY

    @cached_property
    def graph_api(self) -> GraphApiClient:
        """One client (one HTTP session) for sending and for fetching residents' media."""
        from chalicelib.whatsapp.graph_api_client import GraphApiClient

        return GraphApiClient(
            base_url=self.settings.whatsapp_api_url,
            access_token=self.settings.whatsapp_access_token,
            phone_number_id=self.settings.whatsapp_phone_number_id,
        )

    @cached_property
    def media_queue(self) -> MediaQueue:
        from chalicelib.adapters.sqs_media_queue import SqsMediaQueue

        return SqsMediaQueue(self.settings.names.media_queue)

    @cached_property
    def media_archive(self) -> MediaArchive:
        """Raises SettingsError when the deployment did not name the bucket."""
        from chalicelib.adapters.s3_media_archive import S3MediaArchive

        return S3MediaArchive(
            self.settings.required_media_bucket(),
            region_name=self.settings.aws_region,
            endpoint_url=self.settings.s3_endpoint_url,
        )

    # --- the audit log (docs/audit.md) ------------------------------------------------------

    @cached_property
    def audit_log(self) -> AuditLog:
        from chalicelib.adapters.dynamodb_audit_log import DynamoDBAuditLog

        retention = self.retention()
        return DynamoDBAuditLog(self.tables, retention=retention.audit if retention else None)

    @cached_property
    def audit_trail(self) -> AuditTrail:
        """Residents named by the stage's pseudonym key (domain.audit.resident_ref), read on
        first use: SettingsError there when the stage has none."""
        from chalicelib.services.audit_trail import AuditTrail

        return AuditTrail(self.audit_log, lambda: self.settings.required_pseudonym_key().encode())

    # --- residents' data rights (docs/data-rights.md) ---------------------------------------

    @cached_property
    def data_rights(self) -> DataRightsPorts:
        """Export and erasure: every table, the media bucket (SettingsError when the stage has
        none: erasing without reaching the files would leave them) and the audit log."""
        from chalicelib.adapters.dynamodb_resident_data import DynamoDBResidentData
        from chalicelib.adapters.s3_resident_media import S3ResidentMedia
        from chalicelib.services.resident_data import DataRightsPorts

        media = S3ResidentMedia(
            self.settings.required_media_bucket(),
            region_name=self.settings.aws_region,
            endpoint_url=self.settings.s3_endpoint_url,
        )
        return DataRightsPorts(
            data=DynamoDBResidentData(
                self.tables,
                media=media,
                phone_number_id=self.settings.whatsapp_phone_number_id,
            ),
            audit=self.audit_trail,
            media_links=media,
        )

    # --- the agents' console ---------------------------------------------------------------

    @cached_property
    def agents(self) -> AgentStore:
        from chalicelib.adapters.dynamodb_console_stores import DynamoDBAgentStore

        return DynamoDBAgentStore(self.tables)

    @cached_property
    def console_conversations(self) -> ConsoleConversationStore:
        from chalicelib.adapters.dynamodb_console_stores import DynamoDBConsoleConversationStore

        return DynamoDBConsoleConversationStore(self.tables, retention=self.retention)

    @cached_property
    def console_ports(self) -> ConsolePorts:
        from chalicelib.services.console_context import ConsolePorts

        return ConsolePorts(
            agents=self.agents,
            conversations=self.console_conversations,
            residents=self.residents,
            messages=self.messages,
            tickets=self.tickets,
            obligations=self.obligations,
            outbound=self.outbound_queue,
            media_archive=self.media_archive if self.settings.media_bucket else None,
            media_uploader=self.graph_api,
            audit=self.audit_trail,
        )

    @cached_property
    def agent_directory(self) -> CognitoDirectory:
        """The agents' sign-in (Cognito). Raises SettingsError when the pool is not named."""
        from chalicelib.adapters.cognito_directory import CognitoDirectory

        pool_id, client_id = self.settings.required_user_pool()
        return CognitoDirectory(pool_id, client_id, region=self.settings.aws_region)

    @cached_property
    def token_verifier(self) -> JwksTokenVerifier:
        """Checks console ID tokens ourselves (CIVICCHAT_AGENT_TOKENS=verify); keeps the pool's
        keys for the life of the Lambda."""
        from chalicelib.adapters.jwks_token_verifier import JwksTokenVerifier

        directory = self.agent_directory
        return JwksTokenVerifier(
            jwks_url=directory.jwks_url, issuer=directory.issuer, audience=directory.client_id
        )

    @property
    def sender(self) -> MessageSender:
        return self.graph_api

    @property
    def media_graph(self) -> MediaSource:
        return self.graph_api


@cache
def container() -> Container:
    return Container(get_settings())


def utc_now() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex
