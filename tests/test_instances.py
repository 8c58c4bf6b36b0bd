"""Several instances on one PostgreSQL database: three `digest send` processes share one
edition's 5,000 recipients (also with one of them killed mid-run), and three `digest fetch`
processes share 3,000 due feeds; every recipient gets one copy, every feed is polled once.

Real processes, a real SMTP server (aiosmtpd in this process), a real HTTP server, a database
of their own per test (created and dropped through the server's `postgres` database).
PostgreSQL only: skipped without DIGEST_TEST_DATABASE_URL.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from conftest import FeedServer, Route, SmtpServer, WriteConfig, rss_feed

DIGEST = [sys.executable, "-m", "digest"]
RECIPIENTS = 5_000  # the number
INSTANCES = 3
FEEDS = 3_000
KILL_AT = 1_500  # messages the server has received when one sender is killed
TIMEOUT = 600  # seconds any one process may take (a bound, not a timing assertion)

pytestmark = pytest.mark.slow  # thousands of recipients and feeds, several processes


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database on DIGEST_TEST_DATABASE_URL's server, dropped after
    (with whatever connections a killed process left)."""
    url = os.environ.get("DIGEST_TEST_DATABASE_URL")
    if not url:
        pytest.skip("DIGEST_TEST_DATABASE_URL is not set")
    from sqlalchemy import create_engine, make_url, text

    server = make_url(url)
    name = f"digest_instances_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def digest(config: Path, *args: str) -> list[str]:
    return [*DIGEST, "--config", str(config), *args]


def run_all(commands: list[list[str]]) -> list[tuple[int, str, str]]:
    """Start the commands at once; (exit code, stdout, stderr) of each when all have ended."""
    procs = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for c in commands]
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:  # a run over its time: do not leave it behind
            if p.poll() is None:
                p.kill()
                p.wait()
    return [(p.returncode, out, err) for p, (out, err) in zip(procs, outputs, strict=True)]


def sent_by(stdout: str) -> list[str]:
    """Recipients this `digest send` run sent itself (`EDITION  ADDRESS  STATUS  DETAIL`
    lines; "already recorded" ones were sent by another run)."""
    sent = []
    for line in stdout.splitlines():
        fields = line.split(None, 3)
        if len(fields) >= 3 and fields[2] == "sent" and \
                not (len(fields) == 4 and fields[3] == "already recorded"):
            sent.append(fields[1])
    return sent


def history(config: Path) -> list[dict[str, Any]]:
    done = subprocess.run(digest(config, "history", "--format", "json"), capture_output=True,
                          text=True, timeout=TIMEOUT, check=True)
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def received(server: SmtpServer) -> list[str]:
    return sorted(r for envelope in server.handler.envelopes for r in envelope.rcpt_tos)


def send_config(write_config: WriteConfig, feed_server: FeedServer, smtp_server: SmtpServer,
                database: str) -> tuple[Path, list[str], str]:
    """One feed of three fresh stories, 5,000 recipients, SMTP to the test server; fetched
    once. Returns the config, the recipients and the edition (tomorrow: its send time is
    after the stories)."""
    now = datetime.now(UTC)
    feed_server.routes["/chips.xml"] = Route(body=rss_feed(now, "chips"),
                                             headers={"Content-Type": "application/rss+xml"})
    recipients = [f"reader{n:04d}@example.org" for n in range(RECIPIENTS)]
    config = write_config({
        "timezone": "UTC",
        "database": database,
        "feeds": [{"url": feed_server.url("chips.xml"), "section": "tech"}],
        "delivery": {"from": "Test Brief <brief@example.org>", "transport": "smtp",
                     "smtp": {"host": "127.0.0.1", "port": smtp_server.port,
                              "security": "none"}},
        "recipients": recipients,
    })
    subprocess.run(digest(config, "fetch"), check=True, capture_output=True, timeout=TIMEOUT)
    edition = (now.date() + timedelta(days=1)).isoformat()
    return config, recipients, edition


def report_split(label: str, counts: list[int]) -> str:
    line = f"{label}: " + " + ".join(f"{n:,}" for n in counts) + f" = {sum(counts):,}"
    print(line)
    return line


def test_three_senders_share_one_edition_and_each_reader_gets_one_copy(
        write_config: WriteConfig, feed_server: FeedServer, smtp_server: SmtpServer,
        pg_url: str) -> None:
    config, recipients, edition = send_config(write_config, feed_server, smtp_server, pg_url)
    send = digest(config, "send", "--verbose", "--edition", edition, "--no-fetch")
    results = run_all([send] * INSTANCES)
    assert [code for code, _, _ in results] == [0] * INSTANCES, [e for _, _, e in results]
    assert received(smtp_server) == recipients  # nobody twice, nobody missed
    rows = history(config)
    assert sorted(r["recipient"] for r in rows) == recipients
    assert {r["status"] for r in rows} == {"sent"}
    assert {r["edition"] for r in rows} == {edition}  # one edition, frozen once
    # Who sent what: each run's own sends, together exactly the recipients.
    per_run = [sent_by(out) for _, out, _ in results]
    assert sorted(a for sent in per_run for a in sent) == recipients
    report_split("sent per process", [len(s) for s in per_run])
    assert sum(1 for s in per_run if s) > 1, "one process did all the work"
    size = len(smtp_server.handler.envelopes[0].original_content or b"")
    assert size < 20_000, size  # a small edition: the test measures sharing, not bulk


def _local_ports(pid: int) -> set[int]:
    """The local TCP ports of a process's sockets (Linux /proc), to tell its SMTP session."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if fields[9] in inodes:
                ports.add(int(fields[1].rsplit(":", 1)[1], 16))
    return ports


def test_one_of_three_senders_killed_mid_run_and_a_rerun_leave_one_copy_each(
        write_config: WriteConfig, feed_server: FeedServer, smtp_server: SmtpServer,
        pg_url: str) -> None:
    # Three senders; once the server has 1,500 messages, the next one that comes from the
    # victim is answered by SIGKILL (inside DATA: the server has the message, the victim has
    # noted the hand-over and not recorded it). The survivors finish what nobody claimed;
    # the victim's last chunk stays claimed by a dead process until `digest send` runs
    # again and takes it over at once (same host, the process is gone).
    config, recipients, edition = send_config(write_config, feed_server, smtp_server, pg_url)
    send = digest(config, "send", "--verbose", "--edition", edition, "--no-fetch")
    procs = [subprocess.Popen(send, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(INSTANCES)]
    victim = procs[0]
    killed: list[str] = []
    at_kill: list[int] = []
    victim_ports: set[int] = set()

    def kill_victim(server: Any, envelope: Any) -> None:
        if killed or len(smtp_server.handler.envelopes) < KILL_AT:
            return
        if not victim_ports:
            victim_ports.update(_local_ports(victim.pid))
        peer = server.session.peer
        if peer and peer[1] in victim_ports:
            killed.extend(envelope.rcpt_tos)
            at_kill.append(len(smtp_server.handler.envelopes))
            victim.kill()

    smtp_server.handler.on_data = kill_victim
    try:
        outputs = [p.communicate(timeout=TIMEOUT) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    smtp_server.handler.on_data = None
    assert killed, "the victim sent nothing after the first 1,500 messages"
    assert victim.returncode == -signal.SIGKILL
    assert [p.returncode for p in procs[1:]] == [0] * (INSTANCES - 1), [e for _, e in outputs]
    before = received(smtp_server)
    assert len(before) == len(set(before))  # no copy twice so far
    missing = sorted(set(recipients) - set(before))
    rows = {r["recipient"]: r["status"] for r in history(config)}
    stuck = sorted(r for r, s in rows.items() if s == "sending")
    assert 0 < len(stuck) <= 100  # the victim's chunk (DELIVERY_BATCH), claimed and dead
    assert set(missing) <= set(stuck)

    again = subprocess.run(send, capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr
    assert received(smtp_server) == recipients  # exactly one copy each
    final = history(config)
    assert sorted(r["recipient"] for r in final) == recipients
    rerun_sent = sent_by(again.stdout)
    unconfirmed = [line.split()[1] for line in again.stdout.splitlines()
                   if "unconfirmed" in line]
    # only the dead process's claims: sent, or recorded unconfirmed (handed over, then
    # killed: not sent again) and told apart in the history
    assert sorted(rerun_sent + unconfirmed) == sorted(set(stuck))
    assert sorted(r["recipient"] for r in final if r["status"] == "unconfirmed") == \
        sorted(unconfirmed)
    assert {r["status"] for r in final} <= {"sent", "unconfirmed"}
    assert killed[0] in unconfirmed
    assert sorted(missing) == sorted(rerun_sent)
    report_split("sent by survivors", [len(sent_by(out)) for out, _ in outputs[1:]])
    survivors = sum(len(sent_by(out)) for out, _ in outputs[1:])
    print(f"victim killed at the server's message {at_kill[0]:,}; it had handed over "
          f"{len(before) - survivors:,}; the rerun took its {len(stuck)} claims: "
          f"{len(unconfirmed)} recorded unconfirmed, {len(missing)} sent")


def test_three_pollers_fetch_each_of_3000_feeds_once(
        write_config: WriteConfig, feed_server: FeedServer, pg_url: str) -> None:
    now = datetime.now(UTC)
    paths = [f"/feed/{n:04d}.xml" for n in range(FEEDS)]
    for n, path in enumerate(paths):
        feed_server.routes[path] = Route(body=rss_feed(now, f"f{n:04d}", count=2),
                                         headers={"Content-Type": "application/rss+xml"})
    config = write_config({
        "timezone": "UTC",
        "database": pg_url,
        "schedule": {"poll_every": "1h"},
        # every feed on one host: let each process keep 16 of them under way
        "fetch": {"concurrency": 16, "per_host": 16},
        "feeds": [{"url": feed_server.url(p), "section": "tech"} for p in paths],
    })
    # The schema first (one migration), so the three start on equal terms.
    subprocess.run(digest(config, "db", "upgrade"), check=True, capture_output=True,
                   timeout=TIMEOUT)
    fetch = digest(config, "fetch", "--format", "json")
    results = run_all([fetch] * INSTANCES)
    assert [code for code, _, _ in results] == [0] * INSTANCES, [e for _, _, e in results]
    polled = [json.loads(out) for _, out, _ in results]
    hits = Counter(path for path, _ in feed_server.requests)
    assert sorted(hits) == paths and set(hits.values()) == {1}  # each feed fetched once
    urls = sorted(o["url"] for outcomes in polled for o in outcomes)
    assert urls == sorted(feed_server.url(p) for p in paths)  # each reported by one process
    assert {o["status"] for outcomes in polled for o in outcomes} == {"ok"}
    report_split("feeds polled per process", [len(o) for o in polled])
    health = json.loads(subprocess.run(digest(config, "feeds", "--format", "json"),
                                       capture_output=True, text=True, timeout=TIMEOUT,
                                       check=True).stdout)
    assert len(health) == FEEDS
    assert {h["status"] for h in health} == {"ok"} and {h["items"] for h in health} == {2}

    # Right away again: nothing is due, nothing is fetched.
    again = run_all([fetch] * INSTANCES)
    assert [(code, json.loads(out)) for code, out, _ in again] == [(0, [])] * INSTANCES
    assert len(feed_server.requests) == FEEDS

