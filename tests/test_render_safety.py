"""Feed text is untrusted (issue 6): no script, style, event handler, javascript:/data: URL or
tracking pixel from a feed reaches the email. End to end: tests/data/feeds/xss.xml (a feed full
of XSS vectors) goes through the real command line (`digest build --format html/text/eml`:
fetch from a file URL, parse, store, cluster, rank, render), and the output is parsed, not just
searched, and compared with the same pipeline run on an ordinary feed (the template's own
<style>, <meta>, <link> and style attributes are expected; anything more came from the feed).

The checks are plain functions so that test_checks_catch_unsafe_output can show each of them
failing on a deliberately unsafe document."""

from __future__ import annotations

import email
import email.policy
import re
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass, field
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from conftest import FEEDS
from digest.cli import main
from digest.parse import parse_feed
from digest.render import THEMES

XSS_FEED = FEEDS / "xss.xml"
EDITION = "2026-11-30"  # the feed's items are dated 25-26 Nov 2026, inside its 7-day window

# The two ordinary items of xss.xml: they must reach the email intact.
ORDINARY = {
    "Harbour council approves the winter ferry timetable":
        "https://courier.example/news/winter-ferry-timetable",
    "Town library extends its weekend opening hours":
        "https://courier.example/news/library-weekend-hours",
}
# Items whose <link> is javascript:, vbscript: or data: (in several disguises): never shown.
DROPPED_GUIDS = {"xss-link-js", "xss-link-tab", "xss-link-vb"}
DROPPED_TITLE = "(must be dropped)"
# Items that survive parsing (their links are http(s)); each carries vectors in its text.
KEPT_GUIDS = {"xss-ok-1", "xss-ok-2", "<script>alert('guid')</script>", "xss-double",
              "xss-style", "xss-handlers", "xss-embeds", "xss-desc-links", "xss-pixel",
              "xss-unicode", "xss-breakout", "xss-long"}
# Text the feed itself encoded twice, i.e. wrote as *visible characters* "<script>...":
# shown as text, it is the publisher's wording, not markup (in HTML it must be escaped text).
LITERAL_TEXT = ("<script>alert('double')</script>", "<script>alert('double-desc')</script>")

# Elements a feed must never add to the email.
DANGEROUS_TAGS = frozenset({
    "script", "style", "iframe", "frame", "frameset", "object", "embed", "applet", "param",
    "svg", "math", "form", "input", "button", "textarea", "select", "meta", "base", "link",
    "img", "image", "video", "audio", "source", "picture", "details", "noscript", "template",
})
URL_ATTRIBUTES = frozenset({
    "href", "src", "action", "formaction", "poster", "background", "data", "srcset", "cite",
    "xlink:href", "longdesc", "lowsrc", "dynsrc", "ping", "manifest", "codebase",
})
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
UNSAFE_SCHEME = re.compile(r"(?:java|vb)script:|data:|livescript:", re.IGNORECASE)
# A link reference of the text part: one URL alone on its line, as RFC 3986 appendix C
# delimits URLs in plain text; a URL never contains whitespace, quotes or angle brackets.
TEXT_LINK = re.compile(r"^\s*<(https?://[^\s<>\"]+)>$")


# --- running the real command line ---


def feed_config(tmp_path: Path, feed: Path, theme: str = "classic") -> Path:
    """A feeds.yaml like conftest's write_config writes (file transport, one section), with the
    one feed pinned to it and room for every story."""
    config = {
        "title": "Test Brief",
        "database": "test.db",
        "sections": [{"id": "tech", "title": "Tech", "keywords": ["AI", "chip"],
                      "max_stories": 50}],
        "feeds": [{"url": feed.as_uri(), "section": "tech"}],
        "delivery": {"from": "Test Brief <brief@example.org>", "transport": "file",
                     "outbox": "outbox"},
        "recipients": ["ana@example.org"],
        "email": {"theme": theme},
    }
    path = tmp_path / "feeds.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


@dataclass
class Built:
    html: str
    text: str
    eml: str
    json: str


def build_all(config: Path) -> Built:
    outputs = {}
    for fmt in ("json", "html", "text", "eml"):  # the first build fetches, the rest reuse
        stdout, stderr = StringIO(), StringIO()
        args = ["--config", str(config), "build", "--format", fmt, "--edition", EDITION]
        if fmt != "json":
            args.append("--no-fetch")
        with redirect_stdout(stdout), redirect_stderr(stderr):
            code = main(args)
        assert code == 0, stderr.getvalue()
        outputs[fmt] = stdout.getvalue()
    return Built(**outputs)


@pytest.fixture(scope="module", params=THEMES)
def theme(request: pytest.FixtureRequest) -> str:
    """Every check holds for each built-in theme (issue 21)."""
    name: str = request.param
    return name


@pytest.fixture(scope="module")
def xss(tmp_path_factory: pytest.TempPathFactory, theme: str) -> Built:
    return build_all(feed_config(tmp_path_factory.mktemp("xss"), XSS_FEED, theme))


def ordinary_feed() -> bytes:
    """Only the ordinary items of xss.xml, in an ordinary channel: the baseline render."""
    items = "".join(
        f"<item><title>{title}</title><link>{url}</link><guid>{url}</guid>"
        f"<pubDate>Wed, 25 Nov 2026 0{n}:00:00 +0000</pubDate>"
        f'<media:thumbnail url="https://img.courier.example/{n}.jpg" width="600" height="400"/>'
        f"<description>An ordinary summary, number {n}.</description></item>"
        for n, (title, url) in enumerate(ORDINARY.items(), start=1))
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
            f'xmlns:media="http://search.yahoo.com/mrss/"><channel>'
            f"<title>Harbourside Courier</title><link>https://courier.example/</link>"
            f"<description>News</description>{items}</channel></rss>").encode()


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, theme: str) -> Built:
    folder = tmp_path_factory.mktemp("ordinary")
    feed = folder / "ordinary.xml"
    feed.write_bytes(ordinary_feed())
    return build_all(feed_config(folder, feed, theme))


# --- reading HTML ---


@dataclass
class Page:
    """What html.parser saw: start tags with decoded attributes, text, and raw tag names."""

    tags: list[tuple[str, list[tuple[str, str | None]]]] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    anchors: list[tuple[str, str]] = field(default_factory=list)  # (href, text)

    def names(self) -> Counter[str]:
        return Counter(name for name, _ in self.tags)

    def attributes(self) -> Iterator[tuple[str, str, str]]:
        for name, attrs in self.tags:
            for key, value in attrs:
                yield name, key, value or ""


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.page = Page()
        self._anchor: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append((tag, attrs))
        if tag == "a":
            self._anchor = (dict(attrs).get("href") or "", [])

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.page.tags.append((tag, attrs))

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._anchor is not None:
            self.page.anchors.append((self._anchor[0], "".join(self._anchor[1])))
            self._anchor = None

    def handle_data(self, data: str) -> None:
        self.page.text.append(data)
        if self._anchor is not None:
            self._anchor[1].append(data)


def read_html(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page


def scheme_of(url: str) -> str:
    """The scheme a browser would see: whitespace and controls anywhere removed (browsers strip
    tab and newline inside URLs, and leading controls), lower case; "" when there is none."""
    squeezed = "".join(c for c in url if not (c.isspace() or unicodedata.category(c) == "Cc"))
    match = re.match(r"([a-zA-Z][a-zA-Z0-9+.-]*):", squeezed)
    return match.group(1).lower() if match else ""


# --- the checks (each raises AssertionError) ---


def check_no_added_elements(html: str, base: str) -> None:
    """No dangerous element beyond the template's own (counted on the baseline render), and no
    element name the baseline does not have at all."""
    got, expected = read_html(html).names(), read_html(base).names()
    extra = {name: got[name] - expected[name] for name in DANGEROUS_TAGS
             if got[name] > expected[name]}
    assert not extra, f"elements from the feed: {extra}"
    # <wbr>: the break opportunities the renderer puts into long tokens (render.breakable),
    # the one element that depends on the text's length, never on its markup
    unknown = set(got) - set(expected) - {"wbr"}
    assert not unknown, f"elements the template never makes: {sorted(unknown)}"
    # Belt and braces on the raw source (html.parser could be fooled by the same trick a mail
    # client is not): every "<script", "<iframe"... in the bytes is one of the template's.
    for name in DANGEROUS_TAGS:
        raw = len(re.findall(rf"<\s*{name}\b", html, re.IGNORECASE))
        raw_base = len(re.findall(rf"<\s*{name}\b", base, re.IGNORECASE))
        assert raw <= raw_base, f"{raw - raw_base} raw <{name} in the HTML source"


def check_style_is_the_templates(html: str, base: str) -> None:
    """<style> blocks and style attributes are the template's only."""
    blocks = re.findall(r"<style\b[^>]*>(.*?)</style>", html, re.IGNORECASE | re.DOTALL)
    base_blocks = re.findall(r"<style\b[^>]*>(.*?)</style>", base, re.IGNORECASE | re.DOTALL)
    assert Counter(blocks) == Counter(base_blocks), "a <style> block differs from the template's"
    styles = {v for _, k, v in read_html(html).attributes() if k == "style"}
    base_styles = {v for _, k, v in read_html(base).attributes() if k == "style"}
    assert styles <= base_styles, f"style attributes from the feed: {styles - base_styles}"
    for style in styles:
        lowered = re.sub(r"\s+", "", style.lower())
        assert not any(bad in lowered for bad in ("expression(", "javascript:", "-moz-binding",
                                                  "behavior:", "@import")), style


def check_no_event_handlers(html: str) -> None:
    handlers = [(tag, key) for tag, key, _ in read_html(html).attributes()
                if key.lower().startswith("on")]
    assert not handlers, f"event-handler attributes: {handlers}"
    # An unquoted or broken-out handler html.parser might have read as part of a value.
    assert not re.search(r"<[^>]*\son\w+\s*=", html, re.IGNORECASE), "raw on*= inside a tag"


# The one non-http link digest itself writes: unsubscribing by mail to the configured sender.
UNSUBSCRIBE_MAILTO = "mailto:brief@example.org?subject=unsubscribe"


def check_urls_are_http(html: str) -> None:
    for tag, key, value in read_html(html).attributes():
        if key.lower() not in URL_ATTRIBUTES:
            continue
        if key.lower() == "href" and value.startswith("#"):  # the table of contents
            continue
        if key.lower() == "href" and value == UNSUBSCRIBE_MAILTO:
            continue
        assert scheme_of(value) in ("http", "https"), f"<{tag} {key}={value!r}>"


def check_no_tracking(html: str) -> None:
    page = read_html(html)
    for tag, attrs in page.tags:
        values = dict(attrs)
        if tag == "img":
            assert "tracker.example" not in (values.get("src") or ""), values
            assert (values.get("width"), values.get("height")) not in (
                ("1", "1"), ("0", "0")), f"a tiny image: {values}"
    assert "tracker.example" not in html, "a tracker's URL reached the HTML"


def check_no_bidi_or_controls(text: str) -> None:
    bidi = sorted({f"U+{ord(c):04X}" for c in text if c in BIDI_CONTROLS})
    controls = sorted({f"U+{ord(c):04X}" for c in text
                       if unicodedata.category(c) == "Cc" and c not in "\t\n\r"})
    assert not bidi and not controls, \
        f"bidirectional controls: {bidi}, control characters: {controls}"


def check_text_part(text: str) -> None:
    """The plain-text part: no unsafe URL anywhere, no markup from the feed's markup."""
    squeezed = "".join(c for c in text if not (c.isspace() or unicodedata.category(c) == "Cc"))
    found = UNSAFE_SCHEME.findall(squeezed)
    assert not found, f"unsafe URL schemes in the text part: {found}"
    visible = text
    for literal in LITERAL_TEXT:
        visible = visible.replace(literal, "")
    tags = re.findall(rf"<\s*/?\s*(?:{'|'.join(sorted(DANGEROUS_TAGS))})\b[^>]*>?", visible,
                      re.IGNORECASE)
    assert not tags, f"markup in the text part: {tags}"


def check_text_links(text: str) -> None:
    """Every link reference line is one well-formed http(s) URL."""
    lines = [line for line in text.splitlines() if line.strip().startswith("<")]
    assert lines, "no link references at all"
    bad = [line.strip() for line in lines if not TEXT_LINK.match(line)]
    assert not bad, f"malformed link references: {bad}"


# --- the tests ---


def test_the_feed_carries_what_the_tests_rely_on() -> None:
    body = XSS_FEED.read_bytes()
    assert body.count(b"<item>") >= 12
    outcome = parse_feed(XSS_FEED.as_uri(), body)
    assert outcome.status == "ok", outcome.error
    guids = {item.guid for item in outcome.items}
    assert guids == KEPT_GUIDS
    assert not guids & DROPPED_GUIDS
    assert all(urlsplit(item.url).scheme in ("http", "https") for item in outcome.items)
    assert all(DROPPED_TITLE not in item.title for item in outcome.items)


def test_every_surviving_item_reaches_the_email(xss: Built) -> None:
    # All hostile items that have an http(s) link are rendered: the checks below are not
    # vacuous because ranking happened to leave the hostile stories out.
    page = read_html(xss.html)
    titles = [text for _, text in page.anchors]
    assert sum(1 for t in titles if t.strip()) >= len(KEPT_GUIDS)
    assert "Attribute break-out through the link of a ferry story" in titles
    assert any(t.startswith("Exchange rate notice") for t in titles)


def test_ordinary_items_survive_intact(xss: Built) -> None:
    anchors = set(read_html(xss.html).anchors)
    for title, url in ORDINARY.items():
        assert (url, title) in anchors
        assert f"<{url}>" in xss.text
        assert title in xss.text
    assert "Boats to the outer islands will leave every ninety minutes" in xss.html
    assert "The reading room now stays open until six" in xss.text


def test_items_with_unsafe_links_are_left_out(xss: Built) -> None:
    for output in (xss.html, xss.text, xss.json):
        assert DROPPED_TITLE not in output


def test_html_has_no_markup_from_the_feed(xss: Built, baseline: Built) -> None:
    check_no_added_elements(xss.html, baseline.html)


def test_html_has_no_style_from_the_feed(xss: Built, baseline: Built) -> None:
    check_style_is_the_templates(xss.html, baseline.html)


def test_html_has_no_event_handlers(xss: Built) -> None:
    check_no_event_handlers(xss.html)


def test_html_links_are_http_only(xss: Built) -> None:
    check_urls_are_http(xss.html)
    # The protocol-relative item link resolved against the channel's https link.
    assert ("https://evil.example/protocol-relative-story",
            "Links with hostile schemes in the text of a sailing report") in \
        read_html(xss.html).anchors


def test_html_has_no_tracking_pixel(xss: Built) -> None:
    check_no_tracking(xss.html)


def test_hostile_text_is_escaped_not_dropped(xss: Built) -> None:
    # Double-encoded "<script>" is the publisher's visible text: shown, as text only.
    page = read_html(xss.html)
    assert any(LITERAL_TEXT[0] in text for text in page.text)
    assert "&lt;script&gt;alert(&#39;double&#39;)" in xss.html


def test_no_bidi_overrides_or_control_characters(xss: Built) -> None:
    # A right-to-left override makes "\u202efdp.exe" read as "exe.pdf"; controls are invisible.
    subject = email.message_from_string(xss.eml, policy=email.policy.default)["Subject"]
    problems = []
    for where, text in (("subject", subject), ("html", "".join(read_html(xss.html).text)),
                        ("text part", xss.text)):
        try:
            check_no_bidi_or_controls(text)
        except AssertionError as e:
            problems.append(f"{where}: {str(e).splitlines()[0]}")
    assert not problems, "; ".join(problems)


def test_text_part_has_no_unsafe_urls_or_markup(xss: Built) -> None:
    check_text_part(xss.text)


def test_text_part_links_are_well_formed(xss: Built, baseline: Built) -> None:
    check_text_links(baseline.text)
    check_text_links(xss.text)


def test_eml_parts_are_safe(xss: Built, baseline: Built) -> None:
    message = email.message_from_string(xss.eml, policy=email.policy.default)
    parts = {part.get_content_type(): part.get_content().replace("\r\n", "\n")  # CRLF on the wire
             for part in message.iter_parts()}
    assert set(parts) == {"text/plain", "text/html"}
    html, text = parts["text/html"], parts["text/plain"]
    for title in ORDINARY:
        assert title in html and title in text
    check_no_added_elements(html, baseline.html)
    check_style_is_the_templates(html, baseline.html)
    check_no_event_handlers(html)
    check_urls_are_http(html)
    check_no_tracking(html)
    check_text_part(text)
    assert "\r" not in message["Subject"] and "\n" not in message["Subject"]


# --- every check can fail ---


_SAFE_STORY = '<a href="https://courier.example/news/winter-ferry-timetable"'
def _handlers(html: str, _baseline: str) -> None:
    check_no_event_handlers(html)


def _urls(html: str, _baseline: str) -> None:
    check_urls_are_http(html)


UNSAFE_HTML: list[tuple[str, str, Callable[[str, str], None]]] = [
    ("script", '<p><script>alert(1)</script></p>', check_no_added_elements),
    ("style element", "<style>body{display:none}</style>", check_no_added_elements),
    ("iframe", '<iframe src="https://evil.example/"></iframe>', check_no_added_elements),
    ("svg", "<svg><circle r=1 /></svg>", check_no_added_elements),
    ("meta refresh", '<meta http-equiv="refresh" content="0;url=https://evil.example/">',
     check_no_added_elements),
    ("base", '<base href="https://evil.example/">', check_no_added_elements),
    ("form", '<form action="https://evil.example/"><input name=pw></form>',
     check_no_added_elements),
    ("style block", "<style>p{color:red}</style>", check_style_is_the_templates),
    ("style attribute", '<p style="width:expression(alert(1))">x</p>',
     check_style_is_the_templates),
    ("onerror", "<img src=x onerror=alert(1)>", _handlers),
    ("onmouseover", '<a href="https://a.example/" onmouseover="alert(1)">x</a>', _handlers),
    ("javascript href", '<a href="javascript:alert(1)">x</a>', _urls),
    ("tab in scheme", '<a href="java&#x09;script:alert(1)">x</a>', _urls),
    ("control before scheme", '<a href=" &#14; JaVaScRiPt:alert(1)">x</a>', _urls),
    ("vbscript href", '<a href="vbscript:msgbox(1)">x</a>', _urls),
    ("data src", '<img src="data:image/svg+xml;base64,PHN2Zz4=">', _urls),
    ("protocol-relative", '<a href="//evil.example/x">x</a>', _urls),
    ("pixel", '<img src="https://tracker.example/p.gif" width="1" height="1">',
     lambda h, b: check_no_tracking(h)),
    ("rtl override", "<p>Exchange \u202efdp.exe</p>",
     lambda h, b: check_no_bidi_or_controls("".join(read_html(h).text))),
]


@pytest.mark.parametrize("unsafe, check", [(u, c) for _, u, c in UNSAFE_HTML],
                         ids=[name for name, _, _ in UNSAFE_HTML])
def test_checks_catch_unsafe_html(baseline: Built, unsafe: str,
                                  check: Callable[[str, str], None]) -> None:
    check(baseline.html, baseline.html)  # the ordinary render passes ...
    tampered = baseline.html.replace(_SAFE_STORY, unsafe + _SAFE_STORY, 1)
    assert tampered != baseline.html
    with pytest.raises(AssertionError):  # ... and the same render with one unsafe thing fails
        check(tampered, baseline.html)


@pytest.mark.parametrize("unsafe, check", [
    ("    <javascript:alert(1)>", check_text_part),
    ("    see java\tscript:alert(1)", check_text_part),
    ("    <data:text/html;base64,PHNjcmlwdD4=>", check_text_part),
    ("<script>alert(1)</script>", check_text_part),
    ("    <https://a.example/x\"><script>alert(1)</script>>", check_text_links),
    ("    <//evil.example/x>", check_text_links),
    ("Title \u202efdp.exe", check_no_bidi_or_controls),
    ("Title \x7f", check_no_bidi_or_controls),
], ids=["javascript", "tabbed-javascript", "data", "script", "broken-link", "relative-link",
        "rtl", "del"])
def test_checks_catch_unsafe_text(baseline: Built, unsafe: str,
                                  check: Callable[[str], None]) -> None:
    check(baseline.text)
    with pytest.raises(AssertionError):
        check(baseline.text + "\n" + unsafe + "\n")
