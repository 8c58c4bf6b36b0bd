"""Prometheus metrics (issue 24): what one process saw happen, counted; the scrape's text
format; and the small HTTP server on which `digest run` answers /metrics and /healthz.

The only importer of prometheus_client, and only once a process serves metrics
(`Metrics.enable`: `digest run` with `metrics.port`, and the web service): every other command
counts into a handle that does nothing, so `digest status --check` and `--help` never load it.
It reads no store and decides nothing: the use cases say what happened, and the figures a
scrape reads from the database (the claim queue, readers by status) come from a callable the
composition root gives, so every instance sharing one database shows the same.
"""

from __future__ import annotations

import hmac
import json
import logging
import socket
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from digest import __version__
from digest.errors import DigestError
from digest.models import (
    WAITING,
    BounceKind,
    DeliveryStatus,
    FeedOutcome,
    FeedStatus,
    ReaderStatus,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
    from prometheus_client.metrics_core import Metric

    from digest.config import MetricsSettings

log = logging.getLogger(__name__)

# Seconds: a build is tens of milliseconds for a small list, seconds for thousands of items.
BUILD_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
DELIVERY_OUTCOMES = (DeliveryStatus.SENT, DeliveryStatus.UNCONFIRMED, DeliveryStatus.DEFERRED,
                     DeliveryStatus.FAILED, DeliveryStatus.SUPPRESSED)
BOUNCES = (BounceKind.HARD, BounceKind.SOFT, BounceKind.COMPLAINT)
BOUNCE_SOURCES = ("smtp", "mailbox", "ses", "postmark")


class PollOutcome(StrEnum):
    """How one poll of one feed ended."""

    OK = "ok"  # new content, parsed and stored
    NOT_MODIFIED = "not_modified"  # 304: nothing downloaded
    UNCHANGED = "unchanged"  # 200 with the same body as last time: not parsed again
    ERROR = "error"
    GONE = "gone"  # 410: the feed is disabled


class Unsubscribe(StrEnum):
    """How a reader left."""

    ONE_CLICK = "one_click"  # RFC 8058: the mail program posted the List-Unsubscribe URL
    LINK = "link"  # the unsubscribe link in the message, then the page's button
    PREFERENCES = "preferences"  # the preferences page's "leave"
    MAIL = "mail"  # a mail to the signed List-Unsubscribe mailto address
    COMMAND = "command"  # the operator: `digest unsubscribe`, `digest readers remove`


class Subscription(StrEnum):
    """A step of joining (double opt-in)."""

    REQUESTED = "requested"  # the subscribe form or JSON endpoint asked (a link is mailed)
    CONFIRMED = "confirmed"  # the confirmation link's button: the reader is in
    RESUBSCRIBED = "resubscribed"  # back from the page shown after leaving


def poll_outcome(outcome: FeedOutcome) -> PollOutcome:
    if outcome.gone or outcome.status is FeedStatus.DISABLED:
        return PollOutcome.GONE
    if outcome.status is FeedStatus.ERROR:
        return PollOutcome.ERROR
    if outcome.not_modified:
        return PollOutcome.NOT_MODIFIED
    return PollOutcome.UNCHANGED if outcome.unchanged else PollOutcome.OK


def bearer_ok(header: str | None, token: bytes) -> bool:
    """Whether an Authorization header carries `token` as a bearer token (compared in
    constant time)."""
    scheme, _, given = (header or "").strip().partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        given.strip().encode("latin-1", "replace"), token)


@dataclass(frozen=True, slots=True)
class StoreFigures:
    """What the database says at scrape time: the same from every instance sharing it."""

    queue: Mapping[DeliveryStatus, int]  # deliveries waiting, by status (WAITING)
    readers: Mapping[ReaderStatus, int]  # readers by status


class _Board:
    """One process's registry and its metrics (prometheus_client imported here, lazily)."""

    def __init__(self) -> None:
        from prometheus_client import (
            CollectorRegistry,
            Counter,
            Gauge,
            Histogram,
            disable_created_metrics,
        )
        from prometheus_client.process_collector import ProcessCollector

        # No `_created` series beside each counter and histogram: they double the output, and
        # Prometheus's rate() does not need them (a switch of the library's, for the process).
        disable_created_metrics()  # type: ignore[no-untyped-call]
        # Our own registry, never the global one: every App of a test process has its own
        # (registering a name twice on one registry raises).
        self.registry: CollectorRegistry = CollectorRegistry()
        r = self.registry
        ProcessCollector(registry=r)  # process_cpu_seconds_total, resident memory, open fds
        Gauge("digest_info", "digest's version (always 1)", ["version"],
              registry=r).labels(__version__).set(1)
        self.polls: Counter = Counter("digest_polls", "Feed polls, by outcome", ["outcome"],
                                      registry=r)
        self.items: Counter = Counter("digest_items_stored", "New items stored from feeds",
                                      registry=r)
        self.feed_errors: Counter = Counter(
            "digest_feed_errors", "Failed polls, by feed (its configured name, else its URL)",
            ["feed"], registry=r)
        self.last_poll: Gauge = Gauge(
            "digest_last_poll_timestamp_seconds", "When this process last finished polling "
            "the due feeds (Unix time)", registry=r)
        self.build: Histogram = Histogram(
            "digest_build_duration_seconds", "Time to assemble and render an edition (the "
            "feeds' refresh before it not included)", buckets=BUILD_BUCKETS, registry=r)
        self.stories: Gauge = Gauge(
            "digest_edition_stories", "Stories per section in the edition built last",
            ["section"], registry=r)
        self.deliveries: Counter = Counter(
            "digest_deliveries", "Delivery outcomes recorded, by outcome", ["outcome"],
            registry=r)
        self.bounces: Counter = Counter(
            "digest_bounces", "Bounces and complaints recorded, by kind and where they came "
            "from", ["kind", "source"], registry=r)
        self.unsubscribes: Counter = Counter(
            "digest_unsubscribes", "Readers who left, by how", ["how"], registry=r)
        self.subscriptions: Counter = Counter(
            "digest_subscriptions", "Steps of joining (double opt-in), by step", ["step"],
            registry=r)
        # Every closed label set from the start: a rate over a series that appears only at its
        # first event misses that event.
        for poll in PollOutcome:
            self.polls.labels(poll.value)
        for status in DELIVERY_OUTCOMES:
            self.deliveries.labels(status.value)
        for kind in BOUNCES:
            for source in BOUNCE_SOURCES:
                self.bounces.labels(kind.value, source)
        for how in Unsubscribe:
            self.unsubscribes.labels(how.value)
        for step in Subscription:
            self.subscriptions.labels(step.value)
        self.lock = threading.Lock()  # one edition's section gauges replaced at once


class Metrics:
    """One App's handle on its process's metrics; the use cases tell it what happened. Does
    nothing until `enable` (or `share`): a command that serves no metrics counts nothing."""

    def __init__(self, figures: Callable[[], StoreFigures] | None = None) -> None:
        self._figures = figures
        self._board: _Board | None = None

    @property
    def enabled(self) -> bool:
        return self._board is not None

    def enable(self) -> None:
        """Start counting, into a registry of this handle's own unless it shares one."""
        if self._board is None:
            self._board = _Board()

    def share(self, other: Metrics) -> None:
        """Count into `other`'s registry from now on, when it has one: one registry per
        process, across a reloaded configuration and for the web service `digest run` serves
        with an App of its own. The store figures stay this handle's."""
        if other._board is not None:
            self._board = other._board

    # --- what happened (each a no-op while not enabled) ---

    def polled(self, outcome: FeedOutcome, feed: str) -> None:
        """One feed polled and its outcome stored (`new_items` filled in)."""
        if (b := self._board) is None:
            return
        result = poll_outcome(outcome)
        b.polls.labels(result.value).inc()
        if outcome.new_items:
            b.items.inc(outcome.new_items)
        if result is PollOutcome.ERROR:
            b.feed_errors.labels(feed).inc()

    def polled_all(self, at: datetime) -> None:
        """A round of polling the due feeds finished."""
        if (b := self._board) is not None:
            b.last_poll.set(at.timestamp())

    def built(self, seconds: float, stories: Mapping[str, int] | None) -> None:
        """An edition assembled in `seconds`, with these stories per section id (None: not
        the edition that goes out; its sections are not shown)."""
        if (b := self._board) is None:
            return
        b.build.observe(seconds)
        if stories is None:
            return
        with b.lock:
            b.stories.clear()  # a section the new edition lacks is not left at its old count
            for section, count in stories.items():
                b.stories.labels(section).set(count)

    def delivered(self, status: DeliveryStatus) -> None:
        """A delivery's outcome recorded (sent, unconfirmed, deferred, failed, suppressed)."""
        if (b := self._board) is not None:
            b.deliveries.labels(status.value).inc()

    def bounced(self, kind: BounceKind, source: str) -> None:
        """A bounce or complaint recorded (once: a duplicate is not counted)."""
        if (b := self._board) is not None and kind in BOUNCES:
            b.bounces.labels(kind.value, source).inc()

    def unsubscribed(self, how: Unsubscribe) -> None:
        """A reader left (not counted when they had left already)."""
        if (b := self._board) is not None:
            b.unsubscribes.labels(how.value).inc()

    def subscribed(self, step: Subscription) -> None:
        if (b := self._board) is not None:
            b.subscriptions.labels(step.value).inc()

    # --- the scrape ---

    def exposition(self) -> tuple[bytes, str]:
        """The Prometheus text format of every metric, the store's figures read now, and its
        media type. DigestError while not enabled."""
        if self._board is None:
            raise DigestError("metrics are not enabled in this process (metrics.port)")
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(_Scrape(self._board.registry, self._figures)), \
            CONTENT_TYPE_LATEST


class _Scrape:
    """The registry, plus the gauges read from the store at this scrape (a custom collector
    of prometheus_client's kind: anything with `collect`)."""

    def __init__(self, registry: CollectorRegistry,
                 figures: Callable[[], StoreFigures] | None) -> None:
        self.registry = registry
        self.figures = figures

    def collect(self) -> Iterator[Metric]:
        from prometheus_client.core import GaugeMetricFamily

        yield from self.registry.collect()
        if self.figures is None:
            return
        up = GaugeMetricFamily("digest_store_up", "1 when the database answered this scrape's "
                                                  "queries, else 0")
        try:
            figures = self.figures()
        except Exception:  # the database is down: the scrape still answers, and says so
            log.warning("metrics: the store's figures could not be read", exc_info=True)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        queue = GaugeMetricFamily(
            "digest_claim_queue_deliveries", "Deliveries waiting in the claim queue, by "
            "status: pending (claimable now), deferred (until their retry time), sending "
            "(claimed, under way)", labels=["status"])
        for status in WAITING:
            queue.add_metric([status.value], figures.queue.get(status, 0))
        yield queue
        readers = GaugeMetricFamily("digest_readers", "Readers, by status", labels=["status"])
        for state in ReaderStatus:
            readers.add_metric([state.value], figures.readers.get(state, 0))
        yield readers


# --- `digest run`'s server ---------------------------------------------------------------------

Health = Callable[[], tuple[bool, dict[str, Any]]]
READ_TIMEOUT = 10.0  # seconds a client may take to send its request (a slow client holds a thread)


class MetricsServer:
    """`digest run`'s /metrics (Prometheus text) and /healthz (JSON: 200 while the scheduler
    runs, else 503) on host:port, in daemon threads. GET and HEAD only (405 for any other
    method), 404 for any other path; with `token`, 401 unless the request carries it as a
    bearer token (RFC 6750)."""

    def __init__(self, host: str, port: int, *, metrics: Callable[[], Metrics], health: Health,
                 token: str | None = None) -> None:
        self.host = host
        self.settings: MetricsSettings | None = None  # what it was made from (a reload compares)
        self._metrics = metrics  # the current App's handle, looked up at each scrape
        self._health = health
        self._token = token.encode() if token else None
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = port

    @classmethod
    def serving(cls, settings: MetricsSettings, *, metrics: Callable[[], Metrics],
                health: Health) -> MetricsServer:
        """The server `metrics:` asks for (its port set), listening (see `start`)."""
        assert settings.port is not None
        server = cls(settings.host, settings.port, metrics=metrics, health=health,
                     token=settings.token.get_secret_value() if settings.token else None)
        server.settings = settings
        server.start()
        return server

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> None:
        """Listen, and answer in a daemon thread; DigestError when the address cannot be
        had (the port is taken, the address is not this machine's)."""
        class Server(ThreadingHTTPServer):
            daemon_threads = True
            address_family = socket.AF_INET6 if ":" in self.host else socket.AF_INET

        try:
            self._httpd = Server((self.host, self.port), self._handler())
        except OSError as e:
            raise DigestError(f"metrics: cannot listen on {self.host}:{self.port} "
                              f"(metrics.host, metrics.port): {e.strerror or e}") from e
        self.port = int(self._httpd.server_address[1])
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.2}, daemon=True,
                                        name="digest-metrics")
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and wait for the serving thread."""
        if self._httpd is None:
            return
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join()
        self._httpd = self._thread = None

    def _authorised(self, header: str | None) -> bool:
        return self._token is None or bearer_ok(header, self._token)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = READ_TIMEOUT
            server_version = "digest"
            sys_version = ""

            def log_message(self, format: str, *args: Any) -> None:
                pass  # Prometheus scrapes every few seconds: no line each

            def do_GET(self) -> None:
                self._answer(body=True)

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def __getattr__(self, name: str) -> Any:
                # any other method (POST, PUT, DELETE, ..., or one made up): 405
                if name.startswith("do_"):
                    return self._not_allowed
                raise AttributeError(name)

            def _not_allowed(self) -> None:
                self._send(405, b"method not allowed\n", "text/plain; charset=utf-8",
                           {"Allow": "GET, HEAD"})

            def _answer(self, *, body: bool) -> None:
                path = self.path.partition("?")[0]
                if path not in ("/metrics", "/healthz"):
                    self._send(404, b"not found\n", "text/plain; charset=utf-8", body=body)
                elif not server._authorised(self.headers.get("Authorization")):
                    self._send(401, b"a bearer token is required\n",
                               "text/plain; charset=utf-8",
                               {"WWW-Authenticate": 'Bearer realm="digest metrics"'}, body=body)
                elif path == "/metrics":
                    try:
                        data, kind = server._metrics().exposition()
                    except DigestError as e:  # metrics turned off by a reload, meanwhile
                        self._send(503, f"{e}\n".encode(), "text/plain; charset=utf-8",
                                   body=body)
                        return
                    self._send(200, data, kind, body=body)
                else:
                    ok, state = server._health()
                    self._send(200 if ok else 503, json.dumps(state).encode(),
                               "application/json", body=body)

            def _send(self, status: int, data: bytes, kind: str,
                      headers: Mapping[str, str] | None = None, *, body: bool = True) -> None:
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Cache-Control", "no-store")
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                if body:
                    self.wfile.write(data)

        return Handler
