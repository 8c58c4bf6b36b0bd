"""`digest run` with the editor's pass (issue 22): the draft goes to the editors
`schedule.draft_before` the send, once whatever runs how often; with `approval: required` the
send waits for an approval (across a restart) and then goes, the approved edition byte for
byte; with a timeout the edition goes as it stands when nobody acts; and an edition nobody
approved before the next one is due is recorded as skipped. The demo's feeds and its file
outbox, on a clock the test moves."""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from conftest import DEMO_DAY, DEMO_EDITION, free_port, store_demo_items
from digest.app import App, make_app
from digest.config import Settings, load_settings
from digest.daemon import Daemon
from digest.edits import story_id

SEND = datetime(2026, 11, 30, 7, tzinfo=UTC)  # the demo's Monday 07:00 UTC send
EDITORS = ["ed@example.org", "eva@example.org"]


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Events(list[tuple[str, str, dict[str, Any]]]):
    def __call__(self, event: str, message: str, **fields: Any) -> None:
        self.append((event, message, fields))

    def names(self) -> list[str]:
        return [e for e, _, _ in self]


def configure(demo: Path, approval: str) -> None:
    store_demo_items(demo)
    data = yaml.safe_load(demo.read_text(encoding="utf-8"))
    data["schedule"].update({"approval": approval, "draft_before": "24h"})
    data["editors"] = EDITORS
    data["editing"] = {"url": "https://edit.example.org/edit"}
    demo.write_text(yaml.safe_dump(data), encoding="utf-8")


def daemon(demo: Path, clock: Clock) -> tuple[Daemon, Events]:
    def make(settings: Settings) -> App:
        return make_app(settings, clock=clock)

    events = Events()
    d = Daemon(lambda: load_settings(demo, env={}), make, config=demo, on_event=events,
               clock=clock)
    d.app.poller.sync_feeds()
    # jobs kept as a running scheduler keeps them (one per id), none run but by the test
    d.scheduler.start(paused=True)
    return d, events


def stop(d: Daemon) -> None:
    d.scheduler.shutdown(wait=False)
    d.app.close()


def sent(demo: Path) -> list[Path]:
    folder = demo.parent / "outbox" / DEMO_EDITION
    return sorted(folder.iterdir()) if folder.is_dir() else []


def drafts(demo: Path) -> list[Path]:
    folder = demo.parent / "outbox" / "notices"
    return sorted(folder.glob("draft-*.eml")) if folder.is_dir() else []


def run_job(d: Daemon, job_id: str) -> None:
    job = d.scheduler.get_job(job_id)
    assert job is not None, f"no {job_id} job"
    job.func()


def test_the_draft_goes_to_the_editors_once_then_the_send_waits_for_approval(
        demo: Path) -> None:
    configure(demo, "required")
    clock = Clock(SEND - timedelta(hours=30))
    d, events = daemon(demo, clock)
    try:
        d._schedule()
        job = d.scheduler.get_job("draft")
        assert job is not None and job.trigger.run_date == SEND - timedelta(hours=24)
        clock.now = SEND - timedelta(hours=23)
        run_job(d, "draft")
        assert "draft" in events.names()
        messages = [email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
                    for p in drafts(demo)]
        assert sorted(str(m["To"]) for m in messages) == EDITORS
        subject = str(messages[0]["Subject"])
        assert subject.startswith("Draft for review: ")
        text = messages[0].get_body(("plain",))
        assert text is not None
        body = text.get_content()
        assert "It goes out only once an editor approves it." in body
        assert "https://edit.example.org/edit?edition=2026-11-30" in body
        # the next draft is the following edition's
        following = d.scheduler.get_job("draft")
        assert following is not None and following.trigger.run_date == \
            SEND + timedelta(days=6)
        d.app.editing.draft(DEMO_DAY)  # again (another instance, a restart): nobody twice
        assert len(drafts(demo)) == 2

        clock.now = SEND
        d._send()
        assert sent(demo) == [] and events.names()[-1] == "awaiting_approval"
        run_job(d, "approval")  # nobody approved yet: still waiting, quietly
        assert sent(demo) == [] and events.names().count("awaiting_approval") == 1
        edition = d.app.editions.build(DEMO_DAY, fetch=False).edition
        lead = edition.sections[0].stories[0]
        d.app.editing.drop(DEMO_DAY, story_id(lead.url), by="ed")
        approved = d.app.editing.approve(DEMO_DAY, by="ed")
        clock.now = SEND + timedelta(hours=3)
        run_job(d, "approval")
        assert len(sent(demo)) == 3 and d.scheduler.get_job("approval") is None
        html = sent(demo)[0].read_text(encoding="utf-8")
        assert lead.url not in html
        assert d.app.editions.frozen(DEMO_DAY) == approved.frozen
    finally:
        stop(d)


def test_a_restart_while_waiting_keeps_waiting_and_the_approval_sends(demo: Path) -> None:
    configure(demo, "required")
    clock = Clock(SEND - timedelta(hours=2))
    first, _ = daemon(demo, clock)
    try:
        first.app.editing.draft(DEMO_DAY)
        clock.now = SEND
        first._send()
        first.app.store.beat(first.owner, started_at=SEND - timedelta(hours=3),
                             now=SEND + timedelta(minutes=30), next_send_at=SEND, config="")
    finally:
        stop(first)
    clock.now = SEND + timedelta(days=2)  # back two days later, past schedule.grace
    second, events = daemon(demo, clock)
    try:
        second._catch_up()
        assert "skipped" not in events.names() and sent(demo) == []
        second.app.editing.approve(DEMO_DAY, by="eva")
        run_job(second, "approval")
        assert len(sent(demo)) == 3
    finally:
        stop(second)


def test_nobody_approves_before_the_next_edition_is_due_it_is_skipped(demo: Path) -> None:
    configure(demo, "required")
    clock = Clock(SEND)
    d, events = daemon(demo, clock)
    try:
        d.app.editing.draft(DEMO_DAY)
        d._send()
        clock.now = SEND + timedelta(days=7)
        run_job(d, "approval")
        ((edition, _, reason),) = d.app.store.skipped()
        assert edition == DEMO_DAY and "nobody approved it" in reason
        assert events.names()[-1] == "skipped"
        assert sent(demo) == [] and d.scheduler.get_job("approval") is None
    finally:
        stop(d)


def test_with_a_timeout_the_edition_goes_as_it_stands_when_nobody_acts(demo: Path) -> None:
    configure(demo, "timeout(2h)")
    clock = Clock(SEND)
    d, events = daemon(demo, clock)
    try:
        d.app.editing.note(DEMO_DAY, "Written, never approved", by="ed")
        d._send()
        assert sent(demo) == [] and "until 2026-11-30T09:00:00+00:00" in events[-1][1]
        clock.now = SEND + timedelta(hours=2)
        run_job(d, "approval")
        assert len(sent(demo)) == 3
        assert "Written, never approved" in sent(demo)[0].read_text(encoding="utf-8")
        assert d.app.editing.review(DEMO_DAY).approved_at is None
    finally:
        stop(d)


def test_a_draft_the_mail_server_refused_is_tried_again_later(demo: Path) -> None:
    configure(demo, "required")
    data = yaml.safe_load(demo.read_text(encoding="utf-8"))
    data["delivery"].update({"transport": "smtp", "smtp": {
        "host": "127.0.0.1", "port": free_port(), "security": "none", "timeout": 5}})
    demo.write_text(yaml.safe_dump(data), encoding="utf-8")
    clock = Clock(SEND - timedelta(hours=20))
    d, events = daemon(demo, clock)
    try:
        d._plan_draft(SEND)
        run_job(d, "draft")  # nothing listens on that port
        assert events.names() == ["error"] and "draft" in events[0][1]
        job = d.scheduler.get_job("draft")
        assert job is not None and job.trigger.run_date == clock.now + timedelta(minutes=10)
        assert d.app.editing.review(DEMO_DAY).notified_at is None  # free to claim again
        clock.now = SEND - timedelta(minutes=5)  # too late to retry before the send:
        run_job(d, "draft")  # the next edition's draft is planned instead
        job = d.scheduler.get_job("draft")
        assert job is not None and job.trigger.run_date == SEND + timedelta(days=6)
    finally:
        stop(d)
