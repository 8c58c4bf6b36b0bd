"""When each feed is polled next: its interval, the publisher's own limits (<ttl>,
Cache-Control, Retry-After) and exponential backoff with jitter after failures. Pure: given
`now` and a random draw, no I/O and no clock.

Politeness is the rule: never poll sooner than the publisher asks, and slow down, never give
up, when a feed keeps failing (miniflux stops a feed after 3 errors; a feed that was down for a
day should come back by itself).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from digest.models import FeedOutcome, FeedStatus

# A publisher's <ttl>, max-age or Retry-After beyond this is taken as this: a week is already
# longer than an edition, and a typo (ttl in seconds, not minutes) must not silence a feed
# for months.
MAX_PUBLISHER_DELAY = timedelta(days=7)
# Jitter draws each backoff from [JITTER_FLOOR, 1] of its nominal length, so feeds that failed
# together (one host down) do not all come back in the same second.
JITTER_FLOOR = 0.75


@dataclass(frozen=True, slots=True)
class PollPlan:
    """What to remember after a poll: when to poll next (None: not until forced)."""

    next_poll_at: datetime | None
    reason: str  # one line for `digest feeds` and logs: "every 1h", "backoff 4h (3 failures)"


def backoff(every: timedelta, failures: int, cap: timedelta, draw: float) -> timedelta:
    """The wait after `failures` consecutive failures: every x 2^(failures-1), capped, then
    jittered down by up to a quarter (`draw` in [0, 1))."""
    nominal = every
    for _ in range(max(failures - 1, 0)):
        if nominal >= cap:  # doubling stops at the cap: a daily feed's 2^40 overflows timedelta
            break
        nominal *= 2
    return min(nominal, cap) * (JITTER_FLOOR + (1 - JITTER_FLOOR) * draw)


def _publisher_floor(outcome: FeedOutcome) -> tuple[timedelta, str]:
    """The longest delay the publisher asked for, and where it came from."""
    asked = [(d, why) for d, why in ((outcome.ttl, "the feed's <ttl>"),
                                     (outcome.cache_for, "Cache-Control max-age"),
                                     (outcome.retry_after, "Retry-After")) if d]
    if not asked:
        return timedelta(0), ""
    delay, why = max(asked, key=lambda pair: pair[0])
    return min(delay, MAX_PUBLISHER_DELAY), why


def plan_next_poll(
    outcome: FeedOutcome, *, now: datetime, every: timedelta, failures: int,
    max_backoff: timedelta, draw: float,
) -> PollPlan:
    """The next poll after `outcome`. `failures` counts consecutive failures including this
    one (0 after a success)."""
    if outcome.gone:
        return PollPlan(None, "disabled: 410 Gone (digest fetch --all tries again)")
    floor, why = _publisher_floor(outcome)
    if outcome.status is FeedStatus.OK:
        if floor > every:
            return PollPlan(now + floor, f"in {_human(floor)}, as {why} asks")
        return PollPlan(now + every, f"every {_human(every)}")
    wait = backoff(every, failures, max_backoff, draw)
    if floor > wait:
        return PollPlan(now + floor, f"in {_human(floor)}, as {why} asks")
    return PollPlan(now + wait, f"backoff {_human(wait)} after {failures} failed "
                                f"poll{'s' if failures != 1 else ''}")


def _human(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            whole, rest = divmod(seconds, size)
            return f"{whole}{unit}" if rest < size / 10 else f"{seconds / size:.1f}{unit}"
    return f"{seconds}s"
