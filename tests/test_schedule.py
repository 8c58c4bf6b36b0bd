"""schedule: crontab semantics, edition send times across DST, the sends missed during an
outage and what the daemon does about them (a fake clock: every `now` is given)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import FeedServer, WriteConfig
from digest.schedule import (
    CatchUp,
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
    assert previous_send("0 9 30 2 *", LONDON, monday) is None  # never fires


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
    assert plan_catch_up(missed, now=back, grace=GRACE, done={"2026-11-30"}) == CatchUp(None, ())


def test_a_long_outage_sends_at_most_one_edition() -> None:
    # Down for three weeks, back two hours after the third missed Monday: that edition goes
    # out, the two before it are skipped; never two editions at once.
    mondays = [datetime(2026, 11, d, 7, tzinfo=LONDON) for d in (16, 23, 30)]
    back = mondays[-1] + timedelta(hours=2)
    missed = missed_sends(WEEKLY, LONDON, since=datetime(2026, 11, 15, tzinfo=UTC), now=back)
    plan = plan_catch_up(missed, now=back, grace=GRACE, done={"2026-11-16"})
    assert plan == CatchUp(mondays[-1], (mondays[1],))


def test_daemon_polls_at_start_and_stops_cleanly_on_sigterm(
    write_config: WriteConfig, feed_server: FeedServer, tmp_path: Path
) -> None:
    config = write_config({"feeds": [{"url": feed_server.url("rss2.xml")}]})
    digest = Path(sys.executable).parent / "digest"
    proc = subprocess.Popen([str(digest), "--config", str(config), "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        for _ in range(200):  # wait (bounded) for the first poll to reach our server
            if feed_server.hits("rss2.xml"):
                break
            time.sleep(0.05)
        assert feed_server.hits("rss2.xml") == 1
        time.sleep(0.5)  # let the poll job record its result
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert "received SIGTERM" in err
    assert "poll: 1 feeds polled" in err
    feeds = subprocess.run([str(digest), "--config", str(config), "feeds", "--format", "json"],
                           capture_output=True, text=True, check=True)
    assert json.loads(feeds.stdout)[0]["status"] == "ok"
