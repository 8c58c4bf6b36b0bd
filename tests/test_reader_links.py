"""Each reader's own links in each message (issue 18): with `web.base_url`, List-Unsubscribe
carries the reader's signed https link beside the mailto one (RFC 2369) with one-click
List-Unsubscribe-Post (RFC 8058), and the footer has their unsubscribe and preferences links;
every link resolves to that reader and no other. Sent through the demo edition and the file
outbox, then read back with the standard library's parser."""

from __future__ import annotations

import email
import email.policy
import re
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml

from conftest import DEMO_DAY, DEMO_EDITION, fixed_clock, open_app
from digest.config import load_settings
from digest.models import PREFERENCES_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, Rendered
from digest.send import Letter, Unsubscribe
from digest.tokens import Purpose, TokenError

SECRET = "a-web-secret-for-the-tests-only-0123456789"
BASE = "https://news.example.org"


def web_demo(demo: Path) -> Path:
    data = yaml.safe_load(demo.read_text(encoding="utf-8"))
    data["web"] = {"base_url": BASE + "/", "secret": SECRET}
    data["email"] = {**data.get("email", {}), "postal_address": "1 Example Street, Lagos"}
    demo.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return demo


def read(path: Path) -> EmailMessage:
    message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def token_of(url: str, path: str) -> str:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "news.example.org", path)
    [token] = parse_qs(parts.query)["token"]
    return token


def test_every_message_carries_its_readers_own_links(demo: Path) -> None:
    settings = load_settings(web_demo(demo), env={})
    app = open_app(settings, clock=fixed_clock("2026-11-27T10:00:00"))
    try:
        report = app.publisher.deliver(DEMO_DAY)
        assert {r.kind for r in report.results} == {"sent"}
        outbox = demo.parent / "outbox" / DEMO_EDITION
        seen: dict[str, str] = {}
        for address in ("ana@example.org", "ben@example.org", "kofi@example.org"):
            message = read(outbox / f"{address}.eml")
            header = " ".join(str(message["List-Unsubscribe"]).split())
            links = re.findall(r"<([^>]+)>", header)
            assert links[0] == "mailto:brief@example.org?subject=unsubscribe"
            leave = token_of(links[1], "/unsubscribe")
            assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
            # The links resolve to this reader, for their purpose only.
            assert app.readers.reader_for(Purpose.UNSUBSCRIBE, leave).address == address
            with pytest.raises(TokenError):
                app.readers.reader_for(Purpose.PREFERENCES, leave)
            text = message.get_body(("plain",))
            html = message.get_body(("html",))
            assert text is not None and html is not None
            body, page = text.get_content(), html.get_content()
            assert UNSUBSCRIBE_PLACEHOLDER not in body + page
            assert PREFERENCES_PLACEHOLDER not in body + page
            assert f"Unsubscribe: <{links[1]}>" in body
            [choose] = re.findall(r"Choose what you get: <([^>]+)>", body)
            assert app.readers.reader_for(
                Purpose.PREFERENCES, token_of(choose, "/preferences")).address == address
            assert f'href="{links[1]}"' in page and f'href="{choose}"' in page
            assert "1 Example Street, Lagos" in body and "1 Example Street, Lagos" in page
            seen[address] = leave
        assert len(set(seen.values())) == 3
    finally:
        app.close()


def test_without_the_web_service_the_links_are_as_before(demo: Path) -> None:
    app = open_app(load_settings(demo, env={}), clock=fixed_clock("2026-11-27T10:00:00"))
    try:
        app.publisher.deliver(DEMO_DAY)
    finally:
        app.close()
    message = read(demo.parent / "outbox" / DEMO_EDITION / "ana@example.org.eml")
    assert str(message["List-Unsubscribe"]) == "<mailto:brief@example.org?subject=unsubscribe>"
    assert message["List-Unsubscribe-Post"] is None
    text = message.get_body(("plain",))
    assert text is not None and "Choose what you get" not in text.get_content()


def test_the_holes_take_long_links_in_both_parts_and_stay_valid_quoted_printable() -> None:
    # Links longer than a quoted-printable line, with characters QP must escape, in several
    # holes of both kinds, in both parts: each part decodes to the text with the links in.
    text = f"a {UNSUBSCRIBE_PLACEHOLDER} b {PREFERENCES_PLACEHOLDER} c {UNSUBSCRIBE_PLACEHOLDER}"
    html = f'<a href="{PREFERENCES_PLACEHOLDER}">p</a> é <a href="{UNSUBSCRIBE_PLACEHOLDER}">u</a>'
    letter = Letter(Rendered("Subject", html, text), sender="Brief <brief@example.org>",
                    edition="2026-11-30", list_id="<brief.example.org>",
                    unsubscribe=Unsubscribe(None, b""))
    leave = BASE + "/unsubscribe?token=" + "x=" * 60
    choose = BASE + "/preferences?token=" + "y-" * 60
    out = letter.for_recipient("ana@example.org", unsubscribe=leave, preferences=choose)
    body = out.data.split(b"\r\n\r\n", 1)[1]
    assert max(len(line) for line in body.split(b"\r\n")) <= 76  # RFC 2045 6.7
    message = email.message_from_bytes(out.data, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    plain, rich = message.get_body(("plain",)), message.get_body(("html",))
    assert plain is not None and rich is not None
    assert plain.get_content() == f"a {leave} b {choose} c {leave}"
    assert rich.get_content() == f'<a href="{choose}">p</a> é <a href="{leave}">u</a>'
    # Without the reader's own links: the mailto link fills every hole.
    bare = email.message_from_bytes(letter.for_recipient("ana@example.org").data,
                                    policy=email.policy.default)
    assert isinstance(bare, EmailMessage)
    body = bare.get_body(("plain",))
    assert body is not None
    mailto = "mailto:brief@example.org?subject=unsubscribe"
    assert body.get_content() == f"a {mailto} b {mailto} c {mailto}"


def test_a_printed_edition_has_links_anyone_can_follow_and_the_archive_page(
        demo: Path) -> None:
    # Issue 19: `build --format html` of an edition (sent or not) used to print the
    # placeholder https://unsubscribe.invalid/...; and with the web service the edition's
    # "view in your browser" link is its archive page.
    settings = load_settings(web_demo(demo), env={})
    app = open_app(settings, clock=fixed_clock("2026-11-27T10:00:00"))
    try:
        result = app.editions.build(DEMO_DAY)
        html = app.editions.export(result, "html")
        text = app.editions.export(result, "text")
    finally:
        app.close()
    for part in (html, text):
        assert ".invalid" not in part
        assert "mailto:brief@example.org?subject=unsubscribe" in part
        assert f"{BASE}/subscribe" in part  # the preferences link, for someone with none
        assert f"{BASE}/editions/{DEMO_EDITION}" in part
