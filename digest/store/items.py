"""The store's items: what an edition is built from, their stored features, and retention."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Executable, bindparam, case, delete, false, func, select, update

from digest.models import Item
from digest.schema import feeds, items
from digest.store.base import StoreBase, _db_time, _utc

log = logging.getLogger(__name__)


class ItemsStore(StoreBase):
    """Items: reads for a build, features, retention."""

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
        deleted = self._in_batches(
            delete(items).where(items.c.id.in_(oldest.scalar_subquery())), batch)
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
        return self._in_batches(update(items).where(items.c.id.in_(oldest.scalar_subquery()))
                                .values(features=None, features_key=None), batch)

    def _in_batches(self, statement: Executable, batch: int) -> int:
        """Run a statement that touches at most `batch` rows, one transaction each time, until
        it touches fewer; returns how many rows it touched in all."""
        total = 0
        while True:  # bounded: each round touches `batch` rows or ends the loop
            with self._tx() as conn:
                done = int(conn.execute(statement).rowcount)
            total += done
            if done < batch:
                return total
