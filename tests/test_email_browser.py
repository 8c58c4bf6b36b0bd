"""The HTML email in a real browser, as proof of how it looks (issue 21): headless Chromium
(Debian's `chromium`) lays the demo edition out in each theme at 375 px (a phone) and 600 px (the
email's design width), light and dark, with images and with images blocked, and saves each as
tests/artifacts/email-<theme>-<width>-<light|dark>-<images|noimages>.png (gitignored). In every
one the page must not scroll sideways nor have an element wider than the screen, all text must
be readable (WCAG AA); dark mode must give dark backgrounds with light text; with images blocked,
every <img> must have width and height attributes and an alt text of at most 40 characters that
fits its box. Long unbroken words and URLs must not widen the page either. Skips where Chromium
is not installed; `make test` installs it when it can.

Chromium is driven over the DevTools protocol on a pipe (--remote-debugging-pipe), standard
library only: `--headless=new` will not make a window narrower than 500 px, so `--window-size=375`
would silently lay the page out at 500 px while the screenshot crops it to 375. Emulating the
viewport (Emulation.setDeviceMetricsOverride) gives a true 375 px layout, and emulating the
media feature prefers-color-scheme gives dark mode. One browser serves the whole module; each
page gets its own browser context (no cache or state shared between looks). Every name lookup
but 127.0.0.1 fails (--host-resolver-rules), so the email's web-font link is never fetched; the
thumbnails' requests (tests/email_demo.py puts them on an invented host) are answered by the
test with a generated PNG, or failed as a client that blocks images does (Fetch domain)."""

from __future__ import annotations

import base64
import fcntl
import functools
import json
import os
import re
import select
import shutil
import struct
import subprocess
import sys
import time
import zlib
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from conftest import BROWSER_MARKS
from digest.models import AlsoLink, Edition, Section, Story
from digest.render import Renderer
from email_demo import CONFIGURABLE, IMAGE_HOST, THEMES, demo_email, has_thumbnails

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "tests" / "artifacts"
TIMEOUT = 120.0  # seconds for one page, from opening it to its screenshot: a bound on a hang
HEIGHT = 900
CHROMIUM = shutil.which("chromium")
ALT_CHARS = 40  # the most alt text a picture's box can show when images are off

pytestmark = BROWSER_MARKS

# Run in the page after load. Measures the layout, reads the colours of every piece of visible
# text and what is behind it, and describes every picture.
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
  const name = el => el.tagName.toLowerCase()
    + (typeof el.className === 'string' && el.className ? '.' + el.className : '')
    + ' "' + (el.textContent || el.getAttribute('alt') || '').trim().slice(0, 60) + '"';
  const shown = el => {
    const box = el.getBoundingClientRect();
    return box.width > 0 && box.height > 0 && getComputedStyle(el).visibility !== 'hidden';
  };
  let maxRight = 0, widest = '', maxWidth = 0, broadest = '';
  for (const el of document.querySelectorAll('body, body *')) {  // <html> is always the viewport
    const box = el.getBoundingClientRect();
    if (box.right > maxRight) { maxRight = box.right; widest = name(el); }
    if (box.width > maxWidth) { maxWidth = box.width; broadest = name(el); }
  }
  // Every element with text of its own that is laid out (the hidden preheader is not).
  const text = [...document.querySelectorAll('body *')]
    .filter(el => !['STYLE', 'SCRIPT', 'TITLE'].includes(el.tagName))
    .filter(el => [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim()))
    .filter(shown)
    .map(el => ({what: name(el), color: getComputedStyle(el).color, behind: backdrop(el)}));
  // The box a picture is given (its width and height attributes, scaled down to fit the block
  // it is in), which a client that blocks images draws and writes the alt text into. (Chromium
  // itself shows a broken picture's alt text as plain inline text when it does not fit.)
  const intended = img => {
    const w = Number(img.getAttribute('width')), h = Number(img.getAttribute('height'));
    if (!(w > 0 && h > 0)) return null;
    let block = img.parentElement;
    while (block.parentElement && getComputedStyle(block).display.startsWith('inline')) {
      block = block.parentElement;
    }
    const style = getComputedStyle(block);
    const room = block.clientWidth - parseFloat(style.paddingLeft)
      - parseFloat(style.paddingRight);
    const scale = Math.min(1, room / w);
    return [w * scale, h * scale];
  };
  // How tall the alt text is, in the picture's own font, when it wraps at `width`.
  const altHeight = (img, width) => {
    const style = getComputedStyle(img);
    const sample = document.createElement('div');
    sample.style.cssText = 'position:absolute;left:-10000px;top:0;overflow-wrap:break-word;'
      + `width:${width}px;font:${style.font};line-height:${style.lineHeight};`;
    sample.textContent = img.getAttribute('alt');
    document.body.appendChild(sample);
    const height = sample.scrollWidth > width + 1 ? 1e6 : sample.scrollHeight;  // 1e6: too wide
    sample.remove();
    return height;
  };
  const images = [...document.images].map(img => {
    const box = intended(img);
    return {
      what: name(img), src: img.currentSrc || img.src, alt: img.getAttribute('alt'),
      width: img.getAttribute('width'), height: img.getAttribute('height'),
      loaded: img.complete && img.naturalWidth > 0, box,
      altHeight: box && img.getAttribute('alt') ? altHeight(img, box[0]) : 0,
    };
  });
  return {
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    maxRight, widest, maxWidth, broadest,
    dark: matchMedia('(prefers-color-scheme: dark)').matches,
    body: getComputedStyle(document.body).backgroundColor,
    page: [...document.querySelectorAll('.page')].map(el => backdrop(el)),
    cards: [...document.querySelectorAll('.card')].map(el => backdrop(el)),
    text, images,
  };
})()
"""


@functools.cache
def picture() -> bytes:
    """A 640x360 PNG of diagonal blue bands: every thumbnail, when images are on."""
    width, height = 640, 360
    colours = (bytes((34, 84, 150)), bytes((96, 150, 206)))
    rows = b"".join(b"\0" + b"".join(colours[(x + y) // 48 % 2] for x in range(width))
                    for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data)))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


WIRE = ("import os, sys; a, b = int(sys.argv[1]), int(sys.argv[2]); os.dup2(a, 3); os.dup2(b, 4); "
        "os.close(a); os.close(b); os.execv(sys.argv[3], sys.argv[3:])")


class Browser:
    """One headless Chromium, spoken to over the DevTools protocol on fds 3 and 4."""

    def __init__(self, profile: Path) -> None:
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
             "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            pass_fds=ends,
        )
        for fd in ends:
            os.close(fd)
        self._next_id = 0
        self._buffer = b""
        self.events: list[dict[str, Any]] = []
        self._paused: list[dict[str, Any]] = []  # image requests waiting for an answer
        self.images = True  # answer them with picture(), or fail them (images blocked)
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

    def _event(self, message: dict[str, Any]) -> None:
        if message.get("method") == "Fetch.requestPaused":
            self._paused.append(message["params"])
        else:
            self.events.append(message)

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
            self._event(message)

    def _answer(self, paused: dict[str, Any]) -> None:
        """An image request: the picture when images are on and it is a thumbnail; failed as
        blocked when images are off; anything else goes on (and fails to resolve)."""
        request_id = paused["requestId"]
        if not self.images:
            self.send("Fetch.failRequest", requestId=request_id, errorReason="BlockedByClient")
        elif urlsplit(paused["request"]["url"]).hostname == IMAGE_HOST:
            self.send("Fetch.fulfillRequest", requestId=request_id, responseCode=200,
                      responseHeaders=[{"name": "Content-Type", "value": "image/png"}],
                      body=base64.b64encode(picture()).decode())
        else:
            self.send("Fetch.continueRequest", requestId=request_id)

    def wait_for(self, event: str) -> None:
        while True:
            while self._paused:
                self._answer(self._paused.pop(0))
            if any(m.get("method") == event for m in self.events):
                return
            self._event(self._receive())

    def open(self, url: str, width: int, *, dark: bool = False, images: bool = True) -> None:
        """A fresh tab in its own browser context: `width` px wide, light or dark, images on
        or blocked; loads `url`."""
        self.deadline = time.monotonic() + TIMEOUT
        self.events.clear()
        self.images = images
        self.context = self.send("Target.createBrowserContext")["browserContextId"]
        self.target = self.send("Target.createTarget", url="about:blank",
                                browserContextId=self.context)["targetId"]
        self.session = self.send("Target.attachToTarget", targetId=self.target,
                                 flatten=True)["sessionId"]
        self.send("Emulation.setDeviceMetricsOverride", width=width, height=HEIGHT,
                  deviceScaleFactor=1, mobile=False)
        self.send("Emulation.setEmulatedMedia", features=[
            {"name": "prefers-color-scheme", "value": "dark" if dark else "light"}])
        self.send("Fetch.enable", patterns=[{"urlPattern": "*", "resourceType": "Image",
                                             "requestStage": "Request"}])
        self.send("Page.enable")
        self.send("Page.navigate", url=url)
        self.wait_for("Page.loadEventFired")

    def shut(self) -> None:
        """Close the tab and its browser context."""
        self.session = ""
        self.send("Target.closeTarget", targetId=self.target)
        self.send("Target.disposeBrowserContext", browserContextId=self.context)

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


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    """One Chromium for the whole module (each look still gets a fresh browser context)."""
    chromium = Browser(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield chromium
    finally:
        chromium.close()


def look_at(browser: Browser, html: str, width: int, tmp_path: Path, screenshot: str, *,
            dark: bool = False, images: bool = True) -> dict[str, Any]:
    """Load a copy of `html` at `width` px, save a screenshot to tests/artifacts/, return PROBE."""
    page = tmp_path / f"email-{width}.html"
    page.write_text(html, encoding="utf-8")
    browser.open(page.as_uri(), width, dark=dark, images=images)
    try:
        probe: dict[str, Any] = browser.evaluate(PROBE)
        browser.screenshot(ARTIFACTS / screenshot)
    finally:
        browser.shut()
    return probe


LONG_WORD = "Donaudampfschifffahrtsgesellschaftskapitänswitwenrentenversicherung" * 2
LONG_URL = ("https://news.example.org/2026/11/30/" + "a-very-long-slug-without-breaks-" * 4
            + "?utm_source=newsletter&ref=" + "x" * 30)  # ~220 characters, fits a summary


def long_words_html(theme: str) -> str:
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
    tz = ZoneInfo("Europe/London")
    renderer = Renderer(tz, theme=theme) if CONFIGURABLE else Renderer(tz)
    html = renderer.render(edition).html
    # A theme may clip summaries shorter, but a long stretch of the URL must still be there.
    plain = re.sub(r"<wbr\s*/?>", "", html).replace("&amp;", "&")  # break opportunities
    assert LONG_WORD in plain and f"Read more at {LONG_URL[:50]}" in plain
    return html


def assert_fits(probe: dict[str, Any], width: int) -> None:
    assert probe["innerWidth"] == width, probe  # the viewport really is `width` px wide
    assert probe["scrollWidth"] <= probe["innerWidth"], (
        f"the page scrolls sideways at {width} px: scrollWidth {probe['scrollWidth']}, "
        f"widest element {probe['widest']} ends at {probe['maxRight']:.1f}")
    assert probe["maxRight"] <= probe["innerWidth"] + 1, (
        f"an element sticks out at {width} px: {probe['widest']} ends at "
        f"{probe['maxRight']:.1f}")
    assert probe["maxWidth"] <= probe["innerWidth"] + 1, (
        f"an element is wider than the screen at {width} px: {probe['broadest']} is "
        f"{probe['maxWidth']:.1f} px wide")


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
    """Every piece of visible text meets WCAG AA for normal text (4.5:1)."""
    assert len(probe["text"]) > 20, probe["text"]
    poor = [(item["what"], round(contrast(item["color"], item["behind"]), 2))
            for item in probe["text"] if contrast(item["color"], item["behind"]) < 4.5]
    assert not poor, poor


def assert_dark(probe: dict[str, Any]) -> None:
    """Dark backgrounds (the page, every card, no light strip below a short email) and all
    text light on them."""
    assert probe["dark"], "prefers-color-scheme: dark is not in effect"
    assert luminance(probe["body"]) < 0.2, probe["body"]
    assert all(luminance(c) < 0.2 for c in probe["page"] + probe["cards"]), probe["cards"]
    not_light_on_dark = [item for item in probe["text"]
                         if luminance(item["behind"]) >= 0.2 or luminance(item["color"]) <= 0.4]
    assert not not_light_on_dark, not_light_on_dark


def assert_images(probe: dict[str, Any], images: bool, thumbnails: bool = True) -> None:
    """Images on: every thumbnail loaded. Images off: none did, and each picture's box holds
    its alt text: width and height attributes (the box a client draws instead, scaled to the
    column), an alt of at most ALT_CHARS that fits in that box in the picture's font.
    `thumbnails`: the page shows some (else it is a theme without pictures)."""
    pictures = probe["images"]
    shown = [p for p in pictures if urlsplit(p["src"]).hostname == IMAGE_HOST]
    assert bool(shown) == thumbnails, pictures
    if images:
        failed = [p["what"] for p in pictures
                  if urlsplit(p["src"]).hostname == IMAGE_HOST and not p["loaded"]]
        assert not failed, f"pictures that did not load with images on: {failed}"
        return
    assert not any(p["loaded"] for p in pictures), "a picture loaded with images off"
    problems = []
    for p in pictures:
        if not (p["width"] and p["height"]):
            problems.append(f"{p['what']}: width={p['width']!r} height={p['height']!r}")
        if p["alt"] is None or len(p["alt"]) > ALT_CHARS:
            problems.append(f"{p['what']}: alt text of {len(p['alt'] or '')} characters "
                            f"(at most {ALT_CHARS}, and present)")
        elif p["box"] and p["altHeight"] > p["box"][1] + 1:
            problems.append(f"{p['what']}: the alt text needs {p['altHeight']:.0f} px, the "
                            f"box is {p['box'][0]:.0f}x{p['box'][1]:.0f}")
    assert not problems, "with images off:\n  " + "\n  ".join(problems)


LOOKS = [(width, dark, images) for width in (375, 600) for dark in (False, True)
         for images in (True, False)]


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize(("width", "dark", "images"), LOOKS, ids=[
    f"{w}-{'dark' if d else 'light'}-{'images' if i else 'noimages'}" for w, d, i in LOOKS])
def test_demo_edition_in_every_look(theme: str, width: int, dark: bool, images: bool,
                                    browser: Browser, demo: Path, tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    shot = (f"email-{theme}-{width}-{'dark' if dark else 'light'}-"
            f"{'images' if images else 'noimages'}.png")
    html = demo_email(demo, theme, capsys)
    probe = look_at(browser, html, width, tmp_path, shot, dark=dark, images=images)
    assert_fits(probe, width)
    assert_readable(probe)
    if dark:
        assert_dark(probe)
    else:
        assert not probe["dark"]
    assert_images(probe, images, has_thumbnails(html))


@pytest.mark.parametrize("theme", THEMES)
@pytest.mark.parametrize("width", [375, 600])
def test_long_words_and_urls_do_not_widen_the_page(theme: str, width: int, browser: Browser,
                                                   tmp_path: Path) -> None:
    probe = look_at(browser, long_words_html(theme), width, tmp_path,
                    f"email-{theme}-long-words-{width}.png")
    assert_fits(probe, width)


CHECKS_PAGE = f"""<!doctype html><html lang="en"><body style="margin:0">
<div style="width:700px">A banner wider than any phone.</div>
<img src="https://{IMAGE_HOST}/a.png" width="96" style="width:96px;height:64px"
     alt="A long description of the picture, far more than its small box can show">
<img src="https://{IMAGE_HOST}/b.png" width="40" height="20" alt="Short, still too big">
</body></html>"""


def test_the_checks_catch_what_they_are_for(browser: Browser, tmp_path: Path) -> None:
    """A page too wide, a picture without a height or room for its alt text: each caught."""
    probe = look_at(browser, CHECKS_PAGE, 375, tmp_path, "email-checks-375-noimages.png",
                    images=False)
    with pytest.raises(AssertionError, match="scrolls sideways"):
        assert_fits(probe, 375)
    with pytest.raises(AssertionError) as caught:
        assert_images(probe, images=False)
    said = [line.split(": ", 1)[1] for line in str(caught.value).splitlines()[1:4]]
    assert said[:2] == ["width='96' height=None",
                        "alt text of 71 characters (at most 40, and present)"], said
    assert re.fullmatch(r"the alt text needs \d+ px, the box is 40x20", said[2]), said
    shown = look_at(browser, CHECKS_PAGE, 375, tmp_path, "email-checks-375-images.png")
    assert [p["loaded"] for p in shown["images"]] == [True, True]
    with pytest.raises(AssertionError, match="a picture loaded with images off"):
        assert_images(shown, images=False)
