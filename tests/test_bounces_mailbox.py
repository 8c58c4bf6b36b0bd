"""`digest bounces fetch` against a real IMAP server (Debian's dovecot, started by the test;
skipped with a reason when it is absent) after a real send (aiosmtpd): delivery reports (RFC
3464) and complaint reports (RFC 5965) come back to each message's signed envelope sender,
mailed unsubscribes to the signed List-Unsubscribe address; each mailbox message is acted on
once and moved out of the way; a forged address names nobody; the daemon reads the mailbox on
its schedule. The reports are written here in the formats of those RFCs (invented text)."""

from __future__ import annotations

import json
import re
import threading
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import pytest
import yaml

from conftest import DEMO_EDITION, SmtpServer
from digest.cli import main
from dovecot import Dovecot, dovecot_server

SECRET = "a-bounce-secret-that-is-long-enough-0123456789"
USES_FIXTURES = (dovecot_server,)  # imported for pytest: a fixture of tests/dovecot.py


def configure(demo: Path, smtp: SmtpServer, imap: Dovecot, **bounces: object) -> Path:
    config = yaml.safe_load(demo.read_text())
    config["delivery"] = {"from": "The Brief <brief@example.org>", "transport": "smtp",
                          "smtp": {"host": "127.0.0.1", "port": smtp.port, "security": "none"}}
    config["bounces"] = {
        "address": "bounces@example.org", "secret": SECRET,
        "imap": {"host": imap.host, "port": imap.imaps_port, "username": imap.username,
                 "password": imap.password, "ca_file": imap.ca_file, "every": "1m"},
        **bounces}
    demo.write_text(yaml.safe_dump(config))
    return demo


def sent(smtp: SmtpServer) -> dict[str, tuple[str, str, str]]:
    """Each recipient's envelope sender, List-Unsubscribe mailto address and Message-ID."""
    out = {}
    for envelope in smtp.handler.envelopes:
        (rcpt,) = envelope.rcpt_tos
        raw = (envelope.original_content or b"").decode()
        mailto = re.search(r"<mailto:([^?>]+)\?subject=unsubscribe>", raw)
        msgid = re.search(r"^Message-ID: (<[^>]+>)", raw, re.M)
        assert mailto and msgid
        out[rcpt] = (envelope.mail_from, mailto.group(1), msgid.group(1))
    return out


def _report(report_type: str, headers: str, text: str, report_part: tuple[str, str],
            original: str) -> bytes:
    """A multipart/report (RFC 6522) as MTAs and feedback loops write one."""
    boundary = "report-boundary-7f3a"
    body = (f"{headers}MIME-Version: 1.0\n"
            f"Content-Type: multipart/report; report-type={report_type};\n"
            f'\tboundary="{boundary}"\n\n'
            f"--{boundary}\nContent-Type: text/plain; charset=us-ascii\n\n{text}\n"
            f"--{boundary}\nContent-Type: {report_part[0]}\n\n{report_part[1]}\n"
            f"--{boundary}\nContent-Type: text/rfc822-headers\n\n{original}\n"
            f"--{boundary}--\n")
    return body.replace("\n", "\r\n").encode()


def dsn(to: str, failed: str, status: str, diagnostic: str, original_id: str) -> bytes:
    """A delivery status notification as an MTA writes one (RFC 3464), to the envelope
    sender."""
    return _report(
        "delivery-status",
        f"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\nTo: {to}\n"
        f"Subject: Undelivered Mail Returned to Sender\n"
        f"Message-ID: {make_msgid(domain='mx.example.net')}\nAuto-Submitted: auto-replied\n",
        f"Your message could not be delivered to {failed}.",
        ("message/delivery-status",
         f"Reporting-MTA: dns; mx.example.net\n\nFinal-Recipient: rfc822; {failed}\n"
         f"Action: failed\nStatus: {status}\nDiagnostic-Code: smtp; {diagnostic}"),
        f"Return-Path: <{to}>\nFrom: The Brief <brief@example.org>\nTo: {failed}\n"
        f"Message-ID: {original_id}\nSubject: The Brief")


def arf(complainer: str, envelope: str, original_id: str) -> bytes:
    """A complaint report from a mailbox provider's feedback loop (RFC 5965)."""
    return _report(
        "feedback-report",
        f"From: Feedback Loop <fbl@mail.example.net>\nTo: postmaster@example.org\n"
        f"Subject: Complaint about message from 192.0.2.1\n"
        f"Message-ID: {make_msgid(domain='mail.example.net')}\n",
        "This is an email abuse report for a message received from 192.0.2.1.",
        ("message/feedback-report",
         f"Feedback-Type: abuse\nUser-Agent: ExampleFBL/1.0\nVersion: 1\n"
         f"Original-Mail-From: <{envelope}>\nOriginal-Rcpt-To: <{complainer}>\n"
         f"Source-IP: 192.0.2.1"),
        f"Return-Path: <{envelope}>\nFrom: The Brief <brief@example.org>\n"
        f"To: {complainer}\nMessage-ID: {original_id}\nSubject: The Brief")


def by_hand(sender: str, to: str) -> bytes:
    """A reader's own mail to the List-Unsubscribe address."""
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = "unsubscribe"
    msg["Message-ID"] = make_msgid(domain="example.org")
    msg.set_content("Please take me off the list.\n")
    return msg.as_bytes().replace(b"\n", b"\r\n")


def fetch(config: Path, capsys: pytest.CaptureFixture[str]) -> list[dict[str, str]]:
    capsys.readouterr()
    assert main(["--config", str(config), "bounces", "fetch", "--format", "json"]) == 0
    result: list[dict[str, str]] = json.loads(capsys.readouterr().out)
    return result


def statuses(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    capsys.readouterr()
    assert main(["--config", str(config), "readers", "list", "--format", "json"]) == 0
    return {r["address"]: r["status"] for r in json.loads(capsys.readouterr().out)}


def test_reports_and_mailed_unsubscribes_are_acted_on_once(
        demo: Path, smtp_server: SmtpServer, dovecot_server: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = configure(demo, smtp_server, dovecot_server)
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    out = sent(smtp_server)
    ana_env, _, ana_id = out["ana@example.org"]
    ben_env, _, ben_id = out["ben@example.org"]
    _, kofi_mailto, _ = out["kofi@example.org"]
    dovecot_server.append(dsn(ana_env, "ana@example.org", "5.1.1",
                              "550 5.1.1 <ana@example.org>: Recipient address rejected",
                              ana_id))
    dovecot_server.append(arf("ben@example.org", ben_env, ben_id))
    dovecot_server.append(by_hand("kofi@example.org", kofi_mailto))
    handled = fetch(config, capsys)
    assert sorted((h["kind"], h["reader"], h["outcome"]) for h in handled) == [
        ("complaint", "ben@example.org", "ended"), ("hard", "ana@example.org", "ended"),
        ("unsubscribe", "kofi@example.org", "ended")]
    assert statuses(config, capsys) == {"ana@example.org": "bounced",
                                        "ben@example.org": "complained",
                                        "kofi@example.org": "unsubscribed"}
    capsys.readouterr()
    assert main(["--config", str(config), "readers", "show", "ana@example.org"]) == 0
    shown = capsys.readouterr().out
    assert "Recipient address rejected" in shown and "mailbox" in shown and "2026-11-30" in shown
    # processed once: moved out of the inbox, and a second fetch finds nothing
    assert dovecot_server.messages("INBOX") == {}
    assert len(dovecot_server.messages("Processed")) == 3
    assert fetch(config, capsys) == []
    # the same report delivered again (a second copy) counts once
    dovecot_server.append(dsn(ana_env, "ana@example.org", "5.1.1", "550 5.1.1 again", ana_id))
    assert [h["outcome"] for h in fetch(config, capsys)] == ["counted"]


def test_a_forged_or_unsigned_report_names_nobody(
        demo: Path, smtp_server: SmtpServer, dovecot_server: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = configure(demo, smtp_server, dovecot_server)
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    ana_env, _, ana_id = sent(smtp_server)["ana@example.org"]
    token = ana_env.split("+", 1)[1].split("@")[0]
    forged = ana_env.replace(token, token[:-1] + ("a" if token[-1] != "a" else "b"))
    ben_reader_token = token.replace(token.split("-")[0], "b2")  # another id, ana's MAC
    dovecot_server.append(dsn(forged, "ana@example.org", "5.1.1", "550 forged", ana_id))
    dovecot_server.append(dsn(ana_env.replace(token, ben_reader_token), "ben@example.org",
                              "5.1.1", "550 forged", ana_id))
    dovecot_server.append(dsn("bounces@example.org", "kofi@example.org", "5.1.1",
                              "550 unsigned", ana_id))
    # an auto-reply to the envelope sender is not an unsubscribe, even signed
    dovecot_server.append(by_hand("ana@example.org", ana_env))
    handled = fetch(config, capsys)
    assert [h["outcome"] for h in handled] == ["ignored"] * 4
    assert set(statuses(config, capsys).values()) == {"active"}
    assert dovecot_server.messages("INBOX") == {}  # read once all the same


def test_soft_bounces_from_the_mailbox_count_toward_the_limit(
        demo: Path, smtp_server: SmtpServer, dovecot_server: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = configure(demo, smtp_server, dovecot_server, soft_limit=2)
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    env, _, msgid = sent(smtp_server)["ana@example.org"]
    dovecot_server.append(dsn(env, "ana@example.org", "4.2.2", "452 4.2.2 Mailbox full",
                              msgid))
    assert [h["outcome"] for h in fetch(config, capsys)] == ["counted"]
    assert statuses(config, capsys)["ana@example.org"] == "active"
    dovecot_server.append(dsn(env, "ana@example.org", "4.2.2", "452 4.2.2 Mailbox still full",
                              msgid))
    assert [h["outcome"] for h in fetch(config, capsys)] == ["ended"]
    assert statuses(config, capsys)["ana@example.org"] == "bounced"


def test_fetch_without_a_mailbox_is_a_usage_error_and_a_bad_password_names_the_user(
        demo: Path, smtp_server: SmtpServer, dovecot_server: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load(demo.read_text())
    demo.write_text(yaml.safe_dump(config))
    assert main(["--config", str(demo), "bounces", "fetch"]) == 2
    assert "no bounce mailbox is configured" in capsys.readouterr().err
    configure(demo, smtp_server, dovecot_server)
    config = yaml.safe_load(demo.read_text())
    config["bounces"]["imap"]["password"] = "not-the-password"
    demo.write_text(yaml.safe_dump(config))
    assert main(["--config", str(demo), "bounces", "fetch"]) == 1
    error = capsys.readouterr().err
    assert dovecot_server.username in error and "not-the-password" not in error


@pytest.mark.slow
def test_the_daemon_reads_the_mailbox_on_its_schedule(
        demo: Path, smtp_server: SmtpServer, dovecot_server: Dovecot,
        capsys: pytest.CaptureFixture[str]) -> None:
    from digest.app import make_app
    from digest.config import load_settings
    from digest.daemon import Daemon

    config = configure(demo, smtp_server, dovecot_server)
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    env, _, msgid = sent(smtp_server)["ana@example.org"]
    dovecot_server.append(dsn(env, "ana@example.org", "5.1.1", "550 5.1.1 unknown", msgid))
    events: list[tuple[str, dict[str, object]]] = []
    done = threading.Event()

    def on_event(event: str, message: str, **fields: object) -> None:
        events.append((event, fields))
        if event == "bounces":
            done.set()

    daemon = Daemon(lambda: load_settings(config, env={}), make_app, config=config,
                    on_event=on_event)
    runner = threading.Thread(target=daemon.run, kwargs={"install_signals": False})
    runner.start()
    try:
        assert done.wait(60), f"no bounce fetch: {events}"
    finally:
        daemon.stop.set()
        runner.join(60)
    assert ("bounces", {"ended": 1}) in events
    assert statuses(config, capsys)["ana@example.org"] == "bounced"
