"""digest.inbound: what comes back to the bounce mailbox, read into one Inbound value.

The samples in data/inbound/ follow the formats of real MTAs and feedback loops (README.md
there says which); flufl.bounce 4.0's own samples, read in place from its sdist, check the
non-standard formats and that hostile or odd input never raises."""

from __future__ import annotations

import ast
import re
import tarfile
from random import Random

import pytest

from conftest import REPO
from digest import inbound
from digest.inbound import FLUFL_BYTES, MAX_BOUNDARY_LINES, Inbound, read_message
from digest.models import BounceKind

DATA = REPO / "tests" / "data" / "inbound"
SDIST = REPO / ".venv" / "vectors" / "flufl.bounce-4.0.tar.gz"

HARD, SOFT, COMPLAINT = BounceKind.HARD, BounceKind.SOFT, BounceKind.COMPLAINT
UNSUBSCRIBE, OTHER = BounceKind.UNSUBSCRIBE, BounceKind.OTHER


def read(data: bytes, **kwargs: int) -> Inbound:
    result = read_message(data, verp_local="bounces", **kwargs)
    assert_well_formed(result)
    return result


def assert_well_formed(result: Inbound) -> None:
    """What every answer promises, whatever the input."""
    assert isinstance(result, Inbound) and isinstance(result.kind, BounceKind)
    assert len(result.reason) <= 300 and result.reason.isprintable(), result.reason
    assert result.reason == result.reason.strip()
    assert all(re.fullmatch(r"[a-z0-9-]{1,60}", t) for t in result.tokens), result.tokens
    assert len(set(result.tokens)) == len(result.tokens)
    assert len({a.casefold() for a in result.addresses}) == len(result.addresses)
    assert all("@" in a and a.isprintable() and " " not in a for a in result.addresses)
    for value in (result.message_id, result.original_message_id):
        assert value is None or (value.isprintable() and not any(c.isspace() for c in value))


# --- the samples in data/inbound/ ---

OUR = "news.example.org"
EXPECTED = {
    "postfix_hard.eml": Inbound(
        HARD, ("b1f-k7q3mzxwap4tr", "u1f-p2d6vhyqe5nsa"), ("ana@example.net",),
        "5.1.1 smtp; 550 5.1.1 <ana@example.net>: user unknown",
        "<20261130070210.9F2C83E0B1@mx.example.com>", f"<edition-2026-11-30.1f@{OUR}>"),
    "exim_nonrfc.eml": Inbound(
        HARD, ("b2p-qw3e4r5t6y7ua",), ("ben@example.net",),
        "550 5.1.1 mailbox ben does not exist here",
        "<E1tGxYz-000AbC-2Q@relay.example.com>", f"<edition-2026-11-30.2p@{OUR}>"),
    "microsoft_dsn.eml": Inbound(
        HARD, ("b3c-mn4bv5cx6zl7k", "u3c-hj2kl3mn4pq5r"), ("carlos@example.net",),
        "5.1.10 smtp;550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient carlos@example.net "
        "not found by an address lookup at example.net",
        "<0f8e6c4a-1b2d-4e3f-9a7b-5c6d7e8f9a0b@mail.example.com>",
        f"<edition-2026-11-30.3c@{OUR}>"),
    "gmail_dsn.eml": Inbound(
        HARD, ("b4d-ab2cd3ef4gh5i", "u4d-zy2xw3vu4ts5r"), ("Dora.Diaz@Example.NET",),
        "5.2.1 smtp; 550-5.2.1 The account you tried to reach is disabled. 550 5.2.1 Ask the "
        "recipient for another address. x1y2z3 - smtp",
        "<6756a1b2.050a0220.3c4d5e.0001.GMR@mail.example.com>",
        f"<edition-2026-11-30.4d@{OUR}>"),
    "soft_mailbox_full.eml": Inbound(
        SOFT, ("b5e-cd2ef3gh4ij5k",), ("eva@example.net",),
        "4.2.2 smtp; 452 4.2.2 <eva@example.net>: mailbox full",
        "<20261205070230.B7C8D9E0F1@mx.example.com>", f"<edition-2026-11-30.5e@{OUR}>"),
    "delay_warning.eml": Inbound(
        OTHER, ("b6f-ef2gh3ij4kl5m",), ("fred@example.net",),
        "delayed: 4.4.1 X-Postfix; connect to mx.example.net[192.0.2.70]:25: Connection timed "
        "out", "<20261130110240.D1E2F3A4B5@mx.example.com>", f"<edition-2026-11-30.6f@{OUR}>"),
    "arf_abuse.eml": Inbound(
        COMPLAINT, ("b7g-gh2ij3kl4mn5p", "u7g-st2uv3wx4yz5a"), ("gina@example.net",),
        "ARF abuse report from Example Mail",
        "<fbl-20261201091500-0042@feedback.example.net>", f"<edition-2026-11-30.7g@{OUR}>"),
    "arf_headers_only.eml": Inbound(
        COMPLAINT, ("b8h-jk2lm3np4qr5s", "u8h-bc2de3fg4hj5k"), ("redacted@example.com",),
        "ARF abuse report from Example Webmail Complaints",
        "<c0mpla1nt-77@fbl.example.com>", f"<edition-2026-11-30.8h@{OUR}>"),
    "arf_not_spam.eml": Inbound(
        OTHER, ("b9j-lm2np3qr4st5u",), ("hugo@example.net",),
        "ARF not-spam report from Example Mail",
        "<fbl-20261202080000-0043@feedback.example.net>", f"<edition-2026-11-30.9j@{OUR}>"),
    "vacation.eml": Inbound(
        OTHER, ("bak-np2qr3st4uv5w",), (),
        "automatic mail (Auto-Submitted: auto-replied (vacation))",
        "<ooo-5521@mail.example.net>", f"<edition-2026-11-30.ak@{OUR}>"),
    "unsubscribe.eml": Inbound(
        UNSUBSCRIBE, ("ubm-qr2st3uv4wx5y",), (), "mail from a person: subject 'unsubscribe'",
        "<a1b2c3d4-unsub@mail.example.net>", None),
    "garbage.eml": Inbound(OTHER, (), (), "not a mail message (no header found)", None, None),
    "eightbit_headers.eml": Inbound(
        HARD, ("bcn-st2uv3wx4yz5a",), ("kim@example.net",),
        "5.1.1 smtp; 550 5.1.1 bo\ufffdte inconnue [31m <kim@example.net>",
        "<8bit-\ufffd\ufffd@mx.example.com>", f"<edition-2026-11-30.cn@{OUR}>"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_sample_reads_as_expected(name: str) -> None:
    assert read((DATA / name).read_bytes()) == EXPECTED[name]


def test_every_sample_has_an_expectation_and_a_line_in_the_readme() -> None:
    files = {p.name for p in DATA.iterdir() if p.suffix == ".eml"}
    assert files == set(EXPECTED)
    readme = (DATA / "README.md").read_text(encoding="utf-8")
    assert [name for name in sorted(files) if f"`{name}`" not in readme] == []


# --- building messages in the tests ---


def person(**headers: str) -> bytes:
    """A plain mail from a reader to their signed unsubscribe address; `headers` replace or
    add (underscores for dashes; an empty value removes the header)."""
    fields = {
        "Return-Path": "<lena@example.net>",
        "From": "Lena Lind <lena@example.net>",
        "To": "bounces+u1-abc@example.org",
        "Subject": "unsubscribe",
        "Message-ID": "<m1@mail.example.net>",
    }
    for name, value in headers.items():
        fields[name.replace("_", "-")] = value
    head = "".join(f"{k}: {v}\n" for k, v in fields.items() if v)
    return f"{head}\nPlease stop. bounces+zz-not-a-header@example.org\n".encode()


def dsn(*blocks: str, status_type: str = "message/delivery-status", original: str = "",
        headers: str = "") -> bytes:
    """An RFC 3464 report (multipart/report; report-type=delivery-status) with these
    per-recipient blocks, and `original` as a text/rfc822-headers part when given."""
    parts = ["Content-Type: text/plain\n\nA delivery report.\n",
             f"Content-Type: {status_type}\n\nReporting-MTA: dns; mx.example.com\n\n"
             + "\n".join(blocks)]
    if original:
        parts.append(f"Content-Type: text/rfc822-headers\n\n{original}")
    body = "".join(f"--B\n{p}\n" for p in parts) + "--B--\n"
    return (f"Return-Path: <>\nFrom: MAILER-DAEMON@mx.example.com\n"
            f"To: bounces+b1-abc@example.org\nSubject: Delivery report\n{headers}"
            f"MIME-Version: 1.0\n"
            f"Content-Type: multipart/report; report-type=delivery-status; boundary=\"B\"\n\n"
            f"{body}").encode()


def arf(feedback_type: str | None) -> bytes:
    """An RFC 5965 report with this Feedback-Type (None: the field left out)."""
    field = f"Feedback-Type: {feedback_type}\n" if feedback_type is not None else ""
    return (
        "From: Example Mail <fbl@feedback.example.net>\nTo: bounces@example.org\n"
        "Subject: report\nMIME-Version: 1.0\n"
        "Content-Type: multipart/report; report-type=feedback-report; boundary=\"F\"\n\n"
        "--F\nContent-Type: text/plain\n\nA report.\n\n"
        f"--F\nContent-Type: message/feedback-report\n\n{field}User-Agent: X/1\nVersion: 1\n"
        "Original-Rcpt-To: <mona@example.net>\n\n"
        "--F\nContent-Type: text/rfc822-headers\n\nFrom: brief@example.org\n"
        "To: mona@example.net\nReturn-Path: <bounces+b2-mona@example.org>\n"
        "Message-ID: <ours@news.example.org>\n\n--F--\n").encode()


# --- classification ---


@pytest.mark.parametrize(("block", "kind", "reason"), [
    ("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n", HARD, "5.1.1"),
    ("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 4.2.2\n", SOFT, "4.2.2"),
    # no Status: the Diagnostic-Code's codes decide; neither: a failure is permanent
    ("Final-Recipient: rfc822; a@example.net\nAction: failed\n"
     "Diagnostic-Code: smtp; 452 4.2.2 full\n", SOFT, "smtp; 452 4.2.2 full"),
    ("Final-Recipient: rfc822; a@example.net\nAction: failed\n", HARD, "failed"),
    ("Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 553 too big\n", HARD,
     "553 too big"),
    ("Final-Recipient: rfc822; a@example.net\nAction: error\nStatus: 5.0.0\n", HARD, "5.0.0"),
    ("Final-Recipient: rfc822; a@example.net\nAction: Failed (gave up)\nStatus: 4.4.7\n",
     SOFT, "4.4.7"),
    ("Final-Recipient: rfc822; a@example.net\nAction: delayed\nStatus: 4.4.1\n", OTHER,
     "delayed: 4.4.1"),
    ("Final-Recipient: rfc822; a@example.net\nAction: delivered\nStatus: 2.0.0\n", OTHER,
     "delivered: 2.0.0"),
    ("Final-Recipient: rfc822; a@example.net\nAction: relayed\nStatus: 2.0.0\n", OTHER,
     "relayed: 2.0.0"),
    ("Final-Recipient: rfc822; a@example.net\nAction: expanded\nStatus: 2.0.0\n", OTHER,
     "expanded: 2.0.0"),
])
def test_dsn_action_and_status_decide(block: str, kind: BounceKind, reason: str) -> None:
    result = read(dsn(block))
    assert (result.kind, result.reason, result.addresses) == (kind, reason, ("a@example.net",))
    assert result.tokens == ("b1-abc",)


def test_a_permanent_failure_wins_over_a_transient_one_in_the_same_report() -> None:
    result = read(dsn(
        "Final-Recipient: rfc822; soft@example.net\nAction: failed\nStatus: 4.2.2\n",
        "Original-Recipient: rfc822; Hard@Example.net\n"
        "Final-Recipient: rfc822; hard@example.net\nAction: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 no such user\n"))
    assert (result.kind, result.reason) == (HARD, "5.1.1 smtp; 550 no such user")
    # the failed recipients the report names, Original-Recipient first, once each
    assert result.addresses[0] == "Hard@Example.net"
    assert "hard@example.net" not in result.addresses


@pytest.mark.parametrize("status_type", ["message/global-delivery-status",
                                         "text/delivery-status"])
def test_other_delivery_status_types_are_read_too(status_type: str) -> None:
    block = "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n"
    assert read(dsn(block)).kind is HARD
    result = read(dsn(block, status_type=status_type))
    assert (result.kind, result.addresses) == (HARD, ("a@example.net",))


@pytest.mark.parametrize(("feedback_type", "kind"), [
    ("abuse", COMPLAINT), ("fraud", COMPLAINT), ("virus", COMPLAINT), ("other", COMPLAINT),
    ("complaint", COMPLAINT), ("Abuse", COMPLAINT), ("spam-complaint", COMPLAINT),
    ("not-spam", OTHER), ("auth-failure", OTHER), ("dmarc", OTHER), (None, OTHER),
])
def test_arf_feedback_type_decides(feedback_type: str | None, kind: BounceKind) -> None:
    result = read(arf(feedback_type))
    assert result.kind is kind
    assert result.addresses == ("mona@example.net",)
    assert result.tokens == ("b2-mona",)
    assert result.original_message_id == "<ours@news.example.org>"
    assert result.reason == f"ARF {(feedback_type or 'untyped').lower()} report from Example Mail"


def test_an_abuse_report_without_a_feedback_report_part_is_not_guessed() -> None:
    data = (
        b"From: Example Mail <fbl@feedback.example.net>\nTo: bounces@example.org\n"
        b"Subject: Spam complaint\nMIME-Version: 1.0\n"
        b"Content-Type: multipart/mixed; boundary=\"F\"\n\n"
        b"--F\nContent-Type: text/plain\n\nThis is an email abuse report for the message "
        b"below.\n\n--F\nContent-Type: message/rfc822\n\nFrom: brief@example.org\n"
        b"To: ned@example.net\nReturn-Path: <bounces+b3-ned@example.org>\n"
        b"Message-ID: <ours@news.example.org>\n\nHello\n\n--F--\n")
    result = read(data)
    assert (result.kind, result.reason) == (
        OTHER, "abuse report without a feedback-report part (not ARF)")
    assert result.tokens == ("b3-ned",)  # still a report: the original's headers were read
    # the same mail forwarded by a person, with no abuse wording, is theirs to send
    assert read(data.replace(b"Spam complaint", b"stop").replace(
        b"This is an email abuse report for", b"Please stop sending")).kind is UNSUBSCRIBE


@pytest.mark.parametrize("headers", [
    {"Auto_Submitted": "auto-replied"},
    {"Auto_Submitted": "auto-generated"},
    {"Auto_Submitted": "auto-notified; owner-email=\"x@example.net\""},
    {"X_Autoreply": "yes"},
    {"X_Autorespond": "Out of office"},
    {"Precedence": "auto_reply"},
    {"Precedence": "bulk"},
    {"List_Id": "<some-list.example.net>"},
    {"Subject": "Out of office: The Weekly Brief"},
    {"Subject": "Automatic reply: The Weekly Brief"},
    {"Subject": "Abwesenheitsnotiz: The Weekly Brief"},
    {"Subject": "Re: The Weekly Brief [Auto-Reply]"},
    {"Subject": "Undeliverable: The Weekly Brief"},  # a bounce nobody could read
    {"Return_Path": "<>"},
    {"From": "Mail Delivery System <MAILER-DAEMON@mx.example.net>"},
    {"From": "postmaster@example.net"},
    {"From": "noreply@example.net"},
    {"From": ""},
    {"From": "not an address"},
])
def test_automatic_mail_is_never_an_unsubscribe(headers: dict[str, str]) -> None:
    result = read(person(**headers))
    assert result.kind is OTHER, result
    assert result.reason
    assert result.tokens == ("u1-abc",)  # the envelope's only: not a report


@pytest.mark.parametrize("headers", [
    {}, {"Auto_Submitted": "no"}, {"Subject": "Re: The Weekly Brief"}, {"Subject": ""},
    {"Precedence": "first-class"},
])
def test_a_mail_from_a_person_is_an_unsubscribe(headers: dict[str, str]) -> None:
    result = read(person(**headers))
    assert (result.kind, result.tokens, result.addresses) == (UNSUBSCRIBE, ("u1-abc",), ())
    assert result.message_id == "<m1@mail.example.net>"


# --- tokens ---


def test_tokens_come_in_order_of_trust() -> None:
    data = dsn(
        "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n"
        "X-Quoted: envelope bounces+x1@example.org and again bounces+e1@example.org\n",
        original=("Received: from news.example.org for <bounces+rcvd@example.org>\n"
                  "List-Unsubscribe: <mailto:bounces%2Bo4@example.org?subject=unsubscribe>\n"
                  "To: Someone <bounces+o3@example.org>\n"
                  "From: bounces+o2@example.org\n"
                  "Return-Path: <bounces+o1@example.org>\n"),
        headers=("Cc: bounces+e6@example.org\nX-Envelope-To: bounces+e4@example.org\n"
                 "Envelope-To: Bounces+E3@Example.ORG\nX-Original-To: bounces+e2@example.org\n"
                 "Delivered-To: bounces+e1@example.org\n"
                 "Received: from mx for <bounces+rcvd@example.org>\n"),
    ).replace(b"To: bounces+b1-abc@example.org", b"To: bounces+e5@example.org")
    assert read(data).tokens == (
        "e1", "e2", "e3", "e4", "e5", "e6", "o1", "o2", "o3", "o4", "x1")


def test_a_token_in_the_text_is_the_last_resort() -> None:
    data = (DATA / "exim_nonrfc.eml").read_bytes()
    # without the envelope headers, the quoted copy of our message still names the reader
    stripped = re.sub(rb"(?m)^(Envelope-to|To): .*\n", b"", data)
    assert read(stripped).tokens == ("b2p-qw3e4r5t6y7ua",)
    assert read(stripped.replace(b"bounces+", b"bounces-")).tokens == ()


@pytest.mark.parametrize(("text", "verp_local", "tokens"), [
    ("Bounces+ABC-12@Example.org", "bounces", ("abc-12",)),
    ("<bounces+" + "a" * 60 + "@example.org>", "bounces", ("a" * 60,)),
    ("<bounces+" + "a" * 61 + "@example.org>", "bounces", ()),
    ("xbounces+abc@example.org", "bounces", ()),
    ("my.bounces+abc@example.org", "bounces", ()),
    ("bounces+ab_c@example.org", "bounces", ()),
    ("bounces+abc.d@example.org", "bounces", ()),
    ("bounces+@example.org", "bounces", ()),
    ("bounces+abc@example.org", "returns", ()),
    ("returns+abc@example.org, bounces+def@example.org", "returns", ("abc",)),
    ("b.ounce+abc@example.org, bXounce+def@example.org", "b.ounce", ("abc",)),
    ("bounces+abc@example.org, bounces+ABC@example.org, bounces+def@example.org", "bounces",
     ("abc", "def")),
])
def test_token_pattern(text: str, verp_local: str, tokens: tuple[str, ...]) -> None:
    data = person(To=text)
    assert read_message(data, verp_local=verp_local).tokens == tokens


@pytest.mark.parametrize("verp_local", ["", "bounces@example.org", "bounces+x", "a b"])
def test_verp_local_must_be_a_local_part(verp_local: str) -> None:
    with pytest.raises(ValueError, match="verp_local"):
        read_message(person(), verp_local=verp_local)


# --- the original message's ID ---


@pytest.mark.parametrize(("headers", "expected"), [
    ({"X_Original_Message_ID": "<x@news.example.org>", "In_Reply_To": "<r@news.example.org>"},
     "<x@news.example.org>"),
    ({"In_Reply_To": "<r@news.example.org>", "References": "<a@b> <c@d>"},
     "<r@news.example.org>"),
    ({"References": "<first@news.example.org>\n <last@news.example.org>"},
     "<last@news.example.org>"),
    ({}, None),
    ({"In_Reply_To": "junk with spaces"}, None),
])
def test_original_message_id_from_the_headers(headers: dict[str, str],
                                              expected: str | None) -> None:
    assert read(person(**headers)).original_message_id == expected


def test_original_message_id_prefers_the_included_original() -> None:
    block = "Final-Recipient: rfc822; a@example.net\nAction: failed\nStatus: 5.1.1\n"
    included = read(dsn(block, original="Message-ID: <orig@news.example.org>\n",
                        headers="In-Reply-To: <other@news.example.org>\n"))
    assert included.original_message_id == "<orig@news.example.org>"
    # a DSN's per-message X-Original-Message-ID field (Gmail's) when nothing is included
    field = read(dsn(block).replace(b"Reporting-MTA: dns; mx.example.com\n",
                                    b"Reporting-MTA: dns; mx.example.com\n"
                                    b"X-Original-Message-ID: <field@news.example.org>\n"))
    assert field.original_message_id == "<field@news.example.org>"
    assert read(dsn(block)).original_message_id is None


# --- size, flufl.bounce's part, hostile input ---


def test_over_size_is_other_without_parsing() -> None:
    data = person()
    assert read(data, max_bytes=len(data)).kind is UNSUBSCRIBE
    too_big = read(data, max_bytes=len(data) - 1)
    assert too_big == Inbound(OTHER, (), (), f"too large ({len(data)} bytes)", None, None)
    big = person() + b"x" * 10_000_000
    assert read(big).reason == f"too large ({len(big)} bytes)"


def test_flufl_bounce_reads_the_non_standard_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    exim = (DATA / "exim_nonrfc.eml").read_bytes()
    postfix = (DATA / "postfix_hard.eml").read_bytes()
    assert read(exim).kind is HARD

    def broken(msg: object) -> None:
        raise RuntimeError("a detector choked")

    monkeypatch.setattr(inbound, "all_failures", broken)
    # our own RFC 3464 reading does not need it; the Exim format does, and without it the
    # bounce is automatic mail nobody can act on, never an unsubscribe
    assert read(postfix) == EXPECTED["postfix_hard.eml"]
    result = read(exim)
    assert (result.kind, result.reason) == (
        OTHER, "automatic mail (Auto-Submitted: auto-replied)")


def test_flufl_bounce_sees_the_first_bytes_only() -> None:
    def bounce(padding: int) -> bytes:
        return ("From: Mail Delivery <daemon@mx.example.net>\n"
                "To: bounces+b4-pad@example.org\nSubject: failure notice\n\n"
                + ("x" * 99 + "\n") * padding
                + "Here is your list of failed recipients:\n<olga@example.net>\n"
                  "Here is your returned mail.\n").encode()

    near = read(bounce(10))
    assert (near.kind, near.addresses) == (HARD, ("olga@example.net",))
    far = read(bounce(FLUFL_BYTES // 100))
    assert (far.kind, far.reason) == (OTHER, "unrecognised bounce: failure notice")


def hostile_inputs() -> list[bytes]:
    deep = b"".join(b"Content-Type: multipart/mixed; boundary=b%d\n\n--b%d\n" % (i, i)
                    for i in range(3000))
    nested = b"".join(b"Content-Type: message/rfc822\n\n" for _ in range(500))
    return [
        b"", b"\n", b"\x00" * 1000, b":", b"From:\n\n", b"From: <>\n\n",
        b"From: a@example.net\n" + deep + b"x",
        b"From: a@example.net\n" + nested + b"x",
        b"From: a@example.net\nSubject: " + b"=?utf-8?q?" * 50_000 + b"\n\nx",
        b"From: a@example.net\nTo: " + b"bounces+" * 100_000 + b"\n\nx",
        b"From: a@example.net\nContent-Type: multipart/report; boundary=Z\n\n--Z\n"
        b"Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n\n"
        b"QWN0aW9uOiBmYWlsZWQK\n--Z\nContent-Type: message/rfc822\n\n--Z\n"
        b"Content-Type: message/feedback-report\n\n\x00\xff:\n",
        b"From: a@example.net\nContent-Type: multipart/report; report-type=feedback-report;"
        b" boundary=Z\n\n--Z\nContent-Type: message/feedback-report; charset=x-nothing\n"
        b"Content-Transfer-Encoding: base64\n\n!!!!\n",
        b"From: a@example.net\nContent-Type: text/plain; charset=\"\xff\"\n"
        b"Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n",
        b"From: a@example.net\nContent-Type: multipart/mixed\n\nno boundary at all\n",
        b"From: a@example.net\nX-J\xfcnk\xff: value\nTo: bounces+b5-x@example.org\n\nbody",
    ]


@pytest.mark.parametrize("data", hostile_inputs(), ids=lambda d: repr(d[:30]))
def test_hostile_input_never_raises(data: bytes) -> None:
    read(data)


def test_deep_nesting_and_many_parts_are_other() -> None:
    deep = hostile_inputs()[6]
    assert read(deep).kind is OTHER
    many = b"From: a@example.net\nContent-Type: multipart/mixed; boundary=b\n\n" + \
        b"--b\n\nx\n" * (MAX_BOUNDARY_LINES + 1)
    assert read(many).reason == f"too many MIME parts ({MAX_BOUNDARY_LINES + 1} boundary lines)"


def mutations(data: bytes, rng: Random) -> list[bytes]:
    """Broken copies of a sample: cut short, bytes flipped, junk inserted, lines doubled."""
    out = []
    for _ in range(6):
        cut = rng.randrange(len(data) + 1)
        out.append(data[:cut])
        flipped = bytearray(data)
        for _ in range(20):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        out.append(bytes(flipped))
        at = rng.randrange(len(data) + 1)
        out.append(data[:at] + rng.randbytes(rng.randrange(1, 200)) + data[at:])
        lines = data.split(b"\n")
        i = rng.randrange(len(lines))
        out.append(b"\n".join(lines[:i] + [lines[i]] * 50 + lines[i:]))
    out.append(data.replace(b"\n", b"\r"))
    out.append(data.replace(b"\n", b"\r\n"))
    return out


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_copies_of_the_samples_never_raise(name: str) -> None:
    data = (DATA / name).read_bytes()
    rng = Random(name)
    for mutant in mutations(data, rng):
        read(mutant)
    # CRLF line ends read the same as LF
    assert read(data.replace(b"\n", b"\r\n")) == EXPECTED[name]


def test_only_this_module_imports_flufl_bounce() -> None:
    importers = []
    for path in sorted((REPO / "digest").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            if any(n == "flufl" or n.startswith("flufl.") for n in names):
                importers.append(path.relative_to(REPO).as_posix())
    assert sorted(set(importers)) == ["digest/inbound.py"]


# --- flufl.bounce 4.0's own samples, read in place from its sdist ---


def sdist_samples() -> tuple[dict[str, bytes], dict[str, set[str]], set[str]]:
    """The sample bounces, and what the sdist's tests (testing/helpers.py DATA: detector,
    file, addresses[, temporary]) expect: permanent addresses by file, and the files they
    call temporary failures."""
    samples: dict[str, bytes] = {}
    helpers = ""
    with tarfile.open(SDIST) as tar:
        for member in tar.getmembers():
            handle = tar.extractfile(member) if member.isfile() else None
            if handle is None:
                continue
            if "/tests/data/" in member.name and member.name.endswith(".txt"):
                samples[member.name.rsplit("/", 1)[1]] = handle.read()
            elif member.name.endswith("/testing/helpers.py"):
                helpers = handle.read().decode("utf-8")
    table = next(ast.literal_eval(node.value) for node in ast.parse(helpers).body
                 if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "DATA")
    permanent: dict[str, set[str]] = {}
    temporary: set[str] = set()
    for entry in table:
        if len(entry) == 4 and entry[3]:
            temporary.add(entry[1])
        elif entry[2]:
            permanent.setdefault(entry[1], set()).update(a.decode() for a in entry[2])
    return samples, permanent, temporary


@pytest.mark.skipif(not SDIST.is_file(), reason=(
    "flufl.bounce 4.0's sdist is not in .venv/vectors (`make install` downloads it; offline, "
    "this test skips)"))
def test_flufl_bounce_samples() -> None:
    samples, permanent, temporary = sdist_samples()
    assert len(samples) >= 100 and len(permanent) >= 80 and len(temporary) >= 10
    results = {name: read(data) for name, data in sorted(samples.items())}
    missed = [(name, expected, results[name].kind, results[name].addresses)
              for name, expected in sorted(permanent.items())
              if results[name].kind not in (HARD, SOFT)
              or not expected <= set(results[name].addresses)]
    assert missed == []
    # What the sdist calls temporary failures are delay warnings (Action: delayed, "will be
    # retried"): not bounces.
    assert sorted(n for n in temporary if results[n].kind is not OTHER) == []
    # Every sample is automatic mail, but one: the sdist's "not a bounce", a person's reply.
    assert [n for n, r in results.items() if r.kind is UNSUBSCRIBE] == ["groupwise_03.txt"]
