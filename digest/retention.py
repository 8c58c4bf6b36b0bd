"""Retention: delete stored items older than the configured period, in short batches; never
touches editions, their fingerprints, deliveries or suppressions (the send history is kept
forever and does not reference items: a sent story is refused later by its fingerprints)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import StoreError
from digest.schema import items
from digest.store import Store

log = logging.getLogger(__name__)

DEFAULT_BATCH = 5000


def prune_items(store: Store, *, now: datetime, keep: timedelta,
                batch: int = DEFAULT_BATCH) -> int:
    """Delete the items first seen before `now - keep`, `batch` rows per transaction (so a
    large prune never holds the write lock for long, on SQLite or PostgreSQL); returns how
    many were deleted.

    An item that a feed still lists after it was pruned comes back as new on the next poll;
    dated older than the edition window it is stored as seen only, and a story that went out
    stays refused by the fingerprints of its edition, so keep `keep` well over the window."""
    if keep <= timedelta(0):
        raise ValueError(f"keep must be positive, not {keep}")
    if batch < 1:
        raise ValueError(f"batch must be at least 1, not {batch}")
    cutoff = now.astimezone(UTC)  # what the store writes: UTC (SQLite keeps no offset)
    cutoff -= keep
    # The oldest `batch` ids by first_seen_at (ix_items_first_seen_at), then those rows: one
    # statement per transaction, on both backends (no DELETE ... LIMIT in PostgreSQL).
    oldest = (select(items.c.id).where(items.c.first_seen_at < cutoff)
              .order_by(items.c.first_seen_at).limit(batch))
    statement = delete(items).where(items.c.id.in_(oldest.scalar_subquery()))
    deleted = 0
    while True:  # bounded: each round deletes `batch` rows or ends the loop
        try:
            with store.engine.begin() as conn:
                done = int(conn.execute(statement).rowcount)
        except SQLAlchemyError as e:
            raise StoreError(f"database: pruning items: {e.__cause__ or e}") from e
        deleted += done
        if done < batch:
            break
    log.info("pruned %d items first seen before %s", deleted, cutoff.isoformat())
    return deleted
