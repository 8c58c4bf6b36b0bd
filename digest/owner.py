"""Who holds a claim: a name for this process (host:pid:start time), and whether the process a
name stands for has ended, so its unfinished claims can be taken at once instead of after a
timeout. Only processes on this host can be judged; any other owner is never called gone.
And which daemons are alive, by their heartbeats (what `digest status --check` asks)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from datetime import datetime, timedelta

ALIVE = timedelta(minutes=3)  # a heartbeat older than this: that daemon is not running
# Store.instances(): (owner, started at, last beat, next send)
Beat = tuple[str, datetime, datetime, datetime | None]


def _stat(pid: int) -> tuple[str, str]:
    """A process's state letter and its start time in clock ticks since boot (Linux /proc);
    ("", "") where unknown. With the pid, the start time tells a process from a later one
    that was given the same pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return "", ""
    fields = stat[stat.rfind(b")") + 2:].split()  # after "pid (command) "
    if len(fields) < 20:
        return "", ""
    return fields[0].decode(), fields[19].decode()


def this_process() -> str:
    pid = os.getpid()
    return f"{socket.gethostname()}:{pid}:{_stat(pid)[1]}"


def gone(owner: str) -> bool:
    """Whether `owner` (a this_process() name) is a process on this host that has ended."""
    host, pid, started = [*owner.rsplit(":", 2), "", ""][:3]
    if host != socket.gethostname() or not pid.isdigit() or len(pid) > 9:
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass  # it exists (another user's)
    state, now = _stat(int(pid))
    return state == "Z" or (bool(started) and bool(now) and now != started)


def recent(beat_at: datetime, now: datetime) -> bool:
    """Whether a heartbeat is within ALIVE of now (either way: clock skew)."""
    return abs(now - beat_at) <= ALIVE


def alive(beats: Iterable[Beat], now: datetime) -> list[Beat]:
    """The daemons whose last heartbeat is recent."""
    return [b for b in beats if recent(b[2], now)]
