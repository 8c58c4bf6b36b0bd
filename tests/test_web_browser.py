"""A reader joins and leaves, end to end (issue 18): uvicorn serving the web service on
127.0.0.1, aiosmtpd as the mail server, headless Chromium (Debian's `chromium`, driven by
Playwright) filling in the subscribe form with JavaScript off. The confirmation email arrives,
the browser opens its link and presses the button, the next `digest send` reaches the new
reader with the sections she chose; then the one-click unsubscribe POST taken from that
message's own headers (as Gmail makes it), and the following edition's send skips her.

Skips where Chromium or Playwright is missing (`make test` installs both)."""

from __future__ import annotations

import email
import email.policy
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
import yaml

from conftest import (
    BROWSER_MARKS,
    DEMO_EDITION,
    HANG,
    SmtpServer,
    free_port,
    headless_chromium,
    rss_feed,
    store_demo_items,
    wait_until,
)
from digest.app import make_app
from digest.config import load_settings
from digest.models import ReaderStatus
from digest.web import RunningServer, run_in_thread

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = BROWSER_MARKS

SECRET = "a-web-secret-for-the-tests-only-0123456789"
NEXT_EDITION = "2026-12-07"


@pytest.fixture
def site(demo: Path, smtp_server: SmtpServer) -> Iterator[tuple[Path, RunningServer]]:
    port = free_port()
    data = yaml.safe_load(demo.read_text(encoding="utf-8"))
    data["delivery"] = {"from": "The Brief <brief@example.org>", "transport": "smtp",
                        "smtp": {"host": "127.0.0.1", "port": smtp_server.port,
                                 "security": "none"}}
    data["web"] = {"base_url": f"http://127.0.0.1:{port}", "secret": SECRET, "port": port}
    demo.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    store_demo_items(demo)
    app = make_app(load_settings(demo, env={}))
    server = run_in_thread(app, "127.0.0.1", port)
    try:
        yield demo, server
    finally:
        server.stop()
        app.close()


def messages_to(server: SmtpServer, address: str) -> list[EmailMessage]:
    found = []
    for envelope in server.handler.envelopes:
        if address in envelope.rcpt_tos:
            message = email.message_from_bytes(envelope.content, policy=email.policy.default)
            assert isinstance(message, EmailMessage)
            found.append(message)
    return found


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())


def send(config: Path, edition: str, *more: str) -> str:
    done = subprocess.run([sys.executable, "-m", "digest", "--config", str(config), "send",
                           "--verbose",
                           "--edition", edition, *more], capture_output=True, text=True,
                          timeout=HANG)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_reader_signs_up_in_a_browser_gets_the_edition_and_leaves_with_one_click(
        site: tuple[Path, RunningServer], smtp_server: SmtpServer) -> None:
    config, server = site
    zoe = "zoe@example.org"
    with headless_chromium() as browser:
        page = browser.new_context(java_script_enabled=False).new_page()
        page.goto(f"{server.url}/subscribe")
        page.get_by_label("Email address").fill(zoe)
        page.get_by_label("Name").fill("Zoe")
        for section in ("Africa", "Europe"):  # she wants Tech only
            page.get_by_label(section, exact=True).uncheck()
        page.get_by_role("button", name="Subscribe").click()
        assert page.get_by_role("heading", level=1).inner_text() == "Check your inbox"

        wait_until(lambda: messages_to(smtp_server, zoe), "the confirmation email")
        [confirmation] = messages_to(smtp_server, zoe)
        assert confirmation["Subject"] == "Confirm your subscription to The Weekly Brief (demo)"
        [link] = re.findall(r"http://127\.0\.0\.1:\d+/confirm\?token=\S+",
                            text_of(confirmation))
        page.goto(link)  # a link scanner would stop here: nothing has changed yet
        assert reader_status(config, zoe) is ReaderStatus.PENDING
        page.get_by_role("button").first.click()
        assert "in" in page.get_by_role("heading", level=1).inner_text().lower()
    assert reader_status(config, zoe) is ReaderStatus.ACTIVE

    out = send(config, DEMO_EDITION, "--no-fetch")
    assert re.search(rf"{re.escape(zoe)}\s+sent", out)
    [_, edition] = messages_to(smtp_server, zoe)
    body = text_of(edition).replace("\r\n", "\n")
    toc = " ".join(re.search(r"In this edition: (.*?)\n\n", body, re.S).group(1).split())  # type: ignore[union-attr]
    assert re.fullmatch(r"Tech \(\d+\)", toc)  # her sections only
    assert "\nTECH\n" in body and "\nEUROPE\n" not in body and "\nAFRICA\n" not in body

    # One click, as a mail provider makes it: the https (here http) link of List-Unsubscribe,
    # POSTed with the body RFC 8058 prescribes, no cookie.
    assert edition["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    [leave] = [u for u in re.findall(r"<([^>]+)>", str(edition["List-Unsubscribe"]))
               if u.startswith("http")]
    request = urllib.request.Request(leave, data=b"List-Unsubscribe=One-Click", method="POST")
    with urllib.request.urlopen(request, timeout=HANG) as answer:
        assert answer.status == 200
    assert reader_status(config, zoe) is ReaderStatus.UNSUBSCRIBED

    # The next edition (a story of its week in a feed added for it) goes to the others only.
    week2 = config.parent / "week2.xml"
    week2.write_bytes(rss_feed(datetime(2026, 12, 6, 12, tzinfo=UTC), "week2"))
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["feeds"].append({"url": "week2.xml", "name": "Week Two", "section": "tech"})
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    before = len(smtp_server.handler.envelopes)
    out = send(config, NEXT_EDITION)
    assert zoe not in out
    later = [a for e in smtp_server.handler.envelopes[before:] for a in e.rcpt_tos]
    assert later and zoe not in later
    assert len(messages_to(smtp_server, zoe)) == 2


def reader_status(config: Path, address: str) -> ReaderStatus:
    app = make_app(load_settings(config, env={}))
    try:
        return app.readers.find(address).status
    finally:
        app.close()
