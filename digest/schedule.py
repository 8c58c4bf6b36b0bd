"""Cron arithmetic over APScheduler 3's CronTrigger: the next and previous scheduled send,
the sends missed while the daemon was down and what to do about them. Pure functions of the
expression, the time zone and the times given (a fake clock is just another `now`); the
daemon that runs them is digest.daemon.
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger

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
    """A five-field crontab expression (or six, seconds first), in `timezone`; ValueError
    naming the problem if bad."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"cron needs 5 fields (minute hour day month weekday), or 6 with seconds first, "
            f"got {len(fields)}: {expression!r}"
        )
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(
            second=second, minute=minute, hour=hour, day=day, month=month,
            day_of_week=_crontab_dow(dow), timezone=timezone,
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


def previous_send(expression: str, tz: ZoneInfo, now: datetime) -> datetime | None:
    """The last scheduled send at or before `now` (None: the cron never fired before)."""
    trigger = parse_cron(expression, tz)
    for back in (timedelta(hours=2), timedelta(days=1), timedelta(days=8), timedelta(days=32),
                 timedelta(days=367), timedelta(days=4 * 366 + 1)):
        found = None
        fire = trigger.get_next_fire_time(None, now - back)
        while fire is not None and fire <= now:
            found = fire
            fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
        if found is not None:
            return found.astimezone(tz)  # type: ignore[no-any-return]
    return None


MAX_MISSED = 400  # editions looked at after an outage (a daily cron: more than a year)


def missed_sends(expression: str, tz: ZoneInfo, *, since: datetime, now: datetime
                 ) -> list[datetime]:
    """The scheduled sends in (since, now], one per edition (the day's last), oldest first."""
    trigger = parse_cron(expression, tz)
    by_day: dict[date, datetime] = {}
    fire = trigger.get_next_fire_time(None, since + timedelta(microseconds=1))
    while fire is not None and fire <= now:
        local = fire.astimezone(tz)
        by_day[local.date()] = local
        if len(by_day) > MAX_MISSED:
            del by_day[min(by_day)]
        fire = trigger.get_next_fire_time(fire, fire + timedelta(seconds=1))
    return [by_day[day] for day in sorted(by_day)]


@dataclass(frozen=True, slots=True)
class CatchUp:
    """What a daemon does about the sends it missed while it was down."""

    send: datetime | None  # the one scheduled send to make now (within the grace period)
    skip: tuple[datetime, ...]  # scheduled sends to record as skipped


def plan_catch_up(missed: Sequence[datetime], *, now: datetime, grace: timedelta,
                  done: Container[str]) -> CatchUp:
    """Only the latest missed send may go out, and only within `grace` of its time: never two
    editions at once after a long outage. Every other missed edition not sent (`done` names
    editions frozen or recorded as skipped) is to be recorded as skipped."""
    if not missed:
        return CatchUp(None, ())
    *older, latest = missed
    send = latest if now - latest <= grace else None
    skip = [fire for fire in older if fire.date().isoformat() not in done]
    if send is None and latest.date().isoformat() not in done:
        skip.append(latest)
    return CatchUp(send, tuple(skip))
