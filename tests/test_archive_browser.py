"""The archive's pages in a real browser (issue 19): headless Chromium (Debian's `chromium`,
driven by Playwright, JavaScript off) lays out the index, an edition and a search result at
375 px (a phone) and 1280 px (a laptop), served by uvicorn on 127.0.0.1. Nothing may be wider
than the window (no sideways scrolling, even with a 120-character unbroken URL-like word in a
title), and screenshots are kept in tests/artifacts/ (gitignored) for a person to look at.

Skips where Chromium or Playwright is missing (`make test` installs both)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from conftest import BROWSER_MARKS, REPO, WriteConfig, free_port, headless_chromium
from digest.app import App, make_app
from digest.config import load_settings
from digest.models import DeliveryStatus
from digest.store import Outcome
from digest.web import RunningServer, run_in_thread

pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

pytestmark = BROWSER_MARKS

ARTIFACTS = REPO / "tests" / "artifacts"
SECRET = "a-web-secret-for-the-tests-only-0123456789"
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
SECTIONS = [{"id": "tech", "title": "Tech"}, {"id": "africa", "title": "Africa"},
            {"id": "europe", "title": "Europe"}]
LONG_WORD = "Supercalifragilistic" * 6  # 120 characters without a break


def story(n: int, title: str) -> dict[str, Any]:
    return {"title": title, "url": f"https://news.example.org/{n}/{LONG_WORD}",
            "source": "The Wire", "published": NOW.isoformat(),
            "summary": f"What happened, in two sentences. {LONG_WORD} ends it.", "score": 1.0,
            "also": [{"source": "Other Outlet", "url": f"https://other.example.org/{n}"}]}


@pytest.fixture
def site(write_config: WriteConfig) -> Iterator[tuple[App, RunningServer]]:
    port = free_port()
    config = write_config({"sections": SECTIONS, "recipients": [],
                           "web": {"base_url": f"http://127.0.0.1:{port}", "secret": SECRET},
                           "email": {"postal_address": "1 Example Street, Lagos"}})
    app = make_app(load_settings(config, env={}))
    for week in range(3):
        day = date(2026, 11, 16) + timedelta(weeks=week)
        sections = [{"id": s["id"], "title": s["title"], "stories": [
            story(n, f"{s['title']} story {n} of {day}: chips, rails and {LONG_WORD}")
            for n in range(4)]} for s in SECTIONS]
        frozen = app.store.freeze_edition(
            day, title="Test Brief", subject=f"Test Brief {day}", html="<p>x</p>", text="x",
            fingerprints=[], now=NOW, payload={
                "edition": day.isoformat(), "title": "Test Brief",
                "generated_at": NOW.isoformat(), "sections": sections})
        app.store.take_deliveries(frozen.id, ["ana@example.org"], owner="t", now=NOW,
                                  stale_before=NOW)
        app.store.finish_deliveries(frozen.id, [Outcome("ana@example.org",
                                                        DeliveryStatus.SENT, "<m@x>")], now=NOW)
    server = run_in_thread(app, "127.0.0.1", port)
    try:
        yield app, server
    finally:
        server.stop()
        app.close()


@pytest.mark.parametrize("width", [375, 1280])
def test_no_archive_page_is_wider_than_the_window(
        site: tuple[App, RunningServer], width: int) -> None:
    _, server = site
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pages = {"index": "/", "edition": "/editions/2026-11-30/", "search": "/search?q=chips+rails"}
    with headless_chromium() as browser:
        context = browser.new_context(viewport={"width": width, "height": 900},
                                      java_script_enabled=False)
        page = context.new_page()
        for name, path in pages.items():
            answer = page.goto(server.url + path)
            assert answer is not None and answer.status == 200, path
            assert page.get_by_role("heading", level=1).count() == 1
            if name == "search":
                assert page.locator("a[href*='#story-']").count() > 0  # hits, linked
            # JavaScript is off for the page; Playwright's own evaluation still runs
            wide = page.evaluate("document.documentElement.scrollWidth")
            assert wide <= width, f"{path} at {width} px is {wide} px wide"
            page.screenshot(path=str(ARTIFACTS / f"archive-{name}-{width}.png"),
                            full_page=True)
    assert all((ARTIFACTS / f"archive-{n}-{width}.png").stat().st_size > 1000 for n in pages)

