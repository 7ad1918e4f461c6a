"""In-memory twin of `dynamodb_resident_data`, on the shared `InMemoryDatabase` and an
`InMemoryMediaArchive`, for service tests. Pacing state lives in the rate limiter, which has no
in-memory resident view: `pacing` is always empty here."""

from __future__ import annotations

import copy
from dataclasses import replace

from chalicelib.adapters.memory_media import InMemoryMediaArchive
from chalicelib.adapters.memory_stores import InMemoryDatabase
from chalicelib.adapters.s3_resident_media import resident_media_prefix
from chalicelib.adapters.store_rules import search_entry
from chalicelib.domain.reminder_plan import as_scheduled
from chalicelib.services.resident_data import MediaObject, ResidentRecords, SearchEntry


class InMemoryResidentData:
    def __init__(
        self, database: InMemoryDatabase, media: InMemoryMediaArchive | None = None
    ) -> None:
        self.database = database
        self.media = media

    def collect(self, resident_key: str, *, recipient: str | None = None) -> ResidentRecords:
        db = self.database
        with db.lock:
            conversations = [c for c in db.conversations.values() if c.resident_key == resident_key]
            conversation_ids = {c.id for c in conversations}
            obligations = [o for o in db.obligations.values() if o.resident_key == resident_key]
            obligation_ids = {o.external_id for o in obligations}
            records = ResidentRecords(
                resident_key=resident_key,
                resident=db.residents.get(resident_key),
                conversations=tuple(sorted(conversations, key=lambda c: c.opened_at)),
                messages=tuple(
                    sorted(
                        (m for m in db.messages.values() if m.resident_key == resident_key),
                        key=lambda m: (m.created_at, m.id),
                    )
                ),
                search_terms=tuple(
                    SearchEntry(
                        term=term,
                        entry=search_entry(found.at, found.conversation_id),
                        conversation_id=found.conversation_id,
                    )
                    for term, entries in db.search.items()
                    for found in entries.values()
                    if found.conversation_id in conversation_ids
                ),
                tickets=tuple(t for t in db.tickets.values() if t.resident_key == resident_key),
                obligations=tuple(obligations),
                reminders=tuple(
                    as_scheduled(r)
                    for r in db.reminders.values()
                    if r.external_id in obligation_ids
                ),
                notifications=tuple(
                    n for n in db.notifications.values() if n.resident_key == resident_key
                ),
            )
            records = copy.deepcopy(records)
        if self.media is not None:
            prefix = resident_media_prefix(resident_key)
            kept = self.media.keys()  # the archive's, not a dict's
            found = [key for key in kept if key.startswith(prefix)]
            media = tuple(
                MediaObject(key=key, size=len((self.media.get(key) or (b"", ""))[0]))
                for key in found
            )
            records = replace(records, media=media)
        return records

    def erase(self, records: ResidentRecords) -> None:
        if self.media is not None:
            for media in records.media:
                self.media.delete(media.key)
        db = self.database
        with db.lock:
            for entry in records.search_terms:
                entries = db.search.get(entry.term, {})
                entries.pop(entry.entry, None)
                if not entries:
                    db.search.pop(entry.term, None)
            for message in records.messages:
                db.messages.pop(message.id, None)
            for ticket in records.tickets:
                if ticket.reference in db.tickets:
                    db.tickets[ticket.reference] = copy.deepcopy(ticket)
            for reminder in records.reminders:
                db.reminders.pop(reminder.id, None)
            for obligation in records.obligations:
                db.obligations.pop(obligation.external_id, None)
            for notification in records.notifications:
                db.notifications.pop(notification.external_id, None)
            for conversation in records.conversations:
                # As stored now: the agent holding it has it counted in their workload.
                stored = db.conversations.pop(conversation.id, None)
                holder = stored.holder if stored is not None else None
                agent = db.agents.get(holder) if holder is not None else None
                if agent is not None and agent.open_count > 0:
                    db.agents[agent.id] = replace(agent, open_count=agent.open_count - 1)

    def delete_resident(self, resident_key: str) -> None:
        with self.database.lock:
            self.database.residents.pop(resident_key, None)
