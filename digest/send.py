"""Compose MIME messages and hand them to a transport (a file outbox or SMTP); keeps no
history and decides nothing about who gets what (that is app's job, with the store).

Built on the standard library's `email` and `smtplib`. A transport raises DeliveryError with
`permanent` telling a bounce (5xx) from a hiccup worth retrying (4xx, connection lost).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import re
import smtplib
import ssl
import tempfile
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, localtime, parseaddr
from html import escape
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self
from urllib.parse import urlencode

from digest.errors import DeliveryError
from digest.models import UNSUBSCRIBE_PLACEHOLDER, Rendered

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9@._+-]")


def message_id(edition: str, recipient: str, sender: str) -> str:
    """Stable per (edition, recipient): a retried send carries the same Message-ID, so a
    duplicate that slipped through can be recognised (RFC 5322 section 3.6.4)."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "digest.invalid"
    token = hashlib.sha256(f"{edition}\0{recipient.lower()}".encode()).hexdigest()[:24]
    return f"<digest.{edition}.{token}@{domain}>"


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    """How recipients leave: by mail to the sender, and by a signed https link if configured."""

    url: str | None = None  # the unsubscribe page
    secret: bytes = b""  # signs the links

    def token(self, recipient: str, list_id: str) -> str:
        """A recipient's signature: HMAC-SHA256 of the list and the address (lower case)."""
        mac = hmac.new(self.secret, f"{list_id}\0{recipient.lower()}".encode(), hashlib.sha256)
        return base64.urlsafe_b64encode(mac.digest()[:18]).decode()

    def verify(self, recipient: str, list_id: str, token: str) -> bool:
        """Whether a link's token is this list's signature of this address."""
        return bool(self.url) and hmac.compare_digest(self.token(recipient, list_id), token)

    def link(self, recipient: str, list_id: str) -> str | None:
        if not self.url:
            return None
        query = urlencode({"u": recipient, "t": self.token(recipient, list_id)})
        return f"{self.url}?{query}"


def compose(
    rendered: Rendered, *, sender: str, recipient: str, edition: str, list_id: str,
    date: str | None = None, unsubscribe: Unsubscribe | None = None,
) -> EmailMessage:
    """multipart/alternative: the text part first, the HTML part last (RFC 2046 5.1.4: the
    last part is the preferred one). The recipient's unsubscribe link is filled into both
    parts and into List-Unsubscribe (RFC 2369), with one-click List-Unsubscribe-Post
    (RFC 8058) when there is an https link."""
    address = parseaddr(sender)[1]
    mailto = f"mailto:{address}?subject=unsubscribe"
    https = (unsubscribe or Unsubscribe()).link(recipient, list_id)
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = date or format_datetime(localtime())
    msg["Message-ID"] = message_id(edition, recipient, sender)
    msg["List-Id"] = list_id
    msg["List-Unsubscribe"] = f"<{mailto}>" + (f", <{https}>" if https else "")
    if https:
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    msg["X-Digest-Edition"] = edition
    link = https or mailto
    text = rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, link)
    html = rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, escape(link))
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def list_id(title: str, sender: str) -> str:
    """List-Id (RFC 2919): a label and a dotted identifier under the sender's domain."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "digest.invalid"
    slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "digest"
    return f"{title} <{slug}.{domain}>"


class Transport(Protocol):
    """Hands finished messages to the world; used as a context manager around a batch."""

    def __enter__(self) -> Self: ...

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None: ...

    def send(self, message: EmailMessage) -> None: ...

    def delivered(self, message: EmailMessage) -> bool:
        """Whether this very message (same Message-ID) was already handed over, as far as the
        transport can tell: after a crash between sending and recording, True avoids a second
        copy. SMTP cannot tell (False: the message is sent again, same Message-ID)."""
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

    def path_for(self, message: EmailMessage) -> Path:
        edition = str(message.get("X-Digest-Edition", "edition"))
        recipient = _UNSAFE_FILENAME.sub("_", str(message["To"]))
        return self.outbox / _UNSAFE_FILENAME.sub("_", edition) / f"{recipient}.eml"

    def delivered(self, message: EmailMessage) -> bool:
        path = self.path_for(message)
        if not path.is_file():
            return False
        with path.open("rb") as f:
            head = f.read(64 * 1024)
        return f"Message-ID: {message['Message-ID']}".encode() in head

    def send(self, message: EmailMessage) -> None:
        path = self.path_for(message)
        tmp: str | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".part")
            with os.fdopen(fd, "wb") as f:
                f.write(message.as_bytes())
            os.replace(tmp, path)
        except OSError as e:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
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


class SmtpTransport:
    """One SMTP connection reused for a batch; reconnects once if the server dropped it."""

    def __init__(self, options: SmtpOptions) -> None:
        self.options = options
        self._smtp: smtplib.SMTP | None = None

    def delivered(self, message: EmailMessage) -> bool:
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
        context = ssl.create_default_context()  # verifies certificates and host names
        try:
            smtp: smtplib.SMTP
            if o.security == "tls":
                smtp = smtplib.SMTP_SSL(o.host, o.port, timeout=o.timeout, context=context)
            else:
                smtp = smtplib.SMTP(o.host, o.port, timeout=o.timeout)
                if o.security == "starttls":
                    smtp.starttls(context=context)
            if o.username:
                smtp.login(o.username, o.password or "")
        except smtplib.SMTPNotSupportedError as e:
            raise DeliveryError(f"{where}: server does not offer STARTTLS (set security: "
                                "tls, or none only on a trusted network)", permanent=True,
                                connection=True) from e
        except smtplib.SMTPAuthenticationError as e:
            raise DeliveryError(f"{where}: login refused for {o.username!r} ({e.smtp_code})",
                                permanent=True, connection=True) from e
        except (OSError, smtplib.SMTPException) as e:
            reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            raise DeliveryError(f"{where}: cannot connect: {reason}", permanent=False,
                                connection=True) from e
        return smtp

    def send(self, message: EmailMessage) -> None:
        recipient = str(message["To"])
        for attempt in (1, 2):
            if self._smtp is None:
                self._smtp = self._connect()
            try:
                self._smtp.send_message(message)
                return
            except smtplib.SMTPServerDisconnected as e:
                self._smtp = None
                if attempt == 2:
                    raise DeliveryError(f"{recipient}: SMTP connection lost: {e}",
                                        permanent=False, connection=True) from e
            except smtplib.SMTPRecipientsRefused as e:
                code, reply = next(iter(e.recipients.values()))
                raise DeliveryError(f"{recipient}: refused: {code} {_text(reply)}",
                                    permanent=500 <= code < 600) from e
            except smtplib.SMTPResponseException as e:
                raise DeliveryError(f"{recipient}: {e.smtp_code} {_text(e.smtp_error)}",
                                    permanent=500 <= e.smtp_code < 600) from e
            except OSError as e:  # includes TimeoutError
                self._smtp = None
                raise DeliveryError(f"{recipient}: SMTP connection failed: {e}",
                                    permanent=False, connection=True) from e


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply

