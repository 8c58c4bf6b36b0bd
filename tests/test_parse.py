"""parse: how digest drives feedparser (elements held back, content skipped, malformed XML
mended, feedparser's handler made cheaper), wrong charset declarations, and cleaning only a
prefix of long HTML, checked against the straightforward parse on our own small feeds and on
the real-world corpus, and against feedparser's unmodified handler on feedparser's own test
feeds too (DIGEST_FEEDPARSER_TESTS: the tests/ folder of feedparser's sdist)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import feedparser
import pytest

from conftest import CORPUS, FEEDS
from digest import feedxml, parse
from digest.models import FeedStatus
from digest.parse import MAX_SUMMARY_CHARS, cut_text, html_to_text, parse_feed

URL = "https://enc.example/feed.xml"


def rss(items: str, *, declaration: str = '<?xml version="1.0" encoding="utf-8"?>\n',
        namespaces: str = "") -> str:
    return (f'{declaration}<rss version="2.0"{namespaces}><channel><title>T</title>'
            f"<link>https://enc.example/</link>{items}</channel></rss>")


def item(title: str, description: str = "", *, n: int = 1, extra: str = "") -> str:
    desc = f"<description>{description}</description>" if description else ""
    return (f"<item><title>{title}</title><link>https://enc.example/{n}</link>"
            f"<guid>g{n}</guid>{desc}{extra}</item>")


def one_line_error(outcome: Any) -> str:
    assert outcome.status is FeedStatus.ERROR
    assert outcome.error and "\n" not in outcome.error
    return str(outcome.error)


# --- the straightforward parse, as parse_feed did it before it drove feedparser itself ---


def reference(url: str, body: bytes) -> list[tuple[Any, ...]]:
    """feedparser.parse() on the bytes, every field cleaned whole: what items must equal."""
    parsed = feedparser.parse(body, sanitize_html=False, resolve_relative_uris=False)
    feed = parsed.get("feed", {})
    base = url if url.startswith(("http://", "https://")) else (
        parse.safe_url(feed.get("link")) or "")
    out = []
    for entry in parsed.get("entries") or []:
        guid = (dict.get(entry, "id") or "").strip() or None
        link = dict.get(entry, "link")
        if not link and guid and dict.get(entry, "guidislink"):
            link = guid
        link = parse.safe_url(link, base)
        if link is None:
            continue
        title = cut_text(html_to_text(dict.get(entry, "title")), parse.MAX_TITLE_CHARS)
        summary = html_to_text(dict.get(entry, "summary"))
        if not summary:
            for content in dict.get(entry, "content") or ():
                summary = html_to_text(content.get("value"))
                if summary:
                    break
        summary = cut_text(summary, MAX_SUMMARY_CHARS)
        if not title and not summary:
            continue
        author = cut_text(html_to_text(dict.get(entry, "author")), parse.MAX_NAME_CHARS)
        out.append((link, title or summary[:80], summary, parse._entry_date(entry), guid,
                    author or None))
    return out


def fields(url: str, body: bytes) -> list[tuple[Any, ...]]:
    return [(i.url, i.title, i.summary, i.published, i.guid, i.author)
            for i in parse_feed(url, body).items]


CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.stat().st_size) if CORPUS.is_dir() else []
OUR_FILES = sorted(FEEDS.glob("*.xml")) + sorted(FEEDS.glob("*.atom"))


@pytest.mark.skipif(not CORPUS_FILES, reason=f"no feed corpus at {CORPUS}")
@pytest.mark.parametrize("path", CORPUS_FILES or [Path("missing")], ids=lambda p: p.name)
def test_corpus_items_equal_the_straightforward_parse(path: Path) -> None:
    # Titles, links, guids, dates, summaries and authors: every corpus file, including the
    # three that are not well-formed XML (mended, they now go through the strict parser).
    url = f"https://corpus.example/{path.name}"
    body = path.read_bytes()
    if "truncated" in path.name:
        assert parse_feed(url, body).status is FeedStatus.ERROR
        return
    assert fields(url, body) == reference(url, body)


@pytest.mark.parametrize("path", OUR_FILES, ids=lambda p: p.name)
def test_our_feeds_equal_the_straightforward_parse(path: Path) -> None:
    url = "https://testwire.example/feeds/rss.xml"
    assert fields(url, path.read_bytes()) == reference(url, path.read_bytes())


def test_the_fast_path_is_in_use() -> None:
    # feedparser's pieces imported: a feedparser release that moves them would silently fall
    # back to feedparser.parse() (correct, but slower); this says so. Likewise the cheaper
    # handler: it is checked against feedparser 6.0.x internals, and another feedparser gets
    # the unmodified one (re-check the overrides in digest/feedxml.py against its mixin.py).
    assert parse.StrictFeedParser is not None
    assert feedxml.HANDLER is feedxml._FastStrictParser, feedparser.__version__


def test_another_feedparser_gets_the_unmodified_handler(monkeypatch: pytest.MonkeyPatch) -> None:
    from feedparser.api import StrictFeedParser

    monkeypatch.setattr(feedparser, "__version__", "6.1.0")
    assert feedxml._handler_class() is StrictFeedParser
    monkeypatch.undo()
    assert feedxml._handler_class() is feedxml._FastStrictParser
    monkeypatch.setattr(feedxml, "_RELIED_ON", (*feedxml._RELIED_ON, "an_attribute_gone_in_7"))
    assert feedxml._handler_class() is StrictFeedParser


# --- the cheaper handler against feedparser's own: the same outcome, the same fields read ---


def both_handlers(url: str, body: bytes) -> list[tuple[Any, ...]]:
    """What parse_feed makes of `body`, and the fields it reads from feedparser's dicts (with
    and without content skipped), with feedparser's unmodified handler and with ours."""
    from feedparser.api import StrictFeedParser

    assert feedxml.HANDLER is feedxml._FastStrictParser
    results = []
    for handler in (StrictFeedParser, feedxml._FastStrictParser):
        feedxml.HANDLER = handler
        try:
            o = parse_feed(url, body)
            read = [read_fields(parse._parse(body, None, skip_content=skip))
                    for skip in (True, False)] if body.strip() else []
        finally:
            feedxml.HANDLER = feedxml._FastStrictParser
        results.append((o.status, o.error, o.title, o.ttl, o.items, read))
    return results


ENTRY_KEYS = ("title", "link", "id", "guidislink", "summary", "published_parsed",
              "updated_parsed", "created_parsed", "author")


def read_fields(p: Any) -> tuple[Any, ...]:
    entries = [([dict.get(e, k) for k in ENTRY_KEYS],
                [c.get("value") for c in dict.get(e, "content") or ()]) for e in p.entries]
    feed = [dict.get(p.feed, k) for k in ("title", "link", "ttl")]
    return entries, feed, p.version, repr(p.error), p.content_skipped


@pytest.mark.skipif(not CORPUS_FILES, reason=f"no feed corpus at {CORPUS}")
@pytest.mark.parametrize("path", CORPUS_FILES or [Path("missing")], ids=lambda p: p.name)
def test_corpus_same_with_feedparsers_own_handler(path: Path) -> None:
    plain, fast = both_handlers(f"https://corpus.example/{path.name}", path.read_bytes())
    assert fast == plain


@pytest.mark.parametrize("path", OUR_FILES, ids=lambda p: p.name)
def test_our_feeds_same_with_feedparsers_own_handler(path: Path) -> None:
    plain, fast = both_handlers("https://testwire.example/feeds/rss.xml", path.read_bytes())
    assert fast == plain


FEEDPARSER_TESTS = os.environ.get("DIGEST_FEEDPARSER_TESTS")


@pytest.mark.skipif(
    not FEEDPARSER_TESTS or not Path(FEEDPARSER_TESTS, "wellformed").is_dir(),
    reason="DIGEST_FEEDPARSER_TESTS does not name feedparser's sdist tests/ folder")
@pytest.mark.parametrize("folder", ["wellformed", "illformed"])
def test_feedparsers_own_test_feeds_same_with_its_own_handler(folder: str) -> None:
    # Each of these files exercises one corner of feedparser (xml:base, base64 and xhtml
    # content, C1 characters, mis-encoded UTF-8, namespaces, ...): every one, read in place.
    files = sorted(Path(FEEDPARSER_TESTS or ".", folder).rglob("*.xml"))
    assert files, f"no test feeds under {FEEDPARSER_TESTS}/{folder}"
    differ = [path for path in files
              if (pair := both_handlers(f"https://feedparser.example/{path.name}",
                                        path.read_bytes()))[0] != pair[1]]
    assert not differ, differ[:20]


ATOM = ('<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"{ns}>'
        "<title>A</title>{body}</feed>")


@pytest.mark.parametrize("body", [
    # xml:base on the feed and on an entry: links, ids and the base itself resolved by feedparser
    ATOM.format(ns=' xml:base="https://base.example/dir/"', body=(
        '<entry xml:base="sub/"><id>rel/1</id><title>T</title><link href="../a"/>'
        "<summary>S</summary></entry>")).encode(),
    # xhtml content (its div unwrapped) and base64 content, with no summary
    ATOM.format(ns="", body=(
        '<entry><id>tag:a,1</id><title type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml">'
        'X <b>y</b></div></title><link href="https://e.example/1"/><content type="xhtml">'
        '<div xmlns="http://www.w3.org/1999/xhtml"><p>Body <i>it</i> &amp; &lt;x&gt;</p></div>'
        "</content>"
        '</entry><entry><id>tag:a,2</id><title>B</title><link href="https://e.example/2"/>'
        '<content type="application/octet-stream" mode="base64">PHA+SGk8L3A+</content>'
        "</entry>")).encode(),
    # C1 controls read as windows-1252, UTF-8 mis-read as latin-1, a ":///" link, "&amp;" in
    # a query, a text/plain title that looks like HTML, a guid that is a permalink
    rss(item("CafÃ© quoted &amp;lt;b&amp;gt;x&amp;lt;/b&amp;gt;",
             "Sum  &lt;i&gt;x&lt;/i&gt;")
        + "<item><title>L</title><link>https:///enc.example/a?b=1&amp;c=2&amp;d;</link>"
          '<guid isPermaLink="true">https:///enc.example/g</guid></item>'
        + '<item><title>G</title><guid>https://enc.example/perma</guid></item>').encode(),
    # an unknown namespace and a namespace prefix reused for another known URI
    rss(item("N", extra='<x:thing xmlns:x="urn:x">v</x:thing>'
                        '<dc:creator xmlns:dc="http://purl.org/dc/terms/">Who</dc:creator>'
                        '<a:author xmlns:a="http://purl.org/dc/elements/1.1/">Else</a:author>'),
        ).encode(),
])
def test_feedparser_corners_same_with_its_own_handler(body: bytes) -> None:
    plain, fast = both_handlers(URL, body)
    assert fast == plain
    assert plain[0] is FeedStatus.OK


# --- elements held back and content skipped: nothing we read changes ---


def test_categories_media_and_enclosures_do_not_change_the_item() -> None:
    mrss = ' xmlns:media="http://search.yahoo.com/mrss/"'
    extra = ('<category>World</category><category domain="x">Europe</category>'
             '<enclosure url="https://cdn.example/a.mp3" type="audio/mpeg" length="1"/>'
             '<media:thumbnail url="https://cdn.example/t.jpg"/>'
             '<media:content url="https://cdn.example/v.mp4"/><comments>https://c.example/</comments>')
    body = rss(item("Plain title", "Summary text.", extra=extra), namespaces=mrss).encode()

    assert fields(URL, body) == reference(URL, body)
    (one,) = parse_feed(URL, body).items
    assert (one.title, one.summary, one.url) == ("Plain title", "Summary text.",
                                                 "https://enc.example/1")


def test_media_content_with_a_title_child_still_reaches_feedparser() -> None:
    # <media:content> is held back only when it is a leaf: here its <media:title> and
    # <media:description> are the entry's only title and summary.
    mrss = ' xmlns:media="http://search.yahoo.com/mrss/"'
    entry = ('<item><link>https://enc.example/v</link><media:content url="https://cdn.example/v">'
             "<media:title>Video title</media:title>"
             "<media:description>Video summary.</media:description></media:content></item>")
    body = rss(entry, namespaces=mrss).encode()

    (one,) = parse_feed(URL, body).items
    assert (one.title, one.summary) == ("Video title", "Video summary.")
    assert fields(URL, body) == reference(URL, body)


def test_channel_elements_we_do_not_read_leave_title_link_and_ttl() -> None:
    body = ('<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
            "<image><title>Image title</title><url>https://f.example/i.png</url>"
            "<link>https://f.example/image</link></image>"
            "<title>Feed title</title><link>https://f.example/</link>"
            "<description>About the feed</description><language>en</language>"
            "<copyright>(c)</copyright><managingEditor>ed@f.example</managingEditor>"
            "<lastBuildDate>Tue, 24 Nov 2026 08:00:00 GMT</lastBuildDate><ttl>30</ttl>"
            + item("Story", "Summary.") + "</channel></rss>").encode()
    reference_feed = feedparser.parse(body, sanitize_html=False).feed

    # A file:// feed's relative links resolve against the channel <link>.
    outcome = parse_feed("file:///feeds/f.xml", body.replace(b"https://enc.example/1", b"/s/1"))
    assert (outcome.title, outcome.ttl and outcome.ttl.total_seconds()) == ("Feed title", 1800)
    assert reference_feed.title == "Feed title"
    assert [i.url for i in outcome.items] == ["https://f.example/s/1"]
    assert fields(URL, body) == reference(URL, body)


CONTENT_NS = ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'


@pytest.mark.parametrize("description, content, summary", [
    # a summary: the full text is never handed to feedparser
    ("Short summary.", "<p>Full <b>text</b> of the story.</p>", "Short summary."),
    # a summary with no visible text: parsed again, with content
    ('<img src="https://cdn.example/a.jpg"/>', "<p>Full text.</p>", "Full text."),
    ("   ", "<p>Full text.</p>", "Full text."),
    # no summary at all: content is the summary
    ("", "<p>Only the content.</p>", "Only the content."),
])
def test_content_is_used_only_when_the_summary_is_blank(
        description: str, content: str, summary: str) -> None:
    desc = f"<description><![CDATA[{description}]]></description>" if description else ""
    entry = (f"<item><title>T1</title><link>https://enc.example/1</link>{desc}"
             f"<content:encoded><![CDATA[{content}]]></content:encoded></item>")
    body = rss(entry, namespaces=CONTENT_NS).encode()

    (one,) = parse_feed(URL, body).items
    assert one.summary == summary
    assert fields(URL, body) == reference(URL, body)
    skipped = parse._parse(body, None, skip_content=True).content_skipped
    assert skipped == ({0} if description.strip() else set())


def test_content_before_the_description_and_atom_summary_with_content() -> None:
    rss_body = rss("<item><title>A</title><link>https://enc.example/a</link>"
                   "<content:encoded>Body first.</content:encoded>"
                   "<description>Then the summary.</description></item>",
                   namespaces=CONTENT_NS).encode()
    atom_body = (b'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom">'
                 b"<title>A</title><entry><id>tag:a,2026:1</id><title>E</title>"
                 b'<link href="https://enc.example/e"/><summary>Atom summary.</summary>'
                 b'<content type="html">&lt;p&gt;Atom body.&lt;/p&gt;</content>'
                 b"<summary>Second summary.</summary></entry></feed>")

    assert [i.summary for i in parse_feed(URL, rss_body).items] == ["Then the summary."]
    for body in (rss_body, atom_body):
        assert fields(URL, body) == reference(URL, body)


# --- malformed XML mended before falling back to the loose parser ---


def no_loose_parser(*_args: object) -> None:
    raise AssertionError("fell back to feedparser's loose parser")


def test_bare_ampersands_and_html_entities_are_mended(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "LooseFeedParser", no_loose_parser)
    entry = ("<item><title>Tom & Jerry&nbsp;&eacute;t&eacute;</title>"
             "<link>https://enc.example/a?x=1&y=2</link><guid>g1</guid>"
             "<description><![CDATA[Fish & chips &amp; peas]]></description></item>")
    outcome = parse_feed(URL, rss(entry).encode())

    assert outcome.status is FeedStatus.OK
    (one,) = outcome.items
    assert one.title == "Tom & Jerry été"  # the no-break space is whitespace to html_to_text
    assert one.url == "https://enc.example/a?x=1&y=2"
    assert one.summary == "Fish & chips & peas"  # CDATA left as it was


def test_whitespace_before_the_declaration_is_dropped_and_lines_still_count(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parse, "LooseFeedParser", no_loose_parser)
    good = b"\n\n" + rss(item("Late declaration")).encode()
    assert [i.title for i in parse_feed(URL, good).items] == ["Late declaration"]

    monkeypatch.undo()  # a cut document does go to the loose parser
    cut = b"\n\n" + b'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><chan'
    assert one_line_error(parse_feed(URL, cut)).startswith("XML error at line 4, column ")


def test_error_line_numbers_are_the_documents_own() -> None:
    # convert_to_utf8 puts an XML declaration in front of a document without one; the line
    # reported is still the document's line 2.
    body = b'<rss version="2.0">\n<channel><title>T</title><item><tit'
    assert one_line_error(parse_feed(URL, body)).startswith("XML error at line 2, column ")


# --- wrong charset declarations ---


def test_declared_utf8_but_windows_1252_bytes() -> None:
    body = rss(item("Caf\u00e9 \u201cquoted\u201d \u2014 na\u00efve",
                    "Cr\u00e8me br\u00fbl\u00e9e \u20ac5")).encode("windows-1252")

    outcome = parse_feed(URL, body)
    assert outcome.status is FeedStatus.OK
    (one,) = outcome.items
    assert one.title == "Caf\u00e9 \u201cquoted\u201d \u2014 na\u00efve"
    assert one.summary == "Cr\u00e8me br\u00fbl\u00e9e \u20ac5"


def test_declared_utf8_with_a_few_windows_1252_bytes_keeps_the_utf8_text() -> None:
    # feedparser alone reads the whole document as windows-1252: "Café" became "CafÃ©".
    body = rss(item("Caf\u00e9 \u2014 Z\u00fcrich", "STRAY")).encode("utf-8")
    body = body.replace(b"STRAY", "Cr\u00e8me \u201cbr\u00fbl\u00e9e\u201d".encode("cp1252"))

    (one,) = parse_feed(URL, body).items
    assert one.title == "Caf\u00e9 \u2014 Z\u00fcrich"
    assert one.summary == "Cr\u00e8me \u201cbr\u00fbl\u00e9e\u201d"


@pytest.mark.parametrize("declared", ["iso-8859-1", "windows-1252", "shift_jis", "gb2312",
                                      "utf-16", "x-no-such-encoding"])
def test_declared_otherwise_but_utf8_bytes(declared: str) -> None:
    # An entity next to the UTF-8 text defeats feedparser's own per-field repair.
    title = "Caf&#233; Z\u00fcrich \u65e5\u672c"
    body = rss(item(title, "Cr\u00e8me br\u00fbl\u00e9e"),
               declaration=f'<?xml version="1.0" encoding="{declared}"?>\n').encode("utf-8")

    (one,) = parse_feed(URL, body).items
    assert one.title == "Caf\u00e9 Z\u00fcrich \u65e5\u672c"
    assert one.summary == "Cr\u00e8me br\u00fbl\u00e9e"


def test_http_charset_wins_over_the_declaration_unless_the_bytes_disagree() -> None:
    latin1 = rss(item("Z\u00fcrich"), declaration="").encode("latin-1")
    outcome = parse_feed(URL, latin1, content_type="application/rss+xml; charset=iso-8859-1")
    assert [i.title for i in outcome.items] == ["Z\u00fcrich"]

    utf8 = rss(item("Z\u00fcrich &amp; S\u00e3o Paulo")).encode("utf-8")
    outcome = parse_feed(URL, utf8, content_type="text/xml; charset=iso-8859-1")
    assert [i.title for i in outcome.items] == ["Z\u00fcrich & S\u00e3o Paulo"]


def test_declared_ebcdic_but_ascii_bytes() -> None:
    body = rss(item("Plain ASCII"), declaration='<?xml version="1.0" encoding="cp500"?>\n')
    assert [i.title for i in parse_feed(URL, body.encode("ascii")).items] == ["Plain ASCII"]


def test_legacy_encodings_are_still_trusted_when_the_bytes_are_not_utf8() -> None:
    body = rss(item("\u041d\u043e\u0432\u043e\u0441\u0442\u0438"),
               declaration='<?xml version="1.0" encoding="windows-1251"?>\n')
    (one,) = parse_feed(URL, body.encode("windows-1251")).items
    assert one.title == "\u041d\u043e\u0432\u043e\u0441\u0442\u0438"


@pytest.mark.parametrize("codec", ["utf-16", "utf-32"])  # Python writes the BOM
def test_a_byte_order_mark_wins_over_the_utf8_default(codec: str) -> None:
    # No declaration: feedparser tries UTF-8 first, and NUL-laden "UTF-8" is valid.
    body = rss(item("Caf\u00e9"), declaration="").encode(codec)
    assert [i.title for i in parse_feed(URL, body).items] == ["Caf\u00e9"]


def test_nothing_usable_because_of_the_encoding_says_so() -> None:
    # UTF-16 without a byte-order mark or "<?xml", under a UTF-8 label: nothing parses.
    body = rss(item("Caf\u00e9"), declaration="").encode("utf-16-le")
    error = one_line_error(parse_feed(URL, body, content_type="application/rss+xml; charset=utf-8"))

    assert error.startswith("encoding: declared utf-8 but the bytes contain NUL"), error


def test_encoding_error_with_broken_xml_names_both() -> None:
    body = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>'
            "<title>Caf\u00e9</title><item><tit").encode("windows-1252")
    error = one_line_error(parse_feed(URL, body))

    assert error.startswith(
        "encoding: declared utf-8 but the bytes are not valid utf-8 (stray bytes read as "
        "windows-1252); XML error at line 2, column "), error


def test_existing_error_messages_are_unchanged() -> None:
    assert one_line_error(parse_feed(URL, b"")) == "empty response (0 bytes of feed)"
    assert one_line_error(parse_feed(URL, b"<html><body>x</body></html>")) == \
        "not a feed (an HTML page)"
    assert one_line_error(parse_feed(URL, b'<?xml version="1.0"?>\n<rss><chan')).startswith(
        "XML error at line 2, column ")


# --- html_to_text: only a prefix of a long fragment is cleaned ---


def paragraphs(n: int) -> str:
    return "".join(
        f'<p class="x{i}">Sentence {i} &amp; more, <a href="https://e.example/{i}">a link</a>'
        f" and <em>emphasis</em> &#8212; caf&eacute; {i}.</p>\n" for i in range(n))


def test_a_long_summary_is_the_whole_fragments_text_cut_to_the_limit() -> None:
    fragment = paragraphs(600)
    assert len(fragment) > 3 * parse._CLEAN_PREFIX_CHARS
    assert html_to_text(fragment, MAX_SUMMARY_CHARS) == \
        cut_text(parse._clean(fragment), MAX_SUMMARY_CHARS)


@pytest.mark.parametrize("shift", range(0, 120, 7))
def test_cutting_anywhere_in_a_tag_or_entity_gives_the_same_text(shift: int) -> None:
    # Move the cut point across tags, attributes and entities.
    fragment = "x" * shift + paragraphs(600)
    assert html_to_text(fragment, MAX_SUMMARY_CHARS) == \
        cut_text(parse._clean(fragment), MAX_SUMMARY_CHARS)


def test_markup_heavy_fragment_falls_back_to_cleaning_it_whole() -> None:
    # The first prefix is nearly all markup: too little text, so the whole fragment is cleaned.
    fragment = '<img src="https://cdn.example/a.jpg" alt="">' * 2000 + paragraphs(200)
    text = html_to_text(fragment, MAX_SUMMARY_CHARS)
    assert text == cut_text(parse._clean(fragment), MAX_SUMMARY_CHARS)
    assert text.startswith("Sentence 0 & more")


@pytest.mark.parametrize("danger", [
    '<script>alert("x")</script>',
    '<style>body { display: none }</style>',
    '<a href="javascript:alert(1)" onclick="alert(2)">click</a>',
    '<img src="data:text/html;base64,PHNjcmlwdD4=" onerror="alert(3)">',
    "<!-- a comment that never ends",
])
def test_cutting_inside_dangerous_markup_leaves_none_of_it(danger: str) -> None:
    # The cut falls at every point inside the dangerous element: what is cleaned is the cut
    # prefix, so a half tag or an unclosed script is dropped, never left as markup.
    head = "Visible words. " * ((parse._CLEAN_PREFIX_CHARS - 200) // 15)
    for offset in range(len(danger)):
        pad = parse._CLEAN_PREFIX_CHARS - len(head) - offset
        fragment = head + "y" * pad + danger + " tail words." * 500
        text = html_to_text(fragment, MAX_SUMMARY_CHARS)
        lowered = text.lower()
        for bad in ("<", "alert", "javascript:", "onclick", "onerror", "data:", "display"):
            assert bad not in lowered, (offset, bad)


def test_plain_text_needs_no_cleaning_and_is_cut() -> None:
    assert html_to_text("  plain   words\n here ") == "plain words here"
    assert html_to_text("w " * 5000, MAX_SUMMARY_CHARS) == \
        cut_text(("w " * 5000).strip(), MAX_SUMMARY_CHARS)


def test_undated_item_has_no_date_for_the_store_to_fill() -> None:
    # parse_feed is pure: no clock. The store records first-seen; Item.when falls back to it.
    (one,) = parse_feed(URL, rss(item("Undated")).encode()).items
    assert one.published is None
    dated = rss(item("Dated", extra="<pubDate>Tue, 24 Nov 2026 08:00:00 +0100</pubDate>"))
    assert parse_feed(URL, dated.encode()).items[0].published == datetime(2026, 11, 24, 7, 0,
                                                                          tzinfo=UTC)


def test_relative_guid_is_kept_as_written() -> None:
    # Not resolved against the feed's address: the same feed from another host or port gives
    # the same guid, so the same item keys.
    entry = ('<item><title>T</title><link>/stories/a</link>'
             '<guid isPermaLink="false">/stories/a</guid></item>')
    for url in ("https://a.example:8443/feed.xml", "http://127.0.0.1:5000/feed.xml"):
        (one,) = parse_feed(url, rss(entry).encode()).items
        assert one.guid == "/stories/a"


def test_thumbnails_https_only_no_tracking_pixels() -> None:
    media = 'xmlns:media="http://search.yahoo.com/mrss/"'
    body = f"""<rss version="2.0" {media}><channel><title>Pics</title>
    <item><title>A</title><link>https://p.example/a</link>
      <media:thumbnail url="https://img.p.example/a.jpg" width="300" height="200"/></item>
    <item><title>B</title><link>https://p.example/b</link>
      <media:thumbnail url="http://img.p.example/b.jpg"/></item>
    <item><title>C</title><link>https://p.example/c</link>
      <media:content url="https://t.example/pixel.gif" medium="image" width="1" height="1"/>
      <enclosure url="https://img.p.example/c.png" type="image/png" length="48213"/></item>
    <item><title>D</title><link>https://p.example/d</link>
      <media:content url="https://img.p.example/d.jpg" medium="image"/></item>
    <item><title>E</title><link>https://p.example/e</link>
      <enclosure url="https://p.example/e.mp3" type="audio/mpeg" length="100000"/></item>
    <item><title>F</title><link>https://p.example/f</link>
      <enclosure url="https://t.example/f.gif" type="image/gif" length="43"/></item>
    </channel></rss>""".encode()
    images = {i.title: i.image for i in parse_feed("https://p.example/feed", body).items}
    assert images == {"A": "https://img.p.example/a.jpg", "B": None,
                      "C": "https://img.p.example/c.png", "D": "https://img.p.example/d.jpg",
                      "E": None, "F": None}


def test_thumbnails_also_after_the_loose_parser() -> None:
    # Not well-formed (a mismatched tag): feedparser's loose parser reads it, and the
    # thumbnail comes from feedparser's own keys instead of feedxml's.
    body = b"""<rss version="2.0" xmlns:media="http://search.yahoo.com/mrss/"><channel>
    <title>Broken</title><item><title>A <b>bold</i> claim</title><link>https://p.example/a</link>
    <media:thumbnail url="https://img.p.example/a.jpg" width="300" height="200"/></item>
    </channel></rss>"""
    outcome = parse_feed("https://p.example/feed", body)
    assert [i.image for i in outcome.items] == ["https://img.p.example/a.jpg"]
