"""Compose MIME messages and hand them to a transport (a file outbox or SMTP); keeps no
history and decides nothing about who gets what (that is app's job, with the store).

Built on the standard library's `email` and `smtplib`. A transport raises DeliveryError with
`permanent` telling a bounce (5xx) from a hiccup worth retrying (4xx, connection lost).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import email.policy
import hmac
import os
import queue
import re
import secrets
import smtplib
import socket
import ssl
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from email import quoprimime
from email.message import EmailMessage
from email.utils import format_datetime, localtime, parseaddr
from html import escape
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import quote

from digest.errors import DeliveryError
from digest.models import PREFERENCES_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, Rendered

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9@._+-]")


def new_message_id(edition: str, domain: str) -> str:
    """A globally unique Message-ID (RFC 5322 3.6.4): the edition and 80 random bits at the
    sender's domain. Made once per delivery and kept with it, so every retry of that delivery
    carries the same one (a copy that slipped through twice can be recognised)."""
    return f"<digest.{edition}.{secrets.token_hex(10)}@{domain or 'digest.invalid'}>"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """How recipients leave: by mail to the sender, and by a signed https link if configured."""

    url: str | None = None  # the unsubscribe page
    secret: bytes = b""  # signs the links

    def token(self, recipient: str, list_id: str) -> str:
        """A recipient's signature: HMAC-SHA256 of the list and the address (lower case)."""
        mac = hmac.digest(self.secret, f"{list_id}\0{recipient.lower()}".encode(), "sha256")
        return base64.urlsafe_b64encode(mac[:18]).decode()

    def verify(self, recipient: str, list_id: str, token: str) -> bool:
        """Whether a link's token is this list's signature of this address."""
        return bool(self.url) and hmac.compare_digest(self.token(recipient, list_id), token)

    def link(self, recipient: str, list_id: str) -> str | None:
        if not self.url:
            return None
        # the token is URL-safe base64 without padding (18 bytes)
        return f"{self.url}?u={quote(recipient, safe='')}&t={self.token(recipient, list_id)}"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One finished message: the envelope and the bytes a transport hands over (CRLF lines,
    7-bit unless an address needs SMTPUTF8)."""

    sender: str  # envelope sender (bare address)
    recipient: str  # envelope recipient (bare address)
    message_id: str
    edition: str
    data: bytes
    # the same bytes dot-stuffed for SMTP's DATA (RFC 5321 4.5.2), when the letter did it once
    # for every recipient; None: the transport does it
    wire: bytes | None = None

    @property
    def smtputf8(self) -> bool:
        return not (self.sender.isascii() and self.recipient.isascii())


class Letter:
    """An edition's message built once (headers encoded, both parts quoted-printable and
    dot-stuffed for SMTP), with holes where each recipient's address, Message-ID, date, envelope
    sender and links go.

    `for_recipient` only joins bytes: the stdlib `email` package would quote-print 60 KB of
    HTML and parse every header again for every recipient, and dot-stuffing the whole message
    per recipient cost about 1 ms. The links are put between soft line breaks (RFC 2045 6.7),
    so they fill their holes without re-encoding the lines around them. multipart/alternative:
    the text part first, the HTML part last (RFC 2046 5.1.4: the last part is the preferred
    one). List-Unsubscribe (RFC 2369) has the mailto link (the reader's signed address when a
    bounce mailbox is configured, else the sender's) and, when configured, the reader's
    signed https link, with one-click List-Unsubscribe-Post (RFC 8058). Auto-Submitted:
    auto-generated (RFC 3834: no vacation replies to it), Feedback-ID (the edition, the list
    and the sender, for mailbox providers' complaint reports), Reply-To when configured, and
    a DKIM signature over each message when a signer is given."""

    def __init__(self, rendered: Rendered, *, sender: str, edition: str, list_id: str,
                 unsubscribe: Unsubscribe | None = None, reply_to: str | None = None,
                 sign: Callable[[bytes], bytes] | None = None) -> None:
        self.sender = parseaddr(sender)[1]
        self.subject = rendered.subject
        self.edition = edition
        self.list_id = list_id
        self.unsubscribe = unsubscribe or Unsubscribe()
        self.mailto = unsubscribe_mailto(sender)
        self.sign = sign
        self._domain = self.sender.rpartition("@")[2]
        slug = list_id.rpartition("<")[2].rstrip(">").partition(".")[0] or "digest"
        self._head = b"".join((
            _header("Subject", rendered.subject),
            _header("From", sender, utf8=not self.sender.isascii()),
            _header("Reply-To", reply_to, utf8=not parseaddr(reply_to)[1].isascii())
            if reply_to else b"",
            _header("List-Id", list_id),
            _header("Feedback-ID", f"{edition}:{slug}:newsletter:{self._domain or 'digest'}"),
            b"Auto-Submitted: auto-generated\r\n"))
        text, self._text_holes = _qp_segments(rendered.text)
        html, self._html_holes = _qp_segments(rendered.html)
        boundary = "==digest-" + secrets.token_hex(12) + "=="  # "==" never occurs in QP
        self._tail = (
            f"X-Digest-Edition: {edition}\r\nMIME-Version: 1.0\r\n"
            f'Content-Type: multipart/alternative;\r\n boundary="{boundary}"\r\n\r\n').encode()
        part = ('--{b}\r\nContent-Type: text/{kind}; charset="utf-8"\r\n'
                "Content-Transfer-Encoding: quoted-printable\r\n\r\n")
        self._text = (part.format(b=boundary, kind="plain").encode(), text, _stuffed(text))
        self._html = (part.format(b=boundary, kind="html").encode(), html, _stuffed(html))
        self._end = f"\r\n--{boundary}--\r\n".encode()
        self._date = (0, b"")

    def for_recipient(self, recipient: str, date: str | None = None, *,
                      message_id: str | None = None, unsubscribe: str | None = None,
                      preferences: str | None = None, envelope: str | None = None,
                      mailto: str | None = None) -> Outgoing:
        """The recipient's message. `message_id`: the delivery's own (kept with it, so a retry
        carries the same); None: a new one. `unsubscribe` and `preferences`: the reader's own
        https links (the web service's, issue 18); without them, the configured unsubscribe
        page's signed link, else the mailto one, and the preferences holes get `unsubscribe`'s
        link too. `envelope`: the envelope sender (the reader's signed bounce address, VERP);
        default the From address. `mailto`: the reader's signed unsubscribe address, for
        List-Unsubscribe; default the sender's."""
        plain = _PLAIN_ADDRESS.match(recipient) is not None  # no display name to parse
        address = recipient if plain else parseaddr(recipient)[1] or recipient
        msgid = message_id or new_message_id(self.edition, self._domain)
        https = unsubscribe or self.unsubscribe.link(address, self.list_id)
        mail = unsubscribe_mailto(mailto) if mailto else self.mailto
        link = https or mail
        unsubscribe_header = f"List-Unsubscribe: <{mail}>"
        if https:  # RFC 8058: the https link, POSTed to with List-Unsubscribe=One-Click
            unsubscribe_header += (f",\r\n <{https}>\r\n"
                                   "List-Unsubscribe-Post: List-Unsubscribe=One-Click")
        to = (b"To: " + recipient.encode() + b"\r\n" if plain
              else _header("To", recipient, utf8=not address.isascii()))
        choice = preferences or link
        text_links = {UNSUBSCRIBE_PLACEHOLDER: _qp_link(link),
                      PREFERENCES_PLACEHOLDER: _qp_link(choice)}
        html_links = {UNSUBSCRIBE_PLACEHOLDER: _qp_link(escape(link)),
                      PREFERENCES_PLACEHOLDER: _qp_link(escape(choice))}
        head = b"".join((
            self._head, to, b"Date: ", self._now(date), b"\r\nMessage-ID: ", msgid.encode(),
            b"\r\n", unsubscribe_header.encode(), b"\r\n", self._tail, self._text[0]))
        data = b"".join((
            head, _fill(self._text[1], self._text_holes, text_links), b"\r\n",
            self._html[0], _fill(self._html[1], self._html_holes, html_links), self._end))
        # The links stuffed on their own: each starts a line (see _qp_segments).
        text_links = {k: _stuff(v) for k, v in text_links.items()}
        html_links = {k: _stuff(v) for k, v in html_links.items()}
        wire = b"".join((
            head, _fill(self._text[2], self._text_holes, text_links), b"\r\n",
            self._html[0], _fill(self._html[2], self._html_holes, html_links), self._end))
        if self.sign is not None:
            signature = self.sign(data)
            data, wire = signature + data, signature + wire
        return Outgoing(parseaddr(envelope)[1] if envelope else self.sender, address, msgid,
                        self.edition, data, wire)

    def _now(self, date: str | None) -> bytes:
        if date is not None:
            return date.encode()
        second = int(time.time())
        if self._date[0] != second:  # formatting a date costs more than the rest together
            self._date = (second, format_datetime(localtime()).encode())
        return self._date[1]


def notice(*, sender: str, to: str, subject: str, text: str, html: str, kind: str,
           list_id: str | None = None) -> Outgoing:
    """A one-off message to one person (a confirmation link, issue 18): both parts, a random
    Message-ID, `Auto-Submitted: auto-generated` (RFC 3834: no auto-replies to it). `kind`
    names it in the file outbox (outbox/notices/<kind>-<time>-<address>.eml)."""
    address = parseaddr(sender)[1]
    domain = address.rpartition("@")[2] or "digest.invalid"
    utf8 = not (address.isascii() and to.isascii())
    msg = EmailMessage(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(localtime())
    msgid = f"<digest.{kind}.{secrets.token_hex(12)}@{domain}>"
    msg["Message-ID"] = msgid
    msg["Auto-Submitted"] = "auto-generated"
    if list_id:
        msg["List-Id"] = list_id
    msg.set_content(text, cte="quoted-printable")
    msg.add_alternative(html, subtype="html", cte="quoted-printable")
    stamp = f"{kind}-{time.time_ns()}"
    return Outgoing(address, to, msgid, f"notices/{stamp}", msg.as_bytes())


_PLAIN_ADDRESS = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~@-]+\Z")


def _header(name: str, value: str, *, utf8: bool = False) -> bytes:
    """One header line, folded, non-ASCII encoded (RFC 2047), or raw UTF-8 for an address
    that needs SMTPUTF8 (RFC 6532)."""
    policy = email.policy.SMTPUTF8 if utf8 else email.policy.SMTP
    if not value.isascii():  # encoded words of at most 75 characters (RFC 2047 2)
        policy = policy.clone(max_line_length=76)
    msg = EmailMessage(policy=policy)
    msg[name] = value
    # Python's folder can leave a space at a line's end before an encoded word on the next
    # line: unfolded, the subject would read "wall of  customs" (two spaces).
    return _TRAILING_SPACE.sub(b"\r\n", policy.fold_binary(name, msg[name]))


_TRAILING_SPACE = re.compile(rb"[ \t]+\r\n")


_LEADING_DOT = re.compile(rb"(?m)^\.")


def _stuff(data: bytes) -> bytes:
    """Dot-stuffing (RFC 5321 4.5.2): a line that starts with "." gets another."""
    return _LEADING_DOT.sub(b"..", data) if b"." in data else data


def _stuffed(segments: list[bytes]) -> list[bytes]:
    """The segments of a part dot-stuffed, each on its own: the first starts a line, and every
    later one starts with the soft break that ends a link's line (see _qp_segments)."""
    return [_stuff(segment) for segment in segments]


_HOLES = re.compile(f"({re.escape(UNSUBSCRIBE_PLACEHOLDER)}|{re.escape(PREFERENCES_PLACEHOLDER)})")


def _fill(segments: list[bytes], holes: list[str], links: dict[str, bytes]) -> bytes:
    """The segments joined with each hole's link."""
    if not holes:
        return segments[0]
    out = [segments[0]]
    for hole, segment in zip(holes, segments[1:], strict=True):
        out += (links[hole], segment)
    return b"".join(out)


def _qp_segments(text: str) -> tuple[list[bytes], list[str]]:
    """The text quoted-printable (UTF-8, CRLF), cut where the link placeholders were (and
    which placeholder each cut was): each cut ends and starts a line with a soft break, so
    whatever fills it stays valid."""
    split = _HOLES.split(text)
    pieces, holes = split[::2], split[1::2]
    out = []
    for n, piece in enumerate(pieces):
        encoded = quoprimime.body_encode(piece.encode().decode("latin-1"), maxlinelen=75,
                                         eol="\r\n")
        if n > 0:
            encoded = "=\r\n" + encoded
        if n < len(pieces) - 1 and encoded and not encoded.endswith("\r\n"):
            encoded += "=\r\n"
        out.append(encoded.encode("ascii"))
    return out, holes


def _qp_link(link: str) -> bytes:
    """A link quoted-printable on lines of its own (soft breaks, at most 76 characters)."""
    lines = binascii.b2a_qp(link.encode(), quotetabs=True, istext=False).split(b"=\n")
    last = lines[-1]
    if len(last) > 75:  # leave room for the soft break that follows the link
        cut = 72 if b"=" not in last[70:72] else last.rindex(b"=", 70, 72)
        lines[-1:] = [last[:cut], last[cut:]]
    return b"=\r\n".join(lines)


def unsubscribe_mailto(sender: str) -> str:
    """The mailto link that unsubscribes by writing to the sender (RFC 2369)."""
    return f"mailto:{parseaddr(sender)[1]}?subject=unsubscribe"


def list_id(title: str, sender: str) -> str:
    """List-Id (RFC 2919): a label and a dotted identifier under the sender's domain."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "digest.invalid"
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "digest"
    return f"{title} <{slug}.{domain}>"


def _nothing() -> None:
    return None


class Transport(Protocol):
    """Hands finished messages to the world; used as a context manager around a batch."""

    def __enter__(self) -> Self: ...

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def send(self, message: Outgoing, handed_over: Callable[[], None] = _nothing) -> None:
        """Deliver, or raise DeliveryError. `handed_over` is called at the point of no return
        (SMTP: before the final "." of DATA), so a crash after it can be told from one
        before it."""
        ...

    def delivered(self, message: Outgoing) -> bool:
        """Whether this very message (same Message-ID) was already handed over, as far as the
        transport can tell: after a crash between sending and recording, True avoids a second
        copy. SMTP cannot tell (False)."""
        ...


class FileTransport:
    """Writes one .eml per recipient under outbox/<edition>/, atomically (temp file, rename)."""

    def __init__(self, outbox: str | Path) -> None:
        self.outbox = Path(outbox)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def path_for(self, message: Outgoing) -> Path:
        recipient = _UNSAFE_FILENAME.sub("_", message.recipient)
        folder, _, stamp = message.edition.partition("/")
        if stamp:  # a notice: outbox/notices/<kind>-<time>-<address>.eml
            return (self.outbox / _UNSAFE_FILENAME.sub("_", folder) /
                    f"{_UNSAFE_FILENAME.sub('_', stamp)}-{recipient}.eml")
        return self.outbox / _UNSAFE_FILENAME.sub("_", message.edition) / f"{recipient}.eml"

    def delivered(self, message: Outgoing) -> bool:
        path = self.path_for(message)
        if not path.is_file():
            return False
        with path.open("rb") as f:
            head = f.read(64 * 1024)
        return f"\nMessage-ID: {message.message_id}\r\n".encode() in head

    def send(self, message: Outgoing, handed_over: Callable[[], None] = _nothing) -> None:
        path = self.path_for(message)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(message.data)
            handed_over()  # the rename is the point of no return
            os.replace(tmp, path)
            tmp = None
        except BaseException as e:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
            if not isinstance(e, OSError):
                raise
            raise DeliveryError(f"outbox {path}: {e.strerror}", permanent=False,
                                connection=True) from e


@dataclass(frozen=True, slots=True)
class SmtpOptions:
    host: str
    port: int
    security: str  # starttls | tls | none
    username: str | None = None
    password: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None  # trust this CA (a private relay) instead of the system's


class SmtpTransport:
    """One SMTP connection reused for a batch; reconnects once if the server dropped it before
    the message was handed over. After that point (the final "." of DATA) a lost connection
    is not retried: the server may have the message, and a second copy is the worse outcome
    (DeliveryError with `unconfirmed`)."""

    def __init__(self, options: SmtpOptions) -> None:
        self.options = options
        self._smtp: smtplib.SMTP | None = None

    def delivered(self, message: Outgoing) -> bool:
        return False  # a server keeps no record we can ask for

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._smtp is not None:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                self._smtp.quit()
            self._smtp = None

    def _connect(self) -> smtplib.SMTP:
        o = self.options
        where = f"SMTP {o.host}:{o.port}"
        try:  # verifies certificates and host names
            context = ssl.create_default_context(cafile=o.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise DeliveryError(f"smtp.ca_file {o.ca_file}: cannot load: {e}",
                                permanent=True, connection=True) from e
        smtp: smtplib.SMTP | None = None
        try:
            try:
                if o.security == "tls":
                    smtp = smtplib.SMTP_SSL(o.host, o.port, timeout=o.timeout, context=context)
                else:
                    smtp = smtplib.SMTP(o.host, o.port, timeout=o.timeout)
                    if o.security == "starttls":
                        smtp.starttls(context=context)
                if o.username:
                    smtp.login(o.username, o.password or "")
                smtp.ehlo_or_helo_if_needed()
                # The final "." goes out as a small write after the message: with Nagle's
                # algorithm it would wait for the server's delayed ACK (40 ms a message).
                if smtp.sock is not None:
                    smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            except BaseException:
                if smtp is not None:
                    smtp.close()
                raise
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryError(f"{where}: server does not offer STARTTLS (set security: "
                                "tls, or none only on a trusted network)", permanent=True,
                                connection=True) from e
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError(f"SMTP login to {o.host}:{o.port} refused for {o.username!r}: "
                                f"{e.smtp_code} {_text(e.smtp_error)}".rstrip(),
                                permanent=True, connection=True) from e
        except ssl.SSLCertVerificationError as e:
            raise DeliveryError(f"{where}: certificate not trusted: {e.verify_message} (set "
                                "smtp.ca_file for a private relay)", permanent=True,
                                connection=True) from e
        except (OSError, smtplib.SMTPException) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise DeliveryError(f"{where}: cannot connect: {reason}", permanent=False,
                                connection=True) from e
        assert smtp is not None
        return smtp

    def send(self, message: Outgoing, handed_over: Callable[[], None] = _nothing) -> None:
        """Send one message (see Transport.send). DeliveryError with `connection` when the
        session failed rather than this recipient: no connection, TLS or login refused, the
        connection lost twice before the hand-over, or the server closing it (421)."""
        recipient = message.recipient
        where = f"SMTP {self.options.host}:{self.options.port}"
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            stage = _Stage()
            try:
                _transaction(self._smtp, message, handed_over, stage)
                return
            except smtplib.SMTPResponseException as e:  # before OSError: a subclass
                reply = f"{e.smtp_code} {_text(e.smtp_error)}"
                if e.smtp_code == 421:  # the server is closing the connection
                    self.close()
                    if not stage.handed_over:  # the session's end, not this recipient's
                        if attempt == 1:
                            continue
                        raise DeliveryError(f"{where}: the server closed the session: {reply}",
                                            permanent=False, connection=True) from e
                raise DeliveryError(f"{recipient}: {reply}",
                                    permanent=500 <= e.smtp_code < 600,
                                    bounce=bounce_kind(stage.step, e.smtp_code, reply)) from e
            except (smtplib.SMTPServerDisconnected, OSError) as e:  # OSError: timeouts too
                self._smtp = None
                if stage.handed_over:
                    raise DeliveryError(f"{recipient}: SMTP connection lost after the message "
                                        f"was handed over ({e}); not sent again",
                                        permanent=False, unconfirmed=True) from e
                if attempt == 2:  # before the hand-over a retry cannot make a second copy
                    raise DeliveryError(f"{where}: connection lost before {recipient}'s "
                                        f"message was handed over: {e}",
                                        permanent=False, connection=True) from e
            except BaseException:
                self._smtp = None  # mid-transaction: this connection cannot be reused
                raise


@dataclass(slots=True)
class _Stage:
    step: str = "mail"  # mail, rcpt, data (the DATA command), end (the final ".")
    handed_over: bool = False


_ENHANCED = re.compile(r"\s*[245]\.(\d{1,3})\.\d{1,3}\b")


def bounce_kind(step: str, code: int, reply: str) -> str | None:
    """What an SMTP refusal says about the recipient's address (issue 20): "hard" for a
    permanent refusal of the address (5xx to RCPT, or an enhanced status X.1.x address or
    X.2.x mailbox, RFC 3463), "soft" for a temporary one (4xx) or a permanent refusal that is
    about something else (X.7.x policy, X.6.x content, X.3.x system: a spam block says
    nothing about the address, so it counts like a soft bounce), None for a refusal of our
    MAIL FROM (the sender, not this reader)."""
    if step == "mail" or not 400 <= code < 600:
        return None
    enhanced = _ENHANCED.match(reply)
    subject = enhanced.group(1) if enhanced else None
    if code >= 500 and (subject in ("1", "2") or (step == "rcpt" and subject is None)):
        return "hard"
    return "soft"


_UNSAFE_IN_COMMAND = re.compile(r"[\x00-\x20<>\x7f]")


def _transaction(smtp: smtplib.SMTP, message: Outgoing, handed_over: Callable[[], None],
                 stage: _Stage) -> None:
    """MAIL, RCPT, DATA for one recipient, calling `handed_over` just before the final "."
    (smtplib.sendmail has no such point). A refusal resets the session for the next one."""
    options: list[str] = []
    if message.smtputf8:
        if not smtp.has_extn("smtputf8"):
            raise smtplib.SMTPResponseException(
                553, f"the server does not offer SMTPUTF8, needed for {message.recipient}")
        options.append("SMTPUTF8")
    # MAIL and RCPT written here: smtplib's mail() and rcpt() parse each address again
    # (email.utils.parseaddr, about 40 us a message); ours are bare addresses, checked when
    # they were stored, and checked again here for what would break the command line.
    for address in (message.sender, message.recipient):
        if _UNSAFE_IN_COMMAND.search(address):
            raise smtplib.SMTPResponseException(553, f"not a plain address: {address!r}")
    extra = " " + " ".join(options) if options else ""
    smtp.command_encoding = "utf-8" if options else "ascii"  # as smtplib.mail() sets it
    steps: tuple[tuple[str, Callable[[], tuple[int, bytes]], tuple[int, ...]], ...] = (
        ("mail", lambda: smtp.docmd("mail", f"FROM:<{message.sender}>{extra}"), (250,)),
        ("rcpt", lambda: smtp.docmd("rcpt", f"TO:<{message.recipient}>"), (250, 251)),
        ("data", lambda: smtp.docmd("DATA"), (354,)))
    for name, step, expected in steps:
        stage.step = name
        code, reply = step()
        if code not in expected:
            with contextlib.suppress(smtplib.SMTPException, OSError):
                smtp.rset()
            raise smtplib.SMTPResponseException(code, reply)
    data = message.wire
    if data is None:
        data = message.data
        if data.startswith(b".") or b"\n." in data:  # RFC 5321 4.5.2 dot-stuffing
            data = _LEADING_DOT.sub(b"..", data)
    smtp.send(data)
    try:
        handed_over()
    except BaseException:
        smtp.close()  # the server drops a DATA that never ended: nothing was delivered
        raise
    stage.handed_over = True
    stage.step = "end"
    smtp.send(b".\r\n")
    code, reply = smtp.getreply()
    if code != 250:
        raise smtplib.SMTPResponseException(code, reply)


class SmtpPool:
    """`connections` SMTP connections for concurrent sends (a thread each at most): `send` takes
    an idle one, so a batch spread over threads reuses every connection."""

    def __init__(self, options: SmtpOptions, connections: int) -> None:
        self._all = [SmtpTransport(options) for _ in range(connections)]
        self._idle: queue.SimpleQueue[SmtpTransport] = queue.SimpleQueue()
        for transport in self._all:
            self._idle.put(transport)

    @property
    def size(self) -> int:
        return len(self._all)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        for transport in self._all:
            transport.close()

    def delivered(self, message: Outgoing) -> bool:
        return False

    def send(self, message: Outgoing, handed_over: Callable[[], None] = _nothing) -> None:
        transport = self._idle.get()
        try:
            transport.send(message, handed_over)
        finally:
            self._idle.put(transport)


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply

