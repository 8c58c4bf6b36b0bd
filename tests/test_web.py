"""The readers' web service (issue 18) through HTTP: Starlette's TestClient over the real app
(real SQLite file, real Readers, the file outbox), and once under a real uvicorn."""

from __future__ import annotations

import email
import email.policy
import http.client
import json
import logging
import re
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

with warnings.catch_warnings():  # Starlette 1.x would rather have httpx2; httpx still works
    warnings.filterwarnings("ignore", "Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from conftest import REPO, WriteConfig, free_port
from digest.app import App, make_app
from digest.config import Settings, load_settings
from digest.errors import ConfigError, DigestError
from digest.models import ReaderSource, ReaderStatus
from digest.tokens import Purpose
from digest.web import make_web_app, run_in_thread

BASE = "https://news.example.org"
SECRET = "a-test-secret-that-is-long-enough-0001"
OLD_SECRET = "an-older-secret-that-was-long-enough-02"
SECTIONS = [{"id": "tech", "title": "Tech"}, {"id": "africa", "title": "Africa"},
            {"id": "europe", "title": "Europe"}]
SECURITY = {
    "content-security-policy": "default-src 'none'; style-src 'self'; img-src 'self'; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "x-content-type-options": "nosniff", "referrer-policy": "no-referrer",
    "x-frame-options": "DENY", "strict-transport-security": "max-age=31536000"}
ONE_CLICK = {"List-Unsubscribe": "One-Click"}


@dataclass
class Clock:
    now: datetime = datetime(2026, 3, 2, 10, 15, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Web:
    app: App
    client: TestClient
    outbox: Path

    def csrf(self, path: str = "/subscribe") -> str:
        return csrf_in(self.client.get(path).text)

    def subscribe(self, address: str, **fields: Any) -> Any:
        return self.client.post("/subscribe", data={"email": address, "csrf": self.csrf(),
                                                    **fields})

    def mails(self) -> list[EmailMessage]:
        """The notices sent, oldest first (their file names carry a nanosecond stamp)."""
        files = sorted((self.outbox / "notices").glob("*.eml"),
                       key=lambda p: int(re.findall(r"-(\d{12,})-", p.name)[0]))
        return [read_mail(p) for p in files]

    def status(self, address: str) -> ReaderStatus:
        return self.app.readers.find(address).status


@pytest.fixture
def settings_for(write_config: WriteConfig) -> Callable[..., Settings]:
    def make(name: str = "feeds.yaml", email_settings: dict[str, Any] | None = None,
             **web: Any) -> Settings:
        config = write_config({"sections": SECTIONS, "recipients": [],
                               "email": email_settings or {},
                               "web": {"base_url": BASE, "secret": SECRET, **web}}, name=name)
        return load_settings(config, env={})
    return make


@pytest.fixture
def open_web(tmp_path: Path, settings_for: Callable[..., Settings]) -> Iterator[Callable[..., Web]]:
    apps: list[App] = []

    def open_(settings: Settings | None = None, *, clock: Clock | None = None,
              client: tuple[str, int] = ("203.0.113.5", 40000)) -> Web:
        app = make_app(settings or settings_for(), clock=clock or Clock())
        apps.append(app)
        return Web(app, TestClient(make_web_app(app), base_url=BASE, client=client),
                   tmp_path / "outbox")

    yield open_
    for app in apps:
        app.close()


@pytest.fixture
def web(open_web: Callable[..., Web]) -> Web:
    return open_web()


def read_mail(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def csrf_in(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


def link_in(message: EmailMessage, route: str) -> str:
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"{re.escape(BASE)}(/{route}\?token=[A-Za-z0-9_.-]+)", text)
    assert found, text
    return found.group(1)


def token_of(url: str) -> str:
    return urlsplit(url).query.removeprefix("token=")


# --- joining ---


def test_signup_confirmation_email_then_a_button_that_confirms(web: Web) -> None:
    page = web.client.get("/subscribe")
    assert page.status_code == 200 and "Send me Test Brief by email" in page.text
    assert page.headers["set-cookie"].startswith("digest_csrf=")
    assert all(x in page.headers["set-cookie"] for x in ("HttpOnly", "SameSite=strict",
                                                          "Secure"))
    answer = web.client.post("/subscribe", data={
        "email": "ana@example.org", "name": "Ana", "sections": ["tech", "africa"],
        "csrf": csrf_in(page.text)})
    assert answer.status_code == 200 and "Check your inbox" in answer.text
    (mail,) = web.mails()
    assert mail["To"] == "ana@example.org" and "Confirm" in mail["Subject"]
    link = link_in(mail, "confirm")
    shown = web.client.get(link)  # a mail scanner following the link changes nothing
    assert shown.status_code == 200 and "<button" in shown.text
    assert web.status("ana@example.org") is ReaderStatus.PENDING
    assert shown.headers["cache-control"] == "no-store"
    done = web.client.post("/confirm", data={"token": token_of(link),
                                             "csrf": csrf_in(shown.text)})
    assert done.status_code == 200 and "You’re in" in done.text
    assert f"{BASE}/preferences?token=" in done.text
    reader = web.app.readers.find("ana@example.org")
    assert (reader.status, reader.name, reader.sections) == (
        ReaderStatus.ACTIVE, "Ana", ("tech", "africa"))
    assert reader.consent is not None and reader.consent.ip == "203.0.113.5"
    assert reader.consent.form == "web /subscribe"


def test_json_subscribe_answers_202_and_records_the_api_source(web: Web) -> None:
    answer = web.client.post("/subscribe", json={"email": "ben@example.org",
                                                 "sections": ["europe"]})
    assert (answer.status_code, answer.json()) == (202, {"status": "check your inbox"})
    reader = web.app.readers.find("ben@example.org")
    assert (reader.source, reader.sections) == (ReaderSource.API, ("europe",))
    assert [m["To"] for m in web.mails()] == ["ben@example.org"]
    # every section ticked is stored as "all of them", so sections added later come too
    web.client.post("/subscribe", json={"email": "cy@example.org",
                                        "sections": ["tech", "africa", "europe"]})
    assert web.app.readers.find("cy@example.org").sections is None


def test_the_answer_is_the_same_whatever_the_address(web: Web) -> None:
    readers = web.app.readers
    readers.subscribe("pending@example.org")
    readers.add("active@example.org")
    for _ in range(3):  # this address has had its confirmation emails for the day
        readers.subscribe("busy@example.org")
    csrf = web.csrf()
    answers = {kind: [web.client.post("/subscribe", data={"email": address, "csrf": csrf}),
                      web.client.post("/subscribe", json={"email": address})]
               for kind, address in [("new", "new@example.org"), ("pending",
                                     "pending@example.org"), ("active", "active@example.org"),
                                     ("limited", "busy@example.org")]}

    def shape(response: Any) -> tuple[int, bytes, list[tuple[str, str]]]:
        return (response.status_code, response.content,
                sorted((k, v) for k, v in response.headers.items() if k != "set-cookie"))

    for i in (0, 1):
        assert len({repr(shape(a[i])) for a in answers.values()}) == 1
    assert shape(answers["new"][0])[0] == 200 and shape(answers["new"][1])[0] == 202
    # the difference is only in the inboxes: the active reader is told they already get it
    kinds = sorted((m["To"], m["Subject"].split()[1]) for m in web.mails())
    assert kinds == [("active@example.org", "already")] * 2 + \
        [("new@example.org", "your")] * 2 + [("pending@example.org", "your")] * 2


def test_a_form_without_the_right_csrf_token_is_refused(web: Web) -> None:
    csrf = web.csrf()
    for data in ({"email": "ana@example.org"}, {"email": "ana@example.org", "csrf": "x" * 43}):
        answer = web.client.post("/subscribe", data=data)
        assert answer.status_code == 403 and "reload the page" in answer.text
    web.client.cookies.clear()  # the field alone, as another site's form would send it
    assert web.client.post("/subscribe", data={"email": "ana@example.org",
                                               "csrf": csrf}).status_code == 403
    assert web.app.readers.select() == [] and web.mails() == []


def test_the_honeypot_gets_the_same_answer_and_nothing_is_done(web: Web) -> None:
    robot = web.subscribe("robot@example.org", website="https://spam.example")
    person = web.subscribe("ana@example.org")
    assert (robot.status_code, robot.content) == (person.status_code, person.content)
    assert [r.address for r in web.app.readers.select()] == ["ana@example.org"]
    assert [m["To"] for m in web.mails()] == ["ana@example.org"]


def test_subscribes_per_client_are_limited_across_instances(
        open_web: Callable[..., Web], settings_for: Callable[..., Settings]) -> None:
    settings = settings_for(subscribes_per_hour=2)
    one, two = open_web(settings), open_web(settings)  # two instances, one database
    assert [one.client.post("/subscribe", json={"email": f"r{n}@example.org"}).status_code
            for n in range(2)] == [202, 202]
    refused = two.client.post("/subscribe", json={"email": "r3@example.org"})
    assert refused.status_code == 429 and "error" in refused.json()
    assert refused.headers["retry-after"] == "2700"  # the hour's window ends at 11:00
    form = two.subscribe("r4@example.org")
    assert form.status_code == 429 and form.headers["retry-after"] == "2700"
    assert "Slow down" in form.text and form.headers["content-security-policy"]
    other = open_web(settings, client=("198.51.100.9", 1000))  # another client is not held
    assert other.client.post("/subscribe", json={"email": "r5@example.org"}).status_code == 202
    assert sorted(r.address for r in one.app.readers.select()) == [
        "r0@example.org", "r1@example.org", "r5@example.org"]


def test_posts_per_minute_limit_every_form_but_never_one_click(
        open_web: Callable[..., Web], settings_for: Callable[..., Settings]) -> None:
    web = open_web(settings_for(posts_per_minute=2))
    web.app.readers.add("ana@example.org")
    links = web.app.readers.links(web.app.readers.find("ana@example.org"))
    assert links is not None
    assert [web.subscribe(f"r{n}@example.org").status_code for n in range(3)] == [
        200, 200, 429]
    for _ in range(5):
        assert web.client.post(links.unsubscribe, data=ONE_CLICK).status_code == 200


def test_the_fourth_confirmation_of_a_day_is_not_sent(web: Web) -> None:
    answers = [web.subscribe("ana@example.org") for _ in range(4)]
    assert {(a.status_code, a.content) for a in answers} == {(200, answers[0].content)}
    assert [m["To"] for m in web.mails()] == ["ana@example.org"] * 3


# --- leaving ---


def test_one_click_unsubscribe_needs_no_cookie(web: Web) -> None:
    reader = web.app.readers.add("ana@example.org")
    links = web.app.readers.links(reader)
    assert links is not None
    provider = TestClient(web.client.app, base_url=BASE)  # a mail provider: no cookie
    answer = provider.post(links.unsubscribe, data=ONE_CLICK)
    assert answer.status_code == 200 and "You have left" in answer.text
    left = web.app.readers.find("ana@example.org")
    assert (left.status, left.unsubscribe_reason) == (ReaderStatus.UNSUBSCRIBED,
                                                      "one-click (RFC 8058)")
    assert provider.post(links.unsubscribe, data=ONE_CLICK).status_code == 200  # idempotent


def test_the_unsubscribe_page_changes_nothing_until_its_button(web: Web) -> None:
    reader = web.app.readers.add("ana@example.org")
    links = web.app.readers.links(reader)
    assert links is not None
    page = web.client.get(links.unsubscribe)
    assert page.status_code == 200 and "<button" in page.text
    assert web.status("ana@example.org") is ReaderStatus.ACTIVE
    token = token_of(links.unsubscribe)
    left = web.client.post("/unsubscribe", data={"token": token, **ONE_CLICK})
    assert left.status_code == 200 and web.status("ana@example.org") is ReaderStatus.UNSUBSCRIBED
    assert 'action="./resubscribe"' in left.text
    back = web.client.post("/resubscribe", data={"token": token, "csrf": csrf_in(left.text)})
    assert back.status_code == 200 and "Welcome back" in back.text
    assert web.status("ana@example.org") is ReaderStatus.ACTIVE


def test_an_erased_reader_s_unsubscribe_link_answers_200(web: Web) -> None:
    links = web.app.readers.links(web.app.readers.add("ana@example.org"))
    assert links is not None
    web.app.readers.forget("ana@example.org")
    answer = web.client.post(links.unsubscribe, data=ONE_CLICK)
    assert answer.status_code == 200 and "not on the list" in answer.text


def test_bad_tokens_are_refused_with_400(web: Web) -> None:
    reader = web.app.readers.add("ana@example.org")
    links = web.app.readers.links(reader)
    assert links is not None
    token = token_of(links.unsubscribe)
    assert web.app.readers.tokens is not None
    confirm = web.app.readers.tokens.make(Purpose.CONFIRM, reader.id, reader.key)
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    for bad in (tampered, confirm, token[:20], "x" * 401, "%00", "%ff%fe"):
        for answer in (web.client.get(f"/unsubscribe?token={bad}"),
                       web.client.post(f"/unsubscribe?token={bad}", data=ONE_CLICK)):
            assert answer.status_code == 400, (bad, answer.text)
    assert web.client.get(f"/confirm?token={token}").status_code == 400  # wrong purpose
    for query in ("", f"?token={token}&token={token}", f"?token={token}&token=other"):
        assert web.client.get(f"/unsubscribe{query}").status_code == 400
    assert web.client.post(f"/unsubscribe?token={token}",
                           data={"List-Unsubscribe": "Later"}).status_code == 400
    bad = web.client.get(f"/preferences?token={tampered}")
    assert bad.status_code == 400 and 'href="./subscribe"' in bad.text
    assert web.status("ana@example.org") is ReaderStatus.ACTIVE


def test_an_expired_confirmation_link(open_web: Callable[..., Web],
                                      settings_for: Callable[..., Settings]) -> None:
    # The links are stamped and judged by the app's clock (digest.tokens), not time.time().
    clock = Clock()
    web = open_web(settings_for(confirm_within="1d"), clock=clock)
    web.subscribe("ana@example.org")
    link = link_in(web.mails()[-1], "confirm")
    clock.now += timedelta(days=1, hours=1)
    shown = web.client.get(link)
    assert shown.status_code == 400 and "This link has expired" in shown.text
    assert web.client.post("/confirm", data={"token": token_of(link),
                                             "csrf": web.csrf()}).status_code == 400
    assert web.status("ana@example.org") is ReaderStatus.PENDING
    web.subscribe("ana@example.org")  # a new link, made now, works
    fresh = link_in(web.mails()[-1], "confirm")
    assert web.client.post("/confirm", data={"token": token_of(fresh),
                                             "csrf": web.csrf()}).status_code == 200
    assert web.status("ana@example.org") is ReaderStatus.ACTIVE


def test_links_signed_with_a_previous_secret(open_web: Callable[..., Web],
                                             settings_for: Callable[..., Settings]) -> None:
    before = open_web(settings_for(secret=OLD_SECRET))
    links = before.app.readers.links(before.app.readers.add("ana@example.org"))
    assert links is not None
    rotated = open_web(settings_for("rotated.yaml", previous_secrets=[OLD_SECRET]))
    assert rotated.client.get(links.unsubscribe).status_code == 200
    dropped = open_web(settings_for("dropped.yaml"))
    assert dropped.client.get(links.unsubscribe).status_code == 400
    assert dropped.client.post(links.unsubscribe, data=ONE_CLICK).status_code == 400
    assert rotated.client.post(links.unsubscribe, data=ONE_CLICK).status_code == 200
    assert rotated.status("ana@example.org") is ReaderStatus.UNSUBSCRIBED


# --- the reader's settings ---


def test_preferences_save_pause_change_address_and_leave(web: Web) -> None:
    readers = web.app.readers
    links = readers.links(readers.add("ana@example.org"))
    assert links is not None
    page = web.client.get(links.preferences)
    assert page.status_code == 200 and page.text.count(" checked") == 3  # None: all sections
    token, csrf = token_of(links.preferences), csrf_in(page.text)
    saved = web.client.post("/preferences", data={
        "token": token, "csrf": csrf, "action": "save", "sections": ["tech"], "paused": "yes"})
    assert saved.status_code == 200 and "Saved." in saved.text
    reader = readers.find("ana@example.org")
    assert (reader.sections, reader.paused) == (("tech",), True)
    none = web.client.post("/preferences", data={"token": token, "csrf": csrf,
                                                 "action": "save"})
    assert none.status_code == 400 and 'aria-describedby="sections-error"' in none.text
    assert readers.find("ana@example.org").sections == ("tech",)
    wrong = web.client.post("/preferences", data={"token": token, "csrf": csrf,
                                                  "action": "change-address", "email": "nope"})
    assert wrong.status_code == 400 and 'aria-invalid="true"' in wrong.text
    assert 'value="nope"' in wrong.text
    moved = web.client.post("/preferences", data={
        "token": token, "csrf": csrf, "action": "change-address", "email": "ana@new.example"})
    assert moved.status_code == 200 and "ana@new.example" in moved.text
    (mail,) = web.mails()
    assert mail["To"] == "ana@new.example"
    change = link_in(mail, "change")
    shown = web.client.get(change)
    assert shown.status_code == 200 and "ana@new.example" in shown.text
    assert readers.find("ana@example.org").address == "ana@example.org"
    done = web.client.post("/change", data={"token": token_of(change),
                                            "csrf": csrf_in(shown.text)})
    assert done.status_code == 200 and readers.find("ana@new.example").id == reader.id
    assert web.client.get(links.preferences).status_code == 400  # bound to the old address
    new = re.search(r'href="[^"]*/preferences\?token=([^"]+)"', done.text)
    assert new is not None
    left = web.client.post("/preferences", data={"token": new.group(1), "csrf": csrf,
                                                 "action": "leave"})
    assert left.status_code == 200 and web.status("ana@new.example") is ReaderStatus.UNSUBSCRIBED


def test_sections_are_not_offered_when_readers_cannot_choose(
        open_web: Callable[..., Web], settings_for: Callable[..., Settings]) -> None:
    web = open_web(settings_for(choose_sections=False))
    assert 'type="checkbox"' not in web.client.get("/subscribe").text
    assert web.subscribe("ana@example.org", sections=["tech"]).status_code == 200
    assert web.app.readers.find("ana@example.org").sections is None


# --- safety ---


def test_security_headers_on_every_answer(web: Web, monkeypatch: pytest.MonkeyPatch,
                                          caplog: pytest.LogCaptureFixture) -> None:
    c = web.client
    answers = [c.get("/subscribe"), c.get("/healthz"), c.get("/openapi.json"),
               c.get("/static/digest.css"), c.get("/no/such/page"), c.delete("/subscribe"),
               c.post("/subscribe", data={"email": "a@example.org"}),
               c.post("/subscribe", content=b"x" * 20000), c.post("/subscribe", content=b"{}"),
               c.get("/unsubscribe?token=nope"), c.get("/", follow_redirects=False)]
    monkeypatch.setattr(web.app.readers, "reader_for", _boom)
    broken = c.get("/preferences?token=x")
    answers.append(broken)
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 404, 405, 403, 413, 415,
                                                400, 200, 500]  # "/": the archive (issue 19)
    for answer in answers:
        assert {k: answer.headers.get(k) for k in SECURITY} == SECURITY, answer.url
    assert answers[5].headers["allow"] == "GET, HEAD, POST"
    assert "secret detail" not in broken.text and "Traceback" not in broken.text
    assert "Something went wrong" in broken.text
    assert "secret detail" in caplog.text  # logged for the operator
    assert answers[3].headers["cache-control"] == "public, max-age=3600"


def test_the_access_log_keeps_one_line_per_request_and_no_token(
        web: Web, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="digest.web.guard")
    web.client.get("/no%0aGET%20/forged%20200")  # a line break in the path
    web.client.get("/unsubscribe?token=secret-token-value")
    lines = [r.getMessage() for r in caplog.records if r.name == "digest.web.guard"]
    assert len(lines) == 2 and all("\n" not in line for line in lines)
    assert lines[0].startswith("GET '/no") and lines[0].endswith("' 404")  # quoted by %r
    assert "secret-token-value" not in caplog.text


def _boom(*args: object, **kwargs: object) -> None:
    raise RuntimeError("secret detail")


def test_bodies_over_max_body_are_refused(web: Web) -> None:
    big = b'{"email": "' + b"a" * 17000 + b'"}'
    declared = web.client.post("/subscribe", content=big,
                               headers={"content-type": "application/json"})
    assert declared.status_code == 413 and "larger than" in declared.json()["error"]
    streamed = web.client.post("/subscribe", content=iter([big[:9000], big[9000:]]),
                               headers={"content-type": "application/json"})
    assert "content-length" not in streamed.request.headers
    assert streamed.status_code == 413
    assert web.client.post("/unsubscribe?token=x", content=iter([b"a=" + b"b" * 20000]),
                           headers={"content-type": "application/x-www-form-urlencoded"}
                           ).status_code == 413
    assert web.app.readers.select() == []


def test_media_types_we_do_not_read_get_415(web: Web) -> None:
    for kind in ("text/plain", "application/xml", "application/json-seq",
                 "application/x-www-form-urlencoded; charset=latin-1"):
        answer = web.client.post("/subscribe", content=b'{"email": "a@example.org"}',
                                 headers={"content-type": kind})
        assert answer.status_code == 415, kind
    assert web.client.post("/confirm", json={"token": "x"}).status_code == 415
    assert web.client.post("/unsubscribe?token=x", content=b"{}",
                           headers={"content-type": "application/json"}).status_code == 415


def multipart(*parts: tuple[str, str, str]) -> tuple[bytes, dict[str, str]]:
    """(name, extra disposition, value) each, as a multipart/form-data body."""
    body = b"".join(f'--b0undary\r\nContent-Disposition: form-data; name="{name}"{extra}\r\n'
                    f"\r\n{value}\r\n".encode() for name, extra, value in parts)
    return body + b"--b0undary--\r\n", {"content-type": "multipart/form-data; boundary=b0undary"}


def test_a_multipart_form_works(web: Web) -> None:
    body, headers = multipart(("email", "", "ana@example.org"), ("csrf", "", web.csrf()))
    answer = web.client.post("/subscribe", content=body, headers=headers)
    assert answer.status_code == 200 and web.status("ana@example.org") is ReaderStatus.PENDING


HOSTILE_FORMS: list[dict[str, Any]] = [
    {"email": "a@b.org\r\nBcc: x@y.org"}, {"email": "a@b.org\nBcc: x@y.org"},
    {"email": "x" * 300 + "@example.org"}, {"email": "ana@example.org", "name": "x" * 201},
    {"email": "ana@example.org\x00"}, {"email": "ana@example.org", "name": "Ana\x00"},
    {"email": "ana@example.org", "name": "Ana\r\nBcc: x@y.org"},
    {"email": ["ana@example.org", "ben@example.org"]}, {"email": "ana@example.org",
                                                        "sections": ["politics"]},
    {"email": "", "name": "Ana"}, {"email": "ana@example.org", "website": ["", ""]},
]
HOSTILE_RAW = [b"email=%ff%fe%fd", b"email=\xff\xfe@example.org", b"email=ana%40example.org%C0",
               b"&".join(b"f%d=1" % n for n in range(100))]
HOSTILE_JSON = [b"[]", b'"ana@example.org"', b"1", b"null", b"true", b"", b"{", b"{}",
                b'{"email": 5}', b'{"email": "ana@example.org", "extra": 1}',
                b'{"email": "ana@example.org", "sections": "tech"}',
                b'{"email": "ana@example.org", "sections": [["tech"]]}',
                b'{"email": "ana@example.org", "sections": [1]}',
                b'{"email": "ana@example.org", "name": {"a": 1}}',
                b'{"email": "ana@example.org", "email": "ben@example.org"}',
                b'{"email": "\xff"}', b'{"email": NaN}', b'{"email": "a@b.org\\r\\nBcc: x@y.org"}',
                b'{"email": "ana@example.org", "name": "\\u0000"}',
                b"[" * 6000 + b"]" * 6000, b'{"a":' * 2000 + b"1" + b"}" * 2000,
                b'{"email": "' + b"x" * 300 + b'@example.org"}', b"1" + b"0" * 5000]


def test_hostile_inputs_get_400_never_5xx(open_web: Callable[..., Web],
                                          settings_for: Callable[..., Settings]) -> None:
    web = open_web(settings_for(subscribes_per_hour=1000, posts_per_minute=1000))
    csrf = web.csrf()
    for fields in HOSTILE_FORMS:
        answer = web.client.post("/subscribe", data={**fields, "csrf": csrf})
        assert answer.status_code == 400, fields
    for raw in HOSTILE_RAW:
        answer = web.client.post("/subscribe", content=raw + f"&csrf={csrf}".encode(),
                                 headers={"content-type": "application/x-www-form-urlencoded"})
        assert answer.status_code == 400, raw
    for raw in HOSTILE_JSON:
        answer = web.client.post("/subscribe", content=raw,
                                 headers={"content-type": "application/json"})
        assert answer.status_code == 400 and "error" in answer.json(), raw
    whole, headers = multipart(("email", "", "ana@example.org"), ("csrf", "", csrf))
    for body, kind in [
            (multipart(("email", '; filename="a.txt"', "ana@example.org"))[0], headers),
            (whole.replace(b'"email"', b'"email"\r\nContent-Type: image/png'), headers),
            (whole.replace(b"ana@", b"\xff@"), headers), (whole[:60], headers),
            (b"garbage", {"content-type": "multipart/form-data"}),
            (b"--x\r\n\r\n", {"content-type": "multipart/form-data; boundary=x"})]:
        answer = web.client.post("/subscribe", content=body, headers=kind)
        assert answer.status_code == 400, body
    assert web.app.readers.select() == [] and web.mails() == []


def test_name_errors_are_shown_next_to_the_input(web: Web) -> None:
    answer = web.subscribe("not an address", name="Ana")
    assert answer.status_code == 400
    assert 'aria-invalid="true" aria-describedby="email-error"' in answer.text
    assert 'value="not an address"' in answer.text and 'value="Ana"' in answer.text
    assert 'id="email-error"' in answer.text


# --- machines ---


def test_healthz_reports_the_database(web: Web, settings_for: Callable[..., Settings]) -> None:
    assert web.client.get("/healthz").json() == {"status": "ok"}
    database = web.app.settings.database
    if not database.startswith("sqlite:///"):
        pytest.skip("the broken-database half needs the SQLite file")
    with sqlite3.connect(database.removeprefix("sqlite:///")) as conn:
        conn.execute("DROP TABLE readers")
    broken = web.client.get("/healthz")
    assert (broken.status_code, broken.json()) == (503, {"status": "error"})


def test_the_openapi_document_names_the_json_endpoints(web: Web) -> None:
    document = web.client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.")
    assert set(document["paths"]) == {"/subscribe", "/unsubscribe", "/healthz"}
    schema = document["components"]["schemas"]["Subscribe"]
    assert schema["properties"]["sections"]["items"]["enum"] == ["tech", "africa", "europe"]


def test_the_root_redirects_and_the_service_needs_its_secret(
        open_web: Callable[..., Web], write_config: WriteConfig) -> None:
    # "/" is the archive's index (issue 19); with a private archive, the subscribe page
    private = load_settings(write_config({
        "sections": SECTIONS, "recipients": [], "archive": {"public": False},
        "web": {"base_url": BASE, "secret": SECRET}}, name="private.yaml"), env={})
    web = open_web(private)
    assert web.client.get("/", follow_redirects=True).url.path == "/subscribe"
    plain = load_settings(write_config({"recipients": []}, name="plain.yaml"), env={})
    app = make_app(plain)
    try:
        with pytest.raises(ConfigError, match="base_url and secret"):
            make_web_app(app)
    finally:
        app.close()


def test_under_uvicorn_one_click_and_forwarded_addresses(
        open_web: Callable[..., Web], settings_for: Callable[..., Settings]) -> None:
    web = open_web()
    links = web.app.readers.links(web.app.readers.add("ana@example.org"))
    assert links is not None
    trusting = open_web(settings_for("proxied.yaml", trusted_proxies=["127.0.0.1"]))
    servers = [run_in_thread(web.app, "127.0.0.1", free_port()),
               run_in_thread(trusting.app, "127.0.0.1", 0)]
    try:
        conn = http.client.HTTPConnection("127.0.0.1", servers[0].port, timeout=120)
        conn.request("POST", urlsplit(links.unsubscribe).path + "?" +
                     urlsplit(links.unsubscribe).query, body="List-Unsubscribe=One-Click",
                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        answer = conn.getresponse()
        assert answer.status == 200 and answer.getheader("x-frame-options") == "DENY"
        answer.read()
        assert web.status("ana@example.org") is ReaderStatus.UNSUBSCRIBED
        for server, address in zip(servers, ["direct@example.org", "proxied@example.org"],
                                   strict=True):
            conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
            conn.request("POST", "/subscribe", body=json.dumps({"email": address}),
                         headers={"Content-Type": "application/json",
                                  "X-Forwarded-For": "198.51.100.7"})
            assert conn.getresponse().status == 202
        ips = {a: web.app.readers.find(a).consent.ip  # type: ignore[union-attr]
               for a in ("direct@example.org", "proxied@example.org")}
        # X-Forwarded-For is believed only from a trusted proxy
        assert ips == {"direct@example.org": "127.0.0.1", "proxied@example.org": "198.51.100.7"}
        with pytest.raises(DigestError, match="could not listen"):
            run_in_thread(web.app, "127.0.0.1", servers[0].port)  # the port is taken
    finally:
        for server in servers:
            server.stop()
    assert not any(s.thread.is_alive() for s in servers)


# --- shape: a driver, accessible pages in the newsletter's look ---


@dataclass
class PageShape(HTMLParser):
    lang: str | None = None
    h1: int = 0
    inputs: list[str] = field(default_factory=list)
    labels: set[str] = field(default_factory=set)
    ids: set[str] = field(default_factory=set)
    described: list[str] = field(default_factory=list)
    inline: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.ids.update([a["id"] or ""] if "id" in a else [])
        if tag == "html":
            self.lang = a.get("lang")
        self.h1 += tag == "h1"
        if tag in ("script", "style") or "style" in a or any(k.startswith("on") for k in a):
            self.inline.append(tag)
        if tag == "input" and a.get("type") != "hidden":
            self.inputs.append(a.get("id") or "")
        if tag == "label":
            self.labels.add(a.get("for") or "")
        self.described.extend((a.get("aria-describedby") or "").split())


def test_pages_are_accessible_and_have_no_inline_script_or_style(
        open_web: Callable[..., Web], settings_for: Callable[..., Settings]) -> None:
    web = open_web(settings_for(email_settings={"postal_address": "1 Rue Exemple, Paris"}))
    links = web.app.readers.links(web.app.readers.add("ana@example.org"))
    web.subscribe("ben@example.org")
    confirm = link_in(web.mails()[-1], "confirm")
    assert links is not None
    pages = [web.client.get(p) for p in ("/subscribe", links.unsubscribe, links.preferences,
                                         confirm, "/nope", "/confirm?token=bad")]
    pages.append(web.subscribe("not an address"))
    for page in pages:
        shape = PageShape()
        shape.feed(page.text)
        assert shape.lang == "en" and shape.h1 == 1 and shape.inline == [], page.url
        assert all(i and i in shape.labels for i in shape.inputs), (page.url, shape.inputs)
        assert set(shape.described) <= shape.ids, page.url
        assert "Test Brief · 1 Rue Exemple, Paris" in page.text


def _luminance(colour: str) -> float:
    channels = [int(colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    r, g, b = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_colours_keep_a_contrast_of_4_5_to_1_in_both_schemes() -> None:
    css = (REPO / "templates" / "web" / "static" / "digest.css").read_text(encoding="utf-8")
    light, dark = css.split("@media (prefers-color-scheme: dark)")[:2]
    assert contrast("#777777", "#ffffff") < 4.5  # the measure can fail
    for scheme in (light, dark):
        c = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", scheme))
        for ink, ground in [("ink", "card"), ("strong", "card"), ("meta", "card"),
                            ("link", "card"), ("error", "card"), ("button-ink", "button"),
                            ("meta", "page"), ("ink", "field"), ("link", "page")]:
            assert contrast(c[ink], c[ground]) >= 4.5, (ink, ground, scheme[:20])
        for line, ground in [("focus", "card"), ("field-border", "field")]:
            assert contrast(c[line], c[ground]) >= 3.0  # WCAG 1.4.11, non-text
