"""`make test-dates` puts this folder on PYTHONPATH, so every Python process of the run (pytest
and the `digest` processes the tests start) imports it at start-up.

It works around one bug of Debian 12's libfaketime (0.9.10, fixed in 0.9.11: wolfcw/libfaketime
#426), and does nothing anywhere else: with FAKETIME_DONT_FAKE_MONOTONIC=1, its
clock_nanosleep() shifts an absolute CLOCK_MONOTONIC deadline by the faked offset anyway, so the
kernel gets a negative time and Python 3.11's `time.sleep()` (which sleeps until an absolute
monotonic deadline) fails at once with "OSError: [Errno 22] Invalid argument". This `sleep`
waits with select(), which takes a relative timeout; the wall clock stays faked.
"""

from __future__ import annotations

import os
import select
import time


def _sleep_is_broken() -> bool:
    if "faketime" not in os.environ.get("LD_PRELOAD", ""):
        return False
    try:
        time.sleep(0.0001)
    except OSError:
        return True
    return False


def _sleep(seconds: float) -> None:
    """time.sleep, but through select(): the same errors for bad arguments, and signals
    interrupt it the same way (their handler runs, then the sleep goes on)."""
    if seconds < 0:
        raise ValueError("sleep length must be non-negative")
    deadline = time.monotonic() + seconds
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        select.select([], [], [], left)


if _sleep_is_broken():
    time.sleep = _sleep
