"""Bounces and complaints (issue 20), without the mailbox: the store's once-only events and the
limits that end a subscription (a SQLite file, and PostgreSQL when DIGEST_TEST_DATABASE_URL is
set), refusals at send time through a real SMTP server (aiosmtpd), the signed bounce addresses
(VERP) and the headers every message carries. The mailbox (dovecot) is in
test_bounces_mailbox.py, the providers' webhooks in test_webhooks_web.py."""

from __future__ import annotations

import email
import email.policy
import json
import re
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from conftest import DEMO_EDITION, SmtpServer
from digest.cli import main
from digest.config import load_settings
from digest.models import BounceKind, ReaderSource, ReaderStatus
from digest.send import bounce_kind
from digest.store import BounceLimits, BounceRecord, NewReader, Recorded, Store
from digest.tokens import Verp

T0 = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
SECRET = "a-bounce-secret-that-is-long-enough-0123456789"


def add(store: Store, address: str, status: ReaderStatus = ReaderStatus.ACTIVE) -> None:
    assert store.add_reader(NewReader(address, address, status, ReaderSource.COMMAND),
                            now=T0) is not None


def status(store: Store, address: str) -> ReaderStatus:
    reader = store.reader(address)
    assert reader is not None
    return reader.status


def event(address: str, kind: BounceKind, at: datetime = T0, event_id: str | None = None,
          reason: str = "550 5.1.1 user unknown") -> BounceRecord:
    return BounceRecord(address, kind, "smtp", reason, at, "2026-11-30", event_id)


# --- the store: once-only events, limits ----------------------------------------------------


def test_one_hard_bounce_ends_a_subscription_with_its_reason(db_url: str) -> None:
    store = Store(db_url)
    try:
        add(store, "ana@example.org")
        assert store.record_bounce(event("ana@example.org", BounceKind.HARD),
                                   BounceLimits()) is Recorded.ENDED
        reader = store.reader("ana@example.org")
        assert reader is not None and reader.status is ReaderStatus.BOUNCED
        assert reader.unsubscribe_reason == "hard (smtp): 550 5.1.1 user unknown"
        assert store.audience() == []
        (shown,) = store.bounce_events("ana@example.org")
        assert (shown.kind, shown.source, shown.edition) == (BounceKind.HARD, "smtp",
                                                             "2026-11-30")
    finally:
        store.close()


def test_a_configured_hard_limit_waits_for_that_many(db_url: str) -> None:
    store = Store(db_url)
    try:
        add(store, "ana@example.org")
        limits = BounceLimits(hard=2)
        assert store.record_bounce(event("ana@example.org", BounceKind.HARD),
                                   limits) is Recorded.COUNTED
        assert status(store, "ana@example.org") is ReaderStatus.ACTIVE
        assert store.record_bounce(event("ana@example.org", BounceKind.HARD, T0 + timedelta(7)),
                                   limits) is Recorded.ENDED
        assert status(store, "ana@example.org") is ReaderStatus.BOUNCED
    finally:
        store.close()


def test_soft_bounces_count_only_within_their_period(db_url: str) -> None:
    store = Store(db_url)
    try:
        add(store, "ana@example.org")
        limits = BounceLimits(soft=3, soft_within=timedelta(days=30))
        soft = [T0, T0 + timedelta(days=40), T0 + timedelta(days=50)]  # the first is too old
        for at in soft:
            assert store.record_bounce(event("ana@example.org", BounceKind.SOFT, at,
                                             reason="452 4.2.2 mailbox full"),
                                       limits) is Recorded.COUNTED
        assert status(store, "ana@example.org") is ReaderStatus.ACTIVE
        assert store.record_bounce(event("ana@example.org", BounceKind.SOFT,
                                         T0 + timedelta(days=55)), limits) is Recorded.ENDED
        assert status(store, "ana@example.org") is ReaderStatus.BOUNCED
    finally:
        store.close()


def test_an_event_is_recorded_once_and_complaints_and_mailed_unsubscribes_end_at_once(
        db_url: str) -> None:
    store = Store(db_url)
    try:
        for address in ("ana@example.org", "ben@example.org", "kofi@example.org"):
            add(store, address)
        limits = BounceLimits(soft=2)
        soft = event("ana@example.org", BounceKind.SOFT, event_id="mailbox:abc")
        assert store.record_bounce(soft, limits) is Recorded.COUNTED
        assert store.record_bounce(soft, limits) is Recorded.DUPLICATE  # read twice
        assert status(store, "ana@example.org") is ReaderStatus.ACTIVE  # counted once
        assert len(store.bounce_events("ana@example.org")) == 1
        assert store.record_bounce(event("ben@example.org", BounceKind.COMPLAINT,
                                         event_id="ses:1:0"), limits) is Recorded.ENDED
        assert status(store, "ben@example.org") is ReaderStatus.COMPLAINED
        assert store.record_bounce(event("kofi@example.org", BounceKind.UNSUBSCRIBE,
                                         event_id="mailbox:def"), limits) is Recorded.ENDED
        kofi = store.reader("kofi@example.org")
        assert kofi is not None and kofi.status is ReaderStatus.UNSUBSCRIBED
        assert store.bounce_counts() == {BounceKind.SOFT: 1, BounceKind.COMPLAINT: 1,
                                         BounceKind.UNSUBSCRIBE: 1}
    finally:
        store.close()


def test_a_reader_who_left_keeps_their_status_and_forgetting_erases_the_events(
        db_url: str) -> None:
    store = Store(db_url)
    try:
        add(store, "ana@example.org", ReaderStatus.UNSUBSCRIBED)
        assert store.record_bounce(event("ana@example.org", BounceKind.COMPLAINT),
                                   BounceLimits()) is Recorded.COUNTED
        assert status(store, "ana@example.org") is ReaderStatus.UNSUBSCRIBED
        assert store.forget_reader("ana@example.org", now=T0)
        assert store.bounce_events("ana@example.org") == []
    finally:
        store.close()


# --- what an SMTP refusal says about the address ---------------------------------------------


@pytest.mark.parametrize(("step", "code", "reply", "kind"), [
    ("rcpt", 550, "5.1.1 no such user", "hard"),
    ("rcpt", 550, "no such user here", "hard"),  # no enhanced code: at RCPT, the address
    ("end", 552, "5.2.2 mailbox full", "hard"),
    ("rcpt", 554, "5.7.1 blocked by policy", "soft"),  # a block says nothing of the address
    ("end", 550, "5.7.1 message looks like spam", "soft"),
    ("end", 554, "transaction failed", "soft"),
    ("rcpt", 452, "4.2.2 over quota", "soft"),
    ("data", 451, "4.3.0 try later", "soft"),
    ("mail", 550, "5.7.1 sender refused", None),  # our sender, not this reader
])
def test_bounce_kind_of_an_smtp_refusal(step: str, code: int, reply: str,
                                        kind: str | None) -> None:
    assert bounce_kind(step, code, reply) == kind


# --- send time, end to end -------------------------------------------------------------------


def smtp_config(demo: Path, server: SmtpServer, **extra: object) -> Path:
    config = yaml.safe_load(demo.read_text())
    config["delivery"] = {"from": "The Brief <brief@example.org>", "transport": "smtp",
                          "smtp": {"host": "127.0.0.1", "port": server.port,
                                   "security": "none"}}
    config.update(extra)
    demo.write_text(yaml.safe_dump(config))
    return demo


def received(server: SmtpServer, recipient: str) -> list[EmailMessage]:
    out = []
    for envelope in server.handler.envelopes:
        if recipient in envelope.rcpt_tos:
            msg = email.message_from_bytes(envelope.original_content or b"",
                                           policy=email.policy.default)
            assert isinstance(msg, EmailMessage)
            out.append(msg)
    return out


def test_a_hard_bounce_at_send_time_stops_later_editions_and_readers_show_says_why(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = smtp_config(demo, smtp_server)
    smtp_server.handler.rcpt_replies["ben@example.org"] = \
        "550 5.1.1 <ben@example.org>: no such user"
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 1
    capsys.readouterr()
    assert main(["--config", str(config), "readers", "show", "ben@example.org"]) == 0
    shown = capsys.readouterr().out
    assert re.search(r"status:\s+bounced", shown)
    assert "550 5.1.1 <ben@example.org>: no such user" in shown
    assert main(["--config", str(config), "readers", "export", "ben@example.org"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "bounced"
    assert record["bounces"][0]["kind"] == "hard" and record["bounces"][0]["source"] == "smtp"
    # the next edition is not offered to ben at all
    assert main(["--config", str(config), "send", "--verbose", "--edition", "2026-12-07",
                 "--dry-run"]) == 0
    assert "ben@example.org" not in capsys.readouterr().out
    # a sync of feeds.yaml does not bring him back
    assert main(["--config", str(config), "readers", "list", "--format", "json"]) == 0
    listed = {r["address"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert listed["ben@example.org"] == "bounced"


def test_soft_bounces_at_send_time_end_a_subscription_past_the_limit(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = smtp_config(demo, smtp_server, bounces={"soft_limit": 2})
    smtp_server.handler.rcpt_replies["kofi@example.org"] = "452 4.2.2 mailbox full"
    send = ["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION, "--retry-now"]
    assert main(send) == 0  # deferred, not failed
    capsys.readouterr()
    assert main(["--config", str(config), "readers", "show", "kofi@example.org",
                 "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "active"
    assert main(send) == 0  # the second soft bounce reaches the limit
    capsys.readouterr()
    assert main(["--config", str(config), "readers", "show", "kofi@example.org",
                 "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "bounced"
    assert [b["kind"] for b in record["bounces"]] == ["soft", "soft"]
    assert "452 4.2.2 mailbox full" in record["unsubscribe_reason"]
    assert main(send) == 0  # no third try: kofi no longer receives
    assert len([e for e in smtp_server.handler.envelopes
                if "kofi@example.org" in e.rcpt_tos]) == 0


# --- signed bounce addresses and headers -------------------------------------------------


def test_each_message_has_its_readers_signed_envelope_and_the_headers_inboxes_want(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = smtp_config(demo, smtp_server,
                         bounces={"address": "bounces@example.org", "secret": SECRET},
                         email={"reply_to": "Editors <editors@example.org>",
                                "postal_address": "1 Example Street, Springfield"})
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    settings = load_settings(config, env={})
    store = Store(settings.database)
    verp = Verp("bounces@example.org", SECRET.encode())
    try:
        senders = {}
        for envelope in smtp_server.handler.envelopes:
            (rcpt,) = envelope.rcpt_tos
            match = re.fullmatch(r"bounces\+(b[0-9a-z]+-[a-z2-7]{13})@example\.org",
                                 envelope.mail_from)
            assert match, envelope.mail_from
            reader = store.reader(rcpt)
            assert reader is not None
            assert verp.verify(match.group(1), reader.key)  # signed for this very reader
            assert not verp.verify(match.group(1), "someone-else@example.org")
            senders[rcpt] = envelope.mail_from
            msg = email.message_from_bytes(envelope.original_content or b"",
                                           policy=email.policy.default)
            assert msg["Reply-To"] == "Editors <editors@example.org>"
            assert msg["Auto-Submitted"] == "auto-generated"
            assert re.fullmatch(r"2026-11-30:the-weekly-brief-demo:newsletter:example\.org",
                                str(msg["Feedback-ID"]))
            unsubscribe = str(msg["List-Unsubscribe"])
            mailto = re.search(r"<mailto:bounces\+(u[0-9a-z]+-[a-z2-7]{13})@example\.org"
                               r"\?subject=unsubscribe>", unsubscribe)
            assert mailto and verp.verify(mailto.group(1), reader.key)
            assert "1 Example Street, Springfield" in msg.get_body(("plain",)).get_content()
        assert len(set(senders.values())) == 3  # one per reader
    finally:
        store.close()


def test_the_message_id_is_unique_and_kept_across_a_retry(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = smtp_config(demo, smtp_server)
    smtp_server.handler.rcpt_replies["kofi@example.org"] = "451 4.3.0 try again later"
    send = ["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION, "--retry-now"]
    main(send)
    del smtp_server.handler.rcpt_replies["kofi@example.org"]
    main(send)
    capsys.readouterr()
    assert main(["--config", str(config), "history", "--format", "json"]) == 0
    ids = {h["recipient"]: h["message_id"] for h in json.loads(capsys.readouterr().out)}
    assert len(set(ids.values())) == 3
    (kofi,) = received(smtp_server, "kofi@example.org")
    assert kofi["Message-ID"] == ids["kofi@example.org"]  # the one made at the first try
    assert re.fullmatch(r"<digest\.2026-11-30\.[0-9a-f]{20}@example\.org>", kofi["Message-ID"])


def test_config_check_warns_when_smtp_sends_without_a_postal_address(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    config = smtp_config(demo, smtp_server, email={})  # the demo's own has one
    assert main(["--config", str(config), "config", "check"]) == 0
    assert "email.postal_address is not set" in capsys.readouterr().err
    smtp_config(demo, smtp_server, email={"postal_address": "1 Example Street"})
    assert main(["--config", str(config), "config", "check"]) == 0
    assert "postal_address" not in capsys.readouterr().err
