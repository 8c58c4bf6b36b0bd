"""The store's bounce events (issue 20): what came back about readers' mail, each source event
recorded once, and the reader's status changed in the same transaction when the limits say so.
Decides nothing about what a message means (digest.inbound, digest.webhooks) or where it came
from (digest.bounces)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.errors import StoreError
from digest.models import BounceKind, ReaderStatus
from digest.schema import bounce_events, readers
from digest.store.base import StoreBase, _db_time, _utc

# Readers a bounce, complaint or mailed unsubscribe ends; those who already left keep the
# status they have (the event is recorded all the same).
_RECEIVING = (ReaderStatus.ACTIVE.value, ReaderStatus.PENDING.value)


@dataclass(frozen=True, slots=True)
class BounceLimits:
    """When bounces end a subscription: `hard` permanent failures, or `soft` transient ones
    within `soft_within`."""

    hard: int = 1
    soft: int = 5
    soft_within: timedelta = timedelta(days=30)


@dataclass(frozen=True, slots=True)
class BounceRecord:
    """One event to record."""

    address_key: str
    kind: BounceKind
    source: str  # smtp, mailbox, ses, postmark
    reason: str
    at: datetime
    edition: str | None = None
    event_id: str | None = None  # once only; None: a send-time bounce


@dataclass(frozen=True, slots=True)
class BounceEvent:
    """One recorded event, as `digest readers show` lists it."""

    kind: BounceKind
    source: str
    reason: str
    at: datetime
    edition: str | None


class Recorded(StrEnum):
    """What recording an event did."""

    DUPLICATE = "duplicate"  # this event was recorded before: nothing done
    COUNTED = "counted"  # recorded; the reader still receives (or had left already)
    ENDED = "ended"  # recorded, and the reader no longer receives (bounced, complained, left)


class BouncesStore(StoreBase):
    """Bounce events and what they do to readers."""

    def record_bounce(self, event: BounceRecord, limits: BounceLimits) -> Recorded:
        """Record an event (once per `event_id`) and, in the same transaction, end the
        reader's subscription when it says so: a complaint at once (complained), a mailed
        unsubscribe at once (unsubscribed), hard bounces at `limits.hard` (bounced), soft
        ones at `limits.soft` within `limits.soft_within` (bounced). The reason kept is the
        event's. Only active and pending readers change."""
        row = {"event_id": event.event_id, "address_key": event.address_key,
               "kind": event.kind.value, "source": event.source, "edition": event.edition,
               "reason": event.reason[:2000], "at": _db_time(event.at)}
        with self._tx() as conn:
            dialect = conn.dialect.name
            insert: Any
            if dialect == "postgresql":
                insert = pg_insert(bounce_events).on_conflict_do_nothing()
            elif dialect == "sqlite":
                insert = sqlite_insert(bounce_events).on_conflict_do_nothing()
            else:
                raise StoreError(f"unsupported database: {dialect}")
            # RETURNING, not rowcount: psycopg reports a row for an insert that did nothing
            if conn.execute(insert.returning(bounce_events.c.id), row).first() is None:
                return Recorded.DUPLICATE
            status, by = _ending(event.kind)
            if status is None:
                return Recorded.COUNTED
            if event.kind in (BounceKind.HARD, BounceKind.SOFT):
                since = (None if event.kind is BounceKind.HARD
                         else _db_time(event.at - limits.soft_within))
                count = select(func.count()).where(
                    bounce_events.c.address_key == event.address_key,
                    bounce_events.c.kind == event.kind.value)
                if since is not None:
                    count = count.where(bounce_events.c.at >= since)
                limit = limits.hard if event.kind is BounceKind.HARD else limits.soft
                if (conn.execute(count).scalar() or 0) < limit:
                    return Recorded.COUNTED
            ended = conn.execute(update(readers).where(
                readers.c.address_key == event.address_key,
                readers.c.status.in_(_RECEIVING)).values(
                status=status.value, unsubscribed_at=_db_time(event.at),
                unsubscribe_reason=f"{event.kind.value} ({event.source}): {event.reason}"[:2000],
                unsubscribed_by=by, updated_at=_db_time(event.at))).rowcount
        return Recorded.ENDED if ended else Recorded.COUNTED

    def bounce_events(self, address_key: str, *, limit: int = 20) -> list[BounceEvent]:
        """A reader's latest events, newest first."""
        c = bounce_events.c
        with self._tx() as conn:
            rows = conn.execute(select(c.kind, c.source, c.reason, c.at, c.edition)
                                .where(c.address_key == address_key)
                                .order_by(c.at.desc(), c.id.desc()).limit(limit)).all()
        return [BounceEvent(BounceKind(r.kind), r.source, r.reason, _utc(r.at) or r.at,
                            r.edition) for r in rows]

    def bounce_counts(self, *, since: datetime | None = None) -> dict[BounceKind, int]:
        """Events by kind (since a time), for reports."""
        c = bounce_events.c
        query = select(c.kind, func.count()).group_by(c.kind)
        if since is not None:
            query = query.where(c.at >= _db_time(since))
        with self._tx() as conn:
            return {BounceKind(kind): int(n) for kind, n in conn.execute(query).all()}

    def forget_bounces(self, keys: Sequence[str]) -> None:
        """Delete the events of erased readers (their addresses are gone elsewhere too)."""
        with self._tx() as conn:
            conn.execute(delete(bounce_events).where(bounce_events.c.address_key.in_(keys)))


def _ending(kind: BounceKind) -> tuple[ReaderStatus | None, str]:
    """The status an event of this kind may end a subscription with, and who ended it."""
    if kind in (BounceKind.HARD, BounceKind.SOFT):
        return ReaderStatus.BOUNCED, "bounce"
    if kind is BounceKind.COMPLAINT:
        return ReaderStatus.COMPLAINED, "complaint"
    if kind is BounceKind.UNSUBSCRIBE:
        return ReaderStatus.UNSUBSCRIBED, "reader"
    return None, ""
