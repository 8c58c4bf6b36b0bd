"""What the operator reads: the send history, each feed's health and the running state of
digest (`digest history`, `digest feeds`, `digest status`) (use case).

Reads only: nothing here writes to the store or decides anything about an edition.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from digest.config import Settings
from digest.models import Delivery, DeliveryStatus, FeedHealth, FeedStatus, ReaderStatus
from digest.owner import alive
from digest.schedule import next_send
from digest.store import Store

Clock = Callable[[], datetime]


class Reports:
    """The history, feed health and status of one configuration's store."""

    def __init__(self, settings: Settings, store: Store, *, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock

    def close(self) -> None:
        """Close the store (the light factories in digest.app open one for this alone)."""
        self.store.close()

    def history(self, *, status: DeliveryStatus | None = None, edition: date | None = None,
                reader: str | None = None, limit: int | None = None) -> list[Delivery]:
        """The deliveries, newest edition first: of one status, one edition, to one reader
        (the address in any case: the operator's search), the first `limit` of them."""
        return self.store.history(status=status, edition=edition, recipient=reader,
                                  any_case=True, limit=limit)

    def feeds(self) -> list[FeedHealth]:
        """Health of the configured feeds, in config order. A feed not polled yet shows as
        never fetched; feeds since removed from the config keep their stored items but are
        not shown."""
        health = {h.url: h for h in self.store.feed_health()}
        return [health.get(f.url) or FeedHealth(f.url, f.name or f.url, FeedStatus.NEW, None,
                                                None, 0)
                for f in self.settings.feeds]

    def healthy(self) -> bool:
        """Whether a `digest run` beat recently (Docker's health check, every minute)."""
        return bool(alive(self.store.instances(), self.clock()))

    def delivery_queue(self) -> dict[DeliveryStatus, int]:
        """Deliveries waiting (pending, deferred, sending), by status, over every edition."""
        return self.store.queued_deliveries()

    def reader_counts(self) -> dict[ReaderStatus, int]:
        """Readers by status."""
        return self.store.reader_counts()

    def status(self) -> dict[str, Any]:
        """What `digest status` shows: running daemons, next poll and send, the last edition
        and its deliveries, failing feeds, skipped editions."""
        s = self.settings
        now = self.clock()
        running = alive(self.store.instances(), now)
        feeds = self.feeds()
        never_polled = any(h.next_poll_at is None and h.status is not FeedStatus.DISABLED
                           for h in feeds)
        next_poll = now if never_polled else \
            self.store.next_poll_at([f.url for f in s.feeds])
        last = self.store.latest_edition()
        last_edition = None
        if last is not None:
            frozen = self.store.frozen_edition(last[0])
            counts = self.store.delivery_counts(frozen.id) if frozen else {}
            last_edition = {"edition": last[0].isoformat(), "frozen_at": last[1].isoformat(),
                            "deliveries": {st.value: counts.get(st, 0) for st in DeliveryStatus
                                           if counts.get(st)}}
        return {
            "healthy": bool(running),
            "running": [{"owner": o, "started_at": st.isoformat(), "beat_at": b.isoformat(),
                         "next_send_at": n.isoformat() if n else None}
                        for o, st, b, n in running],
            "next_poll_at": next_poll.isoformat() if next_poll else None,
            "next_send_at": next_send(s.schedule.digest, s.tz,
                                      now.astimezone(s.tz)).isoformat(),
            "last_edition": last_edition,
            "failing_feeds": [{"url": h.url, "name": h.name, "status": h.status.value,
                               "last_error": h.last_error, "error_count": h.error_count}
                              for h in feeds if h.status in (FeedStatus.ERROR,
                                                             FeedStatus.DISABLED)],
            "skipped_editions": [{"edition": e.isoformat(), "scheduled_at": t.isoformat(),
                                  "reason": r} for e, t, r in self.store.skipped()[:10]],
        }
