"""Unsubscribes during a send, on PostgreSQL, across processes (issue 18): two `digest serve`
processes take one-click unsubscribes (RFC 8058) while a `digest send` process is delivering;
every message not yet handed to the SMTP server when its reader left is not sent, and is
recorded suppressed. The SMTP server (aiosmtpd, in this process) holds its answer to the 100th
message until the unsubscribes are in, so the test knows exactly which messages were already
handed over: no timing is guessed."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.error import URLError

import pytest
import yaml
from aiosmtpd.smtp import Envelope

from conftest import (
    DEMO_EDITION,
    HANG,
    SmtpServer,
    _empty,
    _postgres_url,
    free_port,
    store_demo_items,
    wait_until,
)
from digest.addresses import address_key
from digest.app import make_app
from digest.config import load_settings
from digest.models import DeliveryStatus, ReaderSource, ReaderStatus
from digest.store import NewReader

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(_postgres_url() is None, reason="DIGEST_TEST_DATABASE_URL is not set"),
]

READERS = 300
HELD_AT = 100  # the SMTP server holds its answer to this message
LEAVING = range(150, 250)  # readers who leave while it is held: none of them handed over yet
SECRET = "a-web-secret-for-the-tests-only-0123456789"


@pytest.fixture
def pg_demo(demo: Path, smtp_server: SmtpServer) -> Iterator[Path]:
    url = _postgres_url()
    assert url is not None
    _empty(url)
    data = yaml.safe_load(demo.read_text(encoding="utf-8"))
    data["database"] = url
    data["recipients"] = []
    data["delivery"] = {"from": "The Brief <brief@example.org>", "transport": "smtp",
                        "smtp": {"host": "127.0.0.1", "port": smtp_server.port,
                                 "security": "none"}}
    data["web"] = {"base_url": "https://news.example.org", "secret": SECRET,
                   "posts_per_minute": 10000}
    demo.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    yield demo
    _empty(url)


def serve(config: Path, port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "digest", "--config", str(config), "serve",
                             "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as answer:
            return bool(answer.status == 200)
    except (URLError, OSError):
        return False


def one_click(port: int, link: str) -> int:
    """POST the one-click body to the link's path and query, as a mail provider does."""
    path = link.removeprefix("https://news.example.org")
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}",
                                     data=b"List-Unsubscribe=One-Click", method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(request, timeout=HANG) as answer:
        return int(answer.status)


def test_unsubscribes_during_a_send_stop_every_message_not_yet_handed_over(
        pg_demo: Path, smtp_server: SmtpServer) -> None:
    store_demo_items(pg_demo)
    settings = load_settings(pg_demo, env={})
    app = make_app(settings)
    addresses = [f"reader{n:03d}@example.org" for n in range(READERS)]
    try:
        app.store.add_readers([NewReader(a, address_key(a), ReaderStatus.ACTIVE,
                                         ReaderSource.COMMAND) for a in addresses],
                              now=app.clock())
        links = {r.address: app.readers.links(r) for r in app.readers.audience()}
    finally:
        app.close()

    reached, release = threading.Event(), threading.Event()

    def hold(server: Any, envelope: Envelope) -> None:
        if len(smtp_server.handler.envelopes) == HELD_AT:
            reached.set()
            release.wait(HANG)  # the sender waits for this message's answer meanwhile

    smtp_server.handler.on_data = hold
    ports = [free_port(), free_port()]
    services = [serve(pg_demo, port) for port in ports]
    sender: subprocess.Popen[bytes] | None = None
    try:
        for port in ports:
            wait_until(lambda port=port: healthy(port), f"digest serve on port {port}")
        sender = subprocess.Popen(
            [sys.executable, "-m", "digest", "--config", str(pg_demo), "send", "--verbose",
             "--edition",
             DEMO_EDITION, "--no-fetch"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
        assert reached.wait(HANG), "the send never reached the held message"
        answers = [one_click(ports[n % 2], links[addresses[i]].unsubscribe)  # type: ignore[union-attr]
                   for n, i in enumerate(LEAVING)]
        assert answers == [200] * len(LEAVING)
        release.set()
        _, err = sender.communicate(timeout=HANG)
        assert sender.returncode == 0, err.decode()
    finally:
        release.set()
        if sender is not None and sender.poll() is None:
            sender.kill()
        for service in services:
            service.terminate()
            service.wait(timeout=HANG)

    received = [a for e in smtp_server.handler.envelopes for a in e.rcpt_tos]
    left = {addresses[i] for i in LEAVING}
    assert len(received) == READERS - len(left)
    assert not left & set(received)
    assert received == [a for a in addresses if a not in left]
    app = make_app(load_settings(pg_demo, env={}))
    try:
        statuses = {d.recipient: d.status for d in app.store.history()}
        assert {statuses[a] for a in left} == {DeliveryStatus.SUPPRESSED}
        assert sum(s is DeliveryStatus.SENT for s in statuses.values()) == READERS - len(left)
        assert {app.readers.find(a).status for a in left} == {ReaderStatus.UNSUBSCRIBED}
    finally:
        app.close()
