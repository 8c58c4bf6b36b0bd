"""owner: naming the process that holds a claim, and telling when it has ended."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from conftest import wait_until
from digest.owner import gone, this_process

LINUX_PROC = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="needs /proc")


def test_this_process_is_named_by_host_and_pid_and_is_alive() -> None:
    host, pid, _ = this_process().rsplit(":", 2)
    assert host == socket.gethostname() and int(pid) == os.getpid()
    assert not gone(this_process())


def test_a_process_that_ended_is_gone_even_before_it_is_reaped() -> None:
    child = subprocess.Popen([sys.executable, "-c",
                              "from digest.owner import this_process; print(this_process());"
                              "import time; time.sleep(60)"],
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    name = child.stdout.readline().strip()
    try:
        assert name.split(":")[1] == str(child.pid)
        assert not gone(name)
        os.kill(child.pid, signal.SIGKILL)
        if os.path.exists("/proc/self/stat"):  # a zombie until waited for: still gone
            def zombie() -> bool:
                with open(f"/proc/{child.pid}/stat") as f:
                    return f.read().rsplit(")", 1)[1].split()[0] == "Z"

            wait_until(zombie, "the killed child to become a zombie")
            assert gone(name)
    finally:
        child.kill()
        child.wait()
    assert gone(name)


@LINUX_PROC
def test_a_pid_given_to_a_later_process_is_gone() -> None:
    host, pid, started = this_process().rsplit(":", 2)
    assert gone(f"{host}:{pid}:{int(started) + 1}")  # same pid, another start: not the same


def test_processes_elsewhere_or_unreadable_names_are_never_gone() -> None:
    assert not gone(f"another-host.invalid:{os.getpid() + 1_000_000}:1")
    assert not gone("")
    assert not gone("no pid here")
    assert not gone(f"{socket.gethostname()}:99999999999999999999:1")
