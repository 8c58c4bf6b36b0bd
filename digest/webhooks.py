"""Provider webhooks for bounces and complaints (issue 20): reads Amazon SES notifications that
Amazon SNS POSTs (signature, certificate URL, topic and age checked) and Postmark's bounce and
spam-complaint webhooks into `ProviderEvent`s. Knows nothing of HTTP routes, readers or the
store: it never decides what happens to an address and never confirms a subscription itself.

SNS (https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html): the
signature covers a "key\\nvalue\\n" string of fixed fields in byte order, made with the key of
the X.509 certificate at `SigningCertURL` (SHA1withRSA for SignatureVersion 1, SHA256withRSA for
2). Anyone can create an SNS topic and subscribe our URL to it, and AWS signs their messages
too: only `topics` tells ours from theirs, so set it. The certificate URL is checked before it
is fetched (https, an sns.<region>.amazonaws.com host, a .pem path), so a forged message cannot
make us fetch from anywhere else. `Timestamp` older than `max_age` is refused: a recorded
message cannot be replayed later (each event also carries an id, for processing it once).

Postmark (https://postmarkapp.com/developer/webhooks/bounce-webhook) signs nothing: its route
checks HTTP basic auth; here the payload is only validated and mapped.

Every field used is checked (type, length, an address that looks like one); anything else is a
`WebhookError` naming the field, with the HTTP status the route should answer.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import json
import logging
import re
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parseaddr
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qs, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from digest.models import BounceKind

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024  # bytes: SNS's own limit on a message; Postmark's payloads are far smaller
MAX_ADDRESS = 320  # RFC 5321: a 64-octet local part, "@", a 255-octet domain
MAX_REASON = 300
MAX_RECIPIENTS = 100  # SES sends a message to at most 50 recipients
MAX_POSTMARK_ID = 2**63 - 1  # Postmark's IDs are 64-bit (its sample: 4323372036854775807)
FUTURE_SKEW = timedelta(minutes=5)  # a Timestamp this far ahead of our clock is still taken
CERT_CACHE = 32  # certificates kept; SNS uses one per region, changed every few years

# Matched (fullmatch) against the lower-cased host of SigningCertURL and SubscribeURL:
# sns.eu-west-1.amazonaws.com, sns.us-gov-west-1.amazonaws.com, sns.cn-north-1.amazonaws.com.cn
DEFAULT_CERT_HOSTS = re.compile(r"sns\.[a-z]{2}(?:-[a-z]+)+-\d{1,2}\.amazonaws\.com(?:\.cn)?")

# The fields signed, in the order the string to sign lists them, per message type (the SNS
# page above); Subject only when the message has one.
_SIGNED = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                "TopicArn", "Type"),
}
_LIMITS = {"Message": MAX_BODY, "MessageId": 100, "Subject": 1000, "SubscribeURL": 2048,
           "Timestamp": 64, "Token": 2048, "TopicArn": 400, "Type": 40}
_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {"1": hashes.SHA1, "2": hashes.SHA256}

_SES_BOUNCES = {"Permanent": BounceKind.HARD, "Transient": BounceKind.SOFT,
                "Undetermined": BounceKind.SOFT}

# Postmark's bounce types (https://postmarkapp.com/developer/api/bounce-api#bounce-types).
# HARD: the address is dead (no such user, not an address, deactivated by the account).
# SOFT: it may take mail later (mailbox full, delays, DNS, an ISP's block, a spam filter's
# refusal): the caller counts these over a period. None: nothing about the address (a reply
# robot, a request to (un)subscribe or move, a test, a virus warning or challenge, or our own
# configuration: SMTP API, DMARC, templates).
_POSTMARK_KINDS: dict[str, BounceKind | None] = {
    "HardBounce": BounceKind.HARD, "BadEmailAddress": BounceKind.HARD,
    "ManuallyDeactivated": BounceKind.HARD,
    "SoftBounce": BounceKind.SOFT, "Transient": BounceKind.SOFT, "DnsError": BounceKind.SOFT,
    "Blocked": BounceKind.SOFT, "SpamNotification": BounceKind.SOFT,
    "SpamComplaint": BounceKind.COMPLAINT,
    "Unsubscribe": None, "Subscribe": None, "AutoResponder": None, "AddressChange": None,
    "OpenRelayTest": None, "Unknown": None, "VirusNotification": None,
    "ChallengeVerification": None, "Unconfirmed": None, "SMTPApiError": None,
    "InboundError": None, "DMARCPolicy": None, "TemplateRenderingFailed": None,
}
_POSTMARK_CODES = {
    1: "HardBounce", 2: "Transient", 16: "Unsubscribe", 32: "Subscribe", 64: "AutoResponder",
    128: "AddressChange", 256: "DnsError", 512: "SpamNotification", 1024: "OpenRelayTest",
    2048: "Unknown", 4096: "SoftBounce", 8192: "VirusNotification",
    16384: "ChallengeVerification", 100000: "BadEmailAddress", 100001: "SpamComplaint",
    100002: "ManuallyDeactivated", 100003: "Unconfirmed", 100006: "Blocked",
    100007: "SMTPApiError", 100008: "InboundError", 100009: "DMARCPolicy",
    100010: "TemplateRenderingFailed",
}


class WebhookError(ValueError):
    """One clear line; `status` is the HTTP status the route should answer (400 bad payload,
    403 signature, topic or URL refused, 413 too large, 502 the signing certificate could not
    be fetched: SNS retries a 5xx, and the next try may find it)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class ProviderEvent:
    """One bounce or complaint about one recipient, as a provider reported it."""

    provider: Literal["ses", "postmark"]
    event_id: str  # unique per (notification, recipient): the same event read twice counts once
    kind: BounceKind  # HARD, SOFT or COMPLAINT
    address: str  # the recipient it is about, as the provider wrote it
    reason: str  # one line, at most 300 characters
    envelope_sender: str | None  # SES mail.source (our VERP address); None for Postmark
    message_id: str | None  # our Message-ID header of the original, when the payload has it
    at: datetime | None  # when the provider says it happened (timezone-aware)


@dataclass(frozen=True, slots=True)
class SnsSubscription:
    """A verified SubscriptionConfirmation: the operator's route confirms it by GET
    `subscribe_url` (checked: https on an SNS host, Action=ConfirmSubscription)."""

    topic_arn: str
    subscribe_url: str


class SnsVerifier:
    """Reads the POST bodies SNS sends to the SES webhook. `clock` returns an aware datetime;
    `fetch_certificate` (default: `fetch_certificate` below) blocks, so an async route calls
    `read` from a thread. Certificates are cached per URL, the last `CERT_CACHE` of them."""

    def __init__(self, *, topics: Sequence[str] = (),
                 fetch_certificate: Callable[[str], bytes] | None = None,
                 clock: Callable[[], datetime], max_age: timedelta = timedelta(hours=1),
                 cert_hosts: re.Pattern[str] = DEFAULT_CERT_HOSTS) -> None:
        if isinstance(topics, str):  # a str is a Sequence too: its letters are no topics
            raise TypeError("topics: a list of topic ARNs, not one string")
        self._topics = frozenset(topics)
        self._fetch = fetch_certificate if fetch_certificate is not None else _https_fetch
        self._clock = clock
        self._max_age = max_age
        self._hosts = cert_hosts
        self._certs: OrderedDict[str, x509.Certificate] = OrderedDict()
        self._lock = threading.Lock()
        if not self._topics:
            log.warning("SNS webhook: no topics configured, so a message from any AWS "
                        "account's topic is accepted")

    def read(self, body: bytes) -> list[ProviderEvent] | SnsSubscription | None:
        """Parse and verify one SNS POST body: a Notification gives the events of the SES
        message it carries ([] for deliveries, sends, opens...), a SubscriptionConfirmation
        the URL to confirm it by, an UnsubscribeConfirmation None."""
        doc = _load(body, "SNS message")
        if "Type" not in doc and ("notificationType" in doc or "eventType" in doc):
            raise WebhookError("an SES message without its SNS envelope: turn off raw message "
                               "delivery on the subscription (the envelope carries the "
                               "signature)")
        kind = _text(doc, "Type", "", limit=_LIMITS["Type"])
        if kind not in _SIGNED:
            raise WebhookError(f"Type: unknown SNS message type {_shown(kind)}")
        signed: dict[str, str] = {}
        for key in _SIGNED[kind]:
            value = (_opt_text(doc, key, "", limit=_LIMITS[key]) if key == "Subject"
                     else _text(doc, key, "", limit=_LIMITS[key]))
            if value is not None:
                signed[key] = value
        _token(signed["MessageId"], "MessageId")
        # The cheap refusals first: nothing is fetched for a foreign topic or an old message.
        topic = signed["TopicArn"]
        if self._topics and topic not in self._topics:
            raise WebhookError(f"TopicArn {_shown(topic)} is not a configured topic", 403)
        now = self._clock()
        sent = _parse_time(signed["Timestamp"], "Timestamp")
        if now - sent > self._max_age:
            raise WebhookError(f"Timestamp {_shown(signed['Timestamp'])} is older than "
                               f"{self._max_age} (a replayed message?)", 403)
        if sent - now > FUTURE_SKEW:
            raise WebhookError(f"Timestamp {_shown(signed['Timestamp'])} is in the future", 403)
        version = _text(doc, "SignatureVersion", "", limit=8)
        if version not in _HASHES:
            raise WebhookError(f"SignatureVersion {_shown(version)} is not 1 or 2", 403)
        signature = _base64(_text(doc, "Signature", "", limit=2048))
        url = _text(doc, "SigningCertURL", "", limit=2048)
        parts = _sns_url(url, "SigningCertURL", self._hosts)
        if not parts.path.endswith(".pem") or parts.query or parts.fragment:
            raise WebhookError(f"SigningCertURL {_shown(url)} is not a .pem file", 403)
        certificate = self._certificate(url)
        if not certificate.not_valid_before_utc <= now <= certificate.not_valid_after_utc:
            raise WebhookError(f"the certificate at {_shown(url)} is not valid now", 403)
        public = certificate.public_key()
        if not isinstance(public, rsa.RSAPublicKey):
            raise WebhookError(f"the certificate at {_shown(url)} has no RSA key", 403)
        text = "".join(f"{name}\n{value}\n" for name, value in signed.items())
        try:
            public.verify(signature, text.encode(), padding.PKCS1v15(), _HASHES[version]())
        except InvalidSignature:
            raise WebhookError("Signature does not match the message (altered, or not signed "
                               f"with the certificate at {_shown(url)})", 403) from None
        if kind == "Notification":
            return _ses_events(signed["Message"], signed["MessageId"])
        if kind == "SubscriptionConfirmation":
            confirm = _sns_url(signed["SubscribeURL"], "SubscribeURL", self._hosts)
            if parse_qs(confirm.query).get("Action") != ["ConfirmSubscription"]:
                raise WebhookError("SubscribeURL does not confirm a subscription", 403)
            return SnsSubscription(topic_arn=topic, subscribe_url=signed["SubscribeURL"])
        return None

    def _certificate(self, url: str) -> x509.Certificate:
        with self._lock:
            cached = self._certs.get(url)
            if cached is not None:
                self._certs.move_to_end(url)
                return cached
        try:
            pem = self._fetch(url)
        except WebhookError:
            raise
        except OSError as e:
            raise WebhookError(f"could not fetch the certificate at {_shown(url)}: "
                               f"{_shown(str(e))}", 502) from e
        try:
            certificate = x509.load_pem_x509_certificate(pem)
        except ValueError as e:
            raise WebhookError(f"{_shown(url)} is not a PEM X.509 certificate", 502) from e
        with self._lock:
            self._certs[url] = certificate
            while len(self._certs) > CERT_CACHE:
                self._certs.popitem(last=False)
        return certificate


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect would lead away from the host we checked: answered as the error it is."""

    def redirect_request(self, req: urllib.request.Request, fp: Any, code: int, msg: str,
                         headers: Any, newurl: str) -> None:
        return None


def https_get(url: str, *, timeout: float = 5.0, max_bytes: int = 65536,
              context: ssl.SSLContext | None = None, what: str = "certificate URL") -> bytes:
    """A GET over https only (refused before connecting otherwise), the
    server's certificate verified (`context`, default the system's trust store), no redirects,
    at most `max_bytes` within `timeout` seconds in all. WebhookError 403 for a URL it will not
    fetch, 502 naming the URL for any failure."""
    parts = urlsplit(url)
    if parts.scheme != "https" or "@" in parts.netloc or not parts.hostname:
        raise WebhookError(f"{what} {_shown(url)}: only https:// without user info "
                           "is fetched", 403)
    opener = urllib.request.build_opener(
        urllib.request.HTTPSHandler(context=context or ssl.create_default_context()),
        _NoRedirects())
    request = urllib.request.Request(url, headers={"User-Agent": f"digest ({what})"})
    deadline = time.monotonic() + timeout
    data = bytearray()
    try:
        with opener.open(request, timeout=timeout) as response:
            if response.status != 200:
                raise WebhookError(f"{what} {_shown(url)}: HTTP {response.status}", 502)
            while chunk := response.read(min(16384, max_bytes + 1 - len(data))):
                data += chunk
                if len(data) > max_bytes:
                    raise WebhookError(f"{what} {_shown(url)}: larger than "
                                       f"{max_bytes} bytes", 502)
                if time.monotonic() > deadline:
                    raise WebhookError(f"{what} {_shown(url)}: took longer than "
                                       f"{timeout} s", 502)
    except urllib.error.HTTPError as e:
        e.close()
        raise WebhookError(f"{what} {_shown(url)}: HTTP {e.code}", 502) from e
    except (OSError, http.client.HTTPException) as e:
        reason = e.reason if isinstance(e, urllib.error.URLError) else e
        raise WebhookError(f"{what} {_shown(url)}: {reason}", 502) from e
    return bytes(data)


def fetch_certificate(url: str, *, timeout: float = 5.0, max_bytes: int = 65536,
                      context: ssl.SSLContext | None = None) -> bytes:
    """SNS's signing certificate, by https_get (see there)."""
    return https_get(url, timeout=timeout, max_bytes=max_bytes, context=context)


def confirm_subscription(subscription: SnsSubscription, *,
                         get: Callable[[str], bytes] | None = None) -> None:
    """Confirm an SNS subscription by GETting its SubscribeURL (already checked by
    SnsVerifier.read: https, an SNS host, Action=ConfirmSubscription), as AWS asks;
    WebhookError (502) when that fails, so SNS sends the confirmation again."""
    (get or (lambda url: https_get(url, what="SubscribeURL")))(subscription.subscribe_url)


_https_fetch = fetch_certificate  # SnsVerifier's default (its parameter shadows the name)


def postmark_events(body: bytes) -> list[ProviderEvent]:
    """Parse one Postmark webhook POST body: a bounce or spam complaint gives one event, any
    other record (delivery, open, click, a bounce type about nothing) []. Authentication is
    HTTP basic auth, checked by the route."""
    doc = _load(body, "Postmark webhook")
    # Bounce hooks from before RecordType existed (and Postmark's curl samples) carry none:
    # Type decides, as it did then (spam complaints came through the bounce hook as a Type).
    record = _opt_text(doc, "RecordType", "", limit=40) or "Bounce"
    if record == "SubscriptionChange":
        return _postmark_subscription_change(doc)
    if record == "SpamComplaint":
        kind: BounceKind | None = BounceKind.COMPLAINT
        name = _opt_text(doc, "Type", "", limit=40) or "SpamComplaint"
    elif record == "Bounce":
        name = _postmark_type(doc)
        if name not in _POSTMARK_KINDS:
            log.warning("Postmark bounce of unknown Type %s ignored", _shown(name))
            return []
        kind = _POSTMARK_KINDS[name]
    else:
        kind = None
    if kind is None:
        return []
    bounce_id = _int(doc, "ID", "", MAX_POSTMARK_ID)
    address = _address(doc, "Email", "")
    detail = (_opt_text(doc, "Details", "", limit=MAX_BODY)
              or _opt_text(doc, "Description", "", limit=MAX_BODY) or "no details given")
    return [ProviderEvent(provider="postmark", event_id=f"postmark:{bounce_id}", kind=kind,
                          address=address, reason=_one_line(f"{name}: {detail}"),
                          envelope_sender=None, message_id=None,
                          at=_opt_time(doc, "BouncedAt", ""))]


# Subscription Change webhook (https://postmarkapp.com/developer/webhooks/subscription-change-
# webhook): how broadcast streams, where newsletters go, report what ended a subscription.
_POSTMARK_SUPPRESSIONS = {"HardBounce": BounceKind.HARD, "SpamComplaint": BounceKind.COMPLAINT,
                          "ManualSuppression": BounceKind.UNSUBSCRIBE}


def _postmark_subscription_change(doc: Mapping[str, Any]) -> list[ProviderEvent]:
    """A Subscription Change record: sending suppressed for a hard bounce, a spam complaint,
    or the recipient's own unsubscribe (ManualSuppression with Origin Recipient) gives one
    event; a reactivation (SuppressSending false) or a suppression the operator made in
    Postmark (Origin Customer or Admin) gives none."""
    if not isinstance(doc.get("SuppressSending"), bool):
        raise WebhookError("SuppressSending: must be true or false")
    if not doc["SuppressSending"]:
        return []
    reason = _opt_text(doc, "SuppressionReason", "", limit=40)
    kind = _POSTMARK_SUPPRESSIONS.get(reason or "")
    origin = _opt_text(doc, "Origin", "", limit=40)
    if kind is None or (kind is BounceKind.UNSUBSCRIBE and origin != "Recipient"):
        return []
    address = _address(doc, "Recipient", "")
    changed = _opt_text(doc, "ChangedAt", "", limit=40) or ""
    message = _opt_text(doc, "MessageID", "", limit=100) or ""
    return [ProviderEvent(
        provider="postmark", event_id=_one_line(f"postmark:change:{message}:{address}:{changed}"),
        kind=kind, address=address,
        reason=_one_line(f"SubscriptionChange: {reason} (origin {origin or 'unknown'})"),
        envelope_sender=None, message_id=None, at=_opt_time(doc, "ChangedAt", ""))]


def _postmark_type(doc: Mapping[str, Any]) -> str:
    """Type, or the name of TypeCode when Type is missing. Type wins: Postmark's own spam
    complaint sample pairs Type SpamComplaint with TypeCode 512."""
    name = _opt_text(doc, "Type", "", limit=40)
    if name is not None:
        return name
    if doc.get("TypeCode") is None:
        raise WebhookError("Type: missing (and no TypeCode)")
    code = _int(doc, "TypeCode", "", 2**31)
    return _POSTMARK_CODES.get(code, f"TypeCode {code}")


def _ses_events(message: str, sns_id: str) -> list[ProviderEvent]:
    """The events of one SES notification (https://docs.aws.amazon.com/ses/latest/dg/
    notification-contents.html): notificationType for feedback notifications, eventType for
    event publishing; one event per bounced or complained recipient."""
    doc = _load(message, "Message")
    field = "notificationType" if "notificationType" in doc else "eventType"
    if field not in doc:
        raise WebhookError("Message: neither notificationType nor eventType (not from SES)")
    what = _text(doc, field, "Message", limit=40)
    if what == "Bounce":
        found = _ses_bounce(_object(doc, "bounce", "Message"))
    elif what == "Complaint":
        found = _ses_complaint(_object(doc, "complaint", "Message"))
    else:  # Delivery, Send, Reject, Open, Click, DeliveryDelay, ...: nothing to act on
        return []
    kind, recipients, at = found
    sender, message_id = _ses_mail(doc)
    return [ProviderEvent(provider="ses", event_id=f"ses:{sns_id}:{n}", kind=kind,
                          address=address, reason=reason, envelope_sender=sender,
                          message_id=message_id, at=at)
            for n, (address, reason) in enumerate(recipients)]


def _ses_bounce(bounce: Mapping[str, Any]
                ) -> tuple[BounceKind, list[tuple[str, str]], datetime | None]:
    where = "Message.bounce"
    bounce_type = _text(bounce, "bounceType", where, limit=40)
    if bounce_type not in _SES_BOUNCES:
        raise WebhookError(f"{where}.bounceType: unknown type {_shown(bounce_type)}")
    sub = _opt_text(bounce, "bounceSubType", where, limit=100)
    label = f"{bounce_type}/{sub}" if sub else bounce_type
    recipients = []
    for i, item in enumerate(_list(bounce, "bouncedRecipients", where)):
        path = f"{where}.bouncedRecipients[{i}]"
        entry = _as_object(item, path)
        detail = (_opt_text(entry, "diagnosticCode", path, limit=MAX_BODY)
                  or _opt_text(entry, "status", path, limit=100) or "no diagnostic given")
        recipients.append((_address(entry, "emailAddress", path),
                           _one_line(f"{label}: {detail}")))
    return _SES_BOUNCES[bounce_type], recipients, _opt_time(bounce, "timestamp", where)


def _ses_complaint(complaint: Mapping[str, Any]
                   ) -> tuple[BounceKind, list[tuple[str, str]], datetime | None]:
    where = "Message.complaint"
    feedback = _opt_text(complaint, "complaintFeedbackType", where, limit=100)
    sub = _opt_text(complaint, "complaintSubType", where, limit=100)  # OnAccountSuppressionList
    agent = _opt_text(complaint, "userAgent", where, limit=1000)
    reason = _one_line(" ".join(
        [f"Complaint/{feedback or 'unspecified'}", *([f"({sub})"] if sub else []),
         *([f"reported by {agent}"] if agent else [])]))
    recipients = [(_address(_as_object(item, f"{where}.complainedRecipients[{i}]"),
                            "emailAddress", f"{where}.complainedRecipients[{i}]"), reason)
                  for i, item in enumerate(_list(complaint, "complainedRecipients", where))]
    return BounceKind.COMPLAINT, recipients, _opt_time(complaint, "timestamp", where)


def _ses_mail(doc: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """mail.source (the envelope sender: our VERP address) and our Message-ID: the header as
    sent when SES includes the headers, else commonHeaders.messageId unless that is only
    SES's own id (mail.messageId), which is what it holds when SES made the header itself."""
    where = "Message.mail"
    if doc.get("mail") is None:
        return None, None
    mail = _object(doc, "mail", "Message")
    source = _opt_text(mail, "source", where, limit=1000)
    sender = None
    if source:
        sender = parseaddr(source)[1]
        if not _looks_like_address(sender):
            raise WebhookError(f"{where}.source: not an email address")
    ses_id = _opt_text(mail, "messageId", where, limit=1000)
    common = (_object(mail, "commonHeaders", where) if mail.get("commonHeaders") is not None
              else {})
    found = None
    if mail.get("headers") is not None:
        for i, item in enumerate(_list(mail, "headers", where, allow_empty=True, most=10000)):
            header = _as_object(item, f"{where}.headers[{i}]")
            name = _text(header, "name", f"{where}.headers[{i}]", limit=1000)
            if name.lower() == "message-id":
                found = _opt_text(header, "value", f"{where}.headers[{i}]", limit=1000)
                break
    if found is None:
        found = _opt_text(common, "messageId", f"{where}.commonHeaders", limit=1000)
        if found == ses_id:
            found = None
    if found is not None:
        found = found.strip()
        if not found.isprintable():
            raise WebhookError(f"{where}: the Message-ID has control characters")
    return sender, found or None


# --- reading JSON defensively: every helper names the field it refuses ----------------------


def _load(data: bytes | str, what: str) -> dict[str, Any]:
    if len(data) > MAX_BODY:
        raise WebhookError(f"{what} is larger than {MAX_BODY} bytes", 413)
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
        value = json.loads(text, parse_constant=_no_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        # ValueError covers numbers past Python's 4300-digit limit; RecursionError, nesting.
        detail = str(e).splitlines()[0][:120] if str(e) else type(e).__name__
        raise WebhookError(f"{what} is not valid JSON: {detail}") from None
    if not isinstance(value, dict):
        raise WebhookError(f"{what} is not a JSON object")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _path(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def _opt_text(obj: Mapping[str, Any], key: str, where: str, *, limit: int) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise WebhookError(f"{_path(where, key)}: not a string")
    if len(value) > limit:
        raise WebhookError(f"{_path(where, key)}: longer than {limit} characters")
    return value


def _text(obj: Mapping[str, Any], key: str, where: str, *, limit: int) -> str:
    value = _opt_text(obj, key, where, limit=limit)
    if not value:
        raise WebhookError(f"{_path(where, key)}: missing or empty")
    return value


def _int(obj: Mapping[str, Any], key: str, where: str, most: int) -> int:
    value = obj.get(key)
    if value is None:
        raise WebhookError(f"{_path(where, key)}: missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise WebhookError(f"{_path(where, key)}: not an integer")
    if not 0 <= value <= most:
        raise WebhookError(f"{_path(where, key)}: out of range")
    return value


def _as_object(value: Any, path: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise WebhookError(f"{path}: not an object")
    return value


def _object(obj: Mapping[str, Any], key: str, where: str) -> Mapping[str, Any]:
    if obj.get(key) is None:
        raise WebhookError(f"{_path(where, key)}: missing")
    return _as_object(obj[key], _path(where, key))


def _list(obj: Mapping[str, Any], key: str, where: str, *, allow_empty: bool = False,
          most: int = MAX_RECIPIENTS) -> list[Any]:
    value = obj.get(key)
    if not isinstance(value, list):
        raise WebhookError(f"{_path(where, key)}: missing or not a list")
    if not value and not allow_empty:
        raise WebhookError(f"{_path(where, key)}: empty")
    if len(value) > most:
        raise WebhookError(f"{_path(where, key)}: more than {most} entries")
    return value


def _looks_like_address(value: str) -> bool:
    local, at, domain = value.rpartition("@")
    return (bool(at and local and domain) and len(value) <= MAX_ADDRESS
            and not any(c.isspace() or not c.isprintable() for c in value))


def _address(obj: Mapping[str, Any], key: str, where: str) -> str:
    value = _text(obj, key, where, limit=MAX_ADDRESS + 100).strip()
    if not _looks_like_address(value):
        raise WebhookError(f"{_path(where, key)}: not an email address")
    return value


def _parse_time(text: str, path: str) -> datetime:
    """ISO 8601 (Postmark's seven fractional digits too); one without an offset is UTC, as
    both providers document their times."""
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise WebhookError(f"{path}: not an ISO 8601 time") from None
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)


def _opt_time(obj: Mapping[str, Any], key: str, where: str) -> datetime | None:
    text = _opt_text(obj, key, where, limit=64)
    return _parse_time(text, _path(where, key)) if text else None


def _token(value: str, path: str) -> None:
    if any(c.isspace() or not c.isprintable() for c in value):
        raise WebhookError(f"{path}: has spaces or control characters")


def _base64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise WebhookError("Signature: not base64", 403) from None


def _sns_url(url: str, path: str, hosts: re.Pattern[str]) -> SplitResult:
    """An https URL on an SNS host, nothing else in its authority (no user info, no port):
    what `hosts` matches is exactly where it leads."""
    if not url.isascii() or not url.isprintable() or " " in url or "\\" in url:
        raise WebhookError(f"{path} {_shown(url)}: not a plain URL", 403)
    parts = urlsplit(url)
    if parts.scheme != "https":
        raise WebhookError(f"{path} {_shown(url)}: not https", 403)
    host = (parts.hostname or "").lower()
    if parts.netloc.lower() != host:  # user info, a port, brackets
        raise WebhookError(f"{path} {_shown(url)}: has user info or a port", 403)
    if not hosts.fullmatch(host):
        raise WebhookError(f"{path} {_shown(url)}: not an Amazon SNS host", 403)
    return parts


def _one_line(text: str) -> str:
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= MAX_REASON else line[:MAX_REASON - 1] + "…"


def _shown(value: str) -> str:
    """A value from the payload, quoted for an error: one line, at most about 100 characters."""
    return repr(value if len(value) <= 100 else value[:100] + "...")
