"""Provider webhooks (issue 20) through digest.webhooks' public API: SES notifications in SNS
envelopes signed here, per AWS's documented string to sign, with an RSA key and self-signed
certificate made by the test; Postmark's webhooks; the certificate fetcher against real
servers on 127.0.0.1. Payloads are in tests/data/webhooks (see its README for the formats)."""

from __future__ import annotations

import base64
import copy
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID

from conftest import DATA
from digest.models import BounceKind
from digest.webhooks import (
    MAX_BODY,
    ProviderEvent,
    SnsSubscription,
    SnsVerifier,
    WebhookError,
    fetch_certificate,
    postmark_events,
)

WEBHOOKS = DATA / "webhooks"
NOW = datetime(2026, 3, 2, 7, 0, 0, tzinfo=UTC)
CERT_URL = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:digest-feedback"
SNS_ID = "5f7c0a42-3b1e-4d9a-8c6f-2e4b7d91a0c3"
SUBSCRIBE_URL = ("https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription"
                 f"&TopicArn={TOPIC}&Token=2336412f37fb687f5d51e6e2425a8a58")
OUR_MESSAGE_ID = "<digest.2026-03-02.5f0c2a9e41b7d3c8a6e19f04@news.example.org>"


# --- keys, certificates and signed SNS envelopes ---------------------------------------------


@dataclass(frozen=True)
class Key:
    private: rsa.RSAPrivateKey
    pem: bytes  # a self-signed certificate for it, valid around NOW


def make_key(not_before: datetime = NOW - timedelta(days=30),
             not_after: datetime = NOW + timedelta(days=30)) -> Key:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(not_before).not_valid_after(not_after)
            .sign(private, hashes.SHA256()))
    return Key(private, cert.public_bytes(serialization.Encoding.PEM))


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key()


def sns_time(at: datetime) -> str:
    return at.strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"


# The fields of the string to sign, in the order of AWS's "Verifying the signatures of Amazon
# SNS messages"; written out here again so that a mistake in the module cannot agree with itself.
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn",
                       "Type")


def sign(doc: dict[str, Any], private: rsa.RSAPrivateKey) -> None:
    fields = NOTIFICATION_FIELDS if doc["Type"] == "Notification" else CONFIRMATION_FIELDS
    text = "".join(f"{k}\n{doc[k]}\n" for k in fields if k in doc)
    algorithm = hashes.SHA1() if doc["SignatureVersion"] == "1" else hashes.SHA256()
    doc["Signature"] = base64.b64encode(
        private.sign(text.encode(), padding.PKCS1v15(), algorithm)).decode()


def sns_envelope(key: Key, message: str, *, kind: str = "Notification", version: str = "2",
                 timestamp: datetime = NOW - timedelta(seconds=30), topic: str = TOPIC,
                 subject: str | None = "Amazon SES Email Event Notification",
                 cert_url: str = CERT_URL, subscribe_url: str = SUBSCRIBE_URL,
                 message_id: str = SNS_ID) -> dict[str, Any]:
    """An SNS HTTP POST body (https://docs.aws.amazon.com/sns/latest/dg/
    http-notification-json.html), signed."""
    doc: dict[str, Any] = {"Type": kind, "MessageId": message_id, "TopicArn": topic,
                           "Message": message, "Timestamp": sns_time(timestamp),
                           "SignatureVersion": version, "SigningCertURL": cert_url}
    if kind == "Notification":
        if subject is not None:
            doc["Subject"] = subject
        doc["UnsubscribeURL"] = ("https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe"
                                 f"&SubscriptionArn={TOPIC}:0b1c2d3e")
    else:
        doc["Token"] = "2336412f37fb687f5d51e6e2425a8a58"
        doc["SubscribeURL"] = subscribe_url
    sign(doc, key.private)
    return doc


def body(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


def ses(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((WEBHOOKS / name).read_text(encoding="utf-8"))
    return data


@dataclass
class Fetcher:
    """Stands in for the HTTPS fetch: answers with a PEM and records every URL asked for."""

    pem: bytes
    calls: list[str] = field(default_factory=list)

    def __call__(self, url: str) -> bytes:
        self.calls.append(url)
        return self.pem


def verifier(fetcher: Fetcher, *, topics: tuple[str, ...] = (TOPIC,),
             now: datetime = NOW, **kwargs: Any) -> SnsVerifier:
    return SnsVerifier(topics=topics, fetch_certificate=fetcher, clock=lambda: now, **kwargs)


def read_ses(key: Key, message: dict[str, Any] | str, **kwargs: Any) -> Any:
    text = message if isinstance(message, str) else json.dumps(message)
    return verifier(Fetcher(key.pem)).read(body(sns_envelope(key, text, **kwargs)))


def refused(call: Any, status: int) -> WebhookError:
    with pytest.raises(WebhookError) as caught:
        call()
    assert caught.value.status == status, str(caught.value)
    assert "\n" not in str(caught.value)
    return caught.value


# --- SES through SNS -------------------------------------------------------------------------


def test_a_permanent_bounce_is_hard_with_our_message_id_and_envelope(key: Key) -> None:
    fetcher = Fetcher(key.pem)
    events = verifier(fetcher).read(body(sns_envelope(key, json.dumps(
        ses("ses-bounce-permanent.json")))))
    assert events == [ProviderEvent(
        provider="ses", event_id=f"ses:{SNS_ID}:0", kind=BounceKind.HARD,
        address="ines.moreau@example.net",
        reason="Permanent/General: smtp; 550 5.1.1 <ines.moreau@example.net>... mailbox unknown",
        envelope_sender="bounces+b17-k2xq4vd7@news.example.org", message_id=OUR_MESSAGE_ID,
        at=datetime(2026, 3, 2, 6, 41, 17, 512000, tzinfo=UTC))]
    assert fetcher.calls == [CERT_URL]


def test_each_bounced_recipient_is_its_own_event(key: Key) -> None:
    events = read_ses(key, ses("ses-bounce-no-dsn.json"))
    assert [(e.event_id, e.address, e.kind, e.reason) for e in events] == [
        (f"ses:{SNS_ID}:0", "pablo.reyes@example.com", BounceKind.HARD,
         "Permanent/General: no diagnostic given"),
        (f"ses:{SNS_ID}:1", "yuki.tanaka@example.com", BounceKind.HARD,
         "Permanent/General: no diagnostic given")]
    assert {(e.envelope_sender, e.message_id) for e in events} == {
        ("bounces+b23-m7pq2wz5@news.example.org", None)}  # no headers in this one


def test_a_transient_bounce_from_event_publishing_is_soft(key: Key) -> None:
    [event] = read_ses(key, ses("ses-bounce-transient.json"))
    assert (event.kind, event.address, event.reason) == (
        BounceKind.SOFT, "amara.okafor@example.org",
        "Transient/MailboxFull: smtp; 452 4.2.2 Mailbox full")
    # the display name is not part of the envelope sender; commonHeaders.messageId is SES's
    # own id here (mail.messageId), not a Message-ID we wrote
    assert event.envelope_sender == "bounces+b31-q4rs8tx2@news.example.org"
    assert event.message_id is None


def test_an_undetermined_bounce_is_soft_and_the_status_stands_in_for_a_diagnostic(
        key: Key) -> None:
    message = ses("ses-bounce-permanent.json")
    message["bounce"]["bounceType"] = "Undetermined"
    message["bounce"]["bounceSubType"] = "Undetermined"
    del message["bounce"]["bouncedRecipients"][0]["diagnosticCode"]
    [event] = read_ses(key, message)
    assert (event.kind, event.reason) == (BounceKind.SOFT, "Undetermined/Undetermined: 5.1.1")


def test_a_complaint_is_one_event_per_recipient(key: Key) -> None:
    events = read_ses(key, ses("ses-complaint.json"))
    reason = "Complaint/abuse reported by ExampleMail Feedback Loop (V2.1)"
    assert [(e.event_id, e.kind, e.address, e.reason) for e in events] == [
        (f"ses:{SNS_ID}:0", BounceKind.COMPLAINT, "lena.fischer@example.com", reason),
        (f"ses:{SNS_ID}:1", BounceKind.COMPLAINT, "omar.haddad@example.com", reason)]
    assert events[0].message_id == "<digest.2026-03-02.0d9e8f7a6b5c4d3e2f1a0b9c@news.example.org>"
    assert events[0].at == datetime(2026, 3, 2, 9, 13, 2, 771000, tzinfo=UTC)


def test_a_delivery_or_any_other_notification_gives_nothing(key: Key) -> None:
    assert read_ses(key, ses("ses-delivery.json")) == []
    assert read_ses(key, {"eventType": "Open", "mail": {}, "open": {}}) == []


def test_a_reason_stays_one_short_line(key: Key) -> None:
    message = ses("ses-bounce-permanent.json")
    message["bounce"]["bouncedRecipients"][0]["diagnosticCode"] = (
        "smtp; 550-5.1.1 first line\r\n550 5.1.1\tsecond\x1b[31m " + "x" * 2000)
    [event] = read_ses(key, message)
    assert event.reason.startswith("Permanent/General: smtp; 550-5.1.1 first line 550 5.1.1 "
                                   "second [31m x")
    assert len(event.reason) == 300 and event.reason.isprintable()


def test_a_subscription_confirmation_is_returned_to_be_confirmed(key: Key) -> None:
    doc = sns_envelope(key, "You have chosen to subscribe to the topic.",
                       kind="SubscriptionConfirmation")
    assert verifier(Fetcher(key.pem)).read(body(doc)) == SnsSubscription(
        topic_arn=TOPIC, subscribe_url=SUBSCRIBE_URL)
    doc = sns_envelope(key, "You have unsubscribed.", kind="UnsubscribeConfirmation")
    assert verifier(Fetcher(key.pem)).read(body(doc)) is None


@pytest.mark.parametrize("url", [
    "https://sns.eu-west-1.amazonaws.com.example.net/?Action=ConfirmSubscription",
    "http://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription",
    "https://sns.eu-west-1.amazonaws.com/?Action=Unsubscribe",
])
def test_a_subscribe_url_elsewhere_or_for_another_action_is_refused(key: Key, url: str) -> None:
    doc = sns_envelope(key, "Confirm, please.", kind="SubscriptionConfirmation",
                       subscribe_url=url)
    refused(lambda: verifier(Fetcher(key.pem)).read(body(doc)), 403)


@pytest.mark.parametrize("version", ["1", "2"])
def test_both_signature_versions_verify(key: Key, version: str) -> None:
    [event] = read_ses(key, ses("ses-bounce-permanent.json"), version=version)
    assert event.kind is BounceKind.HARD


def test_the_version_decides_the_hash(key: Key) -> None:
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")), version="2")
    doc["SignatureVersion"] = "1"  # signed with SHA-256, claimed SHA-1
    refused(lambda: verifier(Fetcher(key.pem)).read(body(doc)), 403)
    doc["SignatureVersion"] = "3"
    refused(lambda: verifier(Fetcher(key.pem)).read(body(doc)), 403)


def test_subject_is_signed_only_when_present(key: Key) -> None:
    message = json.dumps(ses("ses-bounce-permanent.json"))
    assert read_ses(key, message, subject=None)  # signed without it: verifies
    doc = sns_envelope(key, message)
    del doc["Subject"]  # signed with it, then removed
    refused(lambda: verifier(Fetcher(key.pem)).read(body(doc)), 403)


@pytest.mark.parametrize("field_name,value", [
    ("Message", json.dumps(ses("ses-complaint.json"))),
    ("MessageId", "5f7c0a42-3b1e-4d9a-8c6f-2e4b7d91a0c4"),
    ("Subject", "Something else"),
    ("Timestamp", sns_time(NOW - timedelta(seconds=29))),
])
def test_a_tampered_field_is_refused(key: Key, field_name: str, value: str) -> None:
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")))
    doc[field_name] = value
    error = refused(lambda: verifier(Fetcher(key.pem)).read(body(doc)), 403)
    assert "Signature" in str(error)


def test_a_tampered_topic_is_refused_even_when_every_topic_is_taken(key: Key) -> None:
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")))
    doc["TopicArn"] = "arn:aws:sns:eu-west-1:123456789012:another"
    refused(lambda: verifier(Fetcher(key.pem), topics=()).read(body(doc)), 403)


def test_another_key_is_refused(key: Key) -> None:
    other = make_key()
    doc = sns_envelope(other, json.dumps(ses("ses-bounce-permanent.json")))
    refused(lambda: verifier(Fetcher(key.pem)).read(body(doc)), 403)
    assert verifier(Fetcher(other.pem)).read(body(doc))  # and with its own certificate: fine


def test_a_signature_that_is_not_base64_is_refused(key: Key) -> None:
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")))
    doc["Signature"] = "not*base64"
    refused(lambda: verifier(Fetcher(key.pem)).read(body(doc)), 403)


@pytest.mark.parametrize("url", [
    "http://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.eu-west-1.example.net/SimpleNotificationService-abc.pem",
    "https://sns.eu-west-1.amazonaws.com.example.net/SimpleNotificationService-abc.pem",
    "https://example.net/sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://s3.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://user@sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem",
    "https://sns.eu-west-1.amazonaws.com@example.net/SimpleNotificationService-abc.pem",
    "https://sns.eu-west-1.amazonaws.com:8443/SimpleNotificationService-abc.pem",
    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.txt",
    "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-abc.pem?x=1",
    "https://sns.eu-west-1.amazonaws.com\\@example.net/SimpleNotificationService-abc.pem",
    "https://sns.eu-west-1.amazonaws.com./SimpleNotificationService-abc.pem",
    "file:///etc/ssl/certs/SimpleNotificationService-abc.pem",
])
def test_a_certificate_url_off_sns_is_refused_without_fetching(key: Key, url: str) -> None:
    fetcher = Fetcher(key.pem)
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")), cert_url=url)
    refused(lambda: verifier(fetcher).read(body(doc)), 403)
    assert fetcher.calls == []


def test_sns_hosts_of_other_regions_and_china_are_taken(key: Key) -> None:
    for url in ("https://sns.us-gov-west-1.amazonaws.com/SimpleNotificationService-1f.pem",
                "https://sns.cn-north-1.amazonaws.com.cn/SimpleNotificationService-2e.pem",
                "https://SNS.AP-SOUTHEAST-2.amazonaws.com/SimpleNotificationService-3d.pem"):
        fetcher = Fetcher(key.pem)
        doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")), cert_url=url)
        assert verifier(fetcher).read(body(doc)), url
        assert fetcher.calls == [url]


def test_an_old_message_is_refused_as_a_replay_before_fetching(key: Key) -> None:
    fetcher = Fetcher(key.pem)
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")),
                       timestamp=NOW - timedelta(hours=1, seconds=1))
    error = refused(lambda: verifier(fetcher).read(body(doc)), 403)
    assert "Timestamp" in str(error) and fetcher.calls == []
    # within max_age it is taken, and max_age is the verifier's to set
    assert verifier(fetcher, now=NOW - timedelta(seconds=2)).read(body(doc))
    refused(lambda: verifier(fetcher, now=NOW - timedelta(minutes=30),
                             max_age=timedelta(minutes=20)).read(body(doc)), 403)


def test_a_message_from_the_future_is_refused(key: Key) -> None:
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")),
                       timestamp=NOW + timedelta(minutes=6))
    refused(lambda: verifier(Fetcher(key.pem)).read(body(doc)), 403)
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")),
                       timestamp=NOW + timedelta(minutes=4))  # a clock a little behind
    assert verifier(Fetcher(key.pem)).read(body(doc))


def test_a_topic_not_configured_is_refused_before_fetching(key: Key) -> None:
    fetcher = Fetcher(key.pem)
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")),
                       topic="arn:aws:sns:eu-west-1:999999999999:someone-elses")
    error = refused(lambda: verifier(fetcher).read(body(doc)), 403)
    assert "TopicArn" in str(error) and fetcher.calls == []
    # listed among several, or no list at all: taken
    assert verifier(fetcher, topics=(TOPIC, doc["TopicArn"])).read(body(doc))
    assert verifier(fetcher, topics=()).read(body(doc))
    with pytest.raises(TypeError):
        SnsVerifier(topics=TOPIC, clock=lambda: NOW)


def test_the_certificate_is_fetched_once_per_url(key: Key) -> None:
    fetcher = Fetcher(key.pem)
    sns = verifier(fetcher)
    other_url = "https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-def.pem"
    for url in (CERT_URL, CERT_URL, other_url, CERT_URL, other_url):
        assert sns.read(body(sns_envelope(key, json.dumps(ses("ses-complaint.json")),
                                          cert_url=url)))
    assert fetcher.calls == [CERT_URL, other_url]


def test_a_certificate_not_valid_at_the_clock_is_refused(key: Key) -> None:
    expired = make_key(NOW - timedelta(days=60), NOW - timedelta(days=1))
    doc = sns_envelope(expired, json.dumps(ses("ses-bounce-permanent.json")))
    refused(lambda: verifier(Fetcher(expired.pem)).read(body(doc)), 403)


def test_a_certificate_without_an_rsa_key_is_refused(key: Key) -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
    pem = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
           .public_key(private.public_key()).serial_number(x509.random_serial_number())
           .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=1))
           .sign(private, hashes.SHA256())).public_bytes(serialization.Encoding.PEM)
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")))
    assert "RSA" in str(refused(lambda: verifier(Fetcher(pem)).read(body(doc)), 403))


def test_a_certificate_that_cannot_be_had_is_a_502(key: Key) -> None:
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")))
    error = refused(lambda: verifier(Fetcher(b"<html>not a certificate</html>")).read(body(doc)),
                    502)
    assert CERT_URL in str(error)

    def unreachable(url: str) -> bytes:
        raise ConnectionRefusedError(111, "Connection refused")

    sns = SnsVerifier(topics=[TOPIC], fetch_certificate=unreachable, clock=lambda: NOW)
    refused(lambda: sns.read(body(doc)), 502)


@pytest.mark.parametrize("raw,named", [
    (b"{not json", "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"Type": NaN}', "not valid JSON"),
    (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    (b'{"Type": 7}', "Type"),
    (b'{"Type": "Advertisement"}', "Type"),
    (b'{"Type": "Notification"}', "Message"),
])
def test_malformed_sns_bodies_are_a_400_naming_the_culprit(
        key: Key, raw: bytes, named: str) -> None:
    assert named in str(refused(lambda: verifier(Fetcher(key.pem)).read(raw), 400))


@pytest.mark.parametrize("field_name,value", [
    ("Message", {"notificationType": "Bounce"}),
    ("MessageId", ["5f7c0a42"]),
    ("MessageId", "has a space"),
    ("Timestamp", "yesterday"),
    ("TopicArn", None),
    ("Subject", 12),
    ("SigningCertURL", {"url": CERT_URL}),
    ("Signature", 12345),
    ("SignatureVersion", 2),
])
def test_wrong_types_in_the_envelope_are_a_400_naming_the_field(
        key: Key, field_name: str, value: Any) -> None:
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")))
    doc[field_name] = value
    error = refused(lambda: verifier(Fetcher(key.pem)).read(body(doc)), 400)
    assert field_name in str(error)


def test_a_number_too_long_for_python_is_a_400(key: Key) -> None:
    doc = sns_envelope(key, json.dumps(ses("ses-bounce-permanent.json")))
    doc["Signature"] = "HUGE"
    raw = body(doc).replace(b'"HUGE"', b"9" * 5000)
    assert "JSON" in str(refused(lambda: verifier(Fetcher(key.pem)).read(raw), 400))


def hostile(path: str, value: Any) -> dict[str, Any]:
    """The permanent bounce with one field (a dotted path, [n] a list item) replaced, or
    deleted (`...`)."""
    message = copy.deepcopy(ses("ses-bounce-permanent.json"))
    *parents, last = path.split(".")
    target: Any = message
    for part in parents:
        target = target[int(part[1:-1])] if part.startswith("[") else target[part]
    if last.startswith("["):
        target[int(last[1:-1])] = value
    elif value is ...:
        del target[last]
    else:
        target[last] = value
    return message


@pytest.mark.parametrize("path,value,named", [
    ("notificationType", ..., "notificationType"),
    ("notificationType", 3, "notificationType"),
    ("bounce", ..., "bounce"),
    ("bounce", "Permanent", "bounce"),
    ("bounce.bounceType", "Fatal", "bounceType"),
    ("bounce.bounceType", ["Permanent"], "bounceType"),
    ("bounce.bouncedRecipients", ..., "bouncedRecipients"),
    ("bounce.bouncedRecipients", [], "bouncedRecipients"),
    ("bounce.bouncedRecipients", {"emailAddress": "a@example.org"}, "bouncedRecipients"),
    ("bounce.bouncedRecipients", [{"emailAddress": f"r{i}@example.org"} for i in range(101)],
     "bouncedRecipients"),
    ("bounce.bouncedRecipients.[0]", "ines.moreau@example.net", "bouncedRecipients[0]"),
    ("bounce.bouncedRecipients.[0].emailAddress", "", "emailAddress"),
    ("bounce.bouncedRecipients.[0].emailAddress", "   ", "emailAddress"),
    ("bounce.bouncedRecipients.[0].emailAddress", "no-at-sign", "emailAddress"),
    ("bounce.bouncedRecipients.[0].emailAddress", "two words@example.net", "emailAddress"),
    ("bounce.bouncedRecipients.[0].emailAddress", "x" * 400 + "@example.net", "emailAddress"),
    ("bounce.bouncedRecipients.[0].emailAddress", {"a": [[[]]]}, "emailAddress"),
    ("bounce.bouncedRecipients.[0].emailAddress", 1e308, "emailAddress"),
    ("bounce.bouncedRecipients.[0].diagnosticCode", 550, "diagnosticCode"),
    ("bounce.timestamp", "02/03/2026", "timestamp"),
    ("mail", [], "mail"),
    ("mail.source", "not an address", "source"),
    ("mail.headers", "Message-ID: <x@example.org>", "headers"),
    ("mail.headers.[2]", ["Message-ID", "<x@example.org>"], "headers[2]"),
    ("mail.headers.[2].value", "<x@example.org>\r\nBcc: y@example.org", "Message-ID"),
    ("mail.commonHeaders", "none", "commonHeaders"),
])
def test_hostile_ses_messages_are_a_400_naming_the_field(
        key: Key, path: str, value: Any, named: str) -> None:
    # signed properly: these get past the envelope, to the SES message itself
    error = refused(lambda: read_ses(key, hostile(path, value)), 400)
    assert named in str(error)


def test_a_message_that_is_not_ses_json_is_a_400(key: Key) -> None:
    for message in ("Hello from SNS", "[]", json.dumps({"Records": []})):
        refused(lambda: read_ses(key, message), 400)  # noqa: B023 (called at once)


def test_an_ses_message_without_its_envelope_says_so(key: Key) -> None:
    raw = (WEBHOOKS / "ses-bounce-permanent.json").read_bytes()  # raw message delivery
    assert "raw message delivery" in str(refused(lambda: verifier(Fetcher(key.pem)).read(raw),
                                                 400))


def test_a_body_too_big_is_a_413(key: Key) -> None:
    fetcher = Fetcher(key.pem)
    refused(lambda: verifier(fetcher).read(b" " * (MAX_BODY + 1)), 413)
    assert fetcher.calls == []


# --- Postmark --------------------------------------------------------------------------------


def postmark(name: str = "postmark-bounce.json", **changes: Any) -> bytes:
    doc = json.loads((WEBHOOKS / name).read_text(encoding="utf-8"))
    for key_name, value in changes.items():
        if value is ...:
            doc.pop(key_name, None)
        else:
            doc[key_name] = value
    return json.dumps(doc).encode()


def test_a_postmark_hard_bounce() -> None:
    assert postmark_events(postmark()) == [ProviderEvent(
        provider="postmark", event_id="postmark:4323372036854775807", kind=BounceKind.HARD,
        address="marek.nowak@example.org",
        reason="HardBounce: smtp;550 5.1.1 The email account that you tried to reach does not "
               "exist.",
        envelope_sender=None, message_id=None,
        at=datetime(2026, 3, 2, 6, 44, 51, 231884, tzinfo=UTC))]


def test_a_postmark_spam_complaint() -> None:
    [event] = postmark_events(postmark("postmark-spam-complaint.json"))
    assert (event.event_id, event.kind, event.address, event.reason) == (
        "postmark:918273", BounceKind.COMPLAINT, "sofia.rossi@example.com",
        "SpamComplaint: Feedback report from example.com's feedback loop")
    assert event.at == datetime(2026, 3, 2, 15, 3, 27, 880112, tzinfo=UTC)


@pytest.mark.parametrize("bounce_type,kind", [
    ("HardBounce", BounceKind.HARD),
    ("BadEmailAddress", BounceKind.HARD),
    ("ManuallyDeactivated", BounceKind.HARD),
    ("SoftBounce", BounceKind.SOFT),
    ("Transient", BounceKind.SOFT),
    ("DnsError", BounceKind.SOFT),
    ("Blocked", BounceKind.SOFT),
    ("SpamNotification", BounceKind.SOFT),
    ("SpamComplaint", BounceKind.COMPLAINT),  # how bounce hooks carried complaints at first
])
def test_postmark_bounce_types_that_say_something_about_the_address(
        bounce_type: str, kind: BounceKind) -> None:
    [event] = postmark_events(postmark(Type=bounce_type, Details=...))
    assert (event.kind, event.reason) == (
        kind, "HardBounce: The server was unable to deliver your message (ex: unknown user, "
              "mailbox not found).".replace("HardBounce", bounce_type))


@pytest.mark.parametrize("bounce_type", [
    "AutoResponder", "Unsubscribe", "Subscribe", "AddressChange", "OpenRelayTest", "Unknown",
    "VirusNotification", "ChallengeVerification", "Unconfirmed", "SMTPApiError",
    "InboundError", "DMARCPolicy", "TemplateRenderingFailed", "SomethingPostmarkAddsLater",
])
def test_postmark_bounce_types_about_nothing_are_ignored(bounce_type: str) -> None:
    assert postmark_events(postmark(Type=bounce_type)) == []


@pytest.mark.parametrize("record", ["Delivery", "Open", "Click"])  # SubscriptionChange: below
def test_other_postmark_records_are_ignored(record: str) -> None:
    assert postmark_events(postmark(RecordType=record, ID=...)) == []


def test_postmark_without_record_type_or_type() -> None:
    # the older bounce hook had no RecordType: its Type decides
    assert [e.kind for e in postmark_events(postmark(RecordType=...))] == [BounceKind.HARD]
    assert postmark_events(postmark(RecordType=..., Type="AutoResponder")) == []
    # no Type: TypeCode is read instead; no Details: the description; neither: said so
    [event] = postmark_events(postmark(Type=..., TypeCode=4096, Details=..., Description=""))
    assert (event.kind, event.reason) == (BounceKind.SOFT, "SoftBounce: no details given")
    assert postmark_events(postmark(Type=..., TypeCode=99)) == []
    assert "Type" in str(refused(lambda: postmark_events(postmark(Type=..., TypeCode=...)), 400))


def test_a_postmark_time_without_an_offset_is_utc() -> None:
    [event] = postmark_events(postmark(BouncedAt="2026-03-02T06:44:51.2318845"))
    assert event.at == datetime(2026, 3, 2, 6, 44, 51, 231884, tzinfo=UTC)
    [event] = postmark_events(postmark(BouncedAt=...))
    assert event.at is None


@pytest.mark.parametrize("changes,named", [
    ({"ID": ...}, "ID"),
    ({"ID": "4323372036854775807"}, "ID"),
    ({"ID": True}, "ID"),
    ({"ID": -1}, "ID"),
    ({"ID": 2**63}, "ID"),
    ({"ID": 1.5}, "ID"),
    ({"ID": 1e300}, "ID"),
    ({"Email": ...}, "Email"),
    ({"Email": ""}, "Email"),
    ({"Email": ["marek.nowak@example.org"]}, "Email"),
    ({"Email": "marek.nowak"}, "Email"),
    ({"Email": "marek@"}, "Email"),
    ({"Type": {"name": "HardBounce"}}, "Type"),
    ({"RecordType": 1}, "RecordType"),
    ({"Details": ["smtp; 550"]}, "Details"),
    ({"BouncedAt": "last Tuesday"}, "BouncedAt"),
    ({"BouncedAt": 1762360434}, "BouncedAt"),
    ({"Type": ..., "TypeCode": "1"}, "TypeCode"),
])
def test_malformed_postmark_fields_are_a_400_naming_the_field(
        changes: dict[str, Any], named: str) -> None:
    assert named in str(refused(lambda: postmark_events(postmark(**changes)), 400))


@pytest.mark.parametrize("raw", [
    b"", b"null", b'"Bounce"', b"[{}]", b"{'RecordType': 'Bounce'}", b'{"ID": Infinity}',
    b'{"RecordType": "Bounce", "Type": "HardBounce", "ID": ' + b"9" * 5000 + b"}",
    b'{"a":' * 40_000 + b"1" + b"}" * 40_000,
    "{\"Email\": \"caf\u00e9@example.org\"}".encode("latin-1"),
])
def test_malformed_postmark_bodies_are_a_400(raw: bytes) -> None:
    refused(lambda: postmark_events(raw), 400)


def test_a_postmark_body_too_big_is_a_413() -> None:
    raw = postmark(Details="x" * MAX_BODY)
    refused(lambda: postmark_events(raw), 413)


# --- fetch_certificate against real servers on 127.0.0.1 ------------------------------------


def test_fetch_refuses_anything_but_https_before_connecting() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        for url in (f"http://127.0.0.1:{port}/SimpleNotificationService-abc.pem",
                    f"ftp://127.0.0.1:{port}/SimpleNotificationService-abc.pem",
                    f"file:///{port}/SimpleNotificationService-abc.pem"):
            assert refused(lambda: fetch_certificate(url), 403)  # noqa: B023
        listener.setblocking(False)
        with pytest.raises(BlockingIOError):  # nobody connected
            listener.accept()


@dataclass
class HttpsServer:
    base: str
    context: ssl.SSLContext  # trusts the server's certificate
    paths: list[str]


def _write_tls_files(directory: Path) -> tuple[Path, Path, bytes]:
    """A certificate for 127.0.0.1 valid around the real clock (TLS checks the machine's time,
    faked or not), its key, and the certificate's PEM for the client to trust."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(private.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(private, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    (directory / "cert.pem").write_bytes(pem)
    (directory / "key.pem").write_bytes(private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))
    return directory / "cert.pem", directory / "key.pem", pem


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up mid-answer (the size limit) is expected here


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory, key: Key) -> Iterator[HttpsServer]:
    cert, private, pem = _write_tls_files(tmp_path_factory.mktemp("tls"))
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            if self.path == "/SimpleNotificationService-ok.pem":
                self._answer(200, key.pem)
            elif self.path == "/SimpleNotificationService-big.pem":
                self._answer(200, b"-" * 65537)
            elif self.path == "/SimpleNotificationService-moved.pem":
                self.send_response(302)
                self.send_header("Location", "/SimpleNotificationService-ok.pem")
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self._answer(404, b"no such certificate")

        def _answer(self, status: int, data: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/x-pem-file")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = QuietServer(("127.0.0.1", 0), Handler)
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert, private)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = ssl.create_default_context(cadata=pem.decode())
    try:
        yield HttpsServer(f"https://127.0.0.1:{server.server_address[1]}", client, paths)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=60)


def test_fetch_gets_a_certificate_over_verified_https(https_server: HttpsServer,
                                                      key: Key) -> None:
    url = f"{https_server.base}/SimpleNotificationService-ok.pem"
    assert fetch_certificate(url, context=https_server.context) == key.pem


def test_fetch_refuses_a_server_it_cannot_verify(https_server: HttpsServer) -> None:
    url = f"{https_server.base}/SimpleNotificationService-ok.pem"
    error = refused(lambda: fetch_certificate(url), 502)  # the system's trust store
    assert url in str(error)


def test_fetch_refuses_more_than_max_bytes(https_server: HttpsServer, key: Key) -> None:
    url = f"{https_server.base}/SimpleNotificationService-big.pem"
    assert "65536" in str(refused(lambda: fetch_certificate(url, context=https_server.context),
                                  502))
    ok = f"{https_server.base}/SimpleNotificationService-ok.pem"
    refused(lambda: fetch_certificate(ok, context=https_server.context,
                                      max_bytes=len(key.pem) - 1), 502)


def test_fetch_follows_no_redirect_and_reports_errors(https_server: HttpsServer) -> None:
    before = len(https_server.paths)
    moved = f"{https_server.base}/SimpleNotificationService-moved.pem"
    assert "302" in str(refused(lambda: fetch_certificate(moved, context=https_server.context),
                                502))
    assert https_server.paths[before:] == ["/SimpleNotificationService-moved.pem"]
    missing = f"{https_server.base}/SimpleNotificationService-gone.pem"
    assert "404" in str(refused(
        lambda: fetch_certificate(missing, context=https_server.context), 502))


def test_fetch_reports_a_server_that_is_not_there() -> None:
    with socket.socket() as placeholder:  # a port nobody listens on
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        refused(lambda: fetch_certificate(
            f"https://127.0.0.1:{port}/SimpleNotificationService-abc.pem"), 502)


# --- Postmark's Subscription Change webhook (broadcast streams) ------------------------------


def subscription_change(**changes: Any) -> bytes:
    doc = json.loads((WEBHOOKS / "postmark-subscription-change.json").read_text("utf-8"))
    doc.update(changes)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


@pytest.mark.parametrize(("reason", "origin", "kind"), [
    ("ManualSuppression", "Recipient", BounceKind.UNSUBSCRIBE),  # the reader's own click
    ("HardBounce", "Recipient", BounceKind.HARD),
    ("SpamComplaint", "Recipient", BounceKind.COMPLAINT),
    ("HardBounce", "Customer", BounceKind.HARD),
])
def test_a_suppressing_subscription_change_is_one_event(reason: str, origin: str,
                                                        kind: BounceKind) -> None:
    (event,) = postmark_events(subscription_change(SuppressionReason=reason, Origin=origin))
    assert (event.kind, event.address, event.provider) == (kind, "yusuf.adeyemi@example.org",
                                                           "postmark")
    assert event.event_id.startswith("postmark:change:5d1c7e2a-")
    assert reason in event.reason and event.at is not None


@pytest.mark.parametrize("changes", [
    {"SuppressSending": False},  # reactivated
    {"Origin": "Customer"},  # the operator suppressed them in Postmark: not the reader's word
    {"Origin": "Admin"},
    {"SuppressionReason": "SomethingNew"},
])
def test_other_subscription_changes_give_nothing(changes: dict[str, Any]) -> None:
    assert postmark_events(subscription_change(**changes)) == []


@pytest.mark.parametrize(("changes", "field"), [
    ({"SuppressSending": "yes"}, "SuppressSending"),
    ({"Recipient": "not an address"}, "Recipient"),
    ({"Recipient": None}, "Recipient"),
])
def test_a_broken_subscription_change_is_refused_naming_the_field(changes: dict[str, Any],
                                                                  field: str) -> None:
    error = refused(lambda: postmark_events(subscription_change(**changes)), 400)
    assert field in str(error)
