"""daemon: `digest run` catching up on missed sends, reloading its config, reporting its
health; and a real `digest run` process sending one edition on schedule over SMTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import (
    DEMO_DAY,
    DEMO_EDITION,
    HANG,
    FeedServer,
    Route,
    SmtpServer,
    WriteConfig,
    rss_feed,
    wait_until,
)
from digest.app import App, make_app
from digest.config import Settings, load_settings
from digest.daemon import Daemon
from digest.models import DeliveryStatus

DIGEST = Path(sys.executable).parent / "digest"
MONDAY_SEND = datetime(2026, 11, 30, 7, tzinfo=UTC)  # the demo's schedule: 07:00 UTC Monday


class Events(list[tuple[str, str, dict[str, Any]]]):
    def __call__(self, event: str, message: str, **fields: Any) -> None:
        self.append((event, message, fields))

    def names(self) -> list[str]:
        return [e for e, _, _ in self]


def daemon_at(config: Path, now: datetime) -> tuple[Daemon, Events]:
    """A Daemon on a stopped clock, without its scheduler or signal handlers started."""
    def clock() -> datetime:
        return now

    def make(settings: Settings) -> App:
        return make_app(settings, clock=clock)

    events = Events()
    daemon = Daemon(lambda: load_settings(config, env={}), make, config=config,
                    on_event=events, clock=clock)
    daemon.app.poller.sync_feeds()  # as `run` does first
    return daemon, events


def last_beat_on_sunday(daemon: Daemon) -> None:
    """An earlier daemon, elsewhere, last beat at 11:00 the day before the Monday send."""
    daemon.app.store.beat("old-host:1:1", started_at=MONDAY_SEND - timedelta(days=3),
                          now=MONDAY_SEND - timedelta(hours=20), next_send_at=MONDAY_SEND,
                          config="")


def outbox(config: Path) -> list[str]:
    folder = config.parent / "outbox" / DEMO_EDITION
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


def test_back_within_the_grace_period_the_missed_edition_goes_out_once(demo: Path) -> None:
    # The last daemon beat on Sunday; this one starts at 09:00 Monday, two hours after the
    # send it missed.
    daemon, events = daemon_at(demo, MONDAY_SEND + timedelta(hours=2))
    try:
        last_beat_on_sunday(daemon)
        daemon._catch_up()
        assert outbox(demo) == ["ana@example.org.eml", "ben@example.org.eml",
                                "kofi@example.org.eml"]
        assert ("catch_up", "edition 2026-11-30: 3 sent") in [(e, m) for e, m, _ in events]
        written = [p.stat().st_mtime_ns for p in (demo.parent / "outbox" / DEMO_EDITION)
                   .iterdir()]
        daemon._catch_up()  # restarted again: nothing is sent twice
        assert [p.stat().st_mtime_ns for p in (demo.parent / "outbox" / DEMO_EDITION)
                .iterdir()] == written
        assert {d.status for d in daemon.app.reports.history()} == {DeliveryStatus.SENT}
        assert daemon.app.store.skipped() == []
    finally:
        daemon.app.close()


def test_back_after_the_grace_period_the_missed_edition_is_recorded_as_skipped(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    daemon, events = daemon_at(demo, MONDAY_SEND + timedelta(hours=13))
    try:
        last_beat_on_sunday(daemon)
        daemon._catch_up()
        ((edition, scheduled, reason),) = daemon.app.store.skipped()
        assert (edition, scheduled) == (DEMO_DAY, MONDAY_SEND)
        assert "13 h later, past schedule.grace (12 h)" in reason
        assert events.names() == ["skipped"]
        assert outbox(demo) == [] and daemon.app.reports.history() == []
        daemon._catch_up()  # recorded once
        assert len(daemon.app.store.skipped()) == 1 and events.names() == ["skipped"]
    finally:
        daemon.app.close()
    from digest.cli import main

    assert main(["--config", str(demo), "status", "--format", "json"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert [e["edition"] for e in status["skipped_editions"]] == [DEMO_EDITION]
    assert status["healthy"] is False and status["running"] == []


def test_a_first_start_long_after_a_send_records_nothing(demo: Path) -> None:
    # No daemon ever beat: only the grace period before now is looked at.
    daemon, events = daemon_at(demo, MONDAY_SEND + timedelta(days=2))
    try:
        daemon._catch_up()
        assert events == [] and daemon.app.store.skipped() == [] and outbox(demo) == []
    finally:
        daemon.app.close()


def test_the_start_up_poll_runs_however_late_its_thread_starts(demo: Path) -> None:
    # The daemon's clock runs 3 s behind the scheduler's: every start-up job is 3 s "late", as
    # it is on a busy machine whose worker thread starts late. APScheduler's default grace (1 s)
    # dropped such a job silently; the poll must run anyway. (Its next poll, 5 s on by the
    # daemon's clock, is 2 s ahead by the scheduler's: no tight loop.)
    def behind() -> datetime:
        return datetime.now(UTC) - timedelta(seconds=3)

    events = Events()
    daemon = Daemon(lambda: load_settings(demo, env={}),
                    lambda settings: make_app(settings, clock=behind), config=demo,
                    on_event=events, clock=behind)
    daemon.app.poller.sync_feeds()
    try:
        daemon._schedule()
        daemon.scheduler.start()
        wait_until(lambda: "poll" in events.names(), "the start-up poll")
        fields = next(f for name, _, f in events if name == "poll")
        assert fields["feeds"] == len(daemon.app.settings.feeds)
    finally:
        # As the daemon stops: shutdown(wait=True) would hold APScheduler's job-store lock
        # while waiting for the poll job, which may be about to plan its next poll with it.
        daemon.stop.set()
        daemon.scheduler.shutdown(wait=False)
        with daemon._running_lock:
            assert daemon._running_lock.wait_for(lambda: daemon._running == 0, HANG)
        daemon.app.close()


def test_reload_keeps_the_running_config_when_the_new_one_is_invalid(demo: Path) -> None:
    daemon, events = daemon_at(demo, MONDAY_SEND)
    original = demo.read_text()
    try:
        demo.write_text(original.replace("timezone:", "timezone: Mars/Olympus_Mons\nx_old:"))
        daemon._try_reload()
        assert events.names() == ["reload_failed"]
        assert "feeds.yaml not reloaded" in events[0][1] and "timezone" in events[0][1]
        assert len(daemon.app.settings.recipients) == 3  # the old config runs on
        data = yaml.safe_load(original)
        data["recipients"] = [*data["recipients"], "zoe@example.org"]
        demo.write_text(yaml.safe_dump(data))
        daemon._try_reload()
        assert events.names() == ["reload_failed", "reloaded"]
        assert len(daemon.app.settings.recipients) == 4
        assert daemon.scheduler.get_job("send") is not None  # the jobs follow the new config
    finally:
        daemon.app.close()


def test_status_check_passes_only_with_a_recent_heartbeat(demo: Path) -> None:
    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(DIGEST), "--config", str(demo), "status", "--check"],
                              capture_output=True, text=True, timeout=60)

    assert check().returncode == 1  # no daemon ever ran
    settings = load_settings(demo, env={})
    app = make_app(settings)
    now = datetime.now(UTC)
    try:
        app.store.beat("h:1:1", started_at=now, now=now - timedelta(minutes=10),
                       next_send_at=None, config="")
        stale = check()
        assert stale.returncode == 1 and "no `digest run` has beaten" in stale.stderr
        app.store.beat("h:1:1", started_at=now, now=now, next_send_at=None, config="")
        assert check().returncode == 0
        app.store.instance_stopped("h:1:1", now=now)  # a clean stop: not running any more
        assert check().returncode == 1
    finally:
        app.close()


# --- a real `digest run` ---------------------------------------------------------------------


def scheduled_config(write_config: WriteConfig, feed_server: FeedServer,
                     smtp_server: SmtpServer, *, in_seconds: int, recipients: list[str]
                     ) -> tuple[Path, datetime]:
    """A config whose daily send fires `in_seconds` from now (UTC), one fresh feed served by
    the test server, SMTP to the test server; and that send time."""
    now = datetime.now(UTC)
    feed_server.routes["/chips.xml"] = Route(body=rss_feed(now, "chips", count=4),
                                             headers={"Content-Type": "application/rss+xml"})
    fire = now + timedelta(seconds=in_seconds)
    config = write_config({
        "timezone": "UTC",
        "schedule": {"digest": f"{fire.second} {fire.minute} {fire.hour} * * *"},
        "feeds": [{"url": feed_server.url("chips.xml"), "section": "tech"}],
        "delivery": {"from": "Test Brief <brief@example.org>", "transport": "smtp",
                     "smtp": {"host": "127.0.0.1", "port": smtp_server.port,
                              "security": "none"}},
        "recipients": recipients,
    })
    return config, fire


@pytest.mark.slow
def test_digest_run_sends_one_edition_on_schedule_and_stops_on_sigterm(
        write_config: WriteConfig, feed_server: FeedServer, smtp_server: SmtpServer,
        tmp_path: Path) -> None:
    # Two `digest run` processes on one SQLite database (the second one by mistake), a send
    # scheduled 10 seconds after they start: each recipient gets exactly one copy; then an
    # invalid feeds.yaml is refused by SIGHUP, and SIGTERM stops both, exit 0.
    recipients = [f"reader{n}@example.org" for n in range(6)]
    config, _ = scheduled_config(write_config, feed_server, smtp_server, in_seconds=10,
                                 recipients=recipients)
    command = [str(DIGEST), "--config", str(config), "run", "--log-format", "json"]
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    paths = [tmp_path / f"run{n}.log" for n in range(2)]
    runs = []
    for path in paths:
        with path.open("w") as stderr:
            runs.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=stderr,
                                         text=True, env=env))
    try:
        def delivered() -> list[str]:
            return sorted(r for e in smtp_server.handler.envelopes for r in e.rcpt_tos)

        wait_until(lambda: len(delivered()) >= len(recipients), "the scheduled send")
        time.sleep(1.0)  # a second copy would arrive now
        assert delivered() == recipients
        health = subprocess.run([str(DIGEST), "--config", str(config), "status", "--check"],
                                capture_output=True, text=True, timeout=60)
        assert health.returncode == 0, health.stderr

        good = config.read_text()
        config.write_text(good.replace("timezone: UTC", "timezone: Nowhere/Atlantis"))
        runs[0].send_signal(signal.SIGHUP)
        # The daemon looks at its flags every 2 s; it says when a reload failed.
        wait_until(lambda: "reload_failed" in paths[0].read_text() or
                   runs[0].poll() is not None, "the reload after SIGHUP")
        config.write_text(good)
        for run in runs:
            run.send_signal(signal.SIGTERM)
        for run in runs:
            run.wait(timeout=HANG)
    finally:
        for run in runs:
            if run.poll() is None:
                run.kill()
                run.wait()
    logs = [path.read_text() for path in paths]
    assert [run.returncode for run in runs] == [0, 0], logs
    events = [[json.loads(line) for line in log.splitlines() if line.startswith("{")]
              for log in logs]
    names = [[e["event"] for e in evs] for evs in events]
    for evs in names:
        assert evs[0] == "start" and evs[-2:] == ["stopping", "stopped"]
        assert "poll" in evs
    # Both fire (or one starts late and catches up); the claims let each recipient through once.
    sends = [e for evs in events for e in evs if e["event"] in ("send", "catch_up")]
    assert 1 <= len(sends) <= 2
    assert sum(e.get("sent", 0) for e in sends) == len(recipients)
    assert "reload_failed" in names[0]
    failed = next(e for e in events[0] if e["event"] == "reload_failed")
    assert "Nowhere/Atlantis" in failed["message"]
    assert all(e["released"] == 0 for evs in events for e in evs if e["event"] == "stopped")
    assert delivered() == recipients  # still one copy each


@pytest.mark.slow
def test_sigterm_mid_send_stops_part_way_and_a_later_send_finishes_the_list(
        write_config: WriteConfig, feed_server: FeedServer, smtp_server: SmtpServer) -> None:
    recipients = [f"reader{n:02d}@example.org" for n in range(40)]
    config, fire = scheduled_config(write_config, feed_server, smtp_server, in_seconds=5,
                                    recipients=recipients)
    smtp_server.handler.data_delay = 0.3  # 40 messages take 12 s: SIGTERM lands mid-send
    run = subprocess.Popen([str(DIGEST), "--config", str(config), "run"],
                           stderr=subprocess.PIPE, text=True,
                           env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        wait_until(lambda: len(smtp_server.handler.envelopes) >= 5 or run.poll() is not None,
                   "the first five messages")
        run.send_signal(signal.SIGTERM)
        _, log = run.communicate(timeout=HANG)  # a bound on a hang; how soon is for bench/
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 0, log
    assert "stopped cleanly" in log
    first = len(smtp_server.handler.envelopes)
    assert 5 <= first < len(recipients)  # it stopped part-way
    smtp_server.handler.data_delay = 0.0
    edition = fire.date().isoformat()
    done = subprocess.run([str(DIGEST), "--config", str(config), "send", "--verbose", "--edition",
                           edition],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    received = sorted(r for e in smtp_server.handler.envelopes for r in e.rcpt_tos)
    assert received == recipients  # the rest sent; nobody twice


def test_a_send_the_running_daemon_could_not_start_in_time_is_recorded_as_skipped(
        demo: Path) -> None:
    from apscheduler.events import EVENT_JOB_MISSED, JobExecutionEvent

    daemon, events = daemon_at(demo, MONDAY_SEND + timedelta(hours=14))
    try:
        missed = JobExecutionEvent(EVENT_JOB_MISSED, "send", "default", MONDAY_SEND)
        daemon._missed(missed)
        daemon._missed(missed)  # once
        ((edition, scheduled, reason),) = daemon.app.store.skipped()
        assert (edition, scheduled) == (DEMO_DAY, MONDAY_SEND)
        assert "could not start within schedule.grace" in reason
        assert events.names() == ["skipped"]
        daemon._missed(JobExecutionEvent(EVENT_JOB_MISSED, "poll", "default", MONDAY_SEND))
        assert events.names() == ["skipped"]  # only sends are editions
    finally:
        daemon.app.close()
