"""The database: schema and queries over feeds, items, editions and deliveries (SQLAlchemy 2
Core); returns our own types, never rows or sessions, and makes no editorial decision.

SQLite (WAL) by default, PostgreSQL when several instances share the work. Tables are designed
for what comes later: a frozen edition keeps its rendered content and the fingerprints of every
story it carried; a delivery is one row per (edition, recipient), unique, with a status and a
claim time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Container, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    String,
    Text,
    bindparam,
    create_engine,
    delete,
    event,
    false,
    func,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from digest.errors import StoreError
from digest.models import (
    Claim,
    Delivery,
    DeliveryStatus,
    FeedHealth,
    FeedOutcome,
    FeedState,
    FeedStatus,
    Item,
)
from digest.schema import (
    deliveries,
    edition_fingerprints,
    editions,
    feeds,
    instances,
    items,
    metadata,
    skipped_editions,
    suppressions,
)

log = logging.getLogger(__name__)

# The per-recipient statements of a send, built once: building a SQLAlchemy statement costs
# more than SQLite takes to run it.
_ONE_DELIVERY = (deliveries.c.edition_id == bindparam("d_edition", type_=Integer()),
                 deliveries.c.recipient == bindparam("d_recipient", type_=String()))
_CLAIM_READ = select(deliveries.c.id, deliveries.c.status, deliveries.c.claimed_at,
                     deliveries.c.claimed_by, deliveries.c.retry_after).where(*_ONE_DELIVERY)
_HANDED_OVER = update(deliveries).where(
    *_ONE_DELIVERY, deliveries.c.status == DeliveryStatus.SENDING.value,
    deliveries.c.claimed_by == bindparam("d_owner", type_=String())).values(
    handed_over_at=bindparam("d_at", type_=DateTime(timezone=True)))
_FINISH_SENT = update(deliveries).where(*_ONE_DELIVERY).values(
    status=DeliveryStatus.SENT.value, error=bindparam("d_error", type_=Text()),
    retry_after=None, sent_at=bindparam("d_at", type_=DateTime(timezone=True)),
    message_id=bindparam("d_message_id", type_=Text()))


@dataclass(frozen=True, slots=True)
class PollRecord:
    """One poll to store: its outcome, its items keyed for identity (item with `key` set,
    canonical URL), and when the feed is due next (None: not until forced)."""

    outcome: FeedOutcome
    items: Sequence[tuple[Item, str]]
    next_poll_at: datetime | None


@dataclass(frozen=True, slots=True)
class FrozenEdition:
    """An edition as it was frozen: what was (or will be) sent, byte for byte."""

    id: int
    edition: str
    payload: dict[str, Any]
    subject: str
    html: str
    text: str


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything we store is UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _db_time(value: datetime) -> datetime:
    """What we write: UTC. SQLite keeps datetimes as text without an offset, so a local time
    written or compared there would be read back hours off."""
    return value.astimezone(UTC)


def _safe_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


class Store:
    """All reads and writes of digest's state; one instance per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            parsed = make_url(url)
        except ArgumentError as e:
            raise StoreError(f"database: not a database URL: {url!r}") from e
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            try:
                Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise StoreError(f"database {_safe_url(url)}: cannot create its folder: "
                                 f"{e.strerror}") from e
        try:
            self.engine: Engine = create_engine(url, future=True)
        except (ArgumentError, ImportError) as e:
            raise StoreError(f"database {_safe_url(url)}: {e}") from e
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        try:
            metadata.create_all(self.engine)
            _add_missing_columns(self.engine)
        except SQLAlchemyError as e:
            raise StoreError(f"cannot open database {_safe_url(url)}: {e.__cause__ or e}") from e

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except IntegrityError:
            raise
        except SQLAlchemyError as e:
            raise StoreError(f"database {_safe_url(self.url)}: {e.__cause__ or e}") from e

    # --- feeds ---

    def sync_feeds(self, configured: Iterable[tuple[str, str | None, float]]) -> None:
        """Make sure every configured (url, name, weight) has a row, with the current name."""
        with self._tx() as conn:
            known = {row.url: row for row in conn.execute(select(feeds.c.url, feeds.c.name,
                                                                 feeds.c.weight))}
            for url, name, weight in configured:
                row = known.get(url)
                if row is None:
                    conn.execute(feeds.insert().values(url=url, name=name, weight=weight,
                                                       status=FeedStatus.NEW.value))
                elif (row.name, row.weight) != (name, weight):
                    conn.execute(update(feeds).where(feeds.c.url == url)
                                 .values(name=name, weight=weight))

    def feed_states(self, urls: Sequence[str]) -> list[FeedState]:
        with self._tx() as conn:
            rows = {r.url: r for r in conn.execute(select(feeds).where(feeds.c.url.in_(urls)))}
        return [
            FeedState(url=u, etag=rows[u].etag, last_modified=rows[u].last_modified,
                      next_poll_at=_utc(rows[u].next_poll_at), error_count=rows[u].error_count,
                      status=FeedStatus(rows[u].status), fetch_url=rows[u].fetch_url,
                      body_hash=rows[u].body_hash)
            for u in urls if u in rows
        ]

    def record_poll(
        self, outcome: FeedOutcome, keyed_items: Sequence[tuple[Item, str]], *,
        now: datetime, next_poll_at: datetime | None, stale_before: datetime | None = None,
    ) -> int:
        """Store one poll's outcome and its new items; see `record_polls`."""
        return self.record_polls([PollRecord(outcome, keyed_items, next_poll_at)], now=now,
                                 stale_before=stale_before)[0]

    def record_polls(
        self, records: Sequence[PollRecord], *, now: datetime,
        stale_before: datetime | None = None,
    ) -> list[int]:
        """Store polls' outcomes and their new items in one transaction; returns how many items
        were new, per record. Items already stored are left as they are; new items dated
        before `stale_before` are kept as seen but never offered. A failed poll keeps every
        item and validator stored before."""
        if not records:
            return []
        now = _db_time(now)
        urls = list({r.outcome.url for r in records})
        with self._tx() as conn:
            known = {row.url: row for row in conn.execute(
                select(feeds.c.url, feeds.c.id, feeds.c.error_count)
                .where(feeds.c.url.in_(urls)))}
            missing = [u for u in urls if u not in known]
            if missing:
                raise StoreError(f"feed not in the database: {missing[0]}")
            # One executemany per kind of outcome, not one UPDATE per feed.
            succeeded: list[dict[str, Any]] = []
            failed: list[dict[str, Any]] = []
            for record in records:
                feed = known[record.outcome.url]
                row = _poll_params(record, now, feed.id, feed.error_count)
                (succeeded if record.outcome.status is FeedStatus.OK else failed).append(row)
            if succeeded:
                conn.execute(_POLL_OK, succeeded)
            if failed:
                conn.execute(_POLL_FAILED, failed)
            return self._insert_new_items(
                conn, [(known[r.outcome.url].id, r.items) for r in records], now, stale_before)

    def _insert_new_items(
        self, conn: Connection, batches: Sequence[tuple[int, Sequence[tuple[Item, str]]]],
        now: datetime, stale_before: datetime | None,
    ) -> list[int]:
        # A feed may repeat an entry; the first occurrence wins.
        wanted: dict[tuple[int, str], tuple[Item, str]] = {}
        for feed_id, keyed in batches:
            for item, canonical in keyed:
                wanted.setdefault((feed_id, item.key), (item, canonical))
        existing: set[tuple[int, str]] = set()
        feed_ids = list({feed_id for feed_id, _ in wanted})
        keys = list({key for _, key in wanted})
        for start in range(0, len(keys), 500):  # stay under SQLite's bound-parameter limit
            chunk = keys[start:start + 500]
            existing.update((row.feed_id, row.key) for row in conn.execute(
                select(items.c.feed_id, items.c.key).where(
                    items.c.feed_id.in_(feed_ids), items.c.key.in_(chunk))))
        new: dict[int, int] = {}
        rows = []
        for (feed_id, key), (item, canonical) in wanted.items():
            if (feed_id, key) in existing:
                continue
            new[feed_id] = new.get(feed_id, 0) + 1
            rows.append({
                "feed_id": feed_id, "key": key, "guid": item.guid, "url": item.url,
                "canonical_url": canonical, "title": item.title, "summary": item.summary,
                "author": item.author, "image": item.image, "first_seen_at": now,
                "published_at": _db_time(item.published) if item.published else None,
                "seen_only": bool(stale_before and item.published
                                  and item.published < stale_before)})
        if rows:
            conn.execute(items.insert(), rows)
        counted: set[int] = set()
        result = []
        for feed_id, _ in batches:  # a feed polled twice in one batch: its items count once
            result.append(0 if feed_id in counted else new.get(feed_id, 0))
            counted.add(feed_id)
        return result

    def feed_health(self) -> list[FeedHealth]:
        counts = (select(items.c.feed_id, func.count().label("n"))
                  .group_by(items.c.feed_id).subquery())
        query = (select(feeds, func.coalesce(counts.c.n, 0).label("n"))
                 .outerjoin(counts, counts.c.feed_id == feeds.c.id).order_by(feeds.c.id))
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            FeedHealth(url=r.url, name=r.name or r.title or r.url, status=FeedStatus(r.status),
                       last_fetched_at=_utc(r.last_fetched_at), last_error=r.last_error,
                       items=r.n, next_poll_at=_utc(r.next_poll_at),
                       last_success_at=_utc(r.last_success_at), moved_to=r.fetch_url,
                       error_count=r.error_count)
            for r in rows
        ]

    # --- items ---

    def items_between(self, start: datetime, end: datetime, feed_urls: Sequence[str]
                      ) -> list[Item]:
        """Items of the given feeds whose date (published, else first seen) is in [start, end]."""
        when = func.coalesce(items.c.published_at, items.c.first_seen_at)
        query = (
            select(items, feeds.c.url.label("feed_url"), feeds.c.weight,
                   func.coalesce(feeds.c.name, feeds.c.title, feeds.c.url).label("source"))
            .join(feeds, feeds.c.id == items.c.feed_id)
            .where(when >= _db_time(start), when <= _db_time(end), feeds.c.url.in_(feed_urls),
                   items.c.seen_only == false())
            .order_by(items.c.id)
        )
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            Item(feed_url=r.feed_url, key=r.key, url=r.url, title=r.title, summary=r.summary,
                 published=_utc(r.published_at), guid=r.guid, author=r.author, id=r.id,
                 source=r.source, weight=r.weight, first_seen=_utc(r.first_seen_at),
                 image=r.image)
            for r in rows
        ]

    def count_items(self) -> int:
        with self._tx() as conn:
            return int(conn.scalar(select(func.count()).select_from(items)) or 0)

    # --- editions ---

    def sent_fingerprints(self, *, except_edition: str | None = None) -> dict[str, str]:
        """Fingerprints of stories in editions that went to at least one recipient, each with
        the name of the (earliest) edition that carried it."""
        sent = select(deliveries.c.edition_id).where(
            deliveries.c.status == DeliveryStatus.SENT.value)
        query = (select(edition_fingerprints.c.fingerprint, editions.c.edition)
                 .join(editions, editions.c.id == edition_fingerprints.c.edition_id)
                 .where(edition_fingerprints.c.edition_id.in_(sent))
                 .order_by(editions.c.edition.desc()))
        if except_edition is not None:
            query = query.where(editions.c.edition != except_edition)
        with self._tx() as conn:
            return {fingerprint: edition for fingerprint, edition in conn.execute(query)}

    def frozen_edition(self, edition: str) -> FrozenEdition | None:
        with self._tx() as conn:
            row = conn.execute(select(editions).where(editions.c.edition == edition)).first()
        if row is None:
            return None
        return FrozenEdition(row.id, row.edition, json.loads(row.payload), row.subject,
                             row.html, row.text)

    def freeze_edition(
        self, edition: str, *, title: str, payload: dict[str, Any], subject: str, html: str,
        text: str, fingerprints: Iterable[str], now: datetime,
    ) -> FrozenEdition:
        """Keep an edition as it will be sent; if another process froze it first, theirs wins."""
        try:
            with self._tx() as conn:
                edition_id = conn.execute(editions.insert().values(
                    edition=edition, title=title, subject=subject, html=html, text=text,
                    payload=json.dumps(payload), frozen_at=_db_time(now))).inserted_primary_key
                edition_id = int(edition_id[0]) if edition_id else 0
                rows = [{"edition_id": edition_id, "fingerprint": f} for f in set(fingerprints)]
                if rows:
                    conn.execute(edition_fingerprints.insert(), rows)
        except IntegrityError:
            log.info("edition %s was frozen by another process; using that one", edition)
        frozen = self.frozen_edition(edition)
        assert frozen is not None
        return frozen

    # --- deliveries ---

    def claim_delivery(self, edition_id: int, recipient: str, *, now: datetime,
                       stale_before: datetime | None = None, owner: str | None = None,
                       gone: Container[str] = ()) -> bool:
        """Take (edition, recipient) for sending; False when it was sent or is taken already.

        A claim that never finished (the process died between claiming and recording the
        outcome) may be taken again when it was made before `stale_before`, or by an owner
        in `gone` (a process known to have ended)."""
        now = _db_time(now)
        try:
            return self._claim(edition_id, recipient, now, stale_before, owner, gone)
        except IntegrityError:
            return False  # another process inserted it between our read and write

    def _claim(self, edition_id: int, recipient: str, now: datetime,
               stale_before: datetime | None, owner: str | None, gone: Container[str]
               ) -> bool:
        with self._tx() as conn:
            row = conn.execute(_CLAIM_READ, {"d_edition": edition_id,
                                             "d_recipient": recipient}).first()
            if row is None:
                conn.execute(deliveries.insert().values(
                    edition_id=edition_id, recipient=recipient, attempts=1,
                    status=DeliveryStatus.SENDING.value, claimed_at=now, claimed_by=owner))
                return True
            claimed_at = _utc(row.claimed_at)
            abandoned = row.status == DeliveryStatus.SENDING.value and (
                (stale_before is not None and claimed_at is not None
                 and claimed_at < stale_before) or row.claimed_by in gone)
            if row.status not in (DeliveryStatus.PENDING.value,
                                  DeliveryStatus.DEFERRED.value) and not abandoned:
                return False
            retry_after = _utc(row.retry_after)
            if row.status == DeliveryStatus.DEFERRED.value and retry_after and retry_after > now:
                return False  # backing off
            # Compare-and-set on the status (and claim time) we read, so two processes cannot
            # both claim it.
            same = [deliveries.c.id == row.id, deliveries.c.status == row.status]
            if abandoned:
                same.append(deliveries.c.claimed_at == row.claimed_at)
            claimed = conn.execute(update(deliveries).where(*same).values(
                status=DeliveryStatus.SENDING.value, claimed_at=now, claimed_by=owner,
                attempts=deliveries.c.attempts + 1))
            return bool(claimed.rowcount == 1)

    def handed_over(self, edition_id: int, recipient: str, *, now: datetime,
                    owner: str | None) -> bool:
        """Note that the claimed message is about to reach the point of no return; False
        when the claim is no longer `owner`'s (released, or taken over after a timeout): the
        message must then not go out."""
        with self._tx() as conn:
            done = conn.execute(_HANDED_OVER, {
                "d_edition": edition_id, "d_recipient": recipient, "d_at": _db_time(now),
                "d_owner": owner})
        return bool(done.rowcount == 1)

    def release_claims(self, owner: str) -> int:
        """Give back `owner`'s unfinished claims that never reached the hand-over (a clean
        shutdown): they are pending again, for the next run. Returns how many."""
        with self._tx() as conn:
            done = conn.execute(update(deliveries).where(
                deliveries.c.claimed_by == owner,
                deliveries.c.status == DeliveryStatus.SENDING.value,
                deliveries.c.handed_over_at.is_(None)).values(
                status=DeliveryStatus.PENDING.value, claimed_by=None))
        return int(done.rowcount)

    def finish_delivery(
        self, edition_id: int, recipient: str, status: DeliveryStatus, *,
        now: datetime, message_id: str | None = None, error: str | None = None,
        retry_after: datetime | None = None,
    ) -> None:
        if status is DeliveryStatus.SENT:  # the common case, with a statement built once
            with self._tx() as conn:
                conn.execute(_FINISH_SENT, {
                    "d_edition": edition_id, "d_recipient": recipient, "d_error": error,
                    "d_at": _db_time(now), "d_message_id": message_id})
            return
        values: dict[str, Any] = {"status": status.value, "error": error,
                                  "retry_after": _db_time(retry_after) if retry_after else None}
        values.update(handed_over_at=None)  # not delivered: a later claim starts clean
        with self._tx() as conn:
            conn.execute(update(deliveries).where(
                deliveries.c.edition_id == edition_id,
                deliveries.c.recipient == recipient).values(**values))

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

    # --- suppressions ---

    def suppress(self, address: str, *, now: datetime, source: str) -> bool:
        """Add an address to the suppression list; False when it was there already."""
        try:
            with self._tx() as conn:
                conn.execute(suppressions.insert().values(
                    address=address.strip().lower(), added_at=_db_time(now), source=source))
        except IntegrityError:
            return False
        return True

    def suppressed(self) -> dict[str, datetime]:
        """Every suppressed address (lower case) with when it was added."""
        with self._tx() as conn:
            rows = conn.execute(select(suppressions.c.address, suppressions.c.added_at)).all()
        return {r.address: _utc(r.added_at) or datetime.min for r in rows}

    def delivery_counts(self, edition_id: int) -> dict[DeliveryStatus, int]:
        with self._tx() as conn:
            rows = conn.execute(select(deliveries.c.status, func.count()).where(
                deliveries.c.edition_id == edition_id).group_by(deliveries.c.status)).all()
        return {DeliveryStatus(status): int(n) for status, n in rows}

    def latest_edition(self) -> tuple[str, datetime] | None:
        """The most recent frozen edition's name and when it was frozen."""
        with self._tx() as conn:
            row = conn.execute(select(editions.c.edition, editions.c.frozen_at)
                               .order_by(editions.c.edition.desc()).limit(1)).first()
        return (row.edition, _utc(row.frozen_at) or datetime.min) if row else None

    def edition_names(self, since: str) -> set[str]:
        """Frozen and skipped edition names from `since` (an ISO date) on."""
        with self._tx() as conn:
            frozen = conn.execute(select(editions.c.edition)
                                  .where(editions.c.edition >= since)).scalars().all()
            skipped = conn.execute(select(skipped_editions.c.edition)
                                   .where(skipped_editions.c.edition >= since)).scalars().all()
        return set(frozen) | set(skipped)

    # --- the daemon ---

    def skip_edition(self, edition: str, *, scheduled_at: datetime, now: datetime,
                     reason: str) -> bool:
        """Record that a scheduled edition was not sent; False if it was recorded already."""
        try:
            with self._tx() as conn:
                conn.execute(skipped_editions.insert().values(
                    edition=edition, scheduled_at=_db_time(scheduled_at),
                    recorded_at=_db_time(now), reason=reason))
        except IntegrityError:
            return False
        return True

    def skipped(self) -> list[tuple[str, datetime, str]]:
        """Skipped editions, newest first: (edition, scheduled at, reason)."""
        with self._tx() as conn:
            rows = conn.execute(select(skipped_editions)
                                .order_by(skipped_editions.c.edition.desc())).all()
        return [(r.edition, _utc(r.scheduled_at) or datetime.min, r.reason) for r in rows]

    def beat(self, owner: str, *, started_at: datetime, now: datetime,
             next_send_at: datetime | None, config: str) -> None:
        """A running daemon says it is alive (one row per process)."""
        values = {"beat_at": _db_time(now),
                  "next_send_at": _db_time(next_send_at) if next_send_at else None,
                  "config": config}
        with self._tx() as conn:
            done = conn.execute(update(instances).where(instances.c.owner == owner)
                                .values(**values))
            if done.rowcount == 0:
                conn.execute(instances.insert().values(
                    owner=owner, started_at=_db_time(started_at), **values))

    def instance_stopped(self, owner: str, *, now: datetime) -> None:
        """A daemon stopped cleanly. Its row stays: its last beat tells the next daemon since
        when sends were missed. Rows of daemons gone for 90 days are dropped."""
        with self._tx() as conn:
            conn.execute(update(instances).where(instances.c.owner == owner).values(
                beat_at=_db_time(now), stopped_at=_db_time(now)))
            conn.execute(delete(instances).where(
                instances.c.beat_at < _db_time(now - timedelta(days=90))))

    def last_beat(self, *, besides: str) -> datetime | None:
        """When a daemon other than `besides` last said it was alive (also one that has since
        stopped: a clean stop keeps its last beat for this, with no owner)."""
        with self._tx() as conn:
            value = conn.execute(select(func.max(instances.c.beat_at)).where(
                instances.c.owner != besides)).scalar()
        return _utc(value)

    def instances(self) -> list[tuple[str, datetime, datetime, datetime | None]]:
        """(owner, started at, last beat, next send) of every daemon that beat and did not
        stop cleanly, newest first."""
        with self._tx() as conn:
            rows = conn.execute(select(instances).where(instances.c.stopped_at.is_(None))
                                .order_by(instances.c.beat_at.desc())).all()
        return [(r.owner, _utc(r.started_at) or datetime.min, _utc(r.beat_at) or datetime.min,
                 _utc(r.next_send_at)) for r in rows]

    def next_poll_at(self, urls: Sequence[str]) -> datetime | None:
        """The earliest time one of these feeds (not disabled) is due; None: none is."""
        with self._tx() as conn:
            value = conn.execute(select(func.min(feeds.c.next_poll_at)).where(
                feeds.c.url.in_(urls), feeds.c.status != FeedStatus.DISABLED.value)).scalar()
        return _utc(value)

    def delivery_statuses(self, edition_id: int) -> dict[str, DeliveryStatus]:
        with self._tx() as conn:
            rows = conn.execute(select(deliveries.c.recipient, deliveries.c.status)
                                .where(deliveries.c.edition_id == edition_id)).all()
        return {r.recipient: DeliveryStatus(r.status) for r in rows}

    def delivery_attempts(self, edition_id: int, recipient: str) -> tuple[int, datetime | None]:
        """How often a delivery was tried, and when it may be tried again (if deferred)."""
        with self._tx() as conn:
            row = conn.execute(select(deliveries.c.attempts, deliveries.c.retry_after).where(
                deliveries.c.edition_id == edition_id,
                deliveries.c.recipient == recipient)).first()
        return (int(row.attempts), _utc(row.retry_after)) if row else (0, None)

    def history(self) -> list[Delivery]:
        query = (select(editions.c.edition, deliveries)
                 .join(editions, editions.c.id == deliveries.c.edition_id)
                 .order_by(editions.c.edition.desc(), deliveries.c.recipient))
        with self._tx() as conn:
            rows = conn.execute(query).all()
        return [
            Delivery(edition=r.edition, recipient=r.recipient, status=DeliveryStatus(r.status),
                     sent_at=_utc(r.sent_at), message_id=r.message_id, error=r.error)
            for r in rows
        ]


def _bind(column: Column[Any]) -> Any:
    """A named parameter typed like `column` (so SQLite gets our UTC datetime format)."""
    return bindparam(f"p_{column.name}", type_=column.type)


_ID = bindparam("p_id", type_=Integer())
# After a successful poll: validators and body hash replaced (a 304 outcome carries the ones it
# kept), the error streak reset; the title and a permanent move only when the poll had them.
_POLL_OK = update(feeds).where(feeds.c.id == _ID).values(
    status=FeedStatus.OK.value, last_error=None, error_count=0,
    last_fetched_at=_bind(feeds.c.last_fetched_at), last_success_at=_bind(feeds.c.last_success_at),
    next_poll_at=_bind(feeds.c.next_poll_at), etag=_bind(feeds.c.etag),
    last_modified=_bind(feeds.c.last_modified), body_hash=_bind(feeds.c.body_hash),
    fetch_url=func.coalesce(_bind(feeds.c.fetch_url), feeds.c.fetch_url),
    title=func.coalesce(_bind(feeds.c.title), feeds.c.title))
# After a failed poll: validators, body hash, title and items stay as they were.
_POLL_FAILED = update(feeds).where(feeds.c.id == _ID).values(
    status=_bind(feeds.c.status), last_error=_bind(feeds.c.last_error),
    error_count=_bind(feeds.c.error_count), last_fetched_at=_bind(feeds.c.last_fetched_at),
    next_poll_at=_bind(feeds.c.next_poll_at))


def _poll_params(record: PollRecord, now: datetime, feed_id: int, errors: int
                 ) -> dict[str, Any]:
    """One feed's parameters for _POLL_OK or _POLL_FAILED."""
    outcome = record.outcome
    params: dict[str, Any] = {
        "p_id": feed_id, "p_last_fetched_at": now,
        "p_next_poll_at": _db_time(record.next_poll_at) if record.next_poll_at else None}
    if outcome.status is FeedStatus.OK:
        params.update(p_last_success_at=now, p_etag=outcome.etag,
                      p_last_modified=outcome.last_modified, p_body_hash=outcome.body_hash,
                      p_fetch_url=outcome.moved_to, p_title=outcome.title or None)
    else:
        status = FeedStatus.DISABLED if outcome.gone else FeedStatus.ERROR
        params.update(p_status=status.value, p_last_error=outcome.error,
                      p_error_count=errors + 1)
    return params


def _add_missing_columns(engine: Engine) -> None:
    """Bring a database made by an earlier digest up to this schema by adding the columns it
    lacks (all nullable or with a server default). Alembic migrations replace this when the
    schema needs more than added columns."""
    inspector = inspect(engine)
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            present = {c["name"] for c in inspector.get_columns(table.name)}
            for column in table.columns:
                if column.name in present:
                    continue
                kind = column.type.compile(dialect=engine.dialect)
                default = ""
                if column.server_default is not None:
                    clause = column.server_default.arg  # type: ignore[attr-defined]
                    default = " DEFAULT " + str(clause.compile(dialect=engine.dialect))
                log.info("database: adding column %s.%s", table.name, column.name)
                conn.execute(text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" '
                                  f"{kind}{default}"))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    # In WAL mode NORMAL never corrupts the database; a power cut may lose the last commits,
    # which the next poll fetches again. FULL would fsync every feed's commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")  # another process writing: wait, don't fail
    cursor.close()
