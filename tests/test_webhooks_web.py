"""The providers' webhooks on the web service (issue 20), through HTTP (Starlette's
TestClient over the real app and a real SQLite store): an SES bounce or complaint posted by SNS,
signed with a certificate the test made (fetched through an injected fetcher standing in for
Amazon's), ends the reader's subscription once however often SNS retries it; a subscription
confirmation is confirmed; Postmark's posts need the basic-auth password; hostile bodies are
refused with the right status and change nothing. The payloads are the documented samples'
shapes in tests/data/webhooks (see its README)."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from conftest import WriteConfig
from digest.app import App, make_app
from digest.config import load_settings
from digest.models import ReaderStatus
from digest.web import make_web_app
from digest.web.webhooks import Webhooks
from digest.webhooks import SnsSubscription
from test_webhooks import CERT_URL, TOPIC, Fetcher, Key, make_key, ses, sns_envelope

BASE = "https://news.example.org"
NOW = datetime(2026, 3, 2, 7, 0, 0, tzinfo=UTC)  # the samples' day
PASSWORD = "a-postmark-webhook-password"


@dataclass
class Hooks:
    app: App
    client: TestClient
    fetcher: Fetcher
    confirmed: list[SnsSubscription]

    def status(self, address: str) -> ReaderStatus:
        return self.app.readers.find(address).status


@pytest.fixture(scope="module")
def key() -> Key:
    return make_key(NOW - timedelta(days=30), NOW + timedelta(days=30))


@pytest.fixture
def hooks(write_config: WriteConfig, key: Key, tmp_path: Path) -> Iterator[Hooks]:
    config = write_config({
        "delivery": {"from": "The Weekly Brief <brief@news.example.org>"},
        "recipients": ["ines.moreau@example.net", "sofia.rossi@example.com",
                       "yusuf.adeyemi@example.org"],
        "web": {"base_url": BASE, "secret": "s" * 40},
        "bounces": {"ses": {"topics": [TOPIC]},
                    "postmark": {"username": "postmark", "password": PASSWORD}}})
    app = make_app(load_settings(config, env={}), clock=lambda: NOW)
    app.readers.sync_config()
    fetcher = Fetcher(key.pem)
    confirmed: list[SnsSubscription] = []
    webhooks = Webhooks(app, fetch_certificate=fetcher, confirm=confirmed.append)
    client = TestClient(make_web_app(app, webhooks=webhooks), base_url=BASE)
    yield Hooks(app, client, fetcher, confirmed)
    app.close()


def sns_post(hooks: Hooks, key: Key, message: dict[str, Any] | str, *,
             timestamp: datetime = NOW - timedelta(seconds=5), **kwargs: Any) -> Any:
    text = message if isinstance(message, str) else json.dumps(message)
    doc = sns_envelope(key, text, timestamp=timestamp, **kwargs)
    return hooks.client.post("/webhooks/ses", content=json.dumps(doc),
                             headers={"content-type": "text/plain; charset=UTF-8",
                                      "x-amz-sns-message-type": doc["Type"]})


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def test_an_ses_hard_bounce_ends_the_subscription_once(hooks: Hooks, key: Key) -> None:
    answer = sns_post(hooks, key, ses("ses-bounce-permanent.json"))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"events": [{"kind": "hard", "outcome": "ended"}]}
    assert hooks.status("ines.moreau@example.net") is ReaderStatus.BOUNCED
    assert hooks.fetcher.calls == [CERT_URL]
    again = sns_post(hooks, key, ses("ses-bounce-permanent.json"))  # SNS retries
    assert again.json() == {"events": [{"kind": "hard", "outcome": "duplicate"}]}
    record = hooks.app.readers.export_one("ines.moreau@example.net")
    assert [(b["kind"], b["source"], b["edition"]) for b in record["bounces"]] == [
        ("hard", "ses", "2026-03-02")]
    assert "5.1.1" in record["unsubscribe_reason"]


def test_an_ses_complaint_and_a_subscription_confirmation(hooks: Hooks, key: Key) -> None:
    complaint = ses("ses-complaint.json")
    answer = sns_post(hooks, key, complaint, message_id="7d0f1e2a-0000-4000-8000-000000000001")
    assert answer.status_code == 200, answer.text
    complained = [r["emailAddress"] for r in complaint["complaint"]["complainedRecipients"]]
    for address in complained:
        if hooks.app.readers.store.reader(address):
            assert hooks.status(address) is ReaderStatus.COMPLAINED
    answer = sns_post(hooks, key, "You have chosen to subscribe to the topic.",
                      kind="SubscriptionConfirmation")
    assert answer.status_code == 200 and answer.json() == {"confirmed": TOPIC}
    assert [c.topic_arn for c in hooks.confirmed] == [TOPIC]


def test_a_forged_stale_or_foreign_sns_post_changes_nothing(hooks: Hooks, key: Key) -> None:
    other = make_key(NOW - timedelta(days=30), NOW + timedelta(days=30))
    doc = sns_envelope(other, json.dumps(ses("ses-bounce-permanent.json")),
                       timestamp=NOW - timedelta(seconds=5))
    forged = hooks.client.post("/webhooks/ses", content=json.dumps(doc))  # another key
    assert forged.status_code == 403
    stale = sns_post(hooks, key, ses("ses-bounce-permanent.json"),
                     timestamp=NOW - timedelta(hours=2))  # a replay of an old message
    assert stale.status_code == 403
    foreign = sns_post(hooks, key, ses("ses-bounce-permanent.json"),
                       topic="arn:aws:sns:eu-west-1:999999999999:someone-else")
    assert foreign.status_code == 403
    for junk, status in ((b"{", 400), (b"[]", 400), (b"x" * (300 * 1024), 413)):
        assert hooks.client.post("/webhooks/ses", content=junk).status_code == status
    assert hooks.status("ines.moreau@example.net") is ReaderStatus.ACTIVE
    assert hooks.client.get("/webhooks/ses").status_code == 405  # no GET changes anything


def test_postmark_needs_its_password_and_records_a_complaint(hooks: Hooks) -> None:
    sample = (Path(__file__).parent / "data" / "webhooks" /
              "postmark-spam-complaint.json").read_bytes()
    for headers in ({}, basic("postmark", "wrong-password-here"), basic("other", PASSWORD),
                    {"authorization": "Basic !!!"}, {"authorization": "Bearer x"}):
        answer = hooks.client.post("/webhooks/postmark", content=sample, headers=headers)
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"].startswith("Basic")
    assert hooks.status("sofia.rossi@example.com") is ReaderStatus.ACTIVE
    answer = hooks.client.post("/webhooks/postmark", content=sample,
                               headers=basic("postmark", PASSWORD))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"events": [{"kind": "complaint", "outcome": "ended"}]}
    assert hooks.status("sofia.rossi@example.com") is ReaderStatus.COMPLAINED
    bad = hooks.client.post("/webhooks/postmark", content=b'{"RecordType": 5}',
                            headers=basic("postmark", PASSWORD))
    assert bad.status_code == 400


def test_a_readers_unsubscribe_on_a_postmark_broadcast_stream_is_heard(hooks: Hooks) -> None:
    sample = (Path(__file__).parent / "data" / "webhooks" /
              "postmark-subscription-change.json").read_bytes()
    answer = hooks.client.post("/webhooks/postmark", content=sample,
                               headers=basic("postmark", PASSWORD))
    assert answer.json() == {"events": [{"kind": "unsubscribe", "outcome": "ended"}]}
    assert hooks.status("yusuf.adeyemi@example.org") is ReaderStatus.UNSUBSCRIBED


def test_guessing_postmarks_password_is_throttled_per_client(hooks: Hooks) -> None:
    codes = [hooks.client.post("/webhooks/postmark", content=b"{}",
                               headers=basic("postmark", f"guess-{n:04d}-xxxxxxxx")).status_code
             for n in range(12)]
    assert codes[:10] == [401] * 10 and codes[10:] == [429, 429]
    elsewhere = TestClient(hooks.client.app, base_url=BASE, client=("198.51.100.9", 5000))
    sample = (Path(__file__).parent / "data" / "webhooks" / "postmark-bounce.json").read_bytes()
    answer = elsewhere.post("/webhooks/postmark", content=sample,
                            headers=basic("postmark", PASSWORD))
    assert answer.status_code == 200, answer.text  # Postmark itself is not locked out


def test_without_providers_configured_there_are_no_webhook_routes(
        write_config: WriteConfig) -> None:
    config = write_config({"web": {"base_url": BASE, "secret": "s" * 40}})
    app = make_app(load_settings(config, env={}), clock=lambda: NOW)
    try:
        client = TestClient(make_web_app(app), base_url=BASE)
        assert client.post("/webhooks/ses", content=b"{}").status_code == 404
        assert client.post("/webhooks/postmark", content=b"{}").status_code == 404
    finally:
        app.close()
