"""An editor's pass in a real browser, end to end (issue 22): `digest preview --serve` as a
process on 127.0.0.1, headless Chromium (Debian's `chromium`, driven by Playwright) on its
editing page: pin a story that does not lead its section, drop another, type a Markdown note
and watch the live preview show it, save it, approve. Then `digest send` hands the edition to
aiosmtpd, and the message received is the approved, frozen edition: the pinned story leads its
section, the dropped one is nowhere, the note is there, rendered.

Skips where Chromium or Playwright is missing (`make test` installs both)."""

from __future__ import annotations

import email
import email.policy
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import (
    BROWSER_MARKS,
    DEMO_DAY,
    DEMO_EDITION,
    HANG,
    SmtpServer,
    headless_chromium,
    open_app,
    store_demo_items,
    wait_until,
)
from digest.cli import main
from digest.config import load_settings
from digest.editing import overview_to_dict

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = BROWSER_MARKS

ANA = "ana@example.org"  # the demo's reader of every section
NOTE = "**Thanks** for reading: a _short_ week, from the desk."


@pytest.fixture
def server(demo: Path, smtp_server: SmtpServer) -> Iterator[tuple[Path, str]]:
    data = yaml.safe_load(demo.read_text(encoding="utf-8"))
    data["delivery"] = {"from": "The Brief <brief@example.org>", "transport": "smtp",
                        "smtp": {"host": "127.0.0.1", "port": smtp_server.port,
                                 "security": "none"}}
    demo.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    store_demo_items(demo)
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_EDIT_PASSWORD"}
    process = subprocess.Popen(
        [sys.executable, "-m", "digest", "--config", str(demo), "preview", "--serve",
         "--port", "0", "--edition", DEMO_EDITION],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**env, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        process.stdout.readline()  # the template author's page
        line = process.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+/edit", line)
        assert match, f"no URL in {line!r}: {process.stderr.read() if process.stderr else ''}"
        yield demo, match.group(0)
    finally:
        process.terminate()
        process.wait(timeout=HANG)


def edition(config: Path) -> dict[str, Any]:
    app = open_app(load_settings(config, env={}))
    try:
        return overview_to_dict(app.editing.overview(DEMO_DAY))
    finally:
        app.close()


def stories(data: dict[str, Any], section: str) -> list[dict[str, Any]]:
    return next(s["stories"] for s in data["sections"] if s["id"] == section)


def received(server: SmtpServer, address: str) -> EmailMessage:
    [envelope] = [e for e in server.handler.envelopes if address in e.rcpt_tos]
    assert isinstance(envelope.content, bytes)
    message = email.message_from_bytes(envelope.content, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    return message


def part(message: EmailMessage, kind: str) -> str:
    found = message.get_body((kind,))
    assert found is not None
    return str(found.get_content()).replace("\r\n", "\n")


def test_an_editor_pins_drops_writes_a_note_and_approves_and_that_is_what_is_sent(
        server: tuple[Path, str], smtp_server: SmtpServer) -> None:
    from playwright.sync_api import expect

    config, url = server
    before = edition(config)
    tech = stories(before, "tech")
    pinned, dropped = tech[4], tech[2]  # neither leads Tech
    with headless_chromium() as browser:
        page = browser.new_page()
        page.set_default_timeout(HANG * 1000)
        page.goto(url)
        lead = page.locator('ol[data-section="tech"] > li').first
        expect(lead).to_have_attribute("data-story", tech[0]["id"], timeout=HANG * 1000)

        page.locator(f'[data-story="{pinned["id"]}"]').get_by_role("button", name="Pin").click()
        expect(lead).to_have_attribute("data-story", pinned["id"], timeout=HANG * 1000)
        expect(lead.locator(".mark-pinned")).to_have_text("pinned", timeout=HANG * 1000)

        page.locator(f'[data-story="{dropped["id"]}"]').get_by_role("button", name="Drop").click()
        expect(page.locator(f'[data-story="{dropped["id"]}"]')).to_have_count(
            0, timeout=HANG * 1000)

        note = page.get_by_label("The note at the top of the edition")
        note.fill(NOTE)  # nothing saved yet: the preview follows the typing
        preview = page.locator("#note-preview")
        expect(preview.locator("strong")).to_have_text("Thanks", timeout=HANG * 1000)
        expect(preview.locator("em")).to_have_text("short", timeout=HANG * 1000)
        assert edition(config)["note"] is None
        page.get_by_role("button", name="Save the note").click()
        expect(page.locator("#note-text")).to_have_value(NOTE, timeout=HANG * 1000)
        wait_until(lambda: edition(config)["note"] == NOTE, "the note saved")

        page.get_by_role("button", name=f"Approve edition {DEMO_EDITION}").click()
        expect(page.locator("#state")).to_contain_text("Approved by preview page",
                                                       timeout=HANG * 1000)
        expect(page.get_by_role("button", name="Pin")).to_have_count(0, timeout=HANG * 1000)
        # The email as it will look, in the page's frame, is the approved edition.
        frame = page.frame_locator("#email")
        expect(frame.locator("strong").first).to_have_text("Thanks", timeout=HANG * 1000)

    approved = edition(config)
    assert (approved["state"], approved["approved_by"]) == ("approved", "preview page")
    assert stories(approved, "tech")[0]["id"] == pinned["id"]
    # frozen: the command line cannot change it either
    assert main(["--config", str(config), "edit", "drop", "--edition", DEMO_EDITION,
                 pinned["id"]]) == 2

    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION,
                 "--no-fetch"]) == 0
    wait_until(lambda: any(ANA in e.rcpt_tos for e in smtp_server.handler.envelopes),
               "the edition at the mail server")
    message = received(smtp_server, ANA)
    html, text = part(message, "html"), part(message, "plain")

    section_text = text.split("\nTECH\n", 1)[1].split("\nAFRICA\n", 1)[0]
    links = re.findall(r"<(https?://[^>]+)>", section_text)
    assert links[0] == pinned["url"] and dropped["url"] not in links
    assert html.index(pinned["url"]) < min(html.index(s["url"]) for s in tech
                                           if s["id"] not in (pinned["id"], dropped["id"]))
    assert dropped["url"] not in html and dropped["url"] not in text
    assert "<strong>Thanks</strong> for reading" in html and "<em>short</em>" in html
    assert "Thanks for reading: a short week, from the desk." in " ".join(text.split())
    # what went out is the edition frozen at the approval
    app = open_app(load_settings(config, env={}))
    try:
        frozen = app.editions.frozen(DEMO_DAY)
    finally:
        app.close()
    assert frozen is not None and message["Subject"] == frozen.subject
    tech_frozen = next(s for s in frozen.payload["sections"] if s["id"] == "tech")
    assert tech_frozen["stories"][0]["url"] == pinned["url"]
    assert frozen.payload["note"] == NOTE
