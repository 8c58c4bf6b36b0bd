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
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    create_engine,
    delete,
    event,
    false,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError

from digest import locks, migrate
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
    skipped_editions,
    suppressions,
)

log = logging.getLogger(__name__)

# The per-recipient statements of a send, built once: building a SQLAlchemy statement costs
# more than SQLite takes to run it.
_ONE_DELIVERY = (deliveries.c.edition_id == bindparam("d_edition", type_=Integer()),
                 deliveries.c.recipient == bindparam("d_recipient", type_=String()))
_HANDED_OVER = update(deliveries).where(
    *_ONE_DELIVERY, deliveries.c.status == DeliveryStatus.SENDING.value,
    deliveries.c.claimed_by == bindparam("d_owner", type_=String())).values(
    handed_over_at=bindparam("d_at", type_=DateTime(timezone=True)))
_FINISH_SENT = update(deliveries).where(*_ONE_DELIVERY).values(
    status=DeliveryStatus.SENT.value, error=bindparam("d_error", type_=Text()),
    retry_after=None, sent_at=bindparam("d_at", type_=DateTime(timezone=True)),
    message_id=bindparam("d_message_id", type_=Text()))
_FINISH_OTHER = update(deliveries).where(*_ONE_DELIVERY).values(
    status=bindparam("d_status", type_=String()), error=bindparam("d_error", type_=Text()),
    retry_after=bindparam("d_retry_after", type_=DateTime(timezone=True)),
    handed_over_at=None)  # not delivered: a later claim starts clean


@dataclass(frozen=True, slots=True)
class PollRecord:
    """One poll to store: its outcome, its items keyed for identity (item with `key` set,
    canonical URL), and when the feed is due next (None: not until forced)."""

    outcome: FeedOutcome
    items: Sequence[tuple[Item, str]]
    next_poll_at: datetime | None


class Packer(Protocol):
    """Works out what `items.features` keeps for items (digest.features.Analyser)."""

    key: str

    def pack_all(self, items: Sequence[Item]) -> list[str]: ...


@dataclass(frozen=True, slots=True)
class Taken:
    """A delivery this run claimed: how many times it has been claimed (this one included),
    and when an earlier run noted the hand-over (it died after it)."""

    recipient: str
    attempts: int
    handed_over_at: datetime | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one claimed delivery ended, to record."""

    recipient: str
    status: DeliveryStatus
    message_id: str | None = None
    error: str | None = None
    retry_after: datetime | None = None


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

    def __init__(self, url: str, *, upgrade: bool = True) -> None:
        """Open the database and bring its schema up to date (migrate.upgrade); with
        `upgrade=False` leave the schema as it is (`digest db current`)."""
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
        if not upgrade:
            return
        try:
            migrate.upgrade(self.engine)
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

    @contextmanager
    def exclusive(self, name: str) -> Iterator[None]:
        """Hold the database-wide lock `name` (digest.locks) while the block runs."""
        try:
            with self.engine.connect() as conn, locks.held(conn, name):
                yield
        except SQLAlchemyError as e:
            raise StoreError(f"database {_safe_url(self.url)}: {e.__cause__ or e}") from e

    # --- feeds ---

    def sync_feeds(self, configured: Iterable[tuple[str, str | None, float]]) -> None:
        """Make sure every configured (url, name, weight) has a row, with the current name.
        Safe when several instances start at once (a row another one inserted is kept)."""
        configured = list(configured)
        with self._tx() as conn:
            _insert_ignore(conn, feeds, [  # the write first: see take_deliveries
                {"url": url, "name": name, "weight": weight, "status": FeedStatus.NEW.value,
                 "error_count": 0} for url, name, weight in configured])
            known = {row.url: row for row in conn.execute(select(feeds.c.url, feeds.c.name,
                                                                 feeds.c.weight))}
            changed = [{"s_url": url, "s_name": name, "s_weight": weight}
                       for url, name, weight in configured
                       if (known[url].name, known[url].weight) != (name, weight)]
            if changed:
                conn.execute(update(feeds).where(feeds.c.url == bindparam("s_url")).values(
                    name=bindparam("s_name"), weight=bindparam("s_weight")), changed)

    def feed_states(self, urls: Sequence[str]) -> list[FeedState]:
        with self._tx() as conn:
            rows = {r.url: r for r in conn.execute(select(feeds).where(feeds.c.url.in_(urls)))}
        return [_feed_state(rows[u]) for u in urls if u in rows]

    def take_due_feeds(self, urls: Sequence[str], *, owner: str, now: datetime,
                       lease: timedelta, limit: int) -> list[FeedState]:
        """Lease up to `limit` of these feeds that are due (never polled, or next_poll_at
        passed; not disabled) and not leased by another instance, until now + lease; their
        poll's record ends the lease, and a crashed instance's lease runs out. On PostgreSQL
        rows another instance is leasing are skipped (FOR UPDATE SKIP LOCKED); on SQLite the
        write lock serialises. Returns the feeds this call took."""
        now = _db_time(now)
        c = feeds.c
        taken: list[FeedState] = []
        for start in range(0, len(urls), 500):  # under SQLite's bound-parameter limit
            if len(taken) >= limit:
                break
            pick = (select(c.id).where(
                c.url.in_(urls[start:start + 500]), c.status != FeedStatus.DISABLED.value,
                or_(c.next_poll_at.is_(None), c.next_poll_at <= now),
                or_(c.lease_until.is_(None), c.lease_until < now))
                .order_by(c.id).limit(limit - len(taken)).with_for_update(skip_locked=True))
            with self._tx() as conn:
                rows = conn.execute(
                    update(feeds).where(c.id.in_(pick.scalar_subquery()))
                    .values(leased_by=owner, lease_until=now + lease)
                    .returning(c.url, c.etag, c.last_modified, c.next_poll_at, c.error_count,
                               c.status, c.fetch_url, c.body_hash)).all()
            taken.extend(_feed_state(r) for r in rows)
        return taken

    def release_feeds(self, owner: str, urls: Sequence[str]) -> None:
        """End `owner`'s leases on these feeds (those whose poll was not recorded)."""
        c = feeds.c
        with self._tx() as conn:
            for start in range(0, len(urls), 500):
                conn.execute(update(feeds).where(
                    c.url.in_(urls[start:start + 500]), c.leased_by == owner)
                    .values(leased_by=None, lease_until=None))

    def record_poll(
        self, outcome: FeedOutcome, keyed_items: Sequence[tuple[Item, str]], *,
        now: datetime, next_poll_at: datetime | None, stale_before: datetime | None = None,
    ) -> int:
        """Store one poll's outcome and its new items; see `record_polls`."""
        return self.record_polls([PollRecord(outcome, keyed_items, next_poll_at)], now=now,
                                 stale_before=stale_before)[0]

    def record_polls(
        self, records: Sequence[PollRecord], *, now: datetime,
        stale_before: datetime | None = None, features: Packer | None = None,
    ) -> list[int]:
        """Store polls' outcomes and their new items; returns how many items were new, per
        record. Items already stored are left as they are; new items dated before
        `stale_before` are kept as seen but never offered; new items offered are stored with
        their `features`. A failed poll keeps every item and validator stored before.

        Which items are new is read first; their features are worked out outside any write
        transaction (on SQLite a write transaction holds the whole database); then the
        outcomes and the items still new are written in one transaction."""
        if not records:
            return []
        now = _db_time(now)
        urls = list({r.outcome.url for r in records})
        with self._tx() as conn:
            feed_ids = {u: row.id for u, row in self._feed_rows(conn, urls).items()}
            # A feed may repeat an entry; the first occurrence wins.
            wanted: dict[tuple[int, str], tuple[Item, str]] = {}
            for record in records:
                for item, canonical in record.items:
                    wanted.setdefault((feed_ids[record.outcome.url], item.key), (item, canonical))
            existing = _existing(conn, list(wanted))
        rows = _item_rows([(pair, *wanted[pair]) for pair in wanted if pair not in existing],
                          now, stale_before, features)
        with self._tx() as conn:
            known = self._feed_rows(conn, urls)
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
            if rows:  # what another process stored meanwhile stays as it stored it
                again = _existing(conn, [(r["feed_id"], r["key"]) for r in rows])
                rows = [r for r in rows if (r["feed_id"], r["key"]) not in again]
                self._insert_items(conn, rows)
        new: dict[int, int] = {}
        for r in rows:
            new[r["feed_id"]] = new.get(r["feed_id"], 0) + 1
        counted: set[int] = set()
        result = []
        for record in records:  # a feed polled twice in one batch: its items count once
            feed_id = feed_ids[record.outcome.url]
            result.append(0 if feed_id in counted else new.get(feed_id, 0))
            counted.add(feed_id)
        return result

    @staticmethod
    def _feed_rows(conn: Connection, urls: Sequence[str]) -> dict[str, Any]:
        known = {row.url: row for row in conn.execute(
            select(feeds.c.url, feeds.c.id, feeds.c.error_count).where(feeds.c.url.in_(urls)))}
        missing = [u for u in urls if u not in known]
        if missing:
            raise StoreError(f"feed not in the database: {missing[0]}")
        return known

    def _insert_items(self, conn: Connection, rows: list[dict[str, Any]]) -> None:
        if rows and conn.dialect.name == "postgresql":
            # COPY, in this transaction: an executemany costs psycopg and SQLAlchemy about 100
            # us a row in Python, and array parameters (unnest) are quoted by regular
            # expressions; COPY rows are written in C.
            names = list(rows[0])
            driver = conn.connection.driver_connection
            try:
                with driver.cursor() as cursor, cursor.copy(  # type: ignore[union-attr]
                        f"COPY items ({', '.join(names)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(tuple(row.values()))
            except conn.dialect.loaded_dbapi.Error as e:  # the driver's own: not wrapped
                raise StoreError(f"database {_safe_url(self.url)}: storing new items: {e}"
                                 ) from e
        elif rows:
            conn.execute(items.insert(), rows)

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

    def items_between(self, start: datetime, end: datetime, feed_urls: Sequence[str], *,
                      features_key: str | None = None) -> list[Item]:
        """Items of the given feeds whose date (published, else first seen) is in [start, end],
        with their stored features if they were worked out under `features_key`."""
        when = func.coalesce(items.c.published_at, items.c.first_seen_at)
        kept = case((items.c.features_key == features_key, items.c.features), else_=None)
        columns = [c for c in items.c if c.name not in ("features", "features_key")]
        query = (
            select(*columns, kept.label("features"), feeds.c.url.label("feed_url"),
                   feeds.c.weight,
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
                 image=r.image, features=r.features)
            for r in rows
        ]

    def save_features(self, key: str, packed: Sequence[tuple[int, str]]) -> None:
        """Keep items' features (id, packed), worked out under `key`."""
        if not packed:
            return
        update = (items.update().where(items.c.id == bindparam("f_id"))
                  .values(features=bindparam("f_features"), features_key=key))
        with self._tx() as conn:
            conn.execute(update, [{"f_id": i, "f_features": f} for i, f in packed])

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

    def take_deliveries(
        self, edition_id: int, recipients: Sequence[str], *, owner: str, now: datetime,
        stale_before: datetime, gone: Collection[str] = (),
    ) -> list[Taken]:
        """Claim, in one transaction, every delivery of these recipients that may be sent now:
        with no row yet, pending, deferred and due, or left `sending` by a run that died
        (claimed before `stale_before`, or by an owner in `gone`). On PostgreSQL rows another
        instance is claiming are skipped (FOR UPDATE SKIP LOCKED), on SQLite the write lock
        serialises claims; the unique (edition, recipient) key stays the last guard.
        Returns what this call took, with each row's attempts (this one included) and its
        hand-over note (set: an earlier run handed the message over and died)."""
        now = _db_time(now)
        c = deliveries.c
        sending = DeliveryStatus.SENDING.value
        with self._tx() as conn:
            # The write first, so that on SQLite the transaction holds the write lock from
            # its start (a read first could not be upgraded once another process wrote).
            _insert_ignore(conn, deliveries, [
                {"edition_id": edition_id, "recipient": r, "status": DeliveryStatus.PENDING.value,
                 "attempts": 0} for r in recipients])
            abandoned = c.claimed_at < _db_time(stale_before)
            if gone:
                abandoned = or_(abandoned, c.claimed_by.in_(list(gone)))
            claimable = or_(
                c.status == DeliveryStatus.PENDING.value,
                and_(c.status == DeliveryStatus.DEFERRED.value,
                     or_(c.retry_after.is_(None), c.retry_after <= now)),
                and_(c.status == sending, abandoned))
            pick = (select(c.id).where(c.edition_id == edition_id, c.recipient.in_(recipients),
                                       claimable)
                    .with_for_update(skip_locked=True))
            rows = conn.execute(
                update(deliveries).where(c.id.in_(pick.scalar_subquery()))
                .values(status=sending, claimed_by=owner, claimed_at=now,
                        attempts=c.attempts + 1)
                .returning(c.recipient, c.attempts, c.handed_over_at)).all()
        return [Taken(r.recipient, int(r.attempts), _utc(r.handed_over_at)) for r in rows]

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

    def release_claims(self, owner: str, edition_id: int | None = None,
                       recipients: Sequence[str] | None = None) -> int:
        """Give back `owner`'s unfinished claims (of these recipients of this edition, or all)
        that never reached the hand-over: they are pending again. Returns how many."""
        c = deliveries.c
        where = [c.claimed_by == owner, c.status == DeliveryStatus.SENDING.value,
                 c.handed_over_at.is_(None)]
        if edition_id is not None:
            where.append(c.edition_id == edition_id)
        if recipients is not None:
            if not recipients:
                return 0
            where.append(c.recipient.in_(recipients))
        with self._tx() as conn:
            done = conn.execute(update(deliveries).where(*where).values(
                status=DeliveryStatus.PENDING.value, claimed_by=None))
        return int(done.rowcount)

    def finish_deliveries(self, edition_id: int, outcomes: Sequence[Outcome], *,
                          now: datetime) -> None:
        """Record a batch of delivery outcomes in one transaction."""
        sent = [{"d_edition": edition_id, "d_recipient": o.recipient, "d_error": o.error,
                 "d_at": _db_time(now), "d_message_id": o.message_id}
                for o in outcomes if o.status is DeliveryStatus.SENT]
        other = [{"d_edition": edition_id, "d_recipient": o.recipient,
                  "d_status": o.status.value, "d_error": o.error,
                  "d_retry_after": _db_time(o.retry_after) if o.retry_after else None}
                 for o in outcomes if o.status is not DeliveryStatus.SENT]
        with self._tx() as conn:
            if sent:
                conn.execute(_FINISH_SENT, sent)
            if other:
                conn.execute(_FINISH_OTHER, other)

    def suppress_deliveries(self, edition_id: int, recipients: Sequence[str], *,
                            now: datetime, reasons: dict[str, str]) -> None:
        """Record these recipients as suppressed for the edition (not if already settled)."""
        if not recipients:
            return
        c = deliveries.c
        with self._tx() as conn:
            _insert_ignore(conn, deliveries, [
                {"edition_id": edition_id, "recipient": r, "status": DeliveryStatus.PENDING.value,
                 "attempts": 0} for r in recipients])
            conn.execute(update(deliveries).where(
                c.edition_id == edition_id,
                c.recipient == bindparam("d_recipient", type_=String()),
                c.status.in_([DeliveryStatus.PENDING.value, DeliveryStatus.DEFERRED.value]))
                .values(status=DeliveryStatus.SUPPRESSED.value,
                        error=bindparam("d_error", type_=Text())),
                [{"d_recipient": r, "d_error": reasons.get(r)} for r in recipients])

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

    # --- retention ---

    def prune_items(self, *, now: datetime, keep: timedelta, batch: int = 5000) -> int:
        """Delete the items first seen before `now - keep`, `batch` rows per transaction (so a
        large prune never holds the write lock for long); returns how many were deleted.
        Editions, their fingerprints, deliveries and suppressions are never touched: the send
        history does not reference items, and a sent story stays refused by its fingerprints.

        An item a feed still lists after it was pruned comes back as new on the next poll;
        dated older than the edition window it is stored as seen only, so keep `keep` well
        over the window."""
        if keep <= timedelta(0):
            raise ValueError(f"keep must be positive, not {keep}")
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        cutoff = _db_time(now) - keep
        # The oldest `batch` ids by first_seen_at (ix_items_first_seen_at), then those rows:
        # one statement a transaction on both databases (PostgreSQL has no DELETE ... LIMIT).
        oldest = (select(items.c.id).where(items.c.first_seen_at < cutoff)
                  .order_by(items.c.first_seen_at).limit(batch))
        statement = delete(items).where(items.c.id.in_(oldest.scalar_subquery()))
        deleted = 0
        while True:  # bounded: each round deletes `batch` rows or ends the loop
            with self._tx() as conn:
                done = int(conn.execute(statement).rowcount)
            deleted += done
            if done < batch:
                break
        log.info("pruned %d items first seen before %s", deleted, cutoff.isoformat())
        return deleted

    def forget_features(self, *, before: datetime, batch: int = 5000) -> int:
        """Drop the features of items first seen before `before` (no build of an upcoming
        edition reads them; one of an old edition works them out again), `batch` rows per
        transaction; returns how many items had some."""
        if batch < 1:
            raise ValueError(f"batch must be at least 1, not {batch}")
        oldest = (select(items.c.id).where(items.c.first_seen_at < _db_time(before),
                                           items.c.features_key.is_not(None))
                  .order_by(items.c.first_seen_at).limit(batch))
        statement = (update(items).where(items.c.id.in_(oldest.scalar_subquery()))
                     .values(features=None, features_key=None))
        dropped = 0
        while True:  # bounded: each round clears `batch` rows or ends the loop
            with self._tx() as conn:
                done = int(conn.execute(statement).rowcount)
            dropped += done
            if done < batch:
                return dropped

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
    title=func.coalesce(_bind(feeds.c.title), feeds.c.title), leased_by=None, lease_until=None)
# After a failed poll: validators, body hash, title and items stay as they were.
_POLL_FAILED = update(feeds).where(feeds.c.id == _ID).values(
    status=_bind(feeds.c.status), last_error=_bind(feeds.c.last_error),
    error_count=_bind(feeds.c.error_count), last_fetched_at=_bind(feeds.c.last_fetched_at),
    next_poll_at=_bind(feeds.c.next_poll_at), leased_by=None, lease_until=None)


def _feed_state(row: Any) -> FeedState:
    return FeedState(url=row.url, etag=row.etag, last_modified=row.last_modified,
                     next_poll_at=_utc(row.next_poll_at), error_count=row.error_count,
                     status=FeedStatus(row.status), fetch_url=row.fetch_url,
                     body_hash=row.body_hash)


def _existing(conn: Connection, pairs: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """The (feed id, item key) pairs already stored."""
    existing: set[tuple[int, str]] = set()
    if not pairs:
        return existing
    if conn.dialect.name == "postgresql":
        # All pairs in one query, as two arrays joined by position: one unique-index probe
        # a pair, one statement compiled once. `feed_id IN (..) AND key IN (..)` made
        # PostgreSQL probe every feed x key combination (10,000 known items: 4-17 s,
        # growing with the table; bench/store.py), and a VALUES list of 1,000 parameters
        # cost more to compile than to run.
        asked = func.unnest(bindparam("p_feed_ids", type_=PG_ARRAY(Integer())),
                            bindparam("p_keys", type_=PG_ARRAY(Text()))
                            ).table_valued("feed_id", "key").render_derived("asked")
        query = select(items.c.feed_id, items.c.key).join(asked, and_(
            items.c.feed_id == asked.c.feed_id, items.c.key == asked.c.key))
        existing.update((row.feed_id, row.key) for row in conn.execute(
            query, {"p_feed_ids": [f for f, _ in pairs], "p_keys": [k for _, k in pairs]}))
    else:  # SQLite probes the unique index per pair of the IN lists
        for start in range(0, len(pairs), 500):  # 1,000 parameters: under SQLite's limit
            chunk = pairs[start:start + 500]
            existing.update((row.feed_id, row.key) for row in conn.execute(
                select(items.c.feed_id, items.c.key).where(
                    items.c.feed_id.in_({f for f, _ in chunk}),
                    items.c.key.in_({k for _, k in chunk}))))
    return existing


def _item_rows(new: Sequence[tuple[tuple[int, str], Item, str]], now: datetime,
               stale_before: datetime | None, features: Packer | None
               ) -> list[dict[str, Any]]:
    """Rows for new items ((feed id, key), item, canonical URL): only those that will be
    offered get features (`Packer.pack_all`, all at once)."""
    seen_only = [bool(stale_before and item.published and item.published < stale_before)
                 for _, item, _ in new]
    offered = [item for (_, item, _), old in zip(new, seen_only, strict=True) if not old]
    packed = iter(features.pack_all(offered) if features and offered else ())
    rows = []
    for ((feed_id, key), item, canonical), old in zip(new, seen_only, strict=True):
        kept = None if old or features is None else next(packed)
        rows.append({
            "feed_id": feed_id, "key": key, "guid": item.guid, "url": item.url,
            "canonical_url": canonical, "title": item.title, "summary": item.summary,
            "author": item.author, "image": item.image, "first_seen_at": now,
            "published_at": _db_time(item.published) if item.published else None,
            "seen_only": old, "features": kept,
            "features_key": features.key if kept is not None and features else None})
    return rows


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


def _insert_ignore(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT the rows, leaving any that would break a unique key (ON CONFLICT DO NOTHING)."""
    if not rows:
        return
    dialect = conn.dialect.name
    if dialect == "postgresql":
        conn.execute(pg_insert(table).on_conflict_do_nothing(), rows)
    elif dialect == "sqlite":
        conn.execute(sqlite_insert(table).on_conflict_do_nothing(), rows)
    else:
        raise StoreError(f"unsupported database: {dialect}")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    # In WAL mode NORMAL never corrupts the database; a power cut may lose the last commits,
    # which the next poll fetches again. FULL would fsync every feed's commit.
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")  # another process writing: wait, don't fail
    cursor.close()
