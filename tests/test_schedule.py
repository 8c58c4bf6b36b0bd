"""schedule: crontab semantics, edition send times across DST, and the `digest run` daemon."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import FeedServer, WriteConfig
from digest.schedule import next_send, parse_cron, send_time_on

LONDON = ZoneInfo("Europe/London")


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
