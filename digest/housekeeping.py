"""Keeping the store in shape: retention, the web service's old rate-limit counters, the schema
(use case).

`digest db prune|upgrade|current` and the daemon's daily prune come through here; nothing here
builds or sends an edition.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from digest import migrate
from digest.config import Settings
from digest.store import Store

Clock = Callable[[], datetime]


class Housekeeping:
    """Retention of one configuration's store."""

    def __init__(self, settings: Settings, store: Store, *, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock

    def prune(self) -> int:
        """Delete items past `retention` (never sent-edition records), and the stored features
        of items older than two edition windows; how many items went. One instance at a time
        (the edition lock: never under a build)."""
        now = self.clock()
        with self.store.exclusive("edition"):
            deleted = self.store.prune_items(now=now, keep=self.settings.retention)
            self.store.forget_features(before=now - 2 * self.settings.edition.window)
        self.store.prune_rate_limits(before=now - timedelta(days=2))  # windows are a day at most
        return deleted


class Schema:
    """The database's schema revision, read or brought to the latest, and its backup (`digest
    db`). Given a store opened without upgrading, so that `current` changes nothing."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def close(self) -> None:
        """Close the store (the light factories in digest.app open one for this alone)."""
        self.store.close()

    def upgrade(self) -> tuple[str | None, str]:
        """(revision before, revision after); another instance migrating is waited for."""
        return migrate.upgrade(self.store.engine)

    def backup(self, target: Path, *, replace: bool = False) -> int:
        """An online copy of the SQLite database at `target` (Store.backup); its size."""
        return self.store.backup(target, replace=replace)

    def current(self) -> tuple[str | None, str]:
        """(the database's revision, the latest one)."""
        return migrate.current(self.store.engine), migrate.HEAD
