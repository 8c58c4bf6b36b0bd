"""The database: schema and queries over feeds, items, editions and deliveries (SQLAlchemy 2
Core); returns our own types, never rows or sessions, and makes no editorial decision.

SQLite (WAL) by default, PostgreSQL when several instances share the work. Tables are designed
for what comes later: a frozen edition keeps its rendered content and the fingerprints of every
story it carried; a delivery is one row per (edition, recipient), unique, with a status and a
claim time.

The store is one class, `Store`, assembled from one part per domain, each in its module:
base (the engine, transactions, locks, shared helpers), feeds (feeds and their polls), items
(items, features, retention), editions, deliveries (also the send history), readers (also
erased readers and rate limits), bounces (what came back about readers' mail), archive
(sent editions, story search), edits (the editor's pass) and daemon (heartbeats, skipped editions).
"""

from __future__ import annotations

from digest.errors import StoreError
from digest.store.archive import ArchiveStore, SentEdition, StoryHit
from digest.store.bounces import (
    BounceEvent,
    BounceLimits,
    BounceRecord,
    BouncesStore,
    Recorded,
)
from digest.store.daemon import DaemonStore
from digest.store.deliveries import DeliveriesStore, HandOver, Outcome, Taken
from digest.store.editions import EditionsStore, FrozenEdition
from digest.store.edits import EditsStore, Review
from digest.store.feeds import FeedsStore, Packer, PollRecord
from digest.store.items import ItemsStore
from digest.store.readers import ConfigLine, NewReader, ReadersStore, SyncReport

__all__ = ["BounceEvent", "BounceLimits", "BounceRecord", "ConfigLine", "FrozenEdition",
           "HandOver", "NewReader", "Outcome", "Packer", "PollRecord", "Recorded", "Review",
           "SentEdition", "Store", "StoreError", "StoryHit", "SyncReport", "Taken"]


class Store(FeedsStore, ItemsStore, EditionsStore, EditsStore, DeliveriesStore, ReadersStore,
            ArchiveStore, BouncesStore, DaemonStore):
    """All reads and writes of digest's state; one instance per process."""
