"""The HTML email in a real browser: headless Chromium (Debian's `chromium`) lays the edition out
at 375 px (a phone) and 600 px (the email's design width) and must not scroll sideways, also
with very long unbroken words and URLs; dark mode must give dark cards with light text.
Screenshots are kept in tests/artifacts/ (gitignored). Skips where Chromium is not installed;
`make test` installs it when it can.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), standard
library only: `--headless=new` will not make a window narrower than 500 px, so `--window-size=375`
would silently lay the page out at 500 px while the screenshot crops it to 375. Emulating the
viewport (Emulation.setDeviceMetricsOverride) gives a true 375 px layout. Every name lookup but
127.0.0.1 fails (--host-resolver-rules), so the email's web-font link is never fetched."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from conftest import DEMO_EDITION
from digest.cli import main
from digest.models import AlsoLink, Edition, Section, Story
from digest.render import Renderer

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
TIMEOUT = 120.0  # seconds for a whole browser run, start to exit: a bound on a hang
HEIGHT = 900
CHROMIUM = shutil.which("chromium")

pytestmark = [
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="chromium not installed: run `make test` or apt-get install chromium",
    ),
    pytest.mark.slow,  # a real browser
    # not run by `make test-dates`
    pytest.mark.real_clock(reason="Chromium's renderer does not start under libfaketime"),
]

# Run in the page after load. Measures the layout and reads the colours dark mode must change.
PROBE = """
(() => {
  const opaque = c => c !== 'transparent' && !/^rgba\\(.*,\\s*0\\)$/.test(c);
  const backdrop = el => {  // the colour actually behind an element: first opaque ancestor
    for (let e = el; e; e = e.parentElement) {
      const c = getComputedStyle(e).backgroundColor;
      if (opaque(c)) return c;
    }
    return 'rgb(255, 255, 255)';
  };
  const name = el => el.tagName.toLowerCase() + (el.className ? '.' + el.className : '')
    + ' "' + (el.textContent || '').trim().slice(0, 60) + '"';
  let maxRight = 0, widest = '';
  for (const el of document.querySelectorAll('body, body *')) {  // <html> is always the viewport
    const right = el.getBoundingClientRect().right;
    if (right > maxRight) { maxRight = right; widest = name(el); }
  }
  const text = [...document.querySelectorAll(
      '.card h1, .card h2, .story-title a, .card p, .card p a')]
    .filter(el => el.getClientRects().length && el.textContent.trim())
    .map(el => ({what: name(el), color: getComputedStyle(el).color, behind: backdrop(el)}));
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    maxRight, widest,
    dark: matchMedia('(prefers-color-scheme: dark)').matches,
    page: [...document.querySelectorAll('.page')].map(el => backdrop(el)),
    body: getComputedStyle(document.body).backgroundColor,
    cards: [...document.querySelectorAll('.card')].map(el => backdrop(el)),
    text,
  };
})()
"""


WIRE = ("import os, sys; a, b = int(sys.argv[1]), int(sys.argv[2]); os.dup2(a, 3); os.dup2(b, 4); "
        "os.close(a); os.close(b); os.execv(sys.argv[3], sys.argv[3:])")


class Browser:
    """One headless Chromium, spoken to over the DevTools protocol on fds 3 and 4."""

    def __init__(self, profile: Path, flags: tuple[str, ...] = ()) -> None:
        assert CHROMIUM is not None
        self.deadline = time.monotonic() + TIMEOUT
        to_child, self._to_browser = os.pipe()
        self._from_browser, from_child = os.pipe()
        # Chromium reads fd 3 and writes fd 4. A tiny Python exec wrapper moves the pipe ends
        # there (no preexec_fn: not safe with threads); fds >= 10 cannot collide with 3 and 4.
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD, 10) for fd in (to_child, from_child)]
        os.close(to_child)
        os.close(from_child)
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WIRE, *map(str, ends), CHROMIUM,
             "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             f"--window-size=600,{HEIGHT}", "--remote-debugging-pipe",
             f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
             "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-extensions",
             "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
             *flags, "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=ends,
        )
        for fd in ends:
            os.close(fd)
        self._next_id = 0
        self._buffer = b""
        self.events: list[dict[str, Any]] = []
        self.session = ""

    def close(self) -> None:
        try:
            self.proc.kill()
            self.proc.wait(timeout=TIMEOUT)
        finally:
            os.close(self._to_browser)
            os.close(self._from_browser)

    def _left(self) -> float:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError(f"chromium did not answer within {TIMEOUT:.0f} s")
        return left

    def _receive(self) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            ready, _, _ = select.select([self._from_browser], [], [], self._left())
            if not ready:
                self._left()
                continue
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise RuntimeError(f"chromium closed the pipe (exit {self.proc.poll()})")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        parsed: dict[str, Any] = json.loads(message)
        return parsed

    def send(self, method: str, **params: Any) -> dict[str, Any]:
        self._next_id += 1
        request: dict[str, Any] = {"id": self._next_id, "method": method, "params": params}
        if self.session and not method.startswith("Target."):
            request["sessionId"] = self.session
        data = json.dumps(request).encode() + b"\0"
        while data:
            _, ready, _ = select.select([], [self._to_browser], [], self._left())
            if ready:
                data = data[os.write(self._to_browser, data):]
        while True:
            message = self._receive()
            if message.get("id") == self._next_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                result: dict[str, Any] = message.get("result", {})
                return result
            self.events.append(message)

    def wait_for(self, event: str) -> None:
        while not any(m.get("method") == event for m in self.events):
            self.events.append(self._receive())

    def open(self, url: str, width: int) -> None:
        """Attach to the blank tab, give it a `width` px viewport, load `url`."""
        pages = [t for t in self.send("Target.getTargets")["targetInfos"] if t["type"] == "page"]
        self.session = self.send("Target.attachToTarget", targetId=pages[0]["targetId"],
                                 flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=HEIGHT,
                  deviceScaleFactor=1, mobile=False)
        self.send("Page.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        answer = self.send("Runtime.evaluate", expression=expression, returnByValue=True,
                           awaitPromise=True)
        if "exceptionDetails" in answer:
            raise RuntimeError(f"probe failed: {answer['exceptionDetails']}")
        return answer["result"]["value"]

    def screenshot(self, path: Path) -> None:
        """The whole page, including anything that sticks out to the right."""
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True,
                         clip={"x": 0, "y": 0, "width": size["width"],
                               "height": size["height"], "scale": 1})
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


def look_at(html: str, width: int, tmp_path: Path, screenshot: str,
            flags: tuple[str, ...] = ()) -> dict[str, Any]:
    """Load a copy of `html` at `width` px, save a screenshot to tests/artifacts/, return PROBE."""
    page = tmp_path / f"email-{width}.html"
    page.write_text(html, encoding="utf-8")
    browser = Browser(tmp_path / f"profile-{width}-{len(flags)}", flags)
    try:
        browser.open(page.as_uri(), width)
        probe: dict[str, Any] = browser.evaluate(PROBE)
        browser.screenshot(ARTIFACTS / screenshot)
    finally:
        browser.close()
    return probe


def demo_html(demo: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The demo edition as the real pipeline builds it (`digest build --format html`)."""
    code = main(["--config", str(demo), "build", "--format", "html", "--edition", DEMO_EDITION])
    out = capsys.readouterr().out
    assert code == 0 and "</html>" in out
    return out


LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherung" * 2
LONG_URL = ("https://news.example.org/2026/11/30/" + "a-very-long-slug-without-breaks-" * 4
            + "?utm_source=newsletter&ref=" + "x" * 30)  # ~220 characters, fits a summary


def long_words_html() -> str:
    """An edition whose title, summary and links carry long unbroken words and URLs."""

    def story(title: str, summary: str, **extra: Any) -> Story:
        return Story(title=title, url=LONG_URL, source="Example News",
                     published=datetime(2026, 11, 28, 9, 15, tzinfo=UTC), summary=summary,
                     weight=1.0, items=(), section="tech", **extra)

    stories = (
        story(f"{LONG_WORD} wins an award", f"Read more at {LONG_URL} today."),
        story("A normal title", f"{LONG_WORD} and more.",
              also=(AlsoLink(LONG_WORD, LONG_URL),)),
    )
    edition = Edition(date=date(2026, 11, 30), title="The Weekly Brief",
                      generated_at=datetime(2026, 11, 30, 7, 0, tzinfo=UTC),
                      sections=(Section("tech", "Tech", stories),))
    html = Renderer(ZoneInfo("Europe/London")).render(edition).html
    assert LONG_WORD in html and f"Read more at {LONG_URL} today." in html.replace("&amp;", "&")
    return html


def assert_fits(probe: dict[str, Any], width: int) -> None:
    assert probe["innerWidth"] == width, probe  # the viewport really is `width` px wide
    assert probe["scrollWidth"] <= probe["innerWidth"], (
        f"the page scrolls sideways at {width} px: scrollWidth {probe['scrollWidth']}, "
        f"widest element {probe['widest']} ends at {probe['maxRight']:.1f}")
    assert probe["maxRight"] <= probe["innerWidth"] + 1, (
        f"an element sticks out at {width} px: {probe['widest']} ends at "
        f"{probe['maxRight']:.1f}")


@pytest.mark.parametrize("width", [375, 600])
def test_demo_edition_fits_the_screen(width: int, demo: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    probe = look_at(demo_html(demo, capsys), width, tmp_path, f"email-{width}.png")
    assert not probe["dark"]
    assert_fits(probe, width)
    assert_readable(probe)


@pytest.mark.parametrize("width", [375, 600])
def test_long_words_and_urls_do_not_widen_the_page(width: int, tmp_path: Path) -> None:
    probe = look_at(long_words_html(), width, tmp_path, f"email-long-words-{width}.png")
    assert_fits(probe, width)


def luminance(css: str) -> float:
    """WCAG relative luminance of a computed `rgb(...)`/`rgba(...)` colour."""
    r, g, b = (int(float(v)) for v in css[css.index("(") + 1:css.index(")")].split(",")[:3])

    def linear(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    return 0.2126 * linear(r) + 0.7152 * linear(g) + 0.0722 * linear(b)


def contrast(a: str, b: str) -> float:
    """WCAG contrast ratio of two computed colours."""
    la, lb = sorted((luminance(a), luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def assert_readable(probe: dict[str, Any]) -> None:
    """Every heading, paragraph and link meets WCAG AA for normal text (4.5:1)."""
    assert len(probe["text"]) > 20
    poor = [(item["what"], round(contrast(item["color"], item["behind"]), 2))
            for item in probe["text"] if contrast(item["color"], item["behind"]) < 4.5]
    assert not poor, poor


def test_dark_mode_gives_dark_cards_and_light_text(demo: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    # --force-dark-mode makes Chromium report prefers-color-scheme: dark to pages.
    probe = look_at(demo_html(demo, capsys), 375, tmp_path, "email-375-dark.png",
                    flags=("--force-dark-mode",))
    assert probe["dark"], "--force-dark-mode did not make prefers-color-scheme: dark match"
    assert_fits(probe, 375)
    assert probe["page"] and probe["cards"]
    assert luminance(probe["body"]) < 0.2, probe["body"]  # no light strip below a short email
    assert all(luminance(c) < 0.2 for c in probe["page"] + probe["cards"]), probe["cards"]
    assert len(probe["text"]) > 20
    for item in probe["text"]:
        assert luminance(item["behind"]) < 0.2, item
        assert luminance(item["color"]) > 0.4, item
    assert_readable(probe)
