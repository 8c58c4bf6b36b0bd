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


def test_a_feed_polled_daily_keeps_backing_off_after_months_of_failures() -> None:
    # every x 2^(failures-1) would be 2^39 days after 40 daily failures: past what a timedelta
    # holds; the doubling stops at the cap.
    for every in (HOUR, 6 * HOUR, DAY, 7 * DAY):
        assert plan(failed(), failures=40, every=every) == DAY
    assert backoff(DAY, 1000, 2 * DAY, 0.0) == 1.5 * DAY


@pytest.mark.parametrize(("ttl", "cache_for", "wins"), [
    (timedelta(hours=2), timedelta(hours=3), "Cache-Control max-age"),
    (timedelta(hours=3), timedelta(hours=2), "the feed's <ttl>"),
    (timedelta(hours=3), timedelta(hours=3), "the feed's <ttl>"),  # a tie: the feed's own word
])
def test_of_ttl_and_max_age_the_longer_wins(ttl: timedelta, cache_for: timedelta,
                                             wins: str) -> None:
    result = plan_next_poll(ok(ttl=ttl, cache_for=cache_for), now=NOW, every=HOUR, failures=0,
                            max_backoff=DAY, draw=0.5)
    assert result.next_poll_at == NOW + max(ttl, cache_for)
    assert result.reason == f"in 3h, as {wins} asks"


def test_of_max_age_and_retry_after_alike_the_reason_names_max_age() -> None:
    # Equal delays poll at the same time; the reason names the first of <ttl>, Cache-Control
    # and Retry-After that asked for it, whatever the order of their names.
    result = plan_next_poll(failed(cache_for=5 * HOUR, retry_after=5 * HOUR), now=NOW,
                            every=HOUR, failures=1, max_backoff=DAY, draw=1.0)
    assert result.reason == "in 5h, as Cache-Control max-age asks"


@pytest.mark.parametrize(("outcome", "failures", "reason"), [
    (ok(), 0, "every 1h"),
    (ok(ttl=HOUR), 0, "every 1h"),  # asking for the interval itself changes nothing
    (ok(ttl=2 * HOUR), 0, "in 2h, as the feed's <ttl> asks"),
    (failed(), 1, "backoff 1h after 1 failed poll"),
    (failed(retry_after=HOUR), 1, "backoff 1h after 1 failed poll"),
    (failed(), 3, "backoff 4h after 3 failed polls"),
    (failed(retry_after=5 * HOUR), 3, "in 5h, as Retry-After asks"),
    (failed(gone=True), 1, "disabled: 410 Gone (digest fetch --all tries again)"),
])
def test_the_reason_digest_feeds_shows(outcome: FeedOutcome, failures: int, reason: str) -> None:
    result = plan_next_poll(outcome, now=NOW, every=HOUR, failures=failures, max_backoff=DAY,
                            draw=1.0)
    assert result.reason == reason


@pytest.mark.parametrize(("every", "said"), [
    (timedelta(seconds=30), "30s"),
    (timedelta(minutes=1), "1m"),
    (timedelta(minutes=45), "45m"),
    (HOUR, "1h"),
    (timedelta(hours=1, minutes=5, seconds=30), "1h"),  # under a tenth of an hour over
    (timedelta(hours=1, minutes=6), "1.1h"),  # a tenth over: one decimal
    (timedelta(minutes=90), "1.5h"),
    (DAY, "1d"),
    (timedelta(days=2, hours=12), "2.5d"),
])
def test_intervals_are_said_in_their_largest_unit(every: timedelta, said: str) -> None:
    result = plan_next_poll(ok(), now=NOW, every=every, failures=0, max_backoff=DAY, draw=1.0)
    assert result.reason == f"every {said}"
