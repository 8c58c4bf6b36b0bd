"""`digest run`: poll each feed when it is due and send each edition on `schedule.digest`, until
SIGTERM or SIGINT; reload feeds.yaml on SIGHUP or when the file changes; with `metrics.port`,
answer /metrics and /healthz there (digest.metrics.MetricsServer). With `editors:` or
`schedule.approval`, the draft goes to the editors `schedule.draft_before` each send, and an
edition awaiting approval is looked at every APPROVAL_CHECK until it may go (issue 22).

APScheduler 3 (a BackgroundScheduler) fires the jobs; its jobs live in memory and are derived
from the config at start, because APScheduler's job stores must not be shared between
schedulers. Every durable fact (when each feed is due, editions, deliveries, skipped editions,
heartbeats) lives in digest's own tables, and exactly-once comes from them: a restart, a second
`digest run` or a manual `digest send` never sends a second copy.

Signal handlers only set flags; the main thread acts on them. Jobs hold `_busy` while they run,
so a reload swaps the App between jobs, never under one.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from digest.app import App
from digest.config import Settings
from digest.errors import DigestError
from digest.metrics import MetricsServer
from digest.owner import this_process
from digest.schedule import missed_sends, next_send, parse_cron, plan_catch_up, previous_send

log = logging.getLogger(__name__)

HEARTBEAT = timedelta(seconds=30)  # how often a running daemon says it is alive
STOP_TIMEOUT = 8.0  # seconds a job may take to wind down after SIGTERM (exit within 10 s)
MIN_POLL_GAP = timedelta(seconds=5)  # polls never follow each other closer than this
WATCH_EVERY = 2.0  # seconds between looks at feeds.yaml's modification time
PRUNE_FIRST = timedelta(minutes=10)  # the first daily prune, after start-up's polls
APPROVAL_CHECK = timedelta(seconds=30)  # how often an edition awaiting approval is looked at
DRAFT_RETRY = timedelta(minutes=10)  # a draft that could not be emailed is tried again after


class EventSink(Protocol):
    def __call__(self, event: str, message: str, /, **fields: Any) -> None: ...


def _log_event(event: str, message: str, /, **fields: Any) -> None:
    log.info("%s: %s", event, message)


class Daemon:
    """One `digest run` process."""

    def __init__(
        self, load: Callable[[], Settings], make_app: Callable[[Settings], App], *,
        config: Path | None = None, on_event: EventSink = _log_event,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self._load = load
        self._make_app = make_app
        self.config = config
        self.on_event = on_event
        self.app = make_app(load())
        self.clock = clock or self.app.clock
        self.owner = this_process()
        self.started_at = self.clock()
        self.stop = threading.Event()
        self._reload = threading.Event()
        self._signal = ""  # the signal that asked us to stop
        self._busy = threading.RLock()
        self._running = 0  # jobs under way
        self._running_lock = threading.Condition()
        self._mtime = self._config_mtime()
        self.scheduler = BackgroundScheduler(timezone=UTC)
        self.scheduler.add_listener(self._missed, EVENT_JOB_MISSED)
        # the readers' web service and its own app, when web.enabled (digest.web)
        self._web: tuple[Any, App] | None = None
        self._metrics: MetricsServer | None = None  # /metrics and /healthz, with metrics.port
        self._last_poll: datetime | None = None  # when this process last polled (/healthz)

    # --- the main thread ---

    def run(self, *, install_signals: bool = True) -> int:
        if install_signals:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, self._on_stop)
            if hasattr(signal, "SIGHUP"):
                signal.signal(signal.SIGHUP, self._on_hup)
        self.app.poller.sync_feeds()
        self.app.readers.sync_config()
        self._start_metrics(self.app.settings)  # before the web service, whose App shares it
        self._start_web(self.app.settings)
        self._beat()  # before the catch-up, so `status` sees the process at once
        self._schedule()
        next_send_at = self._next_send().isoformat()
        # said before the scheduler starts: its first jobs run at once and log their own events
        self.on_event("start", f"digest run {self.owner}: next send {next_send_at}",
                      owner=self.owner, next_send_at=next_send_at)
        self.scheduler.start()
        while not self.stop.wait(WATCH_EVERY):
            if self._reload.is_set() or self._config_mtime() != self._mtime:
                self._try_reload()
        if self._signal:
            self.on_event("stopping", f"received {self._signal}", signal=self._signal)
        return self._shut_down()

    def _on_stop(self, signum: int, frame: FrameType | None) -> None:
        # Only flags here: writing the event from a signal handler could re-enter a write
        # to stderr that the main thread was in the middle of.
        if not self.stop.is_set():
            self._signal = signal.Signals(signum).name
            self.stop.set()

    def _on_hup(self, signum: int, frame: FrameType | None) -> None:
        self._reload.set()

    def _start_web(self, settings: Settings) -> None:
        """Serve the readers' web service in this process (web.enabled), with an app of its
        own: it answers while jobs run, and a reload starts it again with the new config."""
        self._stop_web()
        web = settings.web
        if not web.enabled:
            return
        from digest.web import run_in_thread

        app = self._make_app(settings)
        app.metrics.share(self.app.metrics)  # the readers it counts, in this process's /metrics
        try:
            self._web = (run_in_thread(app, web.host, web.port), app)
        except DigestError:
            app.close()
            raise
        self.on_event("web", f"serving the readers' pages for {web.base_url} on "
                             f"{web.host}:{web.port}", host=web.host, port=web.port)

    def _stop_web(self) -> None:
        if self._web is not None:
            server, app = self._web
            self._web = None
            server.stop()
            app.close()

    def _start_metrics(self, settings: Settings) -> None:
        """Serve /metrics and /healthz on metrics.host:metrics.port, if set; again when a
        reload changes where or the token, and not any more when it unsets the port."""
        m = settings.metrics
        if self._metrics is not None and self._metrics.settings == m:
            return
        self._stop_metrics()
        if m.port is not None:
            self.app.metrics.enable()
            self._metrics = MetricsServer.serving(m, metrics=lambda: self.app.metrics,
                                                  health=self._health)
            self.on_event("metrics", f"serving /metrics and /healthz on {self._metrics.url}",
                          host=m.host, port=self._metrics.port)

    def _stop_metrics(self) -> None:
        server, self._metrics = self._metrics, None
        if server is not None:
            server.stop()

    def _health(self) -> tuple[bool, dict[str, Any]]:
        """/healthz: whether the scheduler runs, when this process last polled, the next send."""
        running = bool(self.scheduler.running) and not self.stop.is_set()
        last = self._last_poll.isoformat() if self._last_poll else None
        return running, {"status": "ok" if running else "stopped", "last_poll_at": last,
                         "next_send_at": self._next_send().isoformat()}

    def _shut_down(self) -> int:
        self._stop_web()
        self.scheduler.shutdown(wait=False)  # no new jobs; those under way see `stop`
        with self._running_lock:
            finished = self._running_lock.wait_for(lambda: self._running == 0, STOP_TIMEOUT)
        released = self.app.instances.stopped(self.owner)
        self._stop_metrics()
        note = "" if finished else "; a job did not finish in time and was abandoned"
        self.on_event("stopped", f"stopped cleanly, {released} claims released{note}",
                      released=released, abandoned=not finished)
        if not finished:  # a thread still in a job would keep the process alive
            logging.shutdown()
            os._exit(0)
        self.app.close()
        return 0

    def _config_mtime(self) -> float | None:
        try:
            return self.config.stat().st_mtime if self.config else None
        except OSError:
            return None

    def _try_reload(self) -> None:
        if not self._busy.acquire(timeout=0.5):  # a job is running: try again shortly
            return
        try:
            self._reload.clear()
            self._mtime = self._config_mtime()
            try:
                settings = self._load()
                app = self._make_app(settings)
                app.poller.sync_feeds()
                app.readers.sync_config()
            except DigestError as e:
                self.on_event("reload_failed", f"feeds.yaml not reloaded, keeping the running "
                              f"configuration: {e}", error=str(e))
                return
            app.metrics.share(self.app.metrics)  # the counts go on across the reload
            old, self.app = self.app, app
            old.close()
            self._schedule()
            try:
                self._start_metrics(settings)
            except DigestError as e:  # the scheduler goes on without /metrics until fixed
                self.on_event("metrics_failed", f"/metrics did not start: {e}", error=str(e))
            try:
                self._start_web(settings)
            except DigestError as e:  # the scheduler goes on; the pages are down until fixed
                self.on_event("web_failed", f"the readers' web service did not start: {e}",
                              error=str(e))
            self.on_event("reloaded", f"configuration reloaded: {len(settings.feeds)} feeds, "
                          f"{len(settings.recipients)} recipients, next send "
                          f"{self._next_send().isoformat()}", feeds=len(settings.feeds),
                          recipients=len(settings.recipients))
        finally:
            self._busy.release()

    # --- jobs (APScheduler's threads) ---

    def _schedule(self) -> None:
        """(Re)create the jobs from the current config."""
        s = self.app.settings
        self.scheduler.add_job(self._job(self._send), parse_cron(s.schedule.digest, s.tz),
                               id="send", replace_existing=True, coalesce=True,
                               max_instances=1,
                               misfire_grace_time=int(s.schedule.grace.total_seconds()))
        # misfire_grace_time=None: these run however late their thread starts. APScheduler's
        # default (1 s) silently dropped the start-up poll and catch-up when the machine was
        # busy between adding them and a worker thread picking them up.
        self.scheduler.add_job(self._job(self._catch_up), DateTrigger(self.clock()),
                               id="catch-up", replace_existing=True, misfire_grace_time=None)
        self.scheduler.add_job(self._job(self._poll), DateTrigger(self.clock()), id="poll",
                               replace_existing=True, max_instances=1, misfire_grace_time=None)
        self.scheduler.add_job(self._beat, IntervalTrigger(seconds=HEARTBEAT.total_seconds()),
                               id="beat", replace_existing=True, coalesce=True,
                               misfire_grace_time=None)
        self.scheduler.add_job(self._job(self._prune), IntervalTrigger(days=1),
                               id="prune", replace_existing=True, coalesce=True,
                               next_run_time=self.clock() + PRUNE_FIRST, misfire_grace_time=None)
        if s.editors or s.schedule.approval_required:  # the editors' draft (issue 22)
            self._plan_draft(self._next_send())
        elif self.scheduler.get_job("draft") is not None:  # removed by a reload
            self.scheduler.remove_job("draft")
        imap = s.bounces.imap
        if imap is not None:  # the bounce mailbox: at start, then every imap.every
            self.scheduler.add_job(self._job(self._bounces),
                                   IntervalTrigger(seconds=imap.every.total_seconds()),
                                   id="bounces", replace_existing=True, coalesce=True,
                                   max_instances=1, next_run_time=self.clock(),
                                   misfire_grace_time=None)
        elif self.scheduler.get_job("bounces") is not None:  # removed by a reload
            self.scheduler.remove_job("bounces")

    def _plan_draft(self, send_at: datetime, *, at: datetime | None = None) -> None:
        """The draft of the edition sent at `send_at`: `schedule.draft_before` it, or now when
        that time has passed (a start or reload inside the window; the editors are emailed
        once per edition whatever runs how often); `at`: then instead (a retry)."""
        s = self.app.settings
        when = at or max(send_at - s.schedule.draft_before, self.clock())

        def draft() -> None:
            self._draft(send_at)

        draft.__name__ = "_draft"
        self.scheduler.add_job(self._job(draft), DateTrigger(when), id="draft",
                               replace_existing=True, misfire_grace_time=None)

    def _draft(self, send_at: datetime) -> None:
        s = self.app.settings
        edition = send_at.astimezone(s.tz).date()
        try:
            draft = self.app.editing.draft(edition)
        except DigestError:
            # the mail server was down, say: this edition's draft again in a while, while
            # there is time before its send (the editors' claim was released)
            retry = self.clock() + DRAFT_RETRY
            if not self.stop.is_set():
                if retry < send_at:
                    self._plan_draft(send_at, at=retry)
                else:
                    self._plan_draft(next_send(s.schedule.digest, s.tz,
                                               send_at + timedelta(seconds=1)))
            raise
        if not self.stop.is_set():  # the next edition's
            self._plan_draft(next_send(s.schedule.digest, s.tz, send_at + timedelta(seconds=1)))
        if draft.notified:
            self.on_event("draft", f"edition {edition}: draft of {draft.stories} stories "
                          f"emailed to {len(draft.notified)} editors",
                          edition=edition.isoformat(), stories=draft.stories,
                          editors=len(draft.notified))

    def _wait_for_approval(self, fire: datetime) -> None:
        """Look again every APPROVAL_CHECK whether the edition due at `fire` was approved (or
        its timeout passed): then it goes; when the next edition falls due first, it is
        recorded as skipped."""
        def check() -> None:
            s = self.app.settings
            edition = fire.astimezone(s.tz).date()
            following = next_send(s.schedule.digest, s.tz, fire.astimezone(s.tz))
            if self.clock() >= following:
                reason = "nobody approved it before the next edition was due"
                self.scheduler.remove_job("approval")
                if self.app.instances.skip(edition, scheduled_at=fire, reason=reason):
                    self.on_event("skipped", f"edition {edition}: {reason}",
                                  edition=edition.isoformat())
                return
            if self._deliver(fire, "send", quiet=True):
                self.scheduler.remove_job("approval")

        check.__name__ = "_approval"
        self.scheduler.add_job(self._job(check),
                               IntervalTrigger(seconds=APPROVAL_CHECK.total_seconds()),
                               id="approval", replace_existing=True, coalesce=True,
                               max_instances=1, misfire_grace_time=None)

    def _job(self, work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            if self.stop.is_set():
                return
            with self._running_lock:
                self._running += 1
            try:
                with self._busy:
                    work()
            except Exception as e:  # a job must not take the daemon down
                log.exception("%s failed", work.__name__)
                self.on_event("error", f"{work.__name__.strip('_')}: {e}", job=work.__name__)
            finally:
                with self._running_lock:
                    self._running -= 1
                    self._running_lock.notify_all()
        run.__name__ = work.__name__
        return run

    def _next_send(self) -> datetime:
        s = self.app.settings
        return next_send(s.schedule.digest, s.tz, self.clock().astimezone(s.tz))

    def _beat(self) -> None:
        try:
            self.app.instances.beat(self.owner, started_at=self.started_at,
                                    next_send_at=self._next_send(),
                                    config=str(self.config or ""))
        except DigestError as e:
            self.on_event("error", f"heartbeat: {e}", job="beat")

    def _poll(self) -> None:
        app = self.app
        outcomes = app.poller.refresh(stop=self.stop)
        self._last_poll = self.clock()
        failing = [o for o in outcomes if o.error]
        new = sum(o.new_items for o in outcomes)
        if outcomes or not self.stop.is_set():
            self.on_event("poll", f"{len(outcomes)} feeds polled, {new} new items, "
                          f"{len(failing)} failing", feeds=len(outcomes), new_items=new,
                          failing=len(failing))
        # each failing feed is a `feed_error` warning logged by the poller (digest.refresh),
        # the same line `digest fetch` and `digest build` print
        if not self.stop.is_set():
            self._plan_next_poll(app)

    def _plan_next_poll(self, app: App) -> None:
        """The next poll when the first feed is due (at most `poll_every` away)."""
        now = self.clock()
        s = app.settings
        due = app.poller.next_poll_at()
        shortest = min([s.schedule.poll_every] + [f.poll_every for f in s.feeds if f.poll_every])
        when = min(due or now + shortest, now + shortest)
        when = max(when, now + MIN_POLL_GAP)
        self.scheduler.add_job(self._job(self._poll), DateTrigger(when), id="poll",
                               replace_existing=True, max_instances=1, misfire_grace_time=None)

    def _prune(self) -> None:
        """Items past `retention` go (one instance at a time: the edition lock)."""
        deleted = self.app.housekeeping.prune()
        self.on_event("prune", f"{deleted} items older than the retention deleted",
                      deleted=deleted)

    def _bounces(self) -> None:
        """Read the bounce mailbox (issue 20)."""
        report = self.app.bounces.fetch()
        if report.handled:
            counts: dict[str, int] = {}
            for h in report.handled:
                counts[h.outcome] = counts.get(h.outcome, 0) + 1
            self.on_event("bounces", f"bounce mailbox: {report.summary()}", **counts)
            for h in report.handled:
                if h.outcome == "ended":
                    self.on_event("reader_ended", f"{h.reader}: {h.what}: {h.detail}",
                                  reader=h.reader, kind=h.what)

    def _send(self) -> None:
        s = self.app.settings
        fire = previous_send(s.schedule.digest, s.tz, self.clock())
        if fire is None:
            return
        self._deliver(fire, "send")

    def _deliver(self, fire: datetime, event: str, *, quiet: bool = False) -> bool:
        """Send the edition due at `fire`; False when it awaits an editor's approval (then
        it is looked at again until it is approved; `quiet`: that is known already)."""
        edition = fire.astimezone(self.app.settings.tz).date()
        report = self.app.publisher.deliver(edition, stop=self.stop)
        if report.awaiting is not None:
            if not quiet:
                self.on_event("awaiting_approval", report.awaiting, edition=edition.isoformat())
                self._wait_for_approval(fire)
            return False
        counts: dict[str, int] = {}
        for r in report.results:
            key = r.kind.replace(" ", "_")  # e.g. sent_before: sent by an earlier run
            counts[key] = counts.get(key, 0) + 1
        self.on_event(event, f"edition {edition.isoformat()}: {report.summary()}",
                      edition=edition.isoformat(), **counts)
        if report.failed:
            for r in report.failed:
                self.on_event("delivery_failed", f"{r.recipient}: {r.detail}",
                              edition=edition.isoformat(), recipient=r.recipient)
        return True

    def _missed(self, event: JobExecutionEvent) -> None:
        """The process ran but could not fire a send within `schedule.grace` (the machine
        slept, or the previous send was still running): that edition is skipped."""
        if event.job_id != "send":
            return
        fire = event.scheduled_run_time
        s = self.app.settings
        name = fire.astimezone(s.tz).date()
        reason = (f"the send due at {fire.isoformat()} could not start within "
                  f"schedule.grace ({_ago(s.schedule.grace)})")
        # not if that edition went out by other means
        if self.app.instances.skip(name, scheduled_at=fire, reason=reason):
            self.on_event("skipped", f"edition {name}: {reason}", edition=name.isoformat())

    def _catch_up(self) -> None:
        """Sends missed while no daemon ran: the latest within `schedule.grace` goes out now,
        the rest are recorded as skipped (never two editions at once)."""
        app = self.app
        s = app.settings
        now = self.clock()
        since = app.instances.last_beat(besides=self.owner) or now - s.schedule.grace
        missed = missed_sends(s.schedule.digest, s.tz, since=since, now=now)
        self._resume_waiting(now)
        if not missed:
            return
        done = app.instances.settled(missed[0].date())
        grace = s.schedule.grace
        if s.schedule.approval_required:  # the latest edition may still await its approval
            timeout = s.schedule.approval_timeout
            grace = grace + timeout if timeout is not None else max(grace, now - missed[-1])
        plan = plan_catch_up(missed, now=now, grace=grace, done=done)
        for fire in plan.skip:
            name = fire.date()
            reason = (f"digest run was not running at {fire.isoformat()} and came back "
                      f"{_ago(now - fire)} later, past schedule.grace "
                      f"({_ago(s.schedule.grace)})")
            if app.instances.skip(name, scheduled_at=fire, reason=reason):
                self.on_event("skipped", f"edition {name}: {reason}", edition=name.isoformat())
        if plan.send is not None:
            self._deliver(plan.send, "catch_up")


    def _resume_waiting(self, now: datetime) -> None:
        """An edition whose send came while a daemon (this one, before a restart, or another)
        was waiting for its approval: waited for again, until the next edition is due."""
        s = self.app.settings
        if not s.schedule.approval_required:
            return
        fire = previous_send(s.schedule.digest, s.tz, now)
        if fire is None:
            return
        edition = fire.astimezone(s.tz).date()
        review = self.app.editing.review(edition)
        if review.drafted_at is not None and edition not in self.app.instances.settled(edition):
            self._wait_for_approval(fire)


def _ago(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    return f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // 1440} days"
