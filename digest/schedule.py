"""Cron arithmetic and the `digest run` daemon (APScheduler 3); decides nothing about content.

The only module that imports APScheduler. Jobs live in memory and are derived from the config
at start: APScheduler's job stores must not be shared between schedulers, so every durable fact
(last poll, editions, deliveries) lives in our own tables, and exactly-once comes from them.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from types import FrameType
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

if TYPE_CHECKING:
    from digest.app import App

log = logging.getLogger(__name__)

# Crontab numbers days of the week 0-7 from Sunday; APScheduler 3's CronTrigger numbers them
# from Monday, even in from_crontab (fixed only in APScheduler 4). Names mean the same to both.
_DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _crontab_dow(field: str) -> str:
    def name(token: str) -> str:
        return _DOW_NAMES[int(token)] if token.isdigit() and int(token) <= 7 else token

    out = []
    for part in field.split(","):
        base, slash, step = part.partition("/")
        ends = base.split("-")
        out.append("-".join(name(e) for e in ends) + (slash + step if slash else ""))
    return ",".join(out)


def parse_cron(expression: str, timezone: str | ZoneInfo) -> CronTrigger:
    """A five-field crontab expression, in `timezone`; ValueError naming the problem if bad."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(
            f"cron needs 5 fields (minute hour day month weekday), got {len(fields)}: "
            f"{expression!r}"
        )
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(
            minute=minute, hour=hour, day=day, month=month, day_of_week=_crontab_dow(dow),
            timezone=timezone,
        )
    except (ValueError, TypeError) as e:
        raise ValueError(f"invalid cron expression {expression!r}: {e}") from e


def next_send(expression: str, tz: ZoneInfo, after: datetime) -> datetime:
    """The first scheduled send strictly after `after`, as an aware datetime in `tz`."""
    trigger = parse_cron(expression, tz)
    fire = trigger.get_next_fire_time(None, after + timedelta(microseconds=1))
    if fire is None:  # a cron that never fires again (e.g. Feb 30)
        raise ValueError(f"cron {expression!r} never fires after {after.isoformat()}")
    return fire.astimezone(tz)  # type: ignore[no-any-return]


def send_time_on(expression: str, tz: ZoneInfo, day: date) -> datetime:
    """When the edition named `day` goes out: its scheduled send that day, else the day's end."""
    start = datetime.combine(day, time.min, tzinfo=tz)
    fire = parse_cron(expression, tz).get_next_fire_time(None, start)
    if fire is not None and fire.astimezone(tz).date() == day:
        return fire.astimezone(tz)  # type: ignore[no-any-return]
    return datetime.combine(day, time(23, 59, 59), tzinfo=tz)


def run_daemon(app: App, *, on_event: Callable[[str], None] = log.info) -> None:
    """Poll feeds when due and send each edition at its cron time until SIGTERM/SIGINT."""
    settings = app.settings
    tz = settings.tz
    scheduler = BlockingScheduler(timezone=tz)
    # Poll at the shortest configured interval; app.refresh() itself skips feeds not yet due.
    intervals = [settings.schedule.poll_every] + [
        f.poll_every for f in settings.feeds if f.poll_every is not None
    ]
    tick = max(min(intervals), timedelta(minutes=1))

    def poll() -> None:
        outcomes = app.refresh()
        failed = [o for o in outcomes if o.error]
        new = sum(o.new_items for o in outcomes)
        on_event(f"poll: {len(outcomes)} feeds polled, {new} new items, {len(failed)} failing")
        for o in failed:
            on_event(f"poll: feed {o.url}: {o.error}")

    def send() -> None:
        edition = app.clock().astimezone(tz).date()
        result = app.deliver(edition)
        on_event(f"send {edition.isoformat()}: {result.summary()}")

    scheduler.add_job(poll, IntervalTrigger(seconds=tick.total_seconds(), timezone=tz),
                      id="poll", next_run_time=app.clock().astimezone(tz), coalesce=True,
                      max_instances=1)
    scheduler.add_job(send, parse_cron(settings.schedule.digest, tz), id="send",
                      coalesce=True, max_instances=1, misfire_grace_time=12 * 3600)

    stop = threading.Event()

    def shutdown(signum: int, frame: FrameType | None) -> None:
        if not stop.is_set():
            stop.set()
            on_event(f"received {signal.Signals(signum).name}, shutting down")
            scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    on_event(
        f"digest run: polling every {tick}, next send "
        f"{next_send(settings.schedule.digest, tz, app.clock().astimezone(tz)).isoformat()}"
    )
    scheduler.start()
