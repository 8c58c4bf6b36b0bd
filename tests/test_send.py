"""Tests for digest.send: MIME composition, the file outbox, and SMTP against a real aiosmtpd
server on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiosmtpd.smtp import AuthResult, Envelope, LoginPassword, Session

from conftest import SmtpServer, free_port, start_server
from digest.errors import DeliveryError
from digest.models import UNSUBSCRIBE_PLACEHOLDER, AlsoLink, Edition, Rendered, Section, Story
from digest.render import Renderer
from digest.send import (
    FileTransport,
    Letter,
    Outgoing,
    SmtpOptions,
    SmtpPool,
    SmtpTransport,
    Unsubscribe,
    list_id,
    new_message_id,
)

SENDER = "The Weekly Brief <brief@example.org>"
EDITION = "2026-11-30"
LIST_ID = "The Weekly Brief <the-weekly-brief.example.org>"
SUBJECT_NON_ASCII = "Côte d’Ivoire votes | The Weekly Brief"


@pytest.fixture(scope="module")
def rendered() -> Rendered:
    """A real rendering of a small hand-made edition with non-ASCII text."""
    story = Story(
        title="Côte d’Ivoire votes", url="https://africa.example.net/cote-divoire-election",
        source="Africa Desk", published=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        summary="Turnout was high in Abidjan — results are expected on Tuesday.",
        weight=1.0, items=(), also=(AlsoLink("Other Outlet", "https://other.example.com/ci"),),
    )
    edition = Edition(date=date(2026, 11, 30), title="The Weekly Brief",
                      generated_at=datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
                      sections=(Section("africa", "Africa", (story,)),))
    result = Renderer(ZoneInfo("Europe/London")).render(edition)
    assert result.subject == SUBJECT_NON_ASCII
    return result


def make_message(rendered: Rendered, recipient: str = "ana@example.org", *,
                 edition: str = EDITION, date: str | None = None,
                 message_id: str | None = None) -> Outgoing:
    return Letter(rendered, sender=SENDER, edition=edition,
                  list_id=LIST_ID).for_recipient(recipient, date, message_id=message_id)


def parse(raw: bytes) -> EmailMessage:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    return msg


def same_text(received: str, sent: str) -> bool:
    """Equal up to line endings (SMTP uses CRLF) and the final newline MIME adds."""
    return received.replace("\r\n", "\n").rstrip("\n") == sent.rstrip("\n")


# --- compose --------------------------------------------------------------------------------


def test_compose_is_multipart_alternative_text_first_html_last(rendered: Rendered) -> None:
    msg = parse(make_message(rendered).data)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert [p.get_content_charset() for p in parts] == ["utf-8", "utf-8"]
    mailto = "mailto:brief@example.org?subject=unsubscribe"  # no https link configured
    assert same_text(parts[0].get_content(),
                     rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, mailto))
    assert same_text(parts[1].get_content(), rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER,
                                                                   mailto))
    assert UNSUBSCRIBE_PLACEHOLDER in rendered.text and UNSUBSCRIBE_PLACEHOLDER in rendered.html


def test_compose_sets_the_required_headers(rendered: Rendered) -> None:
    msg = parse(make_message(rendered).data)
    for header in ("Subject", "From", "To", "Date", "Message-ID", "List-Id"):
        assert msg[header], header
    assert msg["From"].addresses[0].addr_spec == "brief@example.org"
    assert msg["To"].addresses[0].addr_spec == "ana@example.org"
    assert msg["List-Id"] == LIST_ID
    assert parsedate_to_datetime(str(msg["Date"])).tzinfo is not None
    assert str(msg["Message-ID"]).startswith("<")
    assert str(msg["Message-ID"]).endswith("@example.org>")


def test_compose_uses_the_date_it_is_given(rendered: Rendered) -> None:
    msg = parse(make_message(rendered, date="Mon, 30 Nov 2026 07:00:00 +0000").data)
    assert parsedate_to_datetime(str(msg["Date"])) == datetime(2026, 11, 30, 7, tzinfo=UTC)


def test_message_ids_are_globally_unique_and_a_given_one_is_kept(rendered: Rendered) -> None:
    """Two lists on one domain sending the same day cannot collide: 80 random bits each
    (issue 20); the delivery's own (kept in the store for its retries) is used when given."""
    ids = {make_message(rendered).message_id for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"<digest\.2026-11-30\.[0-9a-f]{20}@example\.org>", i) for i in ids)
    kept = new_message_id(EDITION, "example.org")
    letter = Letter(rendered, sender=SENDER, edition=EDITION, list_id=LIST_ID)
    out = letter.for_recipient("ana@example.org", message_id=kept)
    assert out.message_id == kept
    assert parse(out.data)["Message-ID"] == kept


def test_non_ascii_headers_survive_a_round_trip(rendered: Rendered) -> None:
    msg = Letter(rendered, sender="Le Bréf d’Abidjan <brief@example.org>", edition=EDITION,
                 list_id="Côte d’Ivoire Weekly <c-te-d-ivoire-weekly.example.org>"
                 ).for_recipient("Zoë Ångström <zoe@example.org>")
    raw = msg.data
    assert raw.isascii()  # headers encoded (RFC 2047), bodies quoted-printable
    back = parse(raw)
    assert back["Subject"] == SUBJECT_NON_ASCII
    assert back["From"].addresses[0].display_name == "Le Bréf d’Abidjan"
    assert back["To"].addresses[0].display_name == "Zoë Ångström"
    assert back["To"].addresses[0].addr_spec == "zoe@example.org"
    assert back["List-Id"] == "Côte d’Ivoire Weekly <c-te-d-ivoire-weekly.example.org>"
    assert "Côte d’Ivoire votes" in back.get_body(("plain",)).get_content()


def test_composed_message_lines_fit_smtp_limits(rendered: Rendered) -> None:
    # RFC 5321 4.5.3.1.6: a text line is at most 998 octets plus CRLF; MJML output is
    # one very long line, so the transfer encoding must fold it.
    assert max(len(line) for line in rendered.html.splitlines()) > 998
    raw = make_message(rendered).data
    assert max(len(line) for line in raw.splitlines()) <= 998


def test_list_id_is_title_and_slug_under_the_sender_domain() -> None:
    assert list_id("The Weekly Brief", SENDER) == LIST_ID
    assert list_id("Tech & Trade", "ops@news.example.com") == \
        "Tech & Trade <tech-trade.news.example.com>"
    assert list_id("!!!", SENDER) == "!!! <digest.example.org>"


# --- file outbox ----------------------------------------------------------------------------


def test_file_transport_writes_one_eml_per_recipient(tmp_path: Path,
                                                     rendered: Rendered) -> None:
    outbox = tmp_path / "outbox"
    recipients = ["ana@example.org", "ben@example.org"]
    with FileTransport(outbox) as transport:
        for recipient in recipients:
            transport.send(make_message(rendered, recipient))
    folder = outbox / EDITION
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == ["ana@example.org.eml", "ben@example.org.eml"]
    for file, recipient in zip(files, recipients, strict=True):
        msg = parse(file.read_bytes())
        assert msg["Subject"] == SUBJECT_NON_ASCII
        assert msg["To"] == recipient
    assert list(outbox.iterdir()) == [folder]


def test_file_transport_overwrites_a_resent_message(tmp_path: Path, rendered: Rendered) -> None:
    transport = FileTransport(tmp_path / "outbox")
    transport.send(make_message(rendered, date="Mon, 30 Nov 2026 07:00:00 +0000"))
    transport.send(make_message(rendered, date="Mon, 30 Nov 2026 08:00:00 +0000"))
    files = list((tmp_path / "outbox" / EDITION).iterdir())
    assert [f.name for f in files] == ["ana@example.org.eml"]
    msg = parse(files[0].read_bytes())
    assert parsedate_to_datetime(str(msg["Date"])).hour == 8


def test_file_transport_leaves_no_temp_file_when_it_fails(tmp_path: Path,
                                                          rendered: Rendered) -> None:
    transport = FileTransport(tmp_path / "outbox")
    message = make_message(rendered)
    # something that is not a file stands where the .eml should go
    transport.path_for(message).mkdir(parents=True)
    with pytest.raises(DeliveryError) as caught:
        transport.send(message)
    assert caught.value.permanent is False
    leftovers = [p.name for p in (tmp_path / "outbox" / EDITION).iterdir()
                 if p.name != "ana@example.org.eml"]
    assert leftovers == []


def test_file_transport_failure_is_a_delivery_error(tmp_path: Path, rendered: Rendered) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file, not a folder")
    with pytest.raises(DeliveryError, match="outbox"):
        FileTransport(blocker).send(make_message(rendered))


# --- SMTP against aiosmtpd ------------------------------------------------------------------


def test_smtp_plain_delivery_reaches_the_server(smtp_server: SmtpServer,
                                                rendered: Rendered) -> None:
    message = make_message(rendered)
    with SmtpTransport(smtp_server.options()) as transport:
        transport.send(message)
    (envelope,) = smtp_server.handler.envelopes
    assert envelope.rcpt_tos == ["ana@example.org"]
    assert envelope.mail_from == "brief@example.org"
    assert isinstance(envelope.content, bytes)
    received = parse(envelope.content)
    assert received["Subject"] == SUBJECT_NON_ASCII
    assert received["Message-ID"] == message.message_id
    mailto = "mailto:brief@example.org?subject=unsubscribe"
    assert same_text(received.get_body(("html",)).get_content(),
                     rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, mailto))
    assert same_text(received.get_body(("plain",)).get_content(),
                     rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, mailto))


def test_smtp_reuses_one_connection_for_a_batch(smtp_server: SmtpServer,
                                                rendered: Rendered) -> None:
    recipients = ["ana@example.org", "ben@example.org", "cleo@example.org"]
    with SmtpTransport(smtp_server.options()) as transport:
        for recipient in recipients:
            transport.send(make_message(rendered, recipient))
    handler = smtp_server.handler
    assert [e.rcpt_tos for e in handler.envelopes] == [[r] for r in recipients]
    assert len(handler.ehlos) == 1
    assert handler.connections() == 1


def test_smtp_550_for_one_recipient_is_permanent_and_others_still_go_out(
        smtp_server: SmtpServer, rendered: Rendered) -> None:
    smtp_server.handler.rcpt_replies["gone@example.org"] = "550 5.1.1 No such user"
    with SmtpTransport(smtp_server.options()) as transport:
        with pytest.raises(DeliveryError) as caught:
            transport.send(make_message(rendered, "gone@example.org"))
        transport.send(make_message(rendered, "ana@example.org"))
    assert caught.value.permanent is True
    assert "gone@example.org" in str(caught.value)
    assert "550" in str(caught.value)
    assert [e.rcpt_tos for e in smtp_server.handler.envelopes] == [["ana@example.org"]]
    assert len(smtp_server.handler.ehlos) == 1


def test_smtp_451_is_temporary(smtp_server: SmtpServer, rendered: Rendered) -> None:
    smtp_server.handler.rcpt_replies["busy@example.org"] = "451 4.7.1 Try again later"
    with SmtpTransport(smtp_server.options()) as transport, \
            pytest.raises(DeliveryError) as caught:
        transport.send(make_message(rendered, "busy@example.org"))
    assert caught.value.permanent is False
    assert "451" in str(caught.value)
    assert smtp_server.handler.envelopes == []


@pytest.mark.parametrize("reply, permanent", [("554 5.6.0 Message rejected", True),
                                              ("452 4.3.1 Insufficient storage", False)])
def test_smtp_rejection_after_data(smtp_server: SmtpServer, rendered: Rendered,
                                   reply: str, permanent: bool) -> None:
    smtp_server.handler.data_replies["ana@example.org"] = reply
    with SmtpTransport(smtp_server.options()) as transport, \
            pytest.raises(DeliveryError) as caught:
        transport.send(make_message(rendered))
    assert caught.value.permanent is permanent
    assert reply[:3] in str(caught.value)


def test_smtp_connection_refused_is_temporary(rendered: Rendered) -> None:
    port = free_port()  # nothing listens here
    options = SmtpOptions(host="127.0.0.1", port=port, security="none", timeout=10.0)
    with SmtpTransport(options) as transport, pytest.raises(DeliveryError) as caught:
        transport.send(make_message(rendered))
    assert caught.value.permanent is False
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_smtp_reconnects_when_the_server_dropped_the_connection(
        smtp_server: SmtpServer, rendered: Rendered) -> None:
    with SmtpTransport(smtp_server.options()) as transport:
        transport.send(make_message(rendered, "ana@example.org"))
        smtp_server.drop_connections()
        transport.send(make_message(rendered, "ben@example.org"))
    handler = smtp_server.handler
    assert [e.rcpt_tos for e in handler.envelopes] == [["ana@example.org"], ["ben@example.org"]]
    assert len(handler.ehlos) == 2


def test_smtp_starttls_not_offered_is_permanent(smtp_server: SmtpServer,
                                                rendered: Rendered) -> None:
    with SmtpTransport(smtp_server.options(security="starttls")) as transport, \
            pytest.raises(DeliveryError) as caught:
        transport.send(make_message(rendered))
    assert caught.value.permanent is True
    assert "STARTTLS" in str(caught.value)
    assert smtp_server.handler.envelopes == []


def _authenticator(server: Any, session: Session, envelope: Envelope, mechanism: str,
                   auth_data: Any) -> AuthResult:
    ok = (isinstance(auth_data, LoginPassword) and auth_data.login == b"brief"
          and auth_data.password == b"s3cret-pw")
    return AuthResult(success=ok, handled=False)


@pytest.fixture
def auth_server() -> Iterator[SmtpServer]:
    # TLS is skipped in tests: AUTH is allowed over the plain loopback connection.
    server = start_server(authenticator=_authenticator, auth_require_tls=False,
                          auth_required=True)
    yield server
    server.controller.stop()


AUTH_WITHOUT_TLS = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@AUTH_WITHOUT_TLS
def test_smtp_login_then_delivery(auth_server: SmtpServer, rendered: Rendered) -> None:
    options = auth_server.options(username="brief", password="s3cret-pw")
    with SmtpTransport(options) as transport:
        transport.send(make_message(rendered))
    (envelope,) = auth_server.handler.envelopes
    assert envelope.rcpt_tos == ["ana@example.org"]
    assert auth_server.handler.data_sessions[0].authenticated is True


@AUTH_WITHOUT_TLS
def test_smtp_login_refused_is_permanent_and_hides_the_password(
        auth_server: SmtpServer, rendered: Rendered) -> None:
    options = auth_server.options(username="brief", password="wrong-pw-123")
    with SmtpTransport(options) as transport, pytest.raises(DeliveryError) as caught:
        transport.send(make_message(rendered))
    assert caught.value.permanent is True
    assert caught.value.connection is True  # the session's failure, not the recipient's
    assert str(caught.value).startswith(
        f"SMTP login to 127.0.0.1:{auth_server.port} refused for 'brief': 535 ")
    assert "wrong-pw-123" not in str(caught.value)
    assert auth_server.handler.envelopes == []


# --- the message built once per edition -----------------------------------------------------


@pytest.mark.parametrize("lead", [0, 75])
@pytest.mark.parametrize("pad", ["a", "=é"])
def test_each_recipients_link_fills_the_hole_without_breaking_quoted_printable(
        lead: int, pad: str) -> None:
    # The placeholder either side of the 76-character line limit, links of 100 lengths: the
    # decoded parts must equal the text with the link put in, and no encoded line may pass
    # 76 characters (RFC 2045 6.7).
    html = "é" * lead + f'<a href="{UNSUBSCRIBE_PLACEHOLDER}">x</a>' + "=" * lead
    text = "a" * lead + UNSUBSCRIBE_PLACEHOLDER + " \n" + UNSUBSCRIBE_PLACEHOLDER
    rendered = Rendered("Subject", html, text)
    for n in range(0, 100):
        unsubscribe = Unsubscribe("https://brief.example.org/u/" + pad * n, b"k" * 16)
        check_letter(Letter(rendered, sender=SENDER, edition=EDITION, list_id=LIST_ID,
                            unsubscribe=unsubscribe), rendered, unsubscribe)


def check_letter(letter: Letter, rendered: Rendered, unsubscribe: Unsubscribe) -> None:
    html, text = rendered.html, rendered.text
    for recipient in ("ana@example.org", "a.very.long.local.part.indeed@example.org"):
        out = letter.for_recipient(recipient)
        link = unsubscribe.link(recipient, LIST_ID)
        assert link is not None
        msg = parse(out.data)
        assert same_text(msg.get_body(("plain",)).get_content(),
                         text.replace(UNSUBSCRIBE_PLACEHOLDER, link))
        assert same_text(msg.get_body(("html",)).get_content(),
                         html.replace(UNSUBSCRIBE_PLACEHOLDER, link.replace("&", "&amp;")))
        body = out.data.split(b"\r\n\r\n", 1)[1]
        assert max(len(line) for line in body.split(b"\r\n")) <= 76
        assert b"\n" not in out.data.replace(b"\r\n", b"")  # CRLF only
        assert parse(out.data)["Message-ID"] == out.message_id


def test_the_letter_is_the_composed_message_for_everyone(rendered: Rendered) -> None:
    letter = Letter(rendered, sender=SENDER, edition=EDITION, list_id=LIST_ID)
    date = "Mon, 30 Nov 2026 07:00:00 +0000"
    for recipient in ("ana@example.org", "Zoë Ångström <zoe@example.org>"):
        mid = new_message_id(EDITION, "example.org")
        ours = parse(letter.for_recipient(recipient, date, message_id=mid).data)
        single = parse(make_message(rendered, recipient, date=date, message_id=mid).data)
        assert [(k, str(v)) for k, v in ours.items() if k != "Content-Type"] == \
            [(k, str(v)) for k, v in single.items() if k != "Content-Type"]
        assert ours.get_body(("html",)).get_content() == \
            single.get_body(("html",)).get_content()


# --- the point of no return -----------------------------------------------------------------


def test_hand_over_is_noted_before_the_final_dot(smtp_server: SmtpServer,
                                                 rendered: Rendered) -> None:
    seen: list[int] = []
    with SmtpTransport(smtp_server.options()) as transport:
        transport.send(make_message(rendered),
                       lambda: seen.append(len(smtp_server.handler.envelopes)))
    assert seen == [0]  # called once, before the server had the message
    assert len(smtp_server.handler.envelopes) == 1


def test_a_connection_lost_after_the_hand_over_is_not_sent_again(
        smtp_server: SmtpServer, rendered: Rendered) -> None:
    # The server takes the message, then the connection goes before the client reads the
    # reply: it may be delivered, so it is not retried (a second copy is the worse outcome).
    smtp_server.handler.on_data = lambda server, envelope: server.transport.close()
    with SmtpTransport(smtp_server.options()) as transport, \
            pytest.raises(DeliveryError) as caught:
        transport.send(make_message(rendered))
    assert caught.value.unconfirmed is True
    assert caught.value.connection is False  # the next recipient may go on
    assert len(smtp_server.handler.envelopes) == 1


def test_a_connection_lost_before_the_hand_over_is_retried_once(
        smtp_server: SmtpServer, rendered: Rendered) -> None:
    dropped: list[str] = []

    def drop_first(server: Any, address: str) -> None:
        if not dropped:
            dropped.append(address)
            server.transport.close()

    smtp_server.handler.on_rcpt = drop_first
    with SmtpTransport(smtp_server.options()) as transport:
        transport.send(make_message(rendered))
    assert dropped == ["ana@example.org"]
    assert [e.rcpt_tos for e in smtp_server.handler.envelopes] == [["ana@example.org"]]
    assert len(smtp_server.handler.ehlos) == 2  # reconnected


def test_a_server_closing_the_session_fails_the_session_not_the_recipient(
        smtp_server: SmtpServer, rendered: Rendered) -> None:
    # 421 (RFC 5321 3.8: the server is shutting the channel) is not an answer about this
    # recipient: one fresh connection is tried, then the session's failure is reported.
    smtp_server.handler.rcpt_replies["ana@example.org"] = "421 4.3.2 shutting down"
    with SmtpTransport(smtp_server.options()) as transport, \
            pytest.raises(DeliveryError) as caught:
        transport.send(make_message(rendered))
    assert caught.value.connection is True
    assert str(caught.value) == (f"SMTP 127.0.0.1:{smtp_server.port}: the server closed the "
                                 "session: 421 4.3.2 shutting down")
    assert len(smtp_server.handler.ehlos) == 2
    assert smtp_server.handler.envelopes == []


def test_a_failing_hand_over_note_abandons_the_message(smtp_server: SmtpServer,
                                                       rendered: Rendered) -> None:
    def fail() -> None:
        raise RuntimeError("database is gone")

    with SmtpTransport(smtp_server.options()) as transport:
        with pytest.raises(RuntimeError):
            transport.send(make_message(rendered, "ana@example.org"), fail)
        transport.send(make_message(rendered, "ben@example.org"))  # a fresh connection
    assert [e.rcpt_tos for e in smtp_server.handler.envelopes] == [["ben@example.org"]]


def test_a_line_starting_with_a_dot_is_stuffed(smtp_server: SmtpServer) -> None:
    text = "first\n.\n..two dots\n.one\n" + UNSUBSCRIBE_PLACEHOLDER
    message = make_message(Rendered("Dots", "<p>.</p>", text))
    with SmtpTransport(smtp_server.options()) as transport:
        transport.send(message)
    received = parse(smtp_server.handler.envelopes[0].content)  # type: ignore[arg-type]
    mailto = "mailto:brief@example.org?subject=unsubscribe"
    assert same_text(received.get_body(("plain",)).get_content(),
                     text.replace(UNSUBSCRIBE_PLACEHOLDER, mailto))


def test_a_pool_spreads_a_batch_over_its_connections(smtp_server: SmtpServer,
                                                     rendered: Rendered) -> None:
    smtp_server.handler.data_delay = 0.05  # slow enough that the threads overlap
    recipients = [f"reader{n}@example.org" for n in range(9)]
    with SmtpPool(smtp_server.options(), 3) as pool, ThreadPoolExecutor(3) as threads:
        list(threads.map(lambda r: pool.send(make_message(rendered, r)), recipients))
    received = sorted(r for e in smtp_server.handler.envelopes for r in e.rcpt_tos)
    assert received == sorted(recipients)
    assert smtp_server.handler.connections() == 3


def test_an_internationalised_address_goes_with_smtputf8_and_a_broken_one_is_refused(
        rendered: Rendered) -> None:
    """MAIL and RCPT are written by digest (not smtplib's mail() and rcpt()): an address that
    needs SMTPUTF8 (RFC 6531) is sent with it, in UTF-8, to a server offering it; one that
    would break the command line never reaches the server."""
    server = start_server(enable_SMTPUTF8=True)
    try:
        letter = Letter(rendered, sender=SENDER, edition=EDITION, list_id=LIST_ID)
        with SmtpTransport(server.options()) as transport:
            transport.send(letter.for_recipient("zoë@example.org"))
            with pytest.raises(DeliveryError) as refused:
                transport.send(dataclasses.replace(
                    letter.for_recipient("ana@example.org"),
                    recipient="ana@example.org>\r\nRCPT TO:<x@example.org"))
            assert refused.value.bounce is None  # says nothing about a reader's mailbox
            transport.send(letter.for_recipient("ben@example.org"))  # the session goes on
        (first, second) = server.handler.envelopes
        assert first.rcpt_tos == ["zoë@example.org"] and "SMTPUTF8" in first.mail_options
        assert second.rcpt_tos == ["ben@example.org"] and not second.mail_options
    finally:
        server.controller.stop()


def test_reply_to_with_a_non_ascii_name_is_encoded_and_the_message_stays_7_bit(
        rendered: Rendered) -> None:
    letter = Letter(rendered, sender=SENDER, edition=EDITION, list_id=LIST_ID,
                    reply_to="Rédaction du Bréf <editors@example.org>")
    out = letter.for_recipient("ana@example.org")
    assert out.data.isascii()
    msg = parse(out.data)
    assert msg["Reply-To"].addresses[0].display_name == "Rédaction du Bréf"
    assert msg["Reply-To"].addresses[0].addr_spec == "editors@example.org"


def test_a_folded_subject_reads_back_with_single_spaces(rendered: Rendered) -> None:
    """Python's header folder left "of \\r\\n =?utf-8?q?customs...": two spaces once unfolded."""
    subject = "Nvidia's newest China-compliant accelerator meets a wall of customs…"
    letter = Letter(Rendered(subject, rendered.html, rendered.text), sender=SENDER,
                    edition=EDITION, list_id=LIST_ID)
    out = letter.for_recipient("ana@example.org")
    assert str(parse(out.data)["Subject"]) == subject
    head = out.data[:out.data.index(b"\r\n\r\n")]
    assert not re.search(rb"[ \t]\r\n", head)
