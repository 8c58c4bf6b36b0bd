"""Reads one message that came back to the bounce mailbox into an `Inbound` (a DSN, an ARF
complaint, an auto-reply, a delay warning or a reader's mail to the List-Unsubscribe address);
the only importer of flufl.bounce. Verifies no token, touches no store, never raises on input.

Three readers, most authoritative first:

- the RFC 3464 per-recipient fields (Action, Status, Diagnostic-Code, Final-Recipient,
  Original-Recipient) of every delivery-status part, read here with the stdlib: flufl.bounce
  only says "temporary" or "permanent", and treats a 4.x.x that the MTA gave up on as
  permanent, where we call it SOFT;
- RFC 5965 feedback reports (ARF), read here: flufl.bounce does not know them;
- flufl.bounce's detectors for everything else (the many non-standard bounces of real MTAs).
  What it calls a temporary failure is a delay warning (an RFC 3464 `Action: delayed`, or a
  text saying delivery will be retried): OTHER, like any delay, for the MTA has not given up.

What is left is an auto-reply, some other automatic mail, or a mail from a person: only the
last is UNSUBSCRIBE, and the caller acts on it only when its token says so.

Tokens are looked for in order of trust: the report's own envelope-recipient headers (the
mailbox it was delivered to), then, for reports only, the headers of our message they include,
then the report's text, where some MTAs quote the original envelope.

The message is parsed from its bytes read as Latin-1: every byte becomes one character,
so the email package never hands out `Header` objects for 8-bit junk (flufl.bounce's detectors
call `.lower()` on header values and would raise), and a part's decoded payload is still the
original bytes. Text shown to people is turned back into bytes and read as UTF-8.
"""

from __future__ import annotations

import email
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses, parseaddr

from flufl.bounce import all_failures

from digest.models import BounceKind

MAX_REASON = 300
MAX_TOKEN = 60
_MAX_DEPTH = 30  # MIME nesting we follow; real reports nest three or four deep
_MAX_PARTS = 2_000  # parts we look at; a real report has fewer than ten
_MAX_TEXT = 2_000_000  # characters of one text part searched for tokens and codes
_MAX_HEADER = 4_000  # characters of a header shown to people (RFC 2047 decoding is slow on junk)
# What flufl.bounce is shown: its heuristic detectors run dozens of patterns over every line
# (measured on these machines: 6.7 s for 512 KiB of two-byte lines), and every real bounce says
# what it has to say before its copy of the original, which is where a large message is large.
FLUFL_BYTES = 128 * 1024
# Lines that may be MIME boundaries. The stdlib parser takes about 10 s for 200,000 parts;
# a real report has fewer than ten.
MAX_BOUNDARY_LINES = 10_000

# Where the report itself was delivered, most trusted first.
_ENVELOPE_HEADERS = ("Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To", "Cc")
# Headers of our own message, as a report includes it, that carry a token.
_ORIGINAL_HEADERS = ("Return-Path", "From", "To", "List-Unsubscribe")
_ORIGINAL_TYPES = ("message/rfc822", "message/global", "text/rfc822-headers",
                   "message/global-headers")
_STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status",
                 "text/delivery-status")

# RFC 5965 section 7.3 registry, plus the types feedback loops use that are not in it.
_COMPLAINT_TYPES = frozenset({"abuse", "fraud", "virus", "other", "complaint", "spam",
                              "opt-out", "optout"})

# One enhanced status code (RFC 3463), not part of a dotted IP address or version number.
_ENHANCED = re.compile(r"(?<![\d.])([245])\.[0-7]\.\d{1,3}(?!\.?\d)")
# A basic SMTP reply code where a DSN or a bounce text puts one.
_REPLY = re.compile(r"(?:^|said:|smtp;|error:|reply:|response:)\s*([245])\d\d(?=[ -]|$)",
                    re.IGNORECASE | re.MULTILINE)
_STATUS = re.compile(r"\s*([245])(?:\.\d{1,3}\.\d{1,3}|\d\d)(?!\d)")
_MSGID = re.compile(r"<[^<>\s]{1,500}>")
_TEXT_MSGID = re.compile(r"^\s*message-id:\s*(<[^<>\s]{1,500}>)", re.IGNORECASE | re.MULTILINE)
_ADDRESS = re.compile(r"[^\s<>@;,]{1,128}@[^\s<>@;,]{1,255}")

# A subject that says "automatic reply" the way mail programs write it, in a few languages.
_AUTO_SUBJECT = re.compile(
    r"^\s*(?:(?:re|aw|sv|fw|fwd)\s*:\s*)*(?:"
    r"auto(?:matic|matische)?[ _-]?(?:reply|response|antwort|responder)"
    r"|autoreply|out of (?:the )?office|ooo\b|vacation|on leave|away from"
    r"|abwesenheit|absence|r[ée]ponse automatique|respuesta autom[áa]tica"
    r"|risposta automatica|resposta autom[áa]tica)"
    r"|[\[(]\s*auto[ -]?(?:reply|response)\s*[\])]", re.IGNORECASE)
# A subject MTAs give bounces: automatic mail about delivery, never a reader's unsubscribe.
_BOUNCE_SUBJECT = re.compile(
    r"undeliver|non-?deliver|delivery (?:status|failure|failed|notification|report|problem)"
    r"|returned mail|mail delivery|failure notice|delivery has failed|could not be delivered",
    re.IGNORECASE)
# A feedback loop's report that forgot the machine-readable part.
_ABUSE_TEXT = re.compile(r"abuse report|feedback[ -]loop|spam complaint|reported as spam"
                         r"|complaint report|marked as spam", re.IGNORECASE)
_ROBOT_SENDERS = frozenset({"mailer-daemon", "mailer_daemon", "mailerdaemon", "mail-daemon",
                            "postmaster", "noreply", "no-reply", "no_reply", "donotreply",
                            "do-not-reply", "do_not_reply"})


@dataclass(frozen=True, slots=True)
class Inbound:
    """What one message to the bounce mailbox says, for the caller to act on."""

    kind: BounceKind
    tokens: tuple[str, ...]  # VERP tokens found, lower case, most trusted first, no duplicates
    addresses: tuple[str, ...]  # failed or complained-about addresses, as written
    reason: str  # one printable line, at most MAX_REASON characters; "" when nothing to say
    message_id: str | None  # the report's own Message-ID
    original_message_id: str | None  # the Message-ID of our message it is about


def read_message(data: bytes, *, verp_local: str, max_bytes: int = 10_000_000) -> Inbound:
    """Never raises on hostile or broken input: anything unreadable is BounceKind.OTHER with a
    reason. `verp_local` is the bounce address's local part before "+" ("bounces")."""
    if not verp_local or any(c in verp_local for c in "@+ \t\r\n"):
        raise ValueError(f"verp_local {verp_local!r} is not the local part of an address")
    try:
        size = len(data)
    except TypeError:
        return _other("not a message (no bytes)")
    if size > max_bytes:
        return _other(f"too large ({size} bytes)")
    try:
        raw = bytes(data)
        boundaries = raw.count(b"\n--")
        if boundaries > MAX_BOUNDARY_LINES:
            return _other(f"too many MIME parts ({boundaries} boundary lines)")
        text = raw.decode("latin-1")
        msg = email.message_from_string(text)
    except Exception as exc:  # the parser's own limits (RecursionError on deep nesting)
        return _other(f"unreadable: {type(exc).__name__}")
    if not msg.keys():
        return _other("not a mail message (no header found)")
    try:
        flufl_msg = msg if size <= FLUFL_BYTES else email.message_from_string(text[:FLUFL_BYTES])
        return _Reader(msg, flufl_msg, _token_pattern(verp_local)).read()
    except Exception as exc:  # hostile structure the checks above did not foresee
        return _other(f"unreadable: {type(exc).__name__}",
                      message_id=_message_id(_get(msg, "Message-ID")))


def _other(reason: str, *, message_id: str | None = None) -> Inbound:
    return Inbound(BounceKind.OTHER, (), (), _one_line(reason), message_id, None)


def _token_pattern(verp_local: str) -> re.Pattern[str]:
    """`<verp_local>+<token>@`, not inside a longer local part; `%2B` for a "+" in a URI."""
    return re.compile(
        r"(?<![\w.!#$%&'*+/=?^`{|}~-])" + re.escape(verp_local)
        + r"(?:\+|%2[bB])([a-zA-Z0-9-]{1," + str(MAX_TOKEN) + r"})@", re.IGNORECASE)


# --- one delivery-status recipient (RFC 3464 section 2.3) ---


@dataclass(slots=True)
class _Recipient:
    action: str  # the first word, lower case: failed, delayed, delivered, relayed, expanded
    status: str
    diagnostic: str
    addresses: list[str]

    @property
    def failed(self) -> bool:
        # opensmtpd writes "error", some MTAs "failure" or "failed (comment)"
        return self.action.startswith(("fail", "error"))

    @property
    def severity(self) -> str:
        """"5" permanent, "4" transient: the Status field decides (RFC 3464 2.3.4), else
        the Diagnostic-Code's codes; a failure that says neither is permanent."""
        match = _STATUS.match(self.status)
        if match and match.group(1) in "45":
            return match.group(1)
        classes = _codes(self.diagnostic)
        if "5" in classes or not classes:
            return "5"
        return "4" if "4" in classes else "5"

    def line(self) -> str:
        return " ".join(p for p in (self.status, self.diagnostic) if p)


@dataclass(slots=True)
class _Parts:
    """The message's parts, sorted by what a report is made of."""

    texts: list[str] = field(default_factory=list)  # decoded text outside any original
    originals: list[Message] = field(default_factory=list)  # headers of included messages
    status_blocks: list[list[tuple[str, str]]] = field(default_factory=list)
    feedback: list[list[tuple[str, str]]] = field(default_factory=list)
    report_types: list[str] = field(default_factory=list)


class _Reader:
    def __init__(self, msg: Message, flufl_msg: Message, tokens: re.Pattern[str]) -> None:
        self.msg = msg
        self.flufl_msg = flufl_msg
        self.token_re = tokens
        self.parts = _collect(msg)

    def read(self) -> Inbound:
        parts = self.parts
        if parts.feedback or "feedback-report" in parts.report_types:
            return self._arf()
        recipients = [r for block in parts.status_blocks if (r := _recipient(block))]
        failed = [r for r in recipients if r.failed]
        temporary, permanent = self._flufl()
        if failed:
            hard = [r for r in failed if r.severity == "5"]
            chosen = hard or failed
            addresses = [a for r in chosen for a in r.addresses] + permanent
            kind = BounceKind.HARD if hard else BounceKind.SOFT
            return self._report(kind, addresses, chosen[0].line() or "failed")
        if recipients:  # a delay warning or a success notice: not a bounce
            first = recipients[0]
            return self._report(BounceKind.OTHER, [a for r in recipients for a in r.addresses],
                                f"{first.action}: {first.line()}".rstrip(": "))
        if self._abuse_without_arf():
            return self._report(BounceKind.OTHER, [],
                                "abuse report without a feedback-report part (not ARF)")
        if permanent:
            kind, line = self._severity_from_text()
            return self._report(kind, permanent,
                                line or f"non-standard bounce: {self._subject()}")
        if temporary:
            return self._report(BounceKind.OTHER, temporary,
                                f"delay warning: {self._subject()}")
        if parts.report_types:
            return self._report(BounceKind.OTHER, [],
                                f"report of another kind ({parts.report_types[0]})")
        automatic = self._automatic()
        if automatic:
            return self._done(BounceKind.OTHER, self._envelope_tokens(), [], automatic)
        return self._done(BounceKind.UNSUBSCRIBE, self._envelope_tokens(), [],
                          f"mail from a person: subject {self._subject()!r}")

    # --- the readers ---

    def _arf(self) -> Inbound:
        """RFC 5965: Feedback-Type says what the report is; Original-Rcpt-To and our message's
        To say whom it is about (a feedback loop may redact both)."""
        fields = [f for block in self.parts.feedback for f in block]
        values = _fields(fields)
        feedback_type = values.get("feedback-type", "").strip().lower()
        kind = (BounceKind.COMPLAINT if feedback_type in _COMPLAINT_TYPES
                or "complaint" in feedback_type else BounceKind.OTHER)
        addresses = [a for v in _all(fields, "original-rcpt-to") for a in _addresses_in(v)]
        for original in self.parts.originals:
            addresses += _header_addresses(original, "To")
        who = (parseaddr(self._display("From"))[0] or values.get("user-agent", "")
               or values.get("reporting-mta", "").partition(";")[2]
               or parseaddr(self._display("From"))[1] or "an unnamed sender")
        reason = f"ARF {feedback_type or 'untyped'} report from {who.strip()}"
        return self._report(kind, addresses, reason,
                            extra=[v for v in _all(fields, "original-mail-from")])

    def _flufl(self) -> tuple[list[str], list[str]]:
        """flufl.bounce's (temporary, permanent) addresses, as text; nothing when it fails.
        It sees the first FLUFL_BYTES of the message."""
        try:
            temporary, permanent = all_failures(self.flufl_msg)
        except Exception:  # a detector choking on hostile input: the other readers still run
            return [], []
        return _decoded(temporary), _decoded(permanent)

    def _severity_from_text(self) -> tuple[BounceKind, str]:
        """A non-standard bounce flufl.bounce calls permanent: SOFT when its text gives only
        4xx codes (a full mailbox the MTA gave up on), and the line that says so."""
        lines = [line.strip() for text in self.parts.texts for line in text.splitlines()]
        coded = [(line, _codes(line)) for line in lines if line]
        coded = [(line, classes) for line, classes in coded if classes & {"4", "5"}]
        if any("5" in classes for _, classes in coded):
            return BounceKind.HARD, next(line for line, c in coded if "5" in c)
        if coded:
            return BounceKind.SOFT, coded[0][0]
        return BounceKind.HARD, ""

    def _abuse_without_arf(self) -> bool:
        """An attached message and a text that calls itself an abuse report: a feedback loop
        that left out the machine-readable part. We do not guess what it wants."""
        if not self.parts.originals:
            return False
        return any(_ABUSE_TEXT.search(t[:20_000]) for t in [self._subject(), *self.parts.texts])

    def _automatic(self) -> str:
        """Why this is automatic mail (RFC 3834 and what mail programs do), or ""."""
        auto = self._get("Auto-Submitted").strip().lower()
        if auto and not auto.startswith("no"):
            return f"automatic mail (Auto-Submitted: {auto})"
        for name in ("X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Failed-Recipients"):
            if self._get(name).strip():
                return f"automatic mail ({name})"
        precedence = self._get("Precedence").strip().lower()
        if precedence in ("auto_reply", "bulk", "junk", "list"):
            return f"automatic mail (Precedence: {precedence})"
        if self._get("List-Id").strip():
            return "mailing-list mail (List-Id)"
        subject = self._subject()
        if _AUTO_SUBJECT.search(subject):
            return f"auto-reply: {subject}"
        if _BOUNCE_SUBJECT.search(subject):
            return f"unrecognised bounce: {subject}"
        return_path = self._get("Return-Path").strip()
        if return_path and parseaddr(return_path)[1] == "" and "<>" in return_path:
            return "automatic mail (null sender)"
        sender = parseaddr(self._display("From"))[1]
        if "@" not in sender:
            return "no sender address: not a mail from a person"
        if sender.rpartition("@")[0].lower() in _ROBOT_SENDERS:
            return f"automatic mail (From: {sender})"
        return ""

    # --- putting the answer together ---

    def _report(self, kind: BounceKind, addresses: Iterable[str], reason: str,
                extra: Iterable[str] = ()) -> Inbound:
        """A machine report: its tokens come from the envelope, then the original we sent
        (`extra`: the report's own fields naming our envelope sender, read before the
        original's headers), then its text."""
        tokens = self._envelope_tokens()
        for value in extra:
            tokens += self._tokens_in(value)
        for original in self.parts.originals:
            for name in _ORIGINAL_HEADERS:
                for value in _get_all(original, name):
                    tokens += self._tokens_in(value)
        fields = [v for block in [*self.parts.status_blocks, *self.parts.feedback]
                  for _, v in block]
        for text in [*fields, *self.parts.texts]:
            tokens += self._tokens_in(text)
        return self._done(kind, tokens, addresses, reason, report=True)

    def _done(self, kind: BounceKind, tokens: list[str], addresses: Iterable[str],
              reason: str, *, report: bool = False) -> Inbound:
        return Inbound(
            kind=kind,
            tokens=tuple(dict.fromkeys(tokens)),
            addresses=_unique(addresses),
            reason=_one_line(reason),
            message_id=_message_id(self._get("Message-ID")),
            original_message_id=self._original_message_id(report),
        )

    def _envelope_tokens(self) -> list[str]:
        return [t for name in _ENVELOPE_HEADERS for value in _get_all(self.msg, name)
                for t in self._tokens_in(value)]

    def _tokens_in(self, text: str) -> list[str]:
        return [m.group(1).lower() for m in self.token_re.finditer(text[:_MAX_TEXT])]

    def _original_message_id(self, report: bool) -> str | None:
        """Our message's ID: from the original a report includes, else the headers that point
        at it (X-Original-Message-ID, also a DSN field; In-Reply-To; the last References),
        else, for a report, a Message-ID line its text quotes (a bounce without MIME)."""
        for original in self.parts.originals:
            if found := _message_id(_get(original, "Message-ID")):
                return found
        fields = [v for block in self.parts.status_blocks for k, v in block
                  if k.lower() == "x-original-message-id"]
        for value in [self._get("X-Original-Message-ID"), *fields, self._get("In-Reply-To")]:
            if found := _message_id(value):
                return found
        references: list[str] = _MSGID.findall(self._get("References"))
        if references:
            return references[-1]
        if report:
            for text in self.parts.texts:
                if match := _TEXT_MSGID.search(text[:_MAX_TEXT]):
                    return match.group(1)
        return None

    def _get(self, name: str) -> str:
        return _get(self.msg, name)

    def _display(self, name: str) -> str:
        return _display(self._get(name))

    def _subject(self) -> str:
        return _one_line(self._display("Subject"), 120)


# --- walking the parts ---


def _collect(msg: Message) -> _Parts:
    """Sort the parts, depth first in order, without recursion (a hostile message nests as
    deep as it likes) and without looking inside the originals a report includes."""
    found = _Parts()
    stack: list[tuple[Message, int]] = [(msg, 0)]
    seen = 0
    while stack and seen < _MAX_PARTS:
        part, depth = stack.pop()
        seen += 1
        ctype = part.get_content_type()
        if ctype == "multipart/report":
            found.report_types.append(str(part.get_param("report-type", "") or "").lower())
        if ctype in _ORIGINAL_TYPES:
            if (original := _original(part)) is not None:
                found.originals.append(original)
        elif ctype in _STATUS_TYPES:
            found.status_blocks += _field_blocks(part)
        elif ctype == "message/feedback-report":
            found.feedback += _field_blocks(part)
        elif part.get_content_maintype() == "multipart":
            payload = part.get_payload()
            if isinstance(payload, list) and depth < _MAX_DEPTH:
                stack += [(p, depth + 1) for p in reversed(payload) if isinstance(p, Message)]
        elif part.get_content_maintype() == "text" or part is msg:
            found.texts.append(_part_text(part))
    return found


def _part_text(part: Message) -> str:
    """A leaf's text, decoded from its transfer encoding and charset."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[:_MAX_TEXT].decode(charset, "replace")
    except (LookupError, ValueError):
        return payload[:_MAX_TEXT].decode("utf-8", "replace")


def _original(part: Message) -> Message | None:
    """The headers of the message a report includes (message/rfc822: parsed by the email
    package; text/rfc822-headers: only its headers, as text)."""
    payload = part.get_payload()
    if isinstance(payload, list):
        return payload[0] if payload and isinstance(payload[0], Message) else None
    text = _part_text(part)
    return HeaderParser().parsestr(text, headersonly=True) if text.strip() else None


def _field_blocks(part: Message) -> list[list[tuple[str, str]]]:
    """The header blocks of a delivery-status or feedback-report part. The email package
    parses message/delivery-status into one Message per block, other message/* types into one
    Message whose body holds the rest; anything else is read as text."""
    payload = part.get_payload()
    blocks: list[list[tuple[str, str]]] = []
    if isinstance(payload, list):
        for item in payload:
            if not isinstance(item, Message):
                continue
            blocks.append([(str(k), str(v)) for k, v in item.items()])
            rest = item.get_payload()
            if isinstance(rest, str) and rest.strip():
                blocks += _parse_blocks(rest)
        return [b for b in blocks if b]
    return _parse_blocks(_part_text(part))


def _parse_blocks(text: str) -> list[list[tuple[str, str]]]:
    """`Name: value` lines in blank-line separated blocks, folded lines joined."""
    blocks: list[list[tuple[str, str]]] = []
    current: list[tuple[str, str]] = []
    for line in text[:_MAX_TEXT].splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = []
        elif line[0] in " \t" and current:
            name, value = current[-1]
            current[-1] = (name, f"{value} {line.strip()}")
        else:
            name, colon, value = line.partition(":")
            if colon and name.strip() and not any(c.isspace() for c in name.strip()):
                current.append((name.strip(), value.strip()))
    if current:
        blocks.append(current)
    return blocks


def _recipient(block: list[tuple[str, str]]) -> _Recipient | None:
    """A per-recipient block: one with an Action field (RFC 3464 2.3.3: required)."""
    values = _fields(block)
    action = values.get("action", "").strip().lower()
    if not action:
        return None
    addresses: list[str] = []
    for name in ("original-recipient", "final-recipient", "x-actual-recipient"):
        for value in _all(block, name):
            addresses += _addresses_in(value.partition(";")[2] if ";" in value else value)
    return _Recipient(action=action.split()[0] if action.split() else action,
                      status=_one_line(values.get("status", ""), 80),
                      diagnostic=_one_line(_display(values.get("diagnostic-code", ""))),
                      addresses=addresses)


# --- small helpers ---


def _fields(block: list[tuple[str, str]]) -> dict[str, str]:
    """The first value of each field, by lower-case name."""
    values: dict[str, str] = {}
    for name, value in block:
        values.setdefault(name.lower(), value)
    return values


def _all(block: list[tuple[str, str]], name: str) -> list[str]:
    return [v for k, v in block if k.lower() == name]


def _get(msg: Message, name: str) -> str:
    """A header's raw value ("" when absent or unreadable)."""
    try:
        value = msg.get(name)
    except Exception:
        return ""
    return "" if value is None else str(value)


def _get_all(msg: Message, name: str) -> list[str]:
    try:
        return [str(v) for v in msg.get_all(name, [])]
    except Exception:
        return []


def _utf8(raw: str) -> str:
    """Text read as Latin-1 back to its bytes, read as UTF-8 (what 8-bit headers mostly are)."""
    try:
        return raw.encode("latin-1").decode("utf-8", "replace")
    except UnicodeEncodeError:  # not from the message's bytes: already text
        return raw


def _display(raw: str) -> str:
    """A header as a person reads it: its bytes read as UTF-8, RFC 2047 encoded words
    decoded."""
    text = _utf8(raw[:_MAX_HEADER])
    try:
        return str(make_header(decode_header(text)))
    except Exception:  # a broken encoded word: the text as it stands
        return text


def _header_addresses(msg: Message, name: str) -> list[str]:
    try:
        pairs = getaddresses(_get_all(msg, name))
    except Exception:
        return []
    return [a for _, address in pairs for a in _addresses_in(address)]


def _addresses_in(value: str) -> list[str]:
    """The addresses in a field value, as written; a value that is not one gives none."""
    found = []
    for candidate in _ADDRESS.findall(_display(value)[:10_000]):
        candidate = candidate.strip("'\".()[]")
        if "@" in candidate and candidate.isprintable() and len(candidate) <= 254:
            found.append(candidate)
    return found


def _decoded(addresses: Iterable[bytes]) -> list[str]:
    return sorted(a.decode("ascii", "replace") for a in addresses)


def _unique(addresses: Iterable[str]) -> tuple[str, ...]:
    """In order, the first spelling of each address compared without case."""
    seen: dict[str, str] = {}
    for address in addresses:
        seen.setdefault(address.casefold(), address)
    return tuple(seen.values())


def _codes(text: str) -> set[str]:
    """The classes ("2", "4", "5") of the SMTP codes in a text."""
    return ({m.group(1) for m in _ENHANCED.finditer(text)}
            | {m.group(1) for m in _REPLY.finditer(text)})


def _message_id(value: str) -> str | None:
    value = _utf8(value)
    match = _MSGID.search(value)
    if match:
        return match.group(0)
    value = value.strip()
    if value and len(value) <= 500 and value.isprintable() and not any(
            c.isspace() for c in value):
        return value
    return None


def _one_line(text: str, limit: int = MAX_REASON) -> str:
    """Whitespace collapsed, unprintable characters dropped, cut to `limit` characters."""
    text = " ".join("".join(c if c.isprintable() else " " for c in text[:4 * limit]).split())
    return text if len(text) <= limit else text[:limit - 1].rstrip() + "…"
