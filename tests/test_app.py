"""app: the use cases wired together: SMTP delivery end to end, retries, freezing, the clock."""

from __future__ import annotations

import email
import email.policy
import json
import re
import signal
import subprocess
import sys
from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from conftest import (
    DEMO_DAY,
    DEMO_EDITION,
    SmtpServer,
    WriteConfig,
    fixed_clock,
    open_app,
    store_demo_items,
)
from digest.cli import main
from digest.config import load_settings
from digest.models import DeliveryStatus
from digest.store import Outcome, Store


def smtp_demo(demo: Path, server: SmtpServer) -> Path:
    config = yaml.safe_load(demo.read_text())
    config["delivery"] = {"from": "The Brief <brief@example.org>", "transport": "smtp",
                          "smtp": {"host": "127.0.0.1", "port": server.port,
                                   "security": "none"}}
    demo.write_text(yaml.safe_dump(config))
    return demo


def test_send_over_smtp_once_per_recipient(demo: Path, smtp_server: SmtpServer,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    config = smtp_demo(demo, smtp_server)
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    received = sorted(rcpt for env in smtp_server.handler.envelopes for rcpt in env.rcpt_tos)
    assert received == ["ana@example.org", "ben@example.org", "kofi@example.org"]
    assert smtp_server.handler.connections() == 1  # one connection for the whole batch
    message = email.message_from_bytes(smtp_server.handler.envelopes[0].original_content or b"",
                                       policy=email.policy.default)
    assert 0 < len(message["Subject"]) <= 70  # the lead story first (issue 21)
    assert message["List-Id"] and message["Message-ID"]
    capsys.readouterr()
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    assert len(smtp_server.handler.envelopes) == 3  # nothing sent twice


def test_permanent_failure_exits_1_and_temporary_is_retried(
    demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    config = smtp_demo(demo, smtp_server)
    smtp_server.handler.rcpt_replies["ben@example.org"] = "550 5.1.1 no such user"
    smtp_server.handler.rcpt_replies["kofi@example.org"] = "451 4.3.0 try again later"
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 1
    capsys.readouterr()
    main(["--config", str(config), "history", "--format", "json"])
    statuses = {h["recipient"]: h["status"] for h in json.loads(capsys.readouterr().out)}
    assert statuses == {"ana@example.org": "sent", "ben@example.org": "failed",
                        "kofi@example.org": "deferred"}

    del smtp_server.handler.rcpt_replies["kofi@example.org"]
    # Straight away, kofi is still backing off (5 minutes after a first 4xx) ...
    main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION])
    assert re.search(r"kofi@example\.org\s+deferred\s+deferred: next try after ",
                     capsys.readouterr().out)
    assert len(smtp_server.handler.envelopes) == 1
    # ... and once the wait is over, the next run sends.
    store = Store(load_settings(config, env={}).database)
    try:
        edition_id = store.frozen_edition(DEMO_DAY).id  # type: ignore[union-attr]
        ((status, retry_after),) = store.delivery_states(edition_id,
                                                         ["kofi@example.org"]).values()
        assert status is DeliveryStatus.DEFERRED and retry_after is not None
        store.finish_deliveries(edition_id, [Outcome(
            "kofi@example.org", DeliveryStatus.DEFERRED,
            retry_after=retry_after - timedelta(minutes=6))], now=retry_after)
    finally:
        store.close()
    main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION])
    capsys.readouterr()
    main(["--config", str(config), "history", "--format", "json"])
    statuses = {h["recipient"]: h["status"] for h in json.loads(capsys.readouterr().out)}
    assert statuses["kofi@example.org"] == "sent"
    assert statuses["ben@example.org"] == "failed"  # a permanent failure is not retried
    delivered = [r for env in smtp_server.handler.envelopes for r in env.rcpt_tos]
    assert sorted(delivered) == ["ana@example.org", "kofi@example.org"]


def history_rows(config: Path, capsys: pytest.CaptureFixture[str], *options: str
                 ) -> list[tuple[str, str]]:
    """`digest history --format json` as (recipient, status) pairs."""
    capsys.readouterr()
    assert main(["--config", str(config), "history", "--format", "json", *options]) == 0
    return [(h["recipient"], h["status"]) for h in json.loads(capsys.readouterr().out)]


def test_an_unreachable_server_stops_the_run_and_the_next_run_sends_at_once(
    demo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 17 (9): a server that was down defers no one; once it is up, the next run
    # sends everybody straight away, nothing "deferred".
    from aiosmtpd.controller import Controller

    from conftest import Recorder, free_port

    port = free_port()
    config = yaml.safe_load(demo.read_text())
    config["delivery"] = {"from": "The Brief <brief@example.org>", "transport": "smtp",
                          "smtp": {"host": "127.0.0.1", "port": port, "security": "none"}}
    demo.write_text(yaml.safe_dump(config))
    assert main(["--config", str(demo), "send", "--verbose", "--edition", DEMO_EDITION]) == 1
    err = capsys.readouterr().err
    assert f"SMTP 127.0.0.1:{port}: cannot connect" in err
    assert "the rest will be sent on the next run" in err
    assert len(err.strip().splitlines()) == 1  # one line, no traceback
    # Nobody is held back by the server's outage: all pending, claimable now.
    assert history_rows(demo, capsys) == [
        ("ana@example.org", "pending"), ("ben@example.org", "pending"),
        ("kofi@example.org", "pending")]

    handler = Recorder()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        assert main(["--config", str(demo), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
        captured = capsys.readouterr()
        assert "deferred" not in captured.out + captured.err
        assert sorted(r for env in handler.envelopes for r in env.rcpt_tos) == [
            "ana@example.org", "ben@example.org", "kofi@example.org"]
    finally:
        controller.stop()
    assert {status for _, status in history_rows(demo, capsys)} == {"sent"}


def _authenticator(server: object, session: object, envelope: object, mechanism: str,
                   auth_data: object) -> object:
    from aiosmtpd.smtp import AuthResult, LoginPassword

    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"brief"
          and auth_data.password == b"right-pw-42")
    return AuthResult(success=ok, handled=False)


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")
@pytest.mark.parametrize("connections", [1, 2])
def test_a_refused_login_stops_the_run_and_after_the_fix_everyone_is_sent(
    demo: Path, capsys: pytest.CaptureFixture[str], connections: int
) -> None:
    # Issue 17 (9): a wrong password is not the recipients' fault: no one is deferred (with
    # two connections, the two being tried), and the run after the fix sends everybody at
    # once and exits 0.
    from conftest import start_server

    server = start_server(authenticator=_authenticator, auth_require_tls=False,
                          auth_required=True)
    try:
        config = smtp_demo(demo, server)
        data = yaml.safe_load(config.read_text())
        data["delivery"]["smtp"].update(username="brief", password="wrong-pw-13",
                                        connections=connections)
        config.write_text(yaml.safe_dump(data))
        assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 1
        err = capsys.readouterr().err
        assert f"SMTP login to 127.0.0.1:{server.port} refused for 'brief': 535" in err
        assert "wrong-pw-13" not in err
        # one line of ours (aiosmtpd, in this process, logs its own warning about the test
        # server's settings: the CLI's log handler shows third-party warnings too)
        assert len([line for line in err.strip().splitlines() if " log: " not in line]) == 1
        assert history_rows(config, capsys) == [
            ("ana@example.org", "pending"), ("ben@example.org", "pending"),
            ("kofi@example.org", "pending")]

        data["delivery"]["smtp"]["password"] = "right-pw-42"
        config.write_text(yaml.safe_dump(data))
        assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
        captured = capsys.readouterr()
        assert "deferred" not in captured.out + captured.err
        assert "3 sent" in captured.err
        assert received(server) == ["ana@example.org", "ben@example.org", "kofi@example.org"]
        assert {status for _, status in history_rows(config, capsys)} == {"sent"}
    finally:
        server.controller.stop()


def test_a_4xx_deferral_waits_unless_retried_now(demo: Path, smtp_server: SmtpServer) -> None:
    # Issue 17 (9): `retry_now` takes deferred (4xx) deliveries before their retry time.
    config = smtp_demo(demo, smtp_server)
    smtp_server.handler.rcpt_replies["kofi@example.org"] = "451 4.3.0 try again later"
    app = open_app(load_settings(config, env={}), clock=fixed_clock("2026-11-27T10:00:00"))
    try:
        first = app.publisher.deliver(DEMO_DAY)
        assert [r.kind for r in first.results] == ["sent", "sent", "deferred"]
        del smtp_server.handler.rcpt_replies["kofi@example.org"]
        again = app.publisher.deliver(DEMO_DAY, fetch=False)  # the same moment: still waiting
        assert [r.kind for r in again.results] == ["sent before", "sent before", "deferred"]
        assert len(received(smtp_server)) == 2
        now = app.publisher.deliver(DEMO_DAY, fetch=False, retry_now=True)
        assert [r.kind for r in now.results] == ["sent before", "sent before", "sent"]
    finally:
        app.close()
    assert received(smtp_server) == ["ana@example.org", "ben@example.org", "kofi@example.org"]


def test_send_retry_now(demo: Path, smtp_server: SmtpServer,
                        capsys: pytest.CaptureFixture[str]) -> None:
    config = smtp_demo(demo, smtp_server)
    smtp_server.handler.rcpt_replies["kofi@example.org"] = "451 4.3.0 try again later"
    send = ["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]
    assert main(send) == 0
    del smtp_server.handler.rcpt_replies["kofi@example.org"]
    assert main(send) == 0  # within the 5 minutes of backing off: kofi waits
    assert "1 deferred" in capsys.readouterr().err
    assert main([*send, "--retry-now"]) == 0
    assert re.search(r"kofi@example\.org\s+sent\s+<digest\.", capsys.readouterr().out)
    assert received(smtp_server) == ["ana@example.org", "ben@example.org", "kofi@example.org"]


def test_a_frozen_edition_is_resent_as_it_was(demo: Path, tmp_path: Path) -> None:
    settings = load_settings(demo, env={})
    clock = fixed_clock("2026-11-27T10:00:00+00:00")
    app = open_app(settings, clock=clock)
    first = app.publisher.deliver(date(2026, 11, 30))
    assert {r.status for r in first.results} == {DeliveryStatus.SENT}
    frozen = app.store.frozen_edition(DEMO_DAY)
    assert frozen is not None
    # A new feed item arriving later does not change the edition that already went out.
    extra = demo.parent / "feeds" / "tech.xml"
    extra.write_text(extra.read_text().replace(
        "<item>", "<item><title>Late breaking chip story</title>"
        "<link>https://circuitweekly.example/late</link><guid>late-1</guid>"
        "<pubDate>Sun, 29 Nov 2026 20:00:00 +0000</pubDate></item><item>", 1))
    app.poller.refresh(force=True)
    result = app.editions.build(date(2026, 11, 30))
    assert result.frozen
    titles = [s.title for s in result.edition.stories]
    assert "Late breaking chip story" not in titles
    assert result.edition.generated_at == clock()
    assert app.editions.render(result.edition).subject == frozen.subject
    app.close()


def test_the_upcoming_edition_follows_the_schedule(demo: Path) -> None:
    settings = load_settings(demo, env={})
    app = open_app(settings, clock=fixed_clock("2026-11-26T12:00:00"))
    day, send_at = app.editions.edition_for()
    assert day == date(2026, 11, 30)
    assert (send_at.hour, send_at.minute, str(send_at.tzinfo)) == (7, 0, "Europe/London")
    built = app.editions.build()  # the demo's edition, found from the clock alone
    assert built.edition.date == day and len(built.edition.stories) > 20
    app.close()


@pytest.mark.slow
def test_two_send_processes_at_once_deliver_one_copy_each(
        demo: Path, smtp_server: SmtpServer) -> None:
    config = smtp_demo(demo, smtp_server)
    data = yaml.safe_load(config.read_text())
    recipients = [f"reader{n:02d}@example.org" for n in range(40)]
    data["recipients"] = recipients
    config.write_text(yaml.safe_dump(data))
    store_demo_items(config)
    command = [sys.executable, "-m", "digest", "--config", str(config), "send", "--verbose",
               "--edition", DEMO_EDITION, "--no-fetch"]
    runs = [subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)]
    outputs = [run.communicate(timeout=120) for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    received = sorted(rcpt for env in smtp_server.handler.envelopes for rcpt in env.rcpt_tos)
    assert received == recipients  # every reader once: no one twice, no one missed
    # Both runs did part of the work, or one did it all; either way the history is whole.
    store = Store(load_settings(config, env={}).database)
    try:
        history = store.history()
    finally:
        store.close()
    assert sorted(d.recipient for d in history) == recipients
    assert {d.status for d in history} == {DeliveryStatus.SENT}


def test_retry_delay_doubles_and_is_capped() -> None:
    from digest.delivery import retry_delay

    assert [retry_delay(n) for n in (1, 2, 3)] == [
        timedelta(minutes=5), timedelta(minutes=10), timedelta(minutes=20)]
    assert retry_delay(30) == timedelta(hours=6)


def test_smtp_sends_keep_to_max_per_second(demo: Path, smtp_server: SmtpServer) -> None:
    config = smtp_demo(demo, smtp_server)
    data = yaml.safe_load(config.read_text())
    data["delivery"]["smtp"]["max_per_second"] = 2
    config.write_text(yaml.safe_dump(data))
    settings = load_settings(config, env={})
    waits: list[float] = []
    app = open_app(settings, sleep=waits.append)  # no real waiting
    try:
        report = app.publisher.deliver(date.fromisoformat(DEMO_EDITION))
    finally:
        app.close()
    assert [r.status for r in report.results] == [DeliveryStatus.SENT] * 3
    # The 2nd and 3rd messages each wait out the rest of their half second.
    assert len(waits) == 2 and all(0 < w <= 0.5 for w in waits), waits
    assert len(smtp_server.handler.envelopes) == 3


def many_recipients(config: Path, count: int, **smtp: object) -> list[str]:
    data = yaml.safe_load(config.read_text())
    recipients = [f"reader{n:03d}@example.org" for n in range(count)]
    data["recipients"] = recipients
    data["delivery"]["smtp"].update(smtp)
    config.write_text(yaml.safe_dump(data))
    return recipients


def received(server: SmtpServer) -> list[str]:
    return sorted(r for envelope in server.handler.envelopes for r in envelope.rcpt_tos)


def history_of(config: Path) -> dict[str, tuple[DeliveryStatus, str | None]]:
    store = Store(load_settings(config, env={}).database)
    try:
        return {d.recipient: (d.status, d.error) for d in store.history()}
    finally:
        store.close()


def test_several_connections_share_the_batch_and_everyone_gets_one_copy(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = smtp_demo(demo, smtp_server)
    recipients = many_recipients(config, 30, connections=3)
    smtp_server.handler.data_delay = 0.02  # slow enough that the connections overlap
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    assert received(smtp_server) == recipients
    assert smtp_server.handler.connections() == 3
    out = capsys.readouterr().out
    lines = [line.split()[1] for line in out.splitlines() if "@example.org" in line]
    assert lines == recipients  # reported in the config's order, whatever the threads did
    assert {s for s, _ in history_of(config).values()} == {DeliveryStatus.SENT}


def test_the_connection_dropped_mid_batch_every_recipient_still_gets_one_copy(
        demo: Path, smtp_server: SmtpServer) -> None:
    config = smtp_demo(demo, smtp_server)
    recipients = many_recipients(config, 12)
    drops = {"reader004@example.org", "reader009@example.org"}

    def drop(server: object, address: str) -> None:
        if address in drops:
            drops.discard(address)  # once each
            server.transport.close()  # type: ignore[attr-defined]

    smtp_server.handler.on_rcpt = drop
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    assert not drops
    assert received(smtp_server) == recipients
    assert len(smtp_server.handler.ehlos) == 3  # reconnected after each drop
    assert {s for s, _ in history_of(config).values()} == {DeliveryStatus.SENT}


def test_a_connection_lost_after_the_server_took_the_message_is_recorded_not_resent(
        demo: Path, smtp_server: SmtpServer) -> None:
    config = smtp_demo(demo, smtp_server)
    recipients = many_recipients(config, 5)

    def drop(server: object, envelope: object) -> None:
        if envelope.rcpt_tos == ["reader002@example.org"]:  # type: ignore[attr-defined]
            server.transport.close()  # type: ignore[attr-defined]

    smtp_server.handler.on_data = drop
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    assert received(smtp_server) == recipients  # one copy each, reader002 included
    history = history_of(config)
    status, note = history.pop("reader002@example.org")
    assert status is DeliveryStatus.UNCONFIRMED  # the server may have it: told apart
    assert note is not None and note.startswith("unconfirmed")
    assert {s for s, _ in history.values()} == {DeliveryStatus.SENT}


def leave_handed_over_unrecorded(config: Path, recipient: str) -> None:
    """What a `digest send` killed just after handing `recipient`'s message to the server
    leaves behind: the delivery claimed long ago, noted as handed over, its outcome not
    recorded (no sent_at; the Message-ID it went out with is the row's own, issue 20)."""
    from datetime import UTC, datetime

    from sqlalchemy import update

    from digest.schema import deliveries

    store = Store(load_settings(config, env={}).database)
    try:
        edition_id = store.frozen_edition(DEMO_DAY).id  # type: ignore[union-attr]
        long_ago = datetime.now(UTC) - timedelta(hours=1)
        store.finish_deliveries(edition_id, [Outcome(recipient, DeliveryStatus.PENDING)],
                                now=long_ago)
        with store.engine.begin() as conn:
            conn.execute(update(deliveries).where(deliveries.c.recipient == recipient)
                         .values(sent_at=None))
        owner = "a-host-that-died:1:1"
        assert len(store.take_deliveries(edition_id, [recipient], owner=owner, now=long_ago,
                                         stale_before=long_ago)) == 1
        assert store.handed_over(edition_id, recipient, now=long_ago, owner=owner)
    finally:
        store.close()


def test_an_unconfirmed_send_is_told_apart_and_resent_only_when_asked(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 17 (10): a message in flight when the sender was killed is recorded
    # `unconfirmed`, not `sent`; `history --status unconfirmed` lists it; a normal send
    # never sends it again; `send --resend-unconfirmed` does, with the same Message-ID.
    config = smtp_demo(demo, smtp_server)
    envelopes = smtp_server.handler.envelopes
    send = ["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]
    assert main(send) == 0
    leave_handed_over_unrecorded(config, "ben@example.org")
    capsys.readouterr()

    assert main(send) == 0  # the next run records ben as unconfirmed, sends nothing
    captured = capsys.readouterr()
    assert re.search(r"ben@example\.org\s+unconfirmed\s+unconfirmed: ", captured.out)
    assert "1 unconfirmed" in captured.err
    assert len(envelopes) == 3
    assert history_rows(config, capsys) == [
        ("ana@example.org", "sent"), ("ben@example.org", "unconfirmed"),
        ("kofi@example.org", "sent")]
    assert history_rows(config, capsys, "--status", "unconfirmed") == [
        ("ben@example.org", "unconfirmed")]
    assert history_rows(config, capsys, "--status", "sent") == [
        ("ana@example.org", "sent"), ("kofi@example.org", "sent")]
    assert main(["--config", str(config), "history", "--status", "unconfirmed"]) == 0
    shown = capsys.readouterr()
    assert shown.err == "1 delivery\n"  # the table's title; plain columns on stdout
    assert shown.out.splitlines()[0].split() == ["edition", "recipient", "status", "sent", "at",
                                                 "detail"]
    assert [line.split()[1:3] for line in shown.out.splitlines()[1:]] == [
        ["ben@example.org", "unconfirmed"]]

    assert main(send) == 0  # a normal send never sends it again
    assert len(envelopes) == 3

    capsys.readouterr()
    # Without --edition: the edition sent last.
    assert main(["--config", str(config), "send", "--verbose", "--resend-unconfirmed"]) == 0
    captured = capsys.readouterr()
    assert re.search(r"ben@example\.org\s+sent\s+<digest\.", captured.out)
    assert "ana@example.org" not in captured.out  # only the unconfirmed one
    assert [e.rcpt_tos for e in envelopes[3:]] == [["ben@example.org"]]
    first, second = (email.message_from_bytes(e.original_content or b"",
                                              policy=email.policy.default)
                     for e in envelopes if e.rcpt_tos == ["ben@example.org"])
    assert second["Message-ID"] == first["Message-ID"]
    capsys.readouterr()
    assert main(["--config", str(config), "history", "--format", "json"]) == 0
    (ben,) = [h for h in json.loads(capsys.readouterr().out)
              if h["recipient"] == "ben@example.org"]
    assert (ben["status"], ben["message_id"]) == ("sent", first["Message-ID"])
    assert history_rows(config, capsys, "--status", "unconfirmed") == []

    assert main(send) == 0
    assert main([*send, "--resend-unconfirmed"]) == 0  # nothing unconfirmed any more
    assert len(envelopes) == 4


@pytest.mark.slow
def test_a_send_killed_mid_batch_and_run_again_delivers_one_copy_each(
        demo: Path, smtp_server: SmtpServer) -> None:
    # `digest send` in a real process, killed with SIGKILL twice at the worst moments, then
    # run again: (1) inside DATA, after the server has the 8th message and before the
    # client reads the reply; (2) at RCPT of the 16th, before anything of it was handed
    # over. Each re-run starts at once: the dead process's claims are taken over without
    # waiting for delivery.claim_timeout (15 minutes).
    config = smtp_demo(demo, smtp_server)
    recipients = many_recipients(config, 24)
    store_demo_items(config)
    command = [sys.executable, "-m", "digest", "--config", str(config), "send", "--verbose",
               "--edition", DEMO_EDITION, "--no-fetch"]
    handler = smtp_server.handler
    victim: list[subprocess.Popen[bytes]] = []

    def kill_at_data(server: object, envelope: object) -> None:
        if len(handler.envelopes) == 8:
            victim[-1].kill()

    def kill_at_rcpt(server: object, address: str) -> None:
        if address == recipients[15]:
            victim[-1].kill()

    for hook in ("data", "rcpt"):
        handler.on_data = kill_at_data if hook == "data" else None
        handler.on_rcpt = kill_at_rcpt if hook == "rcpt" else None
        victim.append(subprocess.Popen(command, stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE))
        victim[-1].communicate(timeout=120)
        assert victim[-1].returncode == -signal.SIGKILL, hook
    assert received(smtp_server) == recipients[:15]
    handler.on_rcpt = None
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert received(smtp_server) == recipients  # exactly one copy each
    history = history_of(config)
    assert sorted(history) == recipients
    # Sends are recorded in batches (at least every second): what a killed run handed over
    # and had not recorded yet is recorded "unconfirmed", never sent again unless asked; the
    # 8th was killed before it heard the server's 250; the 16th never reached the hand-over,
    # so it was simply sent.
    unconfirmed = {r for r, (s, _) in history.items() if s is DeliveryStatus.UNCONFIRMED}
    assert recipients[7] in unconfirmed and unconfirmed <= set(recipients[:15])
    assert {s for r, (s, _) in history.items() if r not in unconfirmed} == {DeliveryStatus.SENT}


@pytest.mark.parametrize("dry_run", [False, True])
def test_an_edition_without_stories_is_neither_sent_nor_frozen(
        write_config: WriteConfig, dry_run: bool) -> None:
    settings = load_settings(write_config(), env={})  # no feeds: nothing in the window
    app = open_app(settings, clock=fixed_clock("2026-11-27T10:00:00"))
    try:
        report = app.publisher.deliver(date(2026, 11, 30), dry_run=dry_run, fetch=False)
        assert [(r.recipient, r.status, r.detail) for r in report.results] == [
            ("*", None, "the edition has no stories")]
        assert app.store.frozen_edition(date(2026, 11, 30)) is None
    finally:
        app.close()
