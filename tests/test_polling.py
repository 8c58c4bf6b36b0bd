"""polling: when a feed is polled next, as a pure function of the outcome, `now` and a draw."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from digest.models import FeedOutcome, FeedStatus
from digest.polling import MAX_PUBLISHER_DELAY, backoff, plan_next_poll

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
DAY = timedelta(hours=24)


def ok(**fields: object) -> FeedOutcome:
    return FeedOutcome("https://feeds.example/a.xml", FeedStatus.OK, **fields)  # type: ignore[arg-type]


def failed(**fields: object) -> FeedOutcome:
    return FeedOutcome("https://feeds.example/a.xml", FeedStatus.ERROR, error="HTTP 500",
                       **fields)  # type: ignore[arg-type]


def plan(outcome: FeedOutcome, failures: int = 0, draw: float = 1.0,
         every: timedelta = HOUR) -> timedelta | None:
    result = plan_next_poll(outcome, now=NOW, every=every, failures=failures, max_backoff=DAY,
                            draw=draw)
    return None if result.next_poll_at is None else result.next_poll_at - NOW


def test_a_healthy_feed_is_polled_every_interval() -> None:
    assert plan(ok()) == HOUR


@pytest.mark.parametrize("field", ["ttl", "cache_for"])
def test_the_publisher_asking_for_longer_wins(field: str) -> None:
    assert plan(ok(**{field: timedelta(hours=3)})) == timedelta(hours=3)


@pytest.mark.parametrize("field", ["ttl", "cache_for"])
def test_the_publisher_asking_for_shorter_does_not_make_us_poll_more(field: str) -> None:
    assert plan(ok(**{field: timedelta(minutes=5)})) == HOUR


def test_an_absurd_publisher_delay_is_capped_at_a_week() -> None:
    assert plan(ok(ttl=timedelta(days=400))) == MAX_PUBLISHER_DELAY


def test_the_plan_says_why() -> None:
    result = plan_next_poll(ok(ttl=timedelta(hours=3)), now=NOW, every=HOUR, failures=0,
                            max_backoff=DAY, draw=0.5)
    assert "ttl" in result.reason


def test_backoff_doubles_per_consecutive_failure_until_the_cap() -> None:
    waits = [plan(failed(), failures=n) for n in range(1, 8)]
    assert waits[:5] == [HOUR, 2 * HOUR, 4 * HOUR, 8 * HOUR, 16 * HOUR]
    assert waits[5] == DAY and waits[6] == DAY  # capped, never given up


def test_backoff_keeps_polling_after_many_failures() -> None:
    wait = plan(failed(), failures=500)
    assert wait is not None and wait <= DAY


def test_jitter_shortens_by_at_most_a_quarter() -> None:
    low = plan(failed(), failures=3, draw=0.0)
    high = plan(failed(), failures=3, draw=0.999999)
    assert low == 3 * HOUR  # 4h x 0.75
    assert high is not None and 3 * HOUR < high <= 4 * HOUR
    assert backoff(HOUR, 3, DAY, 0.5) == timedelta(hours=3.5)


def test_retry_after_longer_than_the_backoff_is_honoured() -> None:
    assert plan(failed(retry_after=timedelta(hours=5)), failures=1) == timedelta(hours=5)


def test_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    assert plan(failed(retry_after=timedelta(seconds=10)), failures=3, draw=0.0) == 3 * HOUR


def test_gone_is_not_polled_again_until_forced() -> None:
    result = plan_next_poll(failed(gone=True), now=NOW, every=HOUR, failures=1,
                            max_backoff=DAY, draw=0.5)
    assert result.next_poll_at is None
    assert "410" in result.reason
