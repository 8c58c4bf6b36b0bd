"""Polling: the feeds that are due are fetched, and what they gave is stored (use case).

`Poller` is given its collaborators (the store, the fetch limits, the features analyser, the
clock, the jitter, the metrics it tells each poll's outcome) and owns no state of its own
between calls; it decides nothing a pure step decides (`polling.plan_next_poll` says when to
poll again, `dedupe` names items).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta
from queue import Empty, SimpleQueue
from random import Random
from time import monotonic
from urllib.parse import urlsplit, urlunsplit

from digest import dedupe
from digest.config import Settings
from digest.features import Analyser
from digest.fetch import FeedRequest, FetchLimits, fetch_feeds
from digest.metrics import Metrics
from digest.models import FeedOutcome, FeedState, FeedStatus
from digest.owner import this_process
from digest.polling import plan_next_poll
from digest.store import PollRecord, Store

log = logging.getLogger(__name__)

STORE_BATCH = 200  # outcomes stored in one transaction, at most
FEED_LEASE = timedelta(minutes=10)  # a feed leased for polling; a crashed poller's runs out
STORE_LINGER = 0.25  # seconds a batch waits for more outcomes before it is stored
Clock = Callable[[], datetime]


class Poller:
    """Fetches the configured feeds that are due and stores their new items."""

    def __init__(self, settings: Settings, store: Store, *, analyser: Analyser,
                 limits: FetchLimits, clock: Clock, random: Random,
                 metrics: Metrics | None = None) -> None:
        self.settings = settings
        self.store = store
        self.analyser = analyser
        self.limits = limits
        self.clock = clock
        self.random = random  # backoff jitter
        self.metrics = metrics or Metrics()
        # a failing feed's metrics label: its configured name, else its URL without any
        # user:password (the list is the operator's, so the label's values are bounded)
        self.feed_labels = {f.url: f.name or _without_userinfo(f.url) for f in settings.feeds}
        self.poll_every = {f.url: f.poll_every or settings.schedule.poll_every
                           for f in settings.feeds}

    def sync_feeds(self) -> None:
        """Make the store's feed rows match feeds.yaml (names, weights; new feeds added).
        An explicit step of the commands that poll or build: constructing writes nothing."""
        self.store.sync_feeds((f.url, f.name, f.weight) for f in self.settings.feeds)

    def refresh(
        self, *, force: bool = False, on_done: Callable[[FeedOutcome], None] | None = None,
        on_start: Callable[[int], None] | None = None, as_of: datetime | None = None,
        stop: threading.Event | None = None,
    ) -> list[FeedOutcome]:
        """Poll the feeds that are due (all with force, disabled ones included) and store
        their new items. `on_start` learns how many feeds are due; `on_done` sees each outcome
        once it is stored (from a worker thread).

        A new item dated more than the edition window before `as_of` (default now; a build
        passes its edition's send time, when that is earlier) is kept as seen only: a feed's
        back catalogue never floods an edition. `stop` set: downloads under way are
        abandoned (those feeds stay due); what finished is stored.
        """
        urls = [f.url for f in self.settings.feeds]
        first = self.clock()
        states = self.store.feed_states(urls)
        due = [s for s in states if force or (s.status is not FeedStatus.DISABLED and (
            s.next_poll_at is None or s.next_poll_at <= first))]
        if on_start is not None:
            on_start(len(due))
        if force:  # every feed, now, leased or not
            every = self._poll_round(due, first, as_of, on_done, stop)
            self.metrics.polled_all(self.clock())
            return every
        # In rounds of leased feeds: instances sharing the database split the due feeds, and
        # each feed is polled once per due period.
        owner = this_process()
        outcomes: list[FeedOutcome] = []
        while stop is None or not stop.is_set():
            now = self.clock()
            leased = self.store.take_due_feeds(urls, owner=owner, now=now, lease=FEED_LEASE,
                                               limit=self.limits.concurrency * 16)
            if not leased:
                break
            outcomes += self._poll_round(leased, now, as_of, on_done, stop)
            self.store.release_feeds(owner, [s.url for s in leased])  # those abandoned
        self.metrics.polled_all(self.clock())
        order = {url: n for n, url in enumerate(urls)}
        return sorted(outcomes, key=lambda o: order.get(o.url, len(order)))  # config order

    def next_poll_at(self) -> datetime | None:
        """When the first configured feed is due (None: none has a time yet)."""
        return self.store.next_poll_at([f.url for f in self.settings.feeds])

    def _poll_round(self, due: Sequence[FeedState], now: datetime, as_of: datetime | None,
                    on_done: Callable[[FeedOutcome], None] | None,
                    stop: threading.Event | None) -> list[FeedOutcome]:
        stale_before = min(now, as_of or now) - self.settings.edition.window
        failures = {s.url: s.error_count for s in due}
        requests = [FeedRequest(s.url, s.fetch_url, s.etag, s.last_modified, s.body_hash)
                    for s in due]
        outcomes: dict[str, FeedOutcome] = {}
        finished: SimpleQueue[FeedOutcome | None] = SimpleQueue()

        def write() -> None:
            # One writer thread stores outcomes while the downloads go on, in batches of what
            # finished within STORE_LINGER: one transaction per batch, not per feed.
            done = False
            while not done:
                batch = [finished.get()]
                deadline = monotonic() + STORE_LINGER
                while batch[-1] is not None and len(batch) < STORE_BATCH:
                    try:
                        batch.append(finished.get(timeout=max(deadline - monotonic(), 0)))
                    except Empty:
                        break
                done = batch[-1] is None
                real = [o for o in batch if o is not None]
                for stored in self._record(real, now, failures, stale_before):
                    outcomes[stored.url] = stored
                    self.metrics.polled(stored, self.feed_labels.get(stored.url, stored.url))
                    if on_done is not None:
                        on_done(stored)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-store") as writer:
            writing = writer.submit(write)
            try:
                fetch_feeds(requests, self.limits, finished.put, stop=stop)
            finally:
                finished.put(None)
                writing.result()  # a store error surfaces here, after the downloads
        # after a stop, only the feeds that finished
        return [outcomes[r.url] for r in requests if r.url in outcomes]

    def _record(self, batch: Sequence[FeedOutcome], now: datetime, failures: dict[str, int],
                stale_before: datetime) -> list[FeedOutcome]:
        records = []
        for outcome in batch:
            keyed = []
            for item in outcome.items:
                item = replace(item, key=dedupe.item_key(item))
                keyed.append((item, dedupe.canonical_url(item.url)))
            failed = outcome.status is FeedStatus.ERROR
            plan = plan_next_poll(outcome, now=now, every=self.poll_every[outcome.url],
                                  failures=failures.get(outcome.url, 0) + 1 if failed else 0,
                                  max_backoff=self.settings.fetch.max_backoff,
                                  draw=self.random.random())
            records.append(PollRecord(outcome, keyed, plan.next_poll_at))
            if failed:
                log.warning("feed %s: %s; next poll %s", outcome.url, outcome.error,
                            plan.reason, extra={"event": "feed_error", "url": outcome.url,
                                                "error": outcome.error})
            if outcome.moved_to:
                log.warning("feed %s moved permanently to %s; polling the new URL from now on",
                            outcome.url, outcome.moved_to,
                            extra={"event": "feed_moved", "url": outcome.url,
                                   "moved_to": outcome.moved_to})
        new = self.store.record_polls(records, now=now, stale_before=stale_before,
                                      features=self.analyser)
        return [replace(o, items=(), new_items=n) for o, n in zip(batch, new, strict=True)]


def fetch_limits(settings: Settings) -> FetchLimits:
    """The `fetch:` block of feeds.yaml as the fetcher's limits."""
    f = settings.fetch
    return FetchLimits(concurrency=f.concurrency, per_host=f.per_host,
                       connect_timeout=f.connect_timeout.total_seconds(),
                       total_timeout=f.timeout.total_seconds(), max_bytes=f.max_bytes,
                       max_redirects=f.max_redirects, allow_private=f.allow_private,
                       max_items=f.max_items)


def _without_userinfo(url: str) -> str:
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
