"""Cron: checking an expression, and the arithmetic over APScheduler 3's CronTrigger (the next
and previous scheduled send, the sends missed while the daemon was down and what to do about
them). Pure functions of the expression, the time zone and the times given (a fake clock is
just another `now`); the daemon that runs them is digest.daemon.

`check_cron` needs no APScheduler: config validates with it, and APScheduler is imported only
when a time is worked out.
"""

from __future__ import annotations

import re
from collections.abc import Container, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from apscheduler.triggers.cron import CronTrigger

# Crontab numbers days of the week 0-7 from Sunday; APScheduler 3's CronTrigger numbers them
# from Monday, even in from_crontab (fixed only in APScheduler 4). Names mean the same to both.
_DOW_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _crontab_dow(field: str) -> str:
    """A crontab weekday field (0-7 from Sunday, names, ranges, steps) as APScheduler's: single
    days become names, and every range or step is spelled out as a list of names, since
    APScheduler would count a range or a step from Monday (`0-5`, `*/2`, `1-5/2`)."""
    out: list[str] = []
    for part in field.split(","):
        base, _, step = part.partition("/")
        if base == "*" and not step:
            out.append("*")
            continue
        if base == "*":
            first, last = 0, 6
        elif "-" in base:
            low, high = base.split("-")
            first, last = _weekday_span(_weekday(low), _weekday(high))
        else:
            first = _weekday(base)
            last = 6 if step else first  # crontab's `3/2`: from Wednesday on, every other day
        days = range(first, last + 1, int(step) if step else 1)
        out.extend(_DOW_NAMES[day] for day in days)
    return ",".join(dict.fromkeys(out))  # each day once, in order


# (name, lowest, highest, names) of each crontab field, seconds first (optional).
_FIELDS = (
    ("second", 0, 59, ()),
    ("minute", 0, 59, ()),
    ("hour", 0, 23, ()),
    ("day", 1, 31, ()),
    ("month", 1, 12, ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct",
                      "nov", "dec")),
    ("weekday", 0, 7, tuple(_DOW_NAMES[:7])),
)
_STEP = re.compile(r"(?P<base>[^/]+)(?:/(?P<step>\d+))?")
# APScheduler's day-of-month extras: `last`, `last fri`, `2nd mon` (written without the space
# in a five-field expression: not expressible, so only `last` is accepted there).
_DAY_EXTRAS = re.compile(r"last", re.IGNORECASE)


def _weekday(token: str) -> int:
    """A weekday as crontab numbers it (0-7 from Sunday), from a number or a name."""
    day = _value(token, 0, 7, _FIELDS[-1][3])
    if day is None:
        raise ValueError(f"not a weekday: {token!r}")
    return day


def _weekday_span(first: int, last: int) -> tuple[int, int]:
    """A weekday range's ends; `fri-sun`: Sunday ends a week as well as starting one."""
    return first, 7 if last == 0 and first > 0 else last


def _value(token: str, low: int, high: int, names: tuple[str, ...]) -> int | None:
    lowered = token.lower()
    if lowered in names:
        return names.index(lowered) + low
    if token.isdigit() and low <= int(token) <= high:
        return int(token)
    return None


def _check_field(text: str, name: str, low: int, high: int, names: tuple[str, ...]) -> None:
    for part in text.split(","):
        match = _STEP.fullmatch(part)
        step = match.group("step") if match else None
        base = match.group("base") if match else part
        if match is None or (step is not None and int(step) < 1):
            raise ValueError(f"{name} field {text!r}: {part!r} is not a value, range or step")
        if name == "day" and _DAY_EXTRAS.fullmatch(base):
            continue
        if base == "*":
            first, last = low, high
        else:
            ends = base.split("-")
            values = [_value(end, low, high, names) for end in ends]
            if len({end.isdigit() for end in ends}) > 1:
                raise ValueError(f"{name} field {text!r}: {base!r} mixes a number and a name")
            if len(ends) > 2 or None in values:
                allowed = f"{low}-{high}" + (f" or {names[0]}..{names[-1]}" if names else "")
                raise ValueError(f"{name} field {text!r}: {base!r} is outside {allowed}")
            numbers = [value for value in values if value is not None]
            if len(numbers) == 2 and name == "weekday":
                numbers = list(_weekday_span(*numbers))
            if len(numbers) == 2 and numbers[0] > numbers[1]:
                raise ValueError(f"{name} field {text!r}: the range {base!r} runs backwards")
            # APScheduler counts an open range (`5/10`), or one ending at 0, to the field's end
            first, last = numbers[0], numbers[-1] if len(numbers) == 2 and numbers[-1] else high
        if step is not None and name != "weekday" and int(step) > last - first:
            # APScheduler refuses it (weekdays reach it spelled out, without steps)
            raise ValueError(f"{name} field {text!r}: the step in {part!r} is longer than the "
                             f"range it steps through ({first}-{last})")


# The longest each month can be (February in a leap year).
_MONTH_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _selected(text: str, low: int, high: int, names: tuple[str, ...]) -> set[int]:
    """The numbers a checked field selects, as crontab means them (`last` adds none)."""
    out: set[int] = set()
    for part in text.split(","):
        base, _, step = part.partition("/")
        if _DAY_EXTRAS.fullmatch(base):
            continue
        if base == "*":
            first, last = low, high
        else:
            ends = [v for v in (_value(end, low, high, names) for end in base.split("-"))
                    if v is not None]
            first, last = ends[0], ends[-1] if len(ends) == 2 or not step else high
        out.update(range(first, last + 1, int(step) if step else 1))
    return out


def _never_fires(day: str, month: str) -> bool:
    """No month the expression names has a day it names (`31 2`, `30-31 2`, `31 4,6,9,11`).
    February 29 fires in leap years and `last` in every month; the weekday field cannot stop
    a date from firing: over the years every day of every month falls on each weekday."""
    if any(_DAY_EXTRAS.fullmatch(part.partition("/")[0]) for part in day.split(",")):
        return False
    days = _selected(day, 1, 31, ())
    return not any(d <= _MONTH_DAYS[m - 1] for m in _selected(month, 1, 12, _FIELDS[4][3])
                   for d in days)


def check_cron(expression: str) -> str:
    """The expression if it is a five-field crontab expression (or six, seconds first) that
    digest can schedule; ValueError naming the field and the problem otherwise. Needs no
    APScheduler (config validates with it)."""
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"cron needs 5 fields (minute hour day month weekday), or 6 with seconds first, "
            f"got {len(fields)}: {expression!r}"
        )
    specs = _FIELDS if len(fields) == 6 else _FIELDS[1:]
    for text, (name, low, high, names) in zip(fields, specs, strict=True):
        try:
            _check_field(text, name, low, high, names)
        except ValueError as e:
            raise ValueError(f"invalid cron expression {expression!r}: {e}") from None
    day, month = fields[-3], fields[-2]
    if _never_fires(day, month):
        raise ValueError(f"invalid cron expression {expression!r}: it never fires (no month "
                         f"in {month!r} has a day in {day!r})")
    return expression


def _month_numbers(field: str) -> str:
    """A month field with numbers for names: APScheduler would ignore a step after a name
    (`jan/3`: January only, where crontab means January, April, July and October)."""
    names = _FIELDS[4][3]
    return re.sub(r"[A-Za-z]+", lambda word: str(names.index(word.group().lower()) + 1)
                  if word.group().lower() in names else word.group(), field)


def parse_cron(expression: str, timezone: str | ZoneInfo) -> CronTrigger:
    """A five-field crontab expression (or six, seconds first), in `timezone`, as APScheduler's
    trigger; ValueError naming the problem if bad."""
    return _trigger(check_cron(expression), timezone)


def _trigger(expression: str, timezone: str | ZoneInfo) -> CronTrigger:
    """APScheduler's trigger for a crontab expression, unchecked (tests/test_schedule.py holds
    check_cron to what this makes of an expression)."""
    from apscheduler.triggers.cron import CronTrigger  # only when a time is worked out

    fields = expression.split()
    second = fields.pop(0) if len(fields) == 6 else "0"
    minute, hour, day, month, dow = fields
    try:
        return CronTrigger(
            second=second, minute=minute, hour=hour, day=day, month=_month_numbers(month),
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
                  done: Container[date]) -> CatchUp:
    """Only the latest missed send may go out, and only within `grace` of its time: never two
    editions at once after a long outage. Every other missed edition not sent (`done` names
    editions frozen or recorded as skipped) is to be recorded as skipped."""
    if not missed:
        return CatchUp(None, ())
    *older, latest = missed
    send = latest if now - latest <= grace else None
    skip = [fire for fire in older if fire.date() not in done]
    if send is None and latest.date() not in done:
        skip.append(latest)
    return CatchUp(send, tuple(skip))
