"""The demo edition as mail: what SpamAssassin thinks of it, and whether it is clean RFC 5322 /
MIME (RFC 2045-2047) that every relay and client takes as it is.

Both judge the message the pipeline really writes: `digest send` of the offline demo (file
transport) in a private copy, one .eml read back from its outbox. Neither lists the headers it
expects to find beyond the ones RFC 5322 requires, so the checks keep judging the message when
the pipeline adds more (DKIM-Signature, Reply-To, Feedback-ID, ...). The lint also runs over a
message with a non-ASCII display name and subject, built with `send.Letter` directly, and over
broken copies of a good message (each check must be able to fail).

SpamAssassin is Debian's (`make test` installs it when it can; the test skips otherwise), run
with local tests only (-L: no DNS or network rules) and a private home, user preferences file
and locale, so nothing on this machine's account changes the verdict.
"""

from __future__ import annotations

import email.policy
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.headerregistry import BaseHeader
from email.message import EmailMessage
from email.parser import BytesHeaderParser, BytesParser
from email.utils import parsedate_to_datetime
from itertools import takewhile
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from conftest import DEMO_EDITION
from digest.cli import main
from digest.models import AlsoLink, Edition, Section, Story
from digest.render import Renderer
from digest.send import Letter, Unsubscribe, list_id

SPAMASSASSIN = shutil.which("spamassassin")
# SpamAssassin's rule files give 0.001 to rules that only inform (HTML_MESSAGE: "HTML included
# in message"): a score of 0 would switch the rule off. Such a rule firing is not a complaint;
# anything above it is.
INFORMATIONAL = 0.001
HANG = 300.0  # seconds: a bound on a hung spamassassin, never a timing assertion


def send_demo(config: Path) -> dict[str, bytes]:
    """`digest send` of the demo edition, as an operator runs it (file transport): every
    recipient's message as written to the outbox, by file name."""
    code = main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION])
    assert code == 0, f"digest send exited {code}"
    outbox = config.parent / "outbox" / DEMO_EDITION
    messages = {p.name: p.read_bytes() for p in sorted(outbox.glob("*.eml"))}
    assert messages, f"no .eml in {outbox}"
    return messages


# --- SpamAssassin ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """What SpamAssassin said about one message, from the three places it says it."""

    score: float  # X-Spam-Status: score=
    tests: frozenset[str]  # X-Spam-Status: tests=
    points: dict[str, float]  # the report's table (rounded to 0.1 by SpamAssassin)
    exact: dict[str, float]  # every rule with its unrounded score (_TESTSSCORES_)

    def offending(self) -> dict[str, float]:
        """The rules that counted against the message."""
        return {rule: score for rule, score in self.exact.items() if score > INFORMATIONAL}


def spamassassin(raw: bytes, home: Path) -> Verdict:
    """Run `spamassassin -L -t` on a message with a private home and an empty preferences
    file, and read its verdict."""
    assert SPAMASSASSIN is not None
    home.mkdir(parents=True, exist_ok=True)
    prefs = home / "user_prefs"
    prefs.write_text("")  # nothing of this machine's user preferences
    env = {"HOME": str(home), "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "LANG": "C", "LC_ALL": "C"}  # the report in English, as parsed below
    result = subprocess.run(
        [SPAMASSASSIN, "-L", "-t", "-x", "-p", str(prefs),
         "--cf=bayes_auto_learn 0",  # judge only: learn nothing from the message
         # every rule with its unrounded score: the report rounds to 0.1
         "--cf=add_header all Scores _TESTSSCORES(,)_"],
        input=raw, capture_output=True, env=env, timeout=HANG, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return read_verdict(result.stdout)


_TABLE_ROW = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s+([A-Z0-9_]+)\b")


def read_verdict(output: bytes) -> Verdict:
    """The X-Spam-Status and X-Spam-Scores headers and the points table `-t` appends."""
    head = BytesHeaderParser(policy=email.policy.default).parsebytes(output)
    # unfolded, and the rule list joined again where it was folded after a comma
    status = re.sub(r",\s+", ",", " ".join(str(head["X-Spam-Status"] or "").split()))
    found = re.search(r"\bscore=(-?\d+(?:\.\d+)?)\b", status)
    assert found, f"no score in X-Spam-Status: {status!r}"
    tests = re.search(r"\btests=(\S*)", status)
    assert tests, f"no tests= in X-Spam-Status: {status!r}"
    names = frozenset(t for t in tests.group(1).split(",") if t and t != "none")
    exact: dict[str, float] = {}
    for pair in "".join(str(head["X-Spam-Scores"] or "").split()).split(","):
        if pair:
            rule, _, score = pair.partition("=")
            exact[rule] = float(score)
    # The table after the last " pts rule name" heading, up to the first blank line.
    lines = output.decode("utf-8", errors="replace").splitlines()
    headings = [n for n, line in enumerate(lines) if line.startswith(" pts rule name")]
    assert headings, "no points table in spamassassin's report"
    points: dict[str, float] = {}
    for line in lines[headings[-1] + 2:]:
        if not line.strip():
            break
        row = _TABLE_ROW.match(line)
        if row:  # else a description's continuation line
            points[row.group(2)] = float(row.group(1))
    return Verdict(float(found.group(1)), names, points, exact)


@pytest.mark.slow  # a real SpamAssassin (about 2 s a message) after a real send
@pytest.mark.skipif(SPAMASSASSIN is None, reason="spamassassin not installed: run `make test` "
                    "or apt-get install spamassassin")
def test_spamassassin_finds_nothing_against_the_demo_edition(demo: Path, tmp_path: Path
                                                             ) -> None:
    raw = send_demo(demo)["ana@example.org.eml"]  # ana gets every section
    verdict = spamassassin(raw, tmp_path / "sa-home")
    # The three places agree: a parser that lost its way would otherwise pass silently.
    assert verdict.tests == set(verdict.points) == set(verdict.exact), verdict
    assert "HTML_MESSAGE" in verdict.tests, "spamassassin did not see the HTML part"
    rules = ", ".join(f"{rule} {score:+.3f} (report: {verdict.points[rule]:+.1f})"
                      for rule, score in sorted(verdict.exact.items()))
    assert verdict.offending() == {}, f"rules against the demo edition: {rules}"
    assert verdict.score <= 0.0, f"spamassassin scores the demo {verdict.score}: {rules}"


@pytest.mark.slow
@pytest.mark.skipif(SPAMASSASSIN is None, reason="spamassassin not installed: run `make test` "
                    "or apt-get install spamassassin")
def test_spamassassin_verdict_names_a_rule_that_fires(demo: Path, tmp_path: Path) -> None:
    """The judge above can fail: white text hidden on white, the preheader's old mistake,
    put into the demo's HTML part, is found, scored and named."""
    message = BytesParser(policy=email.policy.default).parsebytes(
        send_demo(demo)["ana@example.org.eml"])
    assert isinstance(message, EmailMessage)
    html = message.get_body(("html",))
    assert isinstance(html, EmailMessage)
    hidden = '<div style="display:none;color:#ffffff;">An invented hidden line</div>'
    html.set_content(re.sub(r"(<body[^>]*>)", lambda m: m.group(1) + hidden,
                            html.get_content(), count=1),
                     subtype="html", cte="quoted-printable")
    verdict = spamassassin(message.as_bytes(policy=email.policy.SMTP), tmp_path / "sa-home")
    assert verdict.offending().get("HTML_FONT_LOW_CONTRAST", 0.0) > INFORMATIONAL, verdict
    assert verdict.points["HTML_FONT_LOW_CONTRAST"] > 0.0 and verdict.score > 0.0, verdict


# --- RFC 5322 / MIME lint -------------------------------------------------------------------

# RFC 5322 2.1.1: lines SHOULD be at most 78 characters, excluding the CRLF.
MAX_LINE = 78
ONCE = ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version")  # RFC 5322 3.6, 2045 4
MESSAGE_ID = re.compile(r"<[^<>@\s]+@[^<>@\s]+>")
FIELD_NAME = re.compile(rb"[!-9;-~]+:")  # RFC 5322 2.2: printable ASCII but ":", then ":"
# RFC 2047 2: charset, "Q" or "B", text without "?" or white space; at most 75 characters.
ENCODED_WORD = re.compile(r"=\?[^?\s]+\?[QqBb]\?[^?\s]*\?=")
QP_BAD = re.compile(rb"=(?![0-9A-F]{2}|$)|[ \t]$")  # RFC 2045 6.7: escapes, no trailing space


def lint(raw: bytes, expected: Mapping[str, str] | None = None) -> list[str]:
    """Every way `raw` falls short of clean RFC 5322 / MIME mail, one finding a line (empty
    when it is clean). `expected`: header values the encoded headers must decode back to."""
    findings: list[str] = []
    lines = raw.split(b"\r\n")
    if lines[-1] == b"":
        lines.pop()  # what follows the final CRLF
    else:
        findings.append("the message does not end with CRLF")
    for n, line in enumerate(lines, 1):
        if b"\r" in line or b"\n" in line:
            findings.append(f"line {n}: a bare CR or LF (lines end CRLF): {line[:60]!r}")
        if len(line) > MAX_LINE:
            findings.append(f"line {n}: {len(line)} characters (max {MAX_LINE}): {line[:60]!r}")
    if not raw.isascii():
        at = next(i for i, byte in enumerate(raw) if byte > 0x7F)
        findings.append(f"8-bit byte at offset {at}: {raw[max(0, at - 30):at + 10]!r}")
    end = raw.find(b"\r\n\r\n")
    if end < 0:
        return [*findings, "no empty line ends the header block"]
    findings += _lint_header_lines(raw[:end].split(b"\r\n"))
    msg = BytesParser(policy=email.policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    findings += _lint_headers(msg, raw[:end], expected or {})
    findings += _lint_body(msg, raw[end + 4:])
    return findings


def _lint_header_lines(lines: list[bytes]) -> list[str]:
    findings = []
    if lines and lines[0][:1] in (b" ", b"\t"):
        findings.append("the header block starts with a continuation line")
    for line in lines:
        if line[:1] not in (b" ", b"\t") and not FIELD_NAME.match(line):
            findings.append(f"not a header field nor a folded line: {line[:60]!r}")
    return findings


def _lint_headers(msg: EmailMessage, block: bytes, expected: Mapping[str, str]) -> list[str]:
    findings = []
    for part in msg.walk():
        where = "the message" if part is msg else f"part {part.get_content_type()}"
        findings += [f"{where}: {defect!r}" for defect in part.defects]
        for name, value in part.items():
            if isinstance(value, BaseHeader) and value.defects:
                findings.append(f"{where}: header {name}: {list(value.defects)!r}")
    for name in ONCE:
        count = len(msg.get_all(name) or [])
        if count != 1:
            findings.append(f"{count} {name} headers (RFC 5322 wants exactly one)")
    try:
        when = parsedate_to_datetime(str(msg["Date"]))
        if when.tzinfo is None:
            findings.append(f"Date has no zone: {msg['Date']}")
    except (TypeError, ValueError) as e:
        findings.append(f"Date does not parse: {msg['Date']!r} ({e})")
    text = block.decode("ascii", errors="replace")
    msgid = " ".join(_raw_field(text, "Message-ID").split())  # as written, not as parsed
    if not MESSAGE_ID.fullmatch(msgid):
        findings.append(f"Message-ID is not <left@right>: {msgid!r}")
    for line in text.split("\r\n"):
        words = ENCODED_WORD.findall(line)
        findings += [f"encoded word longer than 75 characters: {word}"
                     for word in words if len(word) > 75]
        if words and len(line) > 76:  # RFC 2047 2: such a line is at most 76 characters
            findings.append(f"a header line with encoded words is {len(line)} characters "
                            f"(max 76): {line[:60]!r}")
    for name, value in msg.items():
        if not str(value).isascii() and not _encoded_words(text, name):
            findings.append(f"{name}: non-ASCII text without RFC 2047 encoding")
    for name, want in expected.items():
        if str(msg[name]) != want:
            findings.append(f"{name} decodes to {str(msg[name])!r}, not {want!r}")
        elif not want.isascii() and not _encoded_words(text, name):
            findings.append(f"{name}: non-ASCII text without RFC 2047 encoding")
    return findings


def _raw_field(block: str, name: str) -> str:
    """The raw value of the first header `name` in a header block, folding and all."""
    field = re.search(rf"(?im)^{re.escape(name)}:([^\r\n]*(?:\r\n[ \t][^\r\n]*)*)", block)
    return field.group(1) if field else ""


def _encoded_words(block: str, name: str) -> list[str]:
    """The RFC 2047 encoded words in the header `name` of a raw header block."""
    return ENCODED_WORD.findall(_raw_field(block, name))


def _lint_body(msg: EmailMessage, body: bytes) -> list[str]:
    findings = []
    if msg.get_content_type() != "multipart/alternative":
        return [f"the message is {msg.get_content_type()}, not multipart/alternative"]
    parts = list(msg.iter_parts())
    kinds = [part.get_content_type() for part in parts]
    if len(parts) < 2 or kinds[0] != "text/plain" or kinds[-1] != "text/html":
        findings.append(f"parts {kinds}: RFC 2046 5.1.4 wants text/plain first, "
                        "text/html (the preferred) last")
    for part in parts:
        kind = part.get_content_type()
        if part.get_content_charset() != "utf-8":
            findings.append(f"{kind}: charset {part.get_content_charset()!r}, not utf-8")
        encoding = str(part.get("Content-Transfer-Encoding", "")).lower()
        if encoding != "quoted-printable":
            findings.append(f"{kind}: Content-Transfer-Encoding {encoding!r}")
            continue
        payload = part.get_payload(decode=False)
        assert isinstance(payload, str)
        for n, line in enumerate(payload.encode("ascii", errors="replace").splitlines(), 1):
            if QP_BAD.search(line) or len(line) > 76:  # RFC 2045 6.7 (5): 76 at most
                findings.append(f"{kind}: line {n} is not quoted-printable: {line[:60]!r}")
        data = part.get_payload(decode=True)
        assert isinstance(data, bytes)
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError as e:
            findings.append(f"{kind}: not UTF-8 once decoded: {e}")
            continue
        if part.get_content() != decoded:
            findings.append(f"{kind}: get_content() differs from the decoded bytes")
    boundary = msg.get_boundary()
    if not boundary:
        return [*findings, "multipart without a boundary"]
    mark = b"--" + boundary.encode()
    lines = body.split(b"\r\n")
    delimiters = sum(1 for line in lines if line.rstrip(b" \t") == mark)
    closes = sum(1 for line in lines if line.rstrip(b" \t") == mark + b"--")
    if delimiters != len(parts) or closes != 1:
        findings.append(f"{delimiters} delimiter lines and {closes} close lines "
                        f"for {len(parts)} parts")
    inside = body.count(boundary.encode()) - delimiters - closes
    if inside:
        findings.append(f"the boundary occurs {inside} times inside the parts (RFC 2046 5.1.1)")
    return findings


def test_demo_messages_are_clean_mail(demo: Path) -> None:
    for name, raw in send_demo(demo).items():
        findings = lint(raw)
        assert not findings, f"{name}:\n" + "\n".join(findings)


# A non-ASCII sender, reader and subject (invented), long enough to fold.
SENDER = "Le Bréf d’Abidjan <brief@example.org>"
READER = "Zoë Ångström-Ngũgĩ <zoe@example.org>"


@pytest.fixture(scope="module")
def non_ascii_letter() -> tuple[Letter, dict[str, str]]:
    """A real rendering of a small invented edition whose title, lead story and names are
    not ASCII, as a `Letter`; and the header values its messages must decode back to."""
    story = Story(
        title="Côte d’Ivoire : l’élection présidentielle se joue à Abidjan et à Bouaké",
        url="https://africa.example.net/cote-divoire-election",
        source="Désk Afrique", published=datetime(2026, 11, 28, 9, 0, tzinfo=UTC),
        summary="La participation était forte — les résultats sont attendus mardi. 🗳️",
        weight=1.0, items=(), also=(AlsoLink("Ōther Outlet", "https://other.example.com/ci"),),
    )
    edition = Edition(date=date(2026, 11, 30), title="Le Bréf d’Abidjan",
                      generated_at=datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
                      sections=(Section("africa", "Afrique", (story,)),))
    rendered = Renderer(ZoneInfo("Europe/London")).render(edition)
    listed = list_id(edition.title, SENDER)
    letter = Letter(rendered, sender=SENDER, edition=DEMO_EDITION, list_id=listed)
    return letter, {"Subject": rendered.subject, "From": SENDER, "To": READER, "List-Id": listed}


@pytest.fixture(scope="module")
def non_ascii(non_ascii_letter: tuple[Letter, dict[str, str]]) -> tuple[bytes, dict[str, str]]:
    """The non-ASCII letter's message to a reader with a non-ASCII name."""
    letter, expected = non_ascii_letter
    return letter.for_recipient(READER).data, expected


def test_a_non_ascii_letter_is_clean_mail(non_ascii: tuple[bytes, dict[str, str]]) -> None:
    raw, expected = non_ascii
    head = raw[:raw.index(b"\r\n\r\n")].decode("ascii")
    assert not expected["Subject"].isascii()
    assert "\r\n " in _raw_field(head, "Subject")  # long enough to be folded
    findings = lint(raw, expected)
    assert not findings, "\n".join(findings)


def test_a_signed_unsubscribe_link_has_a_line_of_its_own_when_it_cannot_fold(
        non_ascii_letter: tuple[Letter, dict[str, str]]) -> None:
    """The reader's signed https link is one unbreakable token (no whitespace may go inside a
    URL that List-Unsubscribe's readers must follow: RFC 2369 has none, and mail programs
    differ in what they would do with one). RFC 5322 2.1.1 asks lines to be at most 78
    characters (SHOULD) and allows 998 (MUST): a longer line is accepted only when it is that
    link alone on a folded line, within 998."""
    letter, _ = non_ascii_letter
    # The link every reader gets once the web service is configured (issue 18).
    raw = letter.for_recipient(READER, unsubscribe=Unsubscribe(
        "https://news.example.org/unsubscribe", b"an invented secret for the test"
    ).link("zoe@example.org", letter.list_id)).data
    lines = raw[:raw.index(b"\r\n\r\n")].decode("ascii").split("\r\n")
    at = next(n for n, line in enumerate(lines) if line.startswith("List-Unsubscribe:"))
    field = [lines[at], *takewhile(lambda line: line[:1] in (" ", "\t"), lines[at + 1:])]
    assert any("<https://news.example.org/unsubscribe?" in line for line in field), field
    for line in field:
        if len(line) > MAX_LINE:
            assert re.fullmatch(r" <https://[^\s<>]+>", line), line  # the link alone
            assert len(line) <= 998


def _swap(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    def change(raw: bytes) -> bytes:
        assert old in raw, old
        return raw.replace(old, new, 1)

    return change


def _header(name: bytes, change: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Apply `change` to the header field `name` (its folded lines too)."""

    def apply(raw: bytes) -> bytes:
        found = re.search(rb"(?m)^" + re.escape(name) + rb": [^\r]*(?:\r\n[ \t][^\r]*)*",
                          raw)
        assert found, name
        return raw[:found.start()] + change(found.group()) + raw[found.end():]

    return apply


def _boundary(raw: bytes) -> bytes:
    found = re.search(rb'boundary="([^"]+)"', raw)
    assert found
    return found.group(1)


def _qp_line(raw: bytes, line: bytes) -> bytes:
    """`line` added at the top of the text part's body (already quoted-printable)."""
    at = raw.index(b"quoted-printable\r\n\r\n") + len(b"quoted-printable\r\n\r\n")
    return raw[:at] + line + b"\r\n" + raw[at:]


# Each check of the lint, made to fail on a copy of the good non-ASCII message.
BREAKAGES: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "a long line": (lambda raw: _qp_line(raw, b"x" * 78 + b"="), "79 characters"),
    "a long quoted-printable line": (lambda raw: _qp_line(raw, b"x" * 76 + b"="),
                                     "is not quoted-printable"),
    "a long last line": (lambda raw: raw + b"x" * 79, "79 characters"),
    "a bare LF": (lambda raw: raw.replace(b"\r\n", b"\n", 1), "bare CR or LF"),
    "no final CRLF": (lambda raw: raw[:-2], "does not end with CRLF"),
    "an 8-bit byte": (lambda raw: _qp_line(raw, "Zoë".encode()), "8-bit byte"),
    "a raw UTF-8 subject": (_header(b"Subject", lambda h: "Subject: Zoë".encode()),
                            "Subject: non-ASCII text without RFC 2047"),
    "a broken header line": (_swap(b"\r\nMIME-Version", b"\r\nnot a header\r\nMIME-Version"),
                             "not a header field"),
    "two Subjects": (_swap(b"\r\nMIME-Version", b"\r\nSubject: again\r\nMIME-Version"),
                     "2 Subject headers"),
    "no Date": (_header(b"Date", lambda h: b"X-Not-Date" + h[4:]), "0 Date headers"),
    "a Date without a zone": (_header(b"Date", lambda h: h[:h.rindex(b" ")] + b" -0000"),
                              "Date has no zone"),
    "a Date that does not parse": (_header(b"Date", lambda h: b"Date: next Monday"),
                                   "Date does not parse"),
    "a Message-ID without @": (_header(b"Message-ID", lambda h: b"Message-ID: <digest.x>"),
                               "Message-ID is not"),
    "an undecodable To": (_header(b"To", lambda h: b"To: =?utf-8?q?Zo=C3?= <zoe@example.org>"),
                          "To decodes to"),
    "an encoded word too long": (
        _header(b"Subject", lambda h: b"Subject: =?utf-8?q?" + b"a" * 64 + b"?="),
        "encoded word longer"),
    "an encoded line too long": (
        _header(b"Subject", lambda h: b"Subject: =?utf-8?q?" + b"a" * 56 + b"?="),
        "a header line with encoded words is 77 characters"),
    "a part defect": (_swap(b"quoted-printable\r\n\r\n", b"quoted-printable\r\nnot a header\r\n"
                            b"\r\n"), "part text/plain: MissingHeaderBodySeparatorDefect"),
    "latin-1": (_swap(b'text/plain; charset="utf-8"', b'text/plain; charset="latin-1"'),
                "charset 'latin-1'"),
    "8bit": (_swap(b"Content-Transfer-Encoding: quoted-printable", b"Content-Transfer-Encoding:"
                   b" 8bit"), "Content-Transfer-Encoding '8bit'"),
    "a bad escape": (lambda raw: _qp_line(raw, b"50=% off"), "is not quoted-printable"),
    "invalid UTF-8": (lambda raw: _qp_line(raw, b"=C3=28"), "not UTF-8 once decoded"),
    "html first": (_swap(b"Content-Type: text/plain;", b"Content-Type: text/x-first;"),
                   "text/plain first"),
    "the boundary inside a part": (
        lambda raw: _qp_line(raw, b"see " + _boundary(raw)), "the boundary occurs 1 times"),
    "not multipart": (_swap(b"multipart/alternative", b"multipart/mixed"),
                      "not multipart/alternative"),
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_the_lint_finds_each_breakage(breakage: str,
                                      non_ascii: tuple[bytes, dict[str, str]]) -> None:
    """Judged by what the breakage adds to the good message's findings (none, once
    send.py's are fixed: see test_a_non_ascii_letter_is_clean_mail)."""
    raw, expected = non_ascii
    change, finding = BREAKAGES[breakage]
    broken = change(raw)
    assert broken != raw
    before = lint(raw, expected)
    added = [f for f in lint(broken, expected) if f not in before]
    assert any(finding in f for f in added), added
