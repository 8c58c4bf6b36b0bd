"""The store's feeds and their polls: configured feeds, poll leases, and each poll's outcome
with the new items it brought (stored by COPY on PostgreSQL); feed health."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    Text,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY as PG_ARRAY
from sqlalchemy.engine import Connection

from digest.errors import StoreError
from digest.models import FeedHealth, FeedOutcome, FeedState, FeedStatus, Item
from digest.schema import feeds, items
from digest.store.base import StoreBase, _db_time, _insert_ignore, _safe_url, _utc


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


class FeedsStore(StoreBase):
    """Feeds, their leases and polls."""

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
                       last_success_at=_utc(r.last_success_at),
                       moved_to=r.fetch_url if r.fetch_url != r.url else None,
                       error_count=r.error_count)
            for r in rows
        ]

    def next_poll_at(self, urls: Sequence[str]) -> datetime | None:
        """The earliest time one of these feeds (not disabled) is due; None: none is."""
        with self._tx() as conn:
            value = conn.execute(select(func.min(feeds.c.next_poll_at)).where(
                feeds.c.url.in_(urls), feeds.c.status != FeedStatus.DISABLED.value)).scalar()
        return _utc(value)


def _bind(column: Column[Any]) -> Any:
    """A named parameter typed like `column` (so SQLite gets our UTC datetime format)."""
    return bindparam(f"p_{column.name}", type_=column.type)


_ID = bindparam("p_id", type_=Integer())
# After a successful poll, last_error holds the parse's notes ("kept the newest 500 of 100,000
# items"), or nothing; a body not parsed again (304, unchanged) keeps the notes it had when the
# feed was already ok (in SET, `status` is still the row's old value).
_NOT_PARSED = bindparam("p_not_parsed", type_=Boolean())
_NOTES = case((_NOT_PARSED, case((feeds.c.status == FeedStatus.OK.value, feeds.c.last_error),
                                 else_=None)),
              else_=_bind(feeds.c.last_error))
# After a successful poll: validators and body hash replaced (a 304 outcome carries the ones it
# kept), the error streak reset; the title and a permanent move only when the poll had them.
_POLL_OK = update(feeds).where(feeds.c.id == _ID).values(
    status=FeedStatus.OK.value, last_error=_NOTES, error_count=0,
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
                      p_fetch_url=outcome.moved_to, p_title=outcome.title or None,
                      p_not_parsed=outcome.not_modified or outcome.unchanged,
                      p_last_error="; ".join(outcome.notes) or None)
    else:
        status = FeedStatus.DISABLED if outcome.gone else FeedStatus.ERROR
        params.update(p_status=status.value, p_last_error=outcome.error,
                      p_error_count=errors + 1)
    return params
