"""The store's deliveries: one row per (edition, recipient), unique, with a status and a claim
time; the send history."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    DateTime,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    exists,
    func,
    or_,
    select,
    true,
    update,
)

from digest.models import DELIVERED, WAITING, Claim, Delivery, DeliveryStatus, ReaderStatus
from digest.schema import deliveries, editions, readers
from digest.store.base import StoreBase, _db_time, _insert_ignore, _utc

# The per-recipient statements of a send, built once: building a SQLAlchemy statement costs
# more than SQLite takes to run it.
_ONE_DELIVERY = (deliveries.c.edition_id == bindparam("d_edition", type_=Integer()),
                 deliveries.c.recipient == bindparam("d_recipient", type_=String()))
_STILL_CLAIMED = (*_ONE_DELIVERY, deliveries.c.status == DeliveryStatus.SENDING.value,
                  deliveries.c.claimed_by == bindparam("d_owner", type_=String()))
# Only while the reader still receives (issue 18): an unsubscribe or pause recorded by any
# instance up to this moment stops the message before its end. (An address with no reader row
# is not stopped here: a reader erased meanwhile lost their delivery rows' address too, so the
# claim itself is gone.)
_STILL_READING = ~exists().where(
    readers.c.address == deliveries.c.recipient,
    or_(readers.c.status != ReaderStatus.ACTIVE.value, readers.c.paused == true()))
_HANDED_OVER = update(deliveries).where(*_STILL_CLAIMED, _STILL_READING).values(
    handed_over_at=bindparam("d_at", type_=DateTime(timezone=True)))
_CLAIM_HELD = select(deliveries.c.id).where(*_STILL_CLAIMED)
_FINISH_SENT = update(deliveries).where(*_ONE_DELIVERY).values(  # sent, or unconfirmed
    status=bindparam("d_status", type_=String()), error=bindparam("d_error", type_=Text()),
    retry_after=None, sent_at=bindparam("d_at", type_=DateTime(timezone=True)),
    message_id=bindparam("d_message_id", type_=Text()))
_FINISH_OTHER = update(deliveries).where(*_ONE_DELIVERY).values(
    status=bindparam("d_status", type_=String()), error=bindparam("d_error", type_=Text()),
    retry_after=bindparam("d_retry_after", type_=DateTime(timezone=True)),
    handed_over_at=None)  # not delivered: a later claim starts clean


class HandOver(StrEnum):
    """Whether a claimed message may reach the point of no return."""

    OK = "ok"
    CLAIM_LOST = "claim lost"  # released, or taken over by another run
    READER_LEFT = "reader left"  # unsubscribed (or paused) since the send started

    def __bool__(self) -> bool:
        return self is HandOver.OK


@dataclass(frozen=True, slots=True)
class Taken:
    """A delivery this run claimed: how many times it has been claimed (this one included),
    and when an earlier run noted the hand-over (it died after it)."""

    recipient: str
    attempts: int
    handed_over_at: datetime | None
    message_id: str | None = None  # the delivery's own, made when its row was (every retry
    # carries it); None for a row from before issue 20


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one claimed delivery ended, to record."""

    recipient: str
    status: DeliveryStatus
    message_id: str | None = None
    error: str | None = None
    retry_after: datetime | None = None


class DeliveriesStore(StoreBase):
    """Deliveries, their claims and outcomes; history."""

    def take_deliveries(
        self, edition_id: int, recipients: Sequence[str], *, owner: str, now: datetime,
        stale_before: datetime, gone: Collection[str] = (), retry_now: bool = False,
        unconfirmed: bool = False, message_ids: Mapping[str, str] | None = None,
    ) -> list[Taken]:
        """Claim, in one transaction, every delivery of these recipients that may be sent now:
        with no row yet, pending, deferred and due (any deferred one with `retry_now`), or
        left `sending` by a run that died (claimed before `stale_before`, or by an owner in
        `gone`). With `unconfirmed`, only those recorded unconfirmed instead, to be sent again
        (their hand-over note stays until the new one is written). On PostgreSQL rows another
        instance is claiming are skipped (FOR UPDATE SKIP LOCKED), on SQLite the write lock
        serialises claims; the unique (edition, recipient) key stays the last guard.
        A new row gets its recipient's Message-ID from `message_ids`; a row that exists keeps
        its own. Returns what this call took, with each row's attempts (this one included),
        its hand-over note (set: an earlier run handed the message over and died) and its
        Message-ID."""
        now = _db_time(now)
        c = deliveries.c
        sending = DeliveryStatus.SENDING.value
        with self._tx() as conn:
            # The write first, so that on SQLite the transaction holds the write lock from
            # its start (a read first could not be upgraded once another process wrote).
            _insert_ignore(conn, deliveries, [
                {"edition_id": edition_id, "recipient": r, "status": DeliveryStatus.PENDING.value,
                 "attempts": 0, "message_id": (message_ids or {}).get(r)}
                for r in recipients])
            abandoned = c.claimed_at < _db_time(stale_before)
            if gone:
                abandoned = or_(abandoned, c.claimed_by.in_(list(gone)))
            due = c.status == DeliveryStatus.DEFERRED.value
            if not retry_now:
                due = and_(due, or_(c.retry_after.is_(None), c.retry_after <= now))
            claimable = (c.status == DeliveryStatus.UNCONFIRMED.value if unconfirmed else
                         or_(c.status == DeliveryStatus.PENDING.value, due,
                             and_(c.status == sending, abandoned)))
            pick = (select(c.id).where(c.edition_id == edition_id, c.recipient.in_(recipients),
                                       claimable)
                    .with_for_update(skip_locked=True))
            rows = conn.execute(
                update(deliveries).where(c.id.in_(pick.scalar_subquery()))
                .values(status=sending, claimed_by=owner, claimed_at=now,
                        attempts=c.attempts + 1)
                .returning(c.recipient, c.attempts, c.handed_over_at, c.message_id)).all()
        return [Taken(r.recipient, int(r.attempts), _utc(r.handed_over_at), r.message_id)
                for r in rows]

    def handed_over(self, edition_id: int, recipient: str, *, now: datetime,
                    owner: str | None) -> HandOver:
        """Note that the claimed message is about to reach the point of no return, if it may:
        the claim is still `owner`'s (not released, nor taken over after a timeout) and the
        reader still receives (active, not paused). Otherwise the message must not go out,
        and the answer says why."""
        params = {"d_edition": edition_id, "d_recipient": recipient, "d_at": _db_time(now),
                  "d_owner": owner}
        with self._tx() as conn:
            if conn.execute(_HANDED_OVER, params).rowcount == 1:
                return HandOver.OK
            held = conn.execute(_CLAIM_HELD, params).first() is not None
        return HandOver.READER_LEFT if held else HandOver.CLAIM_LOST

    def release_claims(self, owner: str, edition_id: int | None = None,
                       recipients: Sequence[str] | None = None, *,
                       unconfirmed: bool = False) -> int:
        """Give back `owner`'s unfinished claims (of these recipients of this edition, or all)
        that never reached the hand-over: they are pending again, claimable at once, and the
        claim does not count as an attempt (nothing was tried: the next 4xx backs off from
        the start). With `unconfirmed`, claims taken to send unconfirmed deliveries again:
        they go back to unconfirmed. Returns how many."""
        c = deliveries.c
        where = [c.claimed_by == owner, c.status == DeliveryStatus.SENDING.value]
        if not unconfirmed:
            where.append(c.handed_over_at.is_(None))
        if edition_id is not None:
            where.append(c.edition_id == edition_id)
        if recipients is not None:
            if not recipients:
                return 0
            where.append(c.recipient.in_(recipients))
        with self._tx() as conn:
            done = conn.execute(update(deliveries).where(*where).values(
                status=(DeliveryStatus.UNCONFIRMED if unconfirmed
                        else DeliveryStatus.PENDING).value,
                claimed_by=None, attempts=c.attempts - 1))
        return int(done.rowcount)

    def finish_deliveries(self, edition_id: int, outcomes: Sequence[Outcome], *,
                          now: datetime) -> None:
        """Record a batch of delivery outcomes in one transaction (sent and unconfirmed ones
        with their time and Message-ID)."""
        sent = [{"d_edition": edition_id, "d_recipient": o.recipient, "d_error": o.error,
                 "d_status": o.status.value, "d_at": _db_time(now),
                 "d_message_id": o.message_id}
                for o in outcomes if o.status in DELIVERED]
        other = [{"d_edition": edition_id, "d_recipient": o.recipient,
                  "d_status": o.status.value, "d_error": o.error,
                  "d_retry_after": _db_time(o.retry_after) if o.retry_after else None}
                 for o in outcomes if o.status not in DELIVERED]
        with self._tx() as conn:
            if sent:
                conn.execute(_FINISH_SENT, sent)
            if other:
                conn.execute(_FINISH_OTHER, other)

    def delivery_states(self, edition_id: int, recipients: Sequence[str]
                        ) -> dict[str, tuple[DeliveryStatus, datetime | None]]:
        """Status and retry time of these recipients' deliveries (those with a row)."""
        c = deliveries.c
        with self._tx() as conn:
            rows = conn.execute(select(c.recipient, c.status, c.retry_after).where(
                c.edition_id == edition_id, c.recipient.in_(recipients))).all()
        return {r.recipient: (DeliveryStatus(r.status), _utc(r.retry_after)) for r in rows}

    def open_claims(self, edition_id: int) -> dict[str, Claim]:
        """The deliveries of an edition still marked sending: who claimed them, when, and
        whether the message was handed over."""
        with self._tx() as conn:
            rows = conn.execute(select(
                deliveries.c.recipient, deliveries.c.claimed_at, deliveries.c.claimed_by,
                deliveries.c.handed_over_at).where(
                deliveries.c.edition_id == edition_id,
                deliveries.c.status == DeliveryStatus.SENDING.value)).all()
        return {r.recipient: Claim(_utc(r.claimed_at), r.claimed_by, _utc(r.handed_over_at))
                for r in rows}

    def delivery_counts(self, edition_id: int) -> dict[DeliveryStatus, int]:
        with self._tx() as conn:
            rows = conn.execute(select(deliveries.c.status, func.count()).where(
                deliveries.c.edition_id == edition_id).group_by(deliveries.c.status)).all()
        return {DeliveryStatus(status): int(n) for status, n in rows}

    def queued_deliveries(self) -> dict[DeliveryStatus, int]:
        """The claim queue: deliveries of every edition that are pending, deferred or
        sending (claimed), counted by status (the metrics' gauge, issue 24)."""
        waiting = [s.value for s in WAITING]
        with self._tx() as conn:
            rows = conn.execute(select(deliveries.c.status, func.count()).where(
                deliveries.c.status.in_(waiting)).group_by(deliveries.c.status)).all()
        return {DeliveryStatus(status): int(n) for status, n in rows}

    def history(self, *, status: DeliveryStatus | None = None, edition: date | None = None,
                recipient: str | None = None, any_case: bool = False,
                limit: int | None = None) -> list[Delivery]:
        """The deliveries, newest edition first (of one status, of one edition, to one
        recipient as written, or in any case with `any_case`, the first `limit`). A reader's
        own history (their export) is by the address as written: `Ana@` and `ana@` may be two
        mailboxes (digest.addresses)."""
        query = (select(editions.c.edition, deliveries)
                 .join(editions, editions.c.id == deliveries.c.edition_id)
                 .order_by(editions.c.edition.desc(), deliveries.c.recipient))
        if status is not None:
            query = query.where(deliveries.c.status == status.value)
        if edition is not None:
            query = query.where(editions.c.edition == edition.isoformat())
        if recipient is not None and any_case:
            query = query.where(func.lower(deliveries.c.recipient) == recipient.strip().lower())
        elif recipient is not None:
            query = query.where(deliveries.c.recipient == recipient)
        if limit is not None:
            query = query.limit(limit)
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            Delivery(edition=date.fromisoformat(r.edition), recipient=r.recipient,
                     status=DeliveryStatus(r.status), sent_at=_utc(r.sent_at),
                     message_id=r.message_id, error=r.error)
            for r in rows
        ]
