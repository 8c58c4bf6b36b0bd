"""schedule: crontab semantics, edition send times across DST, the sends missed during an
outage and what the daemon does about them (a fake clock: every `now` is given)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import HANG, FeedServer, WriteConfig, wait_until
from digest.schedule import (
    MAX_MISSED,
    CatchUp,
    _trigger,
    check_cron,
    missed_sends,
    next_send,
    parse_cron,
    plan_catch_up,
    previous_send,
    send_time_on,
)

LONDON = ZoneInfo("Europe/London")
NEW_YORK = ZoneInfo("America/New_York")
WEEKLY = "0 7 * * mon"
GRACE = timedelta(hours=12)
DAY_ = timedelta(days=1)


@pytest.mark.parametrize("cron", ["0 7 * * 1", "0 7 * * mon", "0 7 * * MON"])
def test_numeric_weekdays_mean_what_crontab_means(cron: str) -> None:
    # Thursday 26 November 2026 -> Monday 30 November at 07:00 (not Tuesday: APScheduler 3
    # numbers weekdays from Monday, crontab from Sunday).
    fire = next_send(cron, LONDON, datetime(2026, 11, 26, 12, tzinfo=UTC))
    assert fire == datetime(2026, 11, 30, 7, tzinfo=LONDON)


def test_sunday_is_0_and_7() -> None:
    after = datetime(2026, 11, 26, tzinfo=UTC)
    assert next_send("0 9 * * 0", LONDON, after).date() == date(2026, 11, 29)
    assert next_send("0 9 * * 7", LONDON, after).date() == date(2026, 11, 29)
    assert next_send("0 9 * * 1-5", LONDON, after).date() == date(2026, 11, 26)


def test_send_time_stays_local_across_daylight_saving() -> None:
    before = send_time_on("0 7 * * mon", LONDON, date(2026, 3, 23))  # GMT
    after = send_time_on("0 7 * * mon", LONDON, date(2026, 3, 30))  # BST
    assert (before.hour, after.hour) == (7, 7)
    assert before.utcoffset() != after.utcoffset()


def test_an_unscheduled_date_is_sent_at_the_end_of_that_day() -> None:
    end = send_time_on("0 7 * * mon", LONDON, date(2026, 11, 26))
    assert (end.date(), end.hour, end.minute) == (date(2026, 11, 26), 23, 59)


def test_next_send_is_strictly_after() -> None:
    at = datetime(2026, 11, 30, 7, tzinfo=LONDON)
    assert next_send("0 7 * * mon", LONDON, at).date() == date(2026, 12, 7)


@pytest.mark.parametrize("bad", ["0 7 * *", "61 7 * * mon", "0 7 * * funday", "x y z a b"])
def test_bad_cron_is_rejected(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_cron(bad, "UTC")


@pytest.mark.parametrize("tz, change", [
    (LONDON, datetime(2026, 3, 29, 12, tzinfo=UTC)),  # clocks forward: GMT -> BST
    (LONDON, datetime(2026, 10, 25, 12, tzinfo=UTC)),  # clocks back: BST -> GMT
    (NEW_YORK, datetime(2026, 3, 8, 12, tzinfo=UTC)),
    (NEW_YORK, datetime(2026, 11, 1, 12, tzinfo=UTC)),
])
def test_the_weekly_trigger_fires_at_07_local_across_a_dst_change(
        tz: ZoneInfo, change: datetime) -> None:
    # Walk the trigger from two weeks before the change to two weeks after: every firing is a
    # Monday at 07:00 local time, a week apart in local time, and the UTC offset changed.
    fire = next_send(WEEKLY, tz, change - timedelta(days=14))
    fires = []
    while fire < change + timedelta(days=14):
        fires.append(fire)
        fire = next_send(WEEKLY, tz, fire)
    local = [f.astimezone(tz) for f in fires]
    assert len(local) == 4
    assert all((f.weekday(), f.hour, f.minute) == (0, 7, 0) for f in local)
    assert [b.date() - a.date() for a, b in pairwise(local)] == [timedelta(days=7)] * 3
    assert len({f.utcoffset() for f in local}) == 2
    utc = [f.astimezone(UTC) for f in fires]
    utc_gaps = {b - a for a, b in pairwise(utc)}  # the week of the change: 167 or 169 hours
    assert utc_gaps - {timedelta(days=7)} and len(utc_gaps) == 2


def test_previous_send_is_the_last_at_or_before_now() -> None:
    monday = datetime(2026, 11, 30, 7, tzinfo=LONDON)
    assert previous_send(WEEKLY, LONDON, monday) == monday
    assert previous_send(WEEKLY, LONDON, monday - timedelta(seconds=1)) == \
        monday - timedelta(days=7)
    assert previous_send("0 9 1 1 *", LONDON, monday) == datetime(2026, 1, 1, 9, tzinfo=LONDON)
    assert previous_send("0 9 29 2 mon", LONDON, monday) is None  # not since 2016
    with pytest.raises(ValueError, match="never fires"):  # refused: config check says so
        previous_send("0 9 30 2 *", LONDON, monday)


def test_six_fields_put_seconds_first() -> None:
    after = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
    assert next_send("30 5 10 * * *", ZoneInfo("UTC"), after) == \
        datetime(2026, 11, 27, 10, 5, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="5 fields"):
        parse_cron("0 0 7 * * mon extra", "UTC")


def test_missed_sends_one_per_edition_oldest_first() -> None:
    since = datetime(2026, 11, 10, tzinfo=UTC)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    assert missed_sends(WEEKLY, LONDON, since=since, now=now) == [
        datetime(2026, 11, d, 7, tzinfo=LONDON) for d in (16, 23, 30)]
    # A cron that fires every hour makes one edition a day: the day's last send.
    hourly = missed_sends("0 * * * *", LONDON, since=since, now=since + timedelta(hours=30))
    assert [f.date() for f in hourly] == [date(2026, 11, 10), date(2026, 11, 11)]
    assert hourly[0].hour == 23
    assert missed_sends(WEEKLY, LONDON, since=now, now=now) == []


def test_a_send_missed_within_the_grace_period_goes_out_once_on_return() -> None:
    monday = datetime(2026, 11, 30, 7, tzinfo=LONDON)
    back = monday + timedelta(hours=3)  # down from Sunday to 10:00 Monday
    missed = missed_sends(WEEKLY, LONDON, since=monday - timedelta(days=1), now=back)
    assert plan_catch_up(missed, now=back, grace=GRACE, done=set()) == CatchUp(monday, ())


def test_a_send_missed_beyond_the_grace_period_is_recorded_as_skipped() -> None:
    monday = datetime(2026, 11, 30, 7, tzinfo=LONDON)
    back = monday + timedelta(hours=13)
    missed = missed_sends(WEEKLY, LONDON, since=monday - timedelta(days=1), now=back)
    assert plan_catch_up(missed, now=back, grace=GRACE, done=set()) == CatchUp(None, (monday,))
    # Already sent (frozen) or already recorded: nothing to record.
    done = {date(2026, 11, 30)}
    assert plan_catch_up(missed, now=back, grace=GRACE, done=done) == CatchUp(None, ())


def test_a_long_outage_sends_at_most_one_edition() -> None:
    # Down for three weeks, back two hours after the third missed Monday: that edition goes
    # out, the two before it are skipped; never two editions at once.
    mondays = [datetime(2026, 11, d, 7, tzinfo=LONDON) for d in (16, 23, 30)]
    back = mondays[-1] + timedelta(hours=2)
    missed = missed_sends(WEEKLY, LONDON, since=datetime(2026, 11, 15, tzinfo=UTC), now=back)
    plan = plan_catch_up(missed, now=back, grace=GRACE, done={date(2026, 11, 16)})
    assert plan == CatchUp(mondays[-1], (mondays[1],))


@pytest.mark.parametrize("cron", [
    "0 7 * * mon", "*/15 * * * *", "*/1 * * * *", "0 7 1-5 * *", "0 7 5-5 * *", "0 7 last * *",
    "0 7 * jan-mar mon-fri", "0 7 * * 1,3,5", "0 7 * * fri-sun",
    "0 7 * * 5-0", "0 7 * * 0", "0 7 * * 7", "30 0 7 * * mon", "0 0 1,15 * *",
])
def test_check_cron_accepts_what_the_scheduler_runs(cron: str) -> None:
    assert check_cron(cron) == cron
    parse_cron(cron, "UTC")  # and APScheduler agrees


@pytest.mark.parametrize(("cron", "problem"), [
    ("0 7 * *", "or 6 with seconds first, got 4: '0 7 * *'"),
    ("0 */0 * * *", "hour field '*/0': '*/0' is not a value, range or step"),
    ("0 7 1/x * *", "day field '1/x': '1/x' is not a value, range or step"),
    ("0 7 1,,2 * *", "day field '1,,2': '' is not a value, range or step"),
    ("60 7 * * *", "minute field '60': '60' is outside 0-59"),
    ("0 24 * * *", "hour field '24': '24' is outside 0-23"),
    ("0 7 0 * *", "day field '0': '0' is outside 1-31"),
    ("0 7 *,32 * *", "day field '*,32': '32' is outside 1-31"),
    ("0 7 * 13 *", "month field '13': '13' is outside 1-12 or jan..dec"),
    ("0 7 * * 8", "weekday field '8': '8' is outside 0-7 or sun..sat"),
    ("0 7 * * funday", "weekday field 'funday': 'funday' is outside 0-7 or sun..sat"),
    ("0 7 1-2-3 * *", "day field '1-2-3': '1-2-3' is outside 1-31"),
    ("0 7 5-1 * *", "day field '5-1': the range '5-1' runs backwards"),
    ("0 7 * * sat-mon", "weekday field 'sat-mon': the range 'sat-mon' runs backwards"),
    ("0 last * * *", "hour field 'last': 'last' is outside 0-23"),  # `last` is for days
    ("60 0 7 * * mon", "second field '60': '60' is outside 0-59"),
])
def test_check_cron_names_the_field_and_the_problem(cron: str, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem) + "$"):
        check_cron(cron)


@pytest.mark.parametrize(("cron", "days"), [
    ("0 9 * * 1-5", [30, 1, 2, 3, 4]),  # Monday to Friday, as crontab numbers them
    ("0 9 * * 1,3", [30, 2, 7, 9, 14]),
    ("0 9 * * 6-7", [28, 29, 5, 6, 12]),
])
def test_crontab_weekday_lists_ranges_and_steps(cron: str, days: list[int]) -> None:
    fire = datetime(2026, 11, 27, 12, tzinfo=UTC)  # a Friday, after 09:00
    fires = []
    for _ in days:
        fire = next_send(cron, LONDON, fire)
        fires.append(fire.day)
    assert fires == days


def test_sends_are_local_times_in_the_zone_asked_for() -> None:
    # New York is 5 hours behind UTC in winter: every time is worked out, and given, there.
    after = datetime(2026, 11, 27, 12, tzinfo=UTC)
    fire = next_send("0 7 * * mon", NEW_YORK, after)
    assert (fire.tzinfo, fire.date(), fire.hour) == (NEW_YORK, date(2026, 11, 30), 7)
    last = previous_send("0 7 * * mon", NEW_YORK, after)
    assert (last.tzinfo, last.date(), last.hour) == (NEW_YORK, date(2026, 11, 23), 7)  # type: ignore[union-attr]
    at = send_time_on("0 7 * * mon", NEW_YORK, date(2026, 11, 30))
    assert (at.tzinfo, at.hour) == (NEW_YORK, 7)
    end = send_time_on("0 7 * * mon", NEW_YORK, date(2026, 11, 27))
    assert (end.tzinfo, end.time()) == (NEW_YORK, datetime(2026, 1, 1, 23, 59, 59).time())
    # an hourly cron makes one edition a New York day, the day's last send
    missed = missed_sends("0 * * * *", NEW_YORK, since=datetime(2026, 11, 27, 3, tzinfo=UTC),
                          now=datetime(2026, 11, 27, 12, tzinfo=UTC))
    assert [(f.tzinfo, f.date(), f.hour) for f in missed] == [
        (NEW_YORK, date(2026, 11, 26), 23), (NEW_YORK, date(2026, 11, 27), 7)]
    missed = missed_sends("0 7 * * *", NEW_YORK, since=datetime(2026, 11, 26, tzinfo=UTC),
                          now=datetime(2026, 11, 27, 13, tzinfo=UTC))
    assert missed == [datetime(2026, 11, 26, 7, tzinfo=NEW_YORK),
                      datetime(2026, 11, 27, 7, tzinfo=NEW_YORK)]
    late = send_time_on("0 21 * * *", NEW_YORK, date(2026, 11, 27))  # 02:00 UTC the next day
    assert (late.date(), late.hour) == (date(2026, 11, 27), 21)


def test_next_send_is_the_first_after_even_by_a_microsecond() -> None:
    at = datetime(2026, 11, 30, 7, tzinfo=LONDON)
    assert next_send(WEEKLY, LONDON, at - timedelta(microseconds=1)) == at


def test_previous_send_is_the_last_not_the_first_in_its_search() -> None:
    now = datetime(2026, 11, 30, 10, 30, tzinfo=LONDON)
    assert previous_send("0 * * * *", LONDON, now) == datetime(2026, 11, 30, 10, tzinfo=LONDON)
    assert previous_send("*/10 * * * *", LONDON, now) == now - timedelta(minutes=0)
    assert previous_send("0 9 29 2 *", LONDON, datetime(2027, 6, 1, tzinfo=UTC)) == \
        datetime(2024, 2, 29, 9, tzinfo=LONDON)  # a leap day: four years back


def test_missed_sends_are_those_after_since_up_to_and_including_now() -> None:
    monday = datetime(2026, 11, 30, 7, tzinfo=LONDON)
    assert missed_sends(WEEKLY, LONDON, since=monday, now=monday + DAY_) == []
    assert missed_sends(WEEKLY, LONDON, since=monday - timedelta(microseconds=1),
                        now=monday) == [monday]


def test_missed_sends_keep_the_latest_editions_after_a_very_long_outage() -> None:
    since = datetime(2025, 1, 1, tzinfo=UTC)
    missed = missed_sends("0 7 * * *", LONDON, since=since, now=since + 500 * DAY_)
    assert len(missed) == MAX_MISSED
    assert missed[-1].date() == date(2026, 5, 15) and missed[0].date() == date(2025, 4, 11)


def test_nothing_missed_is_nothing_to_do() -> None:
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    assert plan_catch_up([], now=now, grace=GRACE, done=set()) == CatchUp(None, ())


def test_a_send_missed_by_exactly_the_grace_period_still_goes_out() -> None:
    monday = datetime(2026, 11, 30, 7, tzinfo=LONDON)
    assert plan_catch_up([monday], now=monday + GRACE, grace=GRACE, done=set()) == \
        CatchUp(monday, ())


@pytest.mark.slow
def test_daemon_polls_at_start_and_stops_cleanly_on_sigterm(
    write_config: WriteConfig, feed_server: FeedServer, tmp_path: Path
) -> None:
    config = write_config({"feeds": [{"url": feed_server.url("rss2.xml")}]})
    digest = Path(sys.executable).parent / "digest"
    log = tmp_path / "run.log"
    with log.open("w") as stderr:
        proc = subprocess.Popen([str(digest), "--config", str(config), "run"],
                                stdout=subprocess.DEVNULL, stderr=stderr, text=True,
                                env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        # The poll job logs once it has stored what it polled.
        wait_until(lambda: "feeds polled" in log.read_text() or proc.poll() is not None,
                   "the daemon's first poll")
        assert feed_server.hits("rss2.xml") == 1
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=HANG)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    err = log.read_text()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err
    assert "poll: 1 feeds polled" in err
    feeds = subprocess.run([str(digest), "--config", str(config), "feeds", "--format", "json"],
                           capture_output=True, text=True, check=True)
    assert json.loads(feeds.stdout)[0]["status"] == "ok"


@pytest.mark.parametrize(("weekdays", "expected"), [
    ("*/2", ["Sun", "Tue", "Thu", "Sat"]),  # crontab counts from Sunday, APScheduler from Monday
    ("1-5/2", ["Mon", "Wed", "Fri"]),
    ("0-6/2", ["Sun", "Tue", "Thu", "Sat"]),
    ("0-5", ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri"]),
    ("fri-sun", ["Sun", "Fri", "Sat"]),
    ("7", ["Sun"]),
    ("mon-fri", ["Mon", "Tue", "Wed", "Thu", "Fri"]),
])
def test_weekday_ranges_and_steps_mean_what_crontab_says(weekdays: str,
                                                         expected: list[str]) -> None:
    expression = f"0 7 * * {weekdays}"
    assert check_cron(expression) == expression
    tz = ZoneInfo("UTC")
    fire, seen = datetime(2026, 11, 29, tzinfo=tz), set()
    for _ in range(14):
        fire = next_send(expression, tz, fire)
        seen.add(fire.strftime("%a"))
    order = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    assert sorted(seen, key=order.index) == expected


@pytest.mark.parametrize("bad", ["0 7 * 1-feb *", "0 7 * * 5-1", "0 7 32 * *", "61 * * * *",
                                 "0 7 * * */0", "0 7 1-2-3 * *"])
def test_check_cron_refuses_what_apscheduler_would(bad: str) -> None:
    with pytest.raises(ValueError, match="invalid cron expression"):
        check_cron(bad)


# --- what the check accepts, the scheduler runs, and it fires (issue 17) ---

START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize("cron", ["0 0 31 2 *", "0 0 30 2 *", "0 7 30-31 feb *",
                                  "0 0 31 4,6,9,11 *", "0 0 31 2 mon", "0 0 31 apr-apr *",
                                  "0 0 0 31 2 *", "0 0 30,31 2-2 *"])
def test_a_cron_that_never_fires_is_refused(cron: str) -> None:
    """`0 0 31 2 *` passed the check, then `build`, `send`, `status` and the daemon died on it
    (ValueError: never fires)."""
    with pytest.raises(ValueError, match=re.escape(f"{cron!r}: it never fires (no month in")):
        check_cron(cron)
    assert _trigger(cron, "UTC").get_next_fire_time(None, START) is None  # APScheduler agrees


@pytest.mark.parametrize(("cron", "after", "fires"), [
    ("0 0 29 2 *", START, date(2028, 2, 29)),
    ("0 0 29 2 *", datetime(2097, 1, 1, tzinfo=UTC), date(2104, 2, 29)),  # 2100: no Feb 29
    ("0 0 29 2 mon", START, date(2044, 2, 29)),  # rare, but it fires
    ("0 0 29-31 feb *", START, date(2028, 2, 29)),
    ("0 0 last feb *", START, date(2026, 2, 28)),
    ("0 0 31 */2 *", START, date(2026, 1, 31)),
    ("0 0 13 * fri", START, date(2026, 2, 13)),
])
def test_leap_days_and_month_ends_that_fire_are_accepted(cron: str, after: datetime,
                                                         fires: date) -> None:
    assert check_cron(cron) == cron
    assert next_send(cron, ZoneInfo("UTC"), after).date() == fires


@pytest.mark.parametrize(("cron", "span"), [
    ("*/90 * * * *", "minute field '*/90': the step in '*/90' is longer than the range it "
                     "steps through (0-59)"),
    ("0 */24 * * *", "hour field '*/24': the step in '*/24' is longer than the range it steps "
                     "through (0-23)"),
    ("0 0 */31 * *", "(1-31)"), ("0 0 1-1/1 * *", "(1-1)"), ("0 0 20/12 * *", "(20-31)"),
    ("0 0 1 4/12 *", "(4-12)"), ("0 0 1 dec/2 *", "(12-12)"), ("*/60 0 0 1 * *", "(0-59)"),
])
def test_a_step_longer_than_its_range_is_refused_as_apscheduler_would(cron: str,
                                                                     span: str) -> None:
    with pytest.raises(ValueError, match=re.escape(span) + "$"):
        check_cron(cron)
    with pytest.raises(ValueError, match="the step value"):
        _trigger(cron, "UTC")


def test_a_step_after_a_month_name_steps_as_crontab_says() -> None:
    """APScheduler read `jan/3` as January alone; crontab means every third month from it."""
    fire, months = START, []
    for _ in range(5):
        fire = next_send("0 0 1 jan/3 *", ZoneInfo("UTC"), fire)
        months.append(fire.month)
    assert months == [4, 7, 10, 1, 4]  # 1 January 2026 itself is not after START
    upper = [next_send("0 0 1 JAN/3 *", ZoneInfo("UTC"), START).month]
    assert upper == months[:1]  # names in any case


@pytest.mark.parametrize("expression", [
    "*/59 * * * *",  # a step as long as its field: once, at :00
    "5-10/5 * * * *",  # a step as long as its range
    "0 9 * * 1-2/5",  # weekdays are spelled out for APScheduler: any step will do
    "0 0 31,last 2 *",  # `last` fires in February, whatever else the field says
])
def test_steps_at_their_limit_and_last_day_lists_are_accepted(expression: str) -> None:
    assert check_cron(expression) == expression
    assert next_send(expression, ZoneInfo("UTC"), START) > START


def test_a_step_past_a_range_that_starts_at_zero_is_refused() -> None:
    with pytest.raises(ValueError, match=r"longer than the range it steps through \(0-10\)"):
        check_cron("0-10/20 * * * *")


def _field(low: int, high: int, names: tuple[str, ...] = (), extra: tuple[str, ...] = ()
           ) -> st.SearchStrategy[str]:
    """One crontab field: lists of values, ranges and steps, some outside the field."""
    number = st.integers(low - 1, high + 1).map(str)
    value = st.one_of(number, st.sampled_from(names)) if names else number
    step = st.integers(0, high - low + 2).map(str)
    atom = st.one_of(
        st.just("*"), step.map(lambda s: f"*/{s}"), value,
        st.tuples(value, value).map("-".join),
        st.tuples(value, value, step).map(lambda t: f"{t[0]}-{t[1]}/{t[2]}"),
        st.tuples(value, step).map("/".join),
        *([st.sampled_from(extra)] if extra else []),
    )
    return st.lists(atom, min_size=1, max_size=3).map(",".join)


CRONS = st.tuples(
    st.one_of(st.just(""), _field(0, 59).map(lambda f: f + " ")),  # seconds, sometimes
    _field(0, 59), _field(0, 23), _field(1, 31, extra=("last",)),
    _field(1, 12, ("jan", "feb", "apr", "jun", "sep", "nov", "dec")),
    _field(0, 7, ("sun", "mon", "fri", "sat")),
).map(lambda f: f[0] + " ".join(f[1:]))


@settings(max_examples=300, deadline=None, derandomize=True, database=None)
@given(CRONS)
def test_what_check_cron_accepts_apscheduler_runs_and_it_fires(cron: str) -> None:
    """Generated expressions, held to APScheduler's own reading: what the check accepts builds
    a trigger and fires (so no command dies on it later); what it refuses as never firing
    never fires."""
    try:
        check_cron(cron)
    except ValueError as e:
        if "never fires" in str(e):
            assert _trigger(cron, "UTC").get_next_fire_time(None, START) is None
        return
    fire = _trigger(cron, "UTC").get_next_fire_time(None, START)
    assert fire is not None and fire.year < 2056, cron
