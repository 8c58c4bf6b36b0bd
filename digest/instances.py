"""What a running `digest run` keeps in the database: its heartbeat, its claims, the editions
it skipped, and what it reads back to plan (use case).

The daemon (digest.daemon) is a driver: it reaches the store only through this and the other
use cases. Pure planning (which sends were missed, what to do about them) is digest.schedule's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from digest.store import Store

Clock = Callable[[], datetime]


class Instances:
    """The records of the daemons that share one database."""

    def __init__(self, store: Store, *, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def beat(self, owner: str, *, started_at: datetime, next_send_at: datetime | None,
             config: str) -> None:
        """This daemon is alive (`digest status` and Docker's health check read it)."""
        self.store.beat(owner, started_at=started_at, now=self.clock(),
                        next_send_at=next_send_at, config=config)

    def stopped(self, owner: str) -> int:
        """This daemon stops cleanly: its unfinished claims go back (how many), and its last
        beat stays, to tell the next daemon since when sends were missed."""
        released = self.store.release_claims(owner)
        self.store.instance_stopped(owner, now=self.clock())
        return released

    def last_beat(self, *, besides: str) -> datetime | None:
        """When another daemon (running or stopped) last beat."""
        return self.store.last_beat(besides=besides)

    def settled(self, since: date) -> set[date]:
        """Editions from `since` on that were frozen (sent) or recorded as skipped."""
        return self.store.edition_names(since)

    def skip(self, edition: date, *, scheduled_at: datetime, reason: str) -> bool:
        """Record a scheduled edition as not sent, unless it was frozen (sent by other means)
        or recorded already; whether it was recorded now."""
        if self.store.frozen_edition(edition) is not None:
            return False
        return self.store.skip_edition(edition, scheduled_at=scheduled_at, now=self.clock(),
                                       reason=reason)
