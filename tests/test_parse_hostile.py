"""Hostile feeds (issue 17): one item must never empty an edition or fail its feed.

- every displayed field is bounded at parse time (a 9 MB title, summary, author or name);
- one malformed URL drops that value (or its item), never the feed, and the feed's status says
  so; html5lib's and bleach's own test vectors go through every URL field (read from their
  sdists, which `make install` downloads into .venv/vectors; skipped when absent);
- a 100,000-item feed keeps the newest `fetch.max_items` (speed: bench/hostile.py);
- entity references feedparser refuses to expand (an entity bomb, an external entity) are
  dropped, not shown as "&lol9;".
"""

from __future__ import annotations

import ast
import json
import re
import tarfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from random import Random
from urllib.parse import urlsplit
from xml.sax.saxutils import escape, quoteattr

import pytest
import yaml

from conftest import (
    CORPUS,
    DEMO_DAY,
    FEEDS,
    REPO,
    FeedServer,
    Route,
    WriteConfig,
    count_items,
    fixed_clock,
    open_app,
)
from digest import parse
from digest.cli import main
from digest.config import load_settings
from digest.models import FeedOutcome, FeedStatus
from digest.parse import (
    MAX_NAME_CHARS,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    parse_feed,
    safe_url,
)

URL = "https://hostile.example/feed.xml"
GOOD = ("<item><title>Good item</title><link>https://good.example/ok</link>"
        "<guid>good</guid><description>Nothing wrong here.</description></item>")
MEDIA = ' xmlns:media="http://search.yahoo.com/mrss/"'
HUGE = 9 * 1024 * 1024


def rss(items: str, *, head: str = '<?xml version="1.0" encoding="utf-8"?>\n',
        channel: str = "<title>Hostile</title><link>https://hostile.example/</link>") -> bytes:
    return (f'{head}<rss version="2.0"{MEDIA}><channel>{channel}{items}</channel></rss>'
            ).encode("utf-8", "surrogateescape")


def good_survives(outcome: FeedOutcome) -> None:
    assert outcome.status is FeedStatus.OK, outcome.error
    assert "https://good.example/ok" in [i.url for i in outcome.items]


def huge_words(size: int = HUGE) -> str:
    return ("Nvidia chip " * (size // 12 + 1))[:size]


# --- 1. every displayed field bounded at parse time ---


def test_a_9mb_title_is_cut_at_a_word_with_an_ellipsis() -> None:
    body = rss(f"<item><title>{huge_words()}</title><link>https://hostile.example/a</link>"
               "</item>" + GOOD)
    outcome = parse_feed(URL, body)
    good_survives(outcome)
    title = outcome.items[0].title
    assert len(title) <= MAX_TITLE_CHARS and title.endswith("…")
    assert title[:-1].rstrip().endswith(("Nvidia", "chip"))  # a whole word, then the ellipsis


def test_a_9mb_summary_is_cut_at_a_word_with_an_ellipsis() -> None:
    markup = "<p>Nvidia <b>chip</b> &amp; more</p>" * (HUGE // 35)
    for description in (escape(huge_words()), escape(markup), f"<![CDATA[{markup}]]>"):
        body = rss(f"<item><title>T</title><link>https://hostile.example/a</link>"
                   f"<description>{description}</description></item>" + GOOD)
        outcome = parse_feed(URL, body)
        good_survives(outcome)
        summary = outcome.items[0].summary
        assert MAX_SUMMARY_CHARS // 2 < len(summary) <= MAX_SUMMARY_CHARS
        assert summary.endswith("…") and "<" not in summary


def test_authors_feed_titles_and_urls_are_bounded_too() -> None:
    long_path = "https://hostile.example/" + "a" * MAX_URL_CHARS
    body = rss(f"<item><title>Long author</title><link>https://hostile.example/a</link>"
               f"<author>{huge_words(100_000)}</author></item>"
               f"<item><title>Long link</title><link>{long_path}</link></item>"
               f"<item><title>Long picture</title><link>https://hostile.example/b</link>"
               f'<media:thumbnail url="{long_path}.jpg"/></item>' + GOOD,
               channel=f"<title>{huge_words(50_000)}</title>")
    outcome = parse_feed(URL, body)
    good_survives(outcome)
    assert outcome.title is not None and len(outcome.title) <= MAX_NAME_CHARS
    assert outcome.title.endswith("…")
    items = {i.title: i for i in outcome.items}
    author = items["Long author"].author
    assert author is not None and len(author) <= MAX_NAME_CHARS and author.endswith("…")
    assert "Long link" not in items  # a URL over the cap is dropped, never cut
    assert items["Long picture"].image is None
    assert "1 item dropped: no usable link" in outcome.notes
    assert "1 bad URL dropped" in outcome.notes


def test_a_9mb_title_beside_normal_feeds_leaves_every_normal_story_in_the_edition(
    demo: Path, feed_server: FeedServer
) -> None:
    settings = load_settings(demo)
    clock = fixed_clock("2026-11-29T12:00:00")
    baseline = open_app(settings, clock=clock)
    try:
        normal = {s.title for s in baseline.editions.build(DEMO_DAY).edition.stories}
    finally:
        baseline.close()
    assert len(normal) > 10

    published = format_datetime(datetime(2026, 11, 28, 9, 0, tzinfo=UTC))
    feed_server.routes["/huge.xml"] = Route(body=rss(
        f"<item><title>{huge_words()}</title><link>https://huge.example/story</link>"
        f"<guid>huge</guid><pubDate>{published}</pubDate>"
        "<description>Nvidia unveils an AI chip.</description></item>",
        channel="<title>Huge</title><link>https://huge.example/</link>"),
        headers={"Content-Type": "application/rss+xml"})
    config = yaml.safe_load(demo.read_text(encoding="utf-8"))
    config["feeds"].append({"url": feed_server.url("huge.xml"), "name": "Huge",
                            "section": "tech", "weight": 3.0})
    # Room for one more story, so the huge one displaces nothing by rank alone.
    config["edition"]["max_stories"] += 1
    next(s for s in config["sections"] if s["id"] == "tech")["max_stories"] += 1
    (demo.parent / "attacked.db").unlink(missing_ok=True)
    config["database"] = "attacked.db" if str(config["database"]).endswith(".db") \
        else config["database"]
    demo.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")

    app = open_app(load_settings(demo), clock=clock)
    try:
        result = app.editions.build(DEMO_DAY)
    finally:
        app.close()
    assert [o.status for o in result.fetched if o.url.endswith("huge.xml")] == [FeedStatus.OK]
    titles = {s.title for s in result.edition.stories}
    assert not result.trimmed, result.trimmed
    assert normal <= titles, normal - titles
    huge = [t for t in titles if t.startswith("Nvidia chip")]
    assert len(huge) == 1 and len(huge[0]) <= MAX_TITLE_CHARS and huge[0].endswith("…")


# --- 2. one bad URL drops that value, never the feed ---


@pytest.mark.parametrize("bad", [
    "<item><title>Bad link</title><link>http://example.com]</link></item>",
    "<item><title>Bad link</title><link>https://[::1</link></item>",
    "<item><title>Bad port</title><link>https://example.com:99999/x</link></item>",
    "<item><title>Bad guid link</title><guid isPermaLink=\"true\">http://[x]/</guid></item>",
    "<item><title>Spaces</title><link>https://example.com/a b</link></item>",
    "<item><title>Tab</title><link>https://exa&#9;mple.com/</link></item>",
    "<item><title>Scheme</title><link>ftp://example.com/</link></item>",
])
def test_an_item_without_a_usable_link_is_dropped_and_the_status_says_so(bad: str) -> None:
    outcome = parse_feed(URL, rss(bad + bad + GOOD))
    good_survives(outcome)
    assert [i.url for i in outcome.items] == ["https://good.example/ok"]
    assert outcome.notes == ("2 items dropped: no usable link",)


@pytest.mark.parametrize("bad", [
    '<enclosure url="https://[::1" type="image/jpeg" length="50000"/>',
    '<media:thumbnail url="https://[::1"/>',
    '<media:content url="http://a.example]/x.jpg" medium="image"/>',
    '<media:thumbnail url="https://a.example:0x50/x.jpg"/>',
])
def test_a_bad_picture_url_drops_the_picture_not_the_item(bad: str) -> None:
    body = rss(f"<item><title>Pictured</title><link>https://hostile.example/p</link>{bad}"
               "</item>" + GOOD)
    outcome = parse_feed(URL, body)
    good_survives(outcome)
    pictured = outcome.items[0]
    assert pictured.title == "Pictured" and pictured.image is None
    assert outcome.notes == ("1 bad URL dropped",)


def test_a_bad_channel_link_is_not_a_base_and_fails_nothing() -> None:
    # A local feed's relative links resolve against its channel <link>: a broken one is no base.
    body = rss("<item><title>Relative</title><link>/stories/r</link></item>" + GOOD,
               channel="<title>Hostile</title><link>http://[::1</link>")
    outcome = parse_feed("/srv/feeds/local.xml", body)
    good_survives(outcome)
    assert [i.title for i in outcome.items] == ["Good item"]


def test_odd_numbers_in_attributes_and_ttl_fail_nothing() -> None:
    # "²".isdigit() is True but int("²") raises; 5,000 digits exceed int()'s limit; a ttl of
    # 1e999 minutes overflows timedelta.
    body = rss("<item><title>Odd sizes</title><link>https://hostile.example/o</link>"
               '<media:thumbnail url="https://img.example/a.jpg" width="²" height="' + "9" * 5000
               + '"/><enclosure url="https://img.example/b.jpg" type="image/jpeg" length="'
               + "9" * 5000 + '"/></item>' + GOOD,
               channel="<title>T</title><link>https://hostile.example/</link><ttl>1e999</ttl>")
    outcome = parse_feed(URL, body)
    good_survives(outcome)
    assert outcome.items[0].image == "https://img.example/a.jpg"


def test_an_entry_that_cannot_be_read_is_dropped_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever a value does to the code that reads it, only its own entry is lost.
    real = parse._entry_date

    def fragile(entry: dict[str, object]) -> object:
        if dict.get(entry, "title") == "Cursed":
            raise OverflowError("a date beyond anything")
        return real(entry)

    monkeypatch.setattr(parse, "_entry_date", fragile)
    body = rss("<item><title>Cursed</title><link>https://hostile.example/c</link></item>" + GOOD)
    outcome = parse_feed(URL, body)
    assert [i.title for i in outcome.items] == ["Good item"]
    assert outcome.notes == ("1 item dropped: unreadable",)


@pytest.mark.parametrize("value", [
    None, "", " ", "http://example.com]", "https://[::1", "http://[::1]:80x/", "https://[v1.x]/",
    "https://example.com:99999/", "//example.com/x", "javascript:alert(1)", "https://", "http:x",
    "https://exa mple.com/", "https://example.com/\x00", "https://example.com/\u2028x",
    "https://example.com/" + "x" * MAX_URL_CHARS, "\ud800", "https://\udcff.example/",
    "https://user@[::1]:8080/a", "https://example.com/%zz", "HTTPS://EXAMPLE.COM/A?b=<c>",
])
def test_safe_url_never_raises_and_gives_only_parseable_http_urls(value: str | None) -> None:
    for base in ("", "https://base.example/feed/", "http://[::1", "file:///x.xml", "\x00"):
        url = safe_url(value, base)
        if url is not None:
            assert_good_url(url)


def test_safe_url_keeps_ordinary_links() -> None:
    assert safe_url("https://example.com/a?b=1#c", "") == "https://example.com/a?b=1#c"
    assert safe_url("/x", "https://example.com/feed") == "https://example.com/x"
    assert safe_url("  https://example.com/  ", "") == "https://example.com/"
    assert safe_url('https://e.example/a"b<c>', "") == "https://e.example/a%22b%3Cc%3E"
    assert safe_url("https://[::1]:8443/x", "") == "https://[::1]:8443/x"
    assert safe_url("https://bücher.example/ü", "") is not None


def assert_good_url(url: str) -> None:
    assert len(url) <= MAX_URL_CHARS, url[:80]
    assert url.isascii() and url.isprintable() and not any(c.isspace() for c in url), url
    parts = urlsplit(url)
    assert parts.scheme in ("http", "https") and parts.hostname, url
    _ = parts.port  # raises ValueError for a port that is not one


# --- html5lib's and bleach's test vectors in every URL field ---

VECTORS = REPO / ".venv" / "vectors"
SDISTS = ("bleach-6.2.0.tar.gz", "html5lib-1.1.tar.gz")


def _strings(value: object) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, inner in value.items():
            yield from _strings(key)
            yield from _strings(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from _strings(inner)


def upstream_vectors(sdist: Path) -> set[str]:
    """Every string of a package's tests, read from its sdist: Python string literals (ast),
    html5lib-tests' JSON .test files, their .dat "#data" sections and bleach's .test pairs."""
    found: set[str] = set()
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if not member.isfile() or "/tests/" not in member.name:
                continue
            handle = tar.extractfile(member)
            if handle is None:
                continue
            data = handle.read()
            text = data.decode("utf-8", "surrogateescape")
            if member.name.endswith(".py"):
                try:
                    tree = ast.parse(data)
                except SyntaxError:
                    continue
                found.update(node.value for node in ast.walk(tree)
                             if isinstance(node, ast.Constant) and isinstance(node.value, str))
            elif member.name.endswith(".test") and text.lstrip().startswith("{"):
                found.update(_strings(json.loads(text)))
            elif member.name.endswith(".test"):  # bleach: input, "--", expected output
                found.update(part.strip("\n") for part in text.split("\n--\n"))
            elif member.name.endswith(".dat"):
                for block in re.split(r"^#data\n", text, flags=re.MULTILINE)[1:]:
                    found.add(block.split("\n#", 1)[0])
    return found


# Characters XML 1.0 cannot hold even as a reference: such a vector goes in raw, in feeds of
# its own (the strict parse fails on them and the loose parser reads the feed).
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def rss_with(vectors: list[str], raw: bool) -> bytes:
    def text(v: str) -> str:
        return v if raw else escape(v)

    def attr(v: str) -> str:
        return f'"{v}"' if raw else quoteattr(v)

    items = "".join(
        f"<item><title>Vector {n}</title><link>{text(v)}</link>"
        f"<guid isPermaLink=\"true\">{text(v)}</guid><comments>{text(v)}</comments>"
        f"<source url={attr(v)}>s</source><author>{text(v)}</author>"
        f'<enclosure url={attr(v)} type="image/jpeg" length="50000"/>'
        f'<media:content url={attr(v)} medium="image"/><media:thumbnail url={attr(v)}/>'
        "</item>" for n, v in enumerate(vectors))
    first = vectors[0]
    return rss(GOOD + items, channel=f"<title>Vectors</title><link>{text(first)}</link>")


def atom_with(vectors: list[str], raw: bool) -> bytes:
    def attr(v: str) -> str:
        return f'"{v}"' if raw else quoteattr(v)

    def text(v: str) -> str:
        return v if raw else escape(v)

    entries = "".join(
        f"<entry><title>Vector {n}</title><link href={attr(v)}/><id>{text(v)}</id>"
        f'<link rel="enclosure" type="image/png" href={attr(v)}/>'
        f'<link rel="replies" href={attr(v)}/><author><name>a</name><uri>{text(v)}</uri>'
        f"</author><source><link href={attr(v)}/></source>"
        f"<media:thumbnail url={attr(v)}/></entry>" for n, v in enumerate(vectors))
    good = ('<entry><title>Good item</title><link href="https://good.example/ok"/>'
            "<id>good</id><summary>Nothing wrong here.</summary></entry>")
    return (f'<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom"'
            f"{MEDIA}><title>Vectors</title><link href={attr(vectors[0])}/>{good}{entries}"
            "</feed>").encode("utf-8", "surrogateescape")


def _batches(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


@pytest.mark.slow  # about 15 s on 2 cores: 35,000 items through feedparser
@pytest.mark.skipif(not all((VECTORS / name).is_file() for name in SDISTS),
                    reason=f"no {' and '.join(SDISTS)} in {VECTORS} (`make install` downloads "
                           "them; offline, this test skips)")
def test_html5lib_and_bleach_vectors_in_every_url_field_fail_no_feed() -> None:
    vectors: set[str] = set()
    for name in SDISTS:
        found = upstream_vectors(VECTORS / name)
        assert len(found) > 500, (name, len(found))  # the files are there: never vacuous
        vectors |= found
    ordered = sorted(vectors)
    Random(17).shuffle(ordered)  # batches mix the vectors' kinds
    strict = [v for v in ordered if v and not _NOT_XML.search(v)]
    raw = [v for v in ordered if v and _NOT_XML.search(v)]
    assert len(strict) > 10_000 and len(raw) > 100
    # Every vector as a link, and as a base for relative links (a local feed's channel <link>).
    for vector in ordered:
        for base in ("", "https://base.example/feed/", safe_url(vector) or ""):
            for value in (vector, "/relative", "https://ok.example/"):
                url = safe_url(value, base)
                if url is not None:
                    assert_good_url(url)
    # Every vector in every URL field of an RSS item and an Atom entry, a hundred items a feed
    # beside a good one; the RSS feeds are fetched from the web, the Atom ones from a local file
    # (so their channel link, a vector too, is their base).
    checked = 0
    for kind, pool in (("escaped", strict), ("raw", raw)):
        for batch in _batches(pool, 100):
            for build, feed_url in ((rss_with, URL), (atom_with, "/srv/feeds/local.xml")):
                outcome = parse_feed(feed_url, build(batch, kind == "raw"))
                if outcome.status is not FeedStatus.OK or "https://good.example/ok" \
                        not in [i.url for i in outcome.items]:
                    culprits = [v for v in batch if parse_feed(
                        feed_url, build([v], kind == "raw")).status is not FeedStatus.OK]
                    pytest.fail(f"{build.__name__} {kind}: {outcome.error}; "
                                f"vectors {culprits[:5]!r}")
                for item in outcome.items:
                    assert_good_url(item.url)
                    if item.image is not None:
                        assert_good_url(item.image)
                        assert item.image.startswith("https://")
                checked += len(batch)
    assert checked == 2 * (len(strict) + len(raw))


# --- 3. a 100,000-item feed: the newest fetch.max_items ---


def dated_feed(count: int, *, oldest_first: bool = False, dated: bool = True) -> bytes:
    start = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    order = range(count - 1, -1, -1) if oldest_first else range(count)
    items = "".join(
        f"<item><title>S{n}</title><link>https://many.example/{n}</link>"
        + (f"<pubDate>{format_datetime(start - timedelta(minutes=n))}</pubDate>" if dated
           else "") + "</item>" for n in order)
    return rss(items, channel="<title>Many</title><link>https://many.example/</link>")


@pytest.mark.parametrize("oldest_first", [False, True])
def test_only_the_newest_items_are_kept_whatever_the_order(oldest_first: bool) -> None:
    outcome = parse_feed(URL, dated_feed(1000, oldest_first=oldest_first), max_items=30)
    assert sorted(int(i.title[1:]) for i in outcome.items) == list(range(30))
    order = [int(i.title[1:]) for i in outcome.items]  # document order is kept
    assert order == (sorted(order, reverse=oldest_first))
    assert outcome.notes == ("kept the newest 30 of 1,000 items",)


def test_undated_items_are_kept_in_document_order() -> None:
    outcome = parse_feed(URL, dated_feed(100, dated=False), max_items=10)
    assert [i.title for i in outcome.items] == [f"S{n}" for n in range(10)]
    assert outcome.notes == ("kept the newest 10 of 100 items",)


def test_the_cap_holds_with_content_parsed_again_and_after_the_loose_parser() -> None:
    items = "".join(
        f"<item><title>S{n}</title><link>https://many.example/{n}</link>"
        f"<description> </description><content:encoded>Text {n}</content:encoded></item>"
        for n in range(50))
    ns = ' xmlns:content="http://purl.org/rss/1.0/modules/content/"'
    strict = f'<rss version="2.0"{ns}><channel><title>C</title>{items}</channel></rss>'
    for body in (strict, strict.replace("<title>S7</title>", "<title>S7</titl>")):
        outcome = parse_feed(URL, body.encode(), max_items=5)
        assert [i.summary for i in outcome.items] == [f"Text {n}" for n in range(5)]
        assert outcome.notes == ("kept the newest 5 of 50 items",)


def test_a_100k_item_feed_is_polled_with_only_the_newest_max_items_stored(
    feed_server: FeedServer, write_config: WriteConfig
) -> None:
    feed_server.routes["/many.xml"] = Route(body=dated_feed(100_000, oldest_first=True))
    path = write_config({"feeds": [{"url": feed_server.url("many.xml")}],
                         "fetch": {"max_items": 700, "max_bytes": "64MiB"}})
    app = open_app(load_settings(path), clock=fixed_clock("2026-11-27T13:00:00"),
                   random=Random(7))
    try:
        (outcome,) = app.poller.refresh(force=True)
        assert outcome.status is FeedStatus.OK and outcome.new_items == 700
        assert count_items(app.store) == 700
        (health,) = app.reports.feeds()
        assert health.status is FeedStatus.OK
        assert health.last_error == "kept the newest 700 of 100,000 items"
        # The same body again is not parsed again, and the status still says it.
        (again,) = app.poller.refresh(force=True)
        assert again.unchanged and again.new_items == 0
        assert app.reports.feeds()[0].last_error == "kept the newest 700 of 100,000 items"
    finally:
        app.close()


def test_digest_fetch_and_digest_feeds_say_what_a_feed_lost(
    feed_server: FeedServer, write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = "<item><title>Bad</title><link>http://example.com]</link></item>"
    feed_server.routes["/lossy.xml"] = Route(body=rss(bad + GOOD))
    path = write_config({"feeds": [{"url": feed_server.url("lossy.xml"), "name": "Lossy"}]})
    assert main(["--config", str(path), "fetch", "--all", "--format", "json"]) == 0
    (shown,) = json.loads(capsys.readouterr().out)
    assert (shown["status"], shown["new_items"], shown["notes"]) == (
        "ok", 1, ["1 item dropped: no usable link"])
    assert main(["--config", str(path), "fetch", "--all"]) == 0  # unchanged: not parsed again
    assert "unchanged, not parsed again" in capsys.readouterr().out
    assert main(["--config", str(path), "feeds", "--format", "json"]) == 0
    (health,) = json.loads(capsys.readouterr().out)
    assert (health["status"], health["last_error"]) == ("ok", "1 item dropped: no usable link")
    feed_server.routes["/lossy.xml"] = Route(body=rss(GOOD))
    assert main(["--config", str(path), "fetch", "--all"]) == 0
    assert "0 new" in capsys.readouterr().out
    assert main(["--config", str(path), "feeds", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["last_error"] is None


CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.stat().st_size) if CORPUS.is_dir() else []


@pytest.mark.parametrize("path", CORPUS_FILES + sorted(FEEDS.glob("*.xml"))
                         + sorted(FEEDS.glob("*.atom")), ids=lambda p: p.name)
def test_capped_real_feeds_keep_what_the_whole_parse_calls_newest(path: Path) -> None:
    # The entries past the cap are read for their dates only (feedxml): the same entries must
    # come out as when every entry is parsed whole and feedparser's dates pick the newest.
    body = path.read_bytes()
    whole = parse._parse(body, None, skip_content=False, max_items=10**9)
    if len(whole.entries) < 3:
        return
    for cap in (1, len(whole.entries) // 2, len(whole.entries) - 1):
        keep = parse._newest([parse._entry_date(e) for e in whole.entries], cap)
        expected = [e for n, e in enumerate(whole.entries) if n in keep]
        capped = parse._parse(body, None, skip_content=False, max_items=cap)
        assert capped.entries == expected, cap
        assert capped.entries_total == len(whole.entries)


# --- 4. entity references feedparser would not expand ---

BOMB = ('<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY lol "lol">\n'
        + "".join(f'<!ENTITY lol{i} "{f"&lol{i - 1 or str()};" * 10}">\n' for i in range(1, 10))
        + '<!ENTITY xxe SYSTEM "file:///etc/passwd">\n]>\n')


@pytest.mark.parametrize("head", [BOMB, BOMB.replace("\n", "")])
def test_entity_references_left_unexpanded_are_dropped(head: str) -> None:
    body = rss("<item><title>Bomb &lol9; here</title><link>https://hostile.example/b</link>"
               "<description>Read &xxe; and &lol9;, &amp; more</description>"
               "<author>Ann &xxe;</author></item>" + GOOD, head=head,
               channel="<title>Feed &lol9;</title><link>https://hostile.example/</link>")
    outcome = parse_feed(URL, body)
    good_survives(outcome)
    bomb = outcome.items[0]
    assert (bomb.title, bomb.summary, bomb.author) == ("Bomb here", "Read and , & more", "Ann")
    assert outcome.title == "Feed"


def test_known_entities_and_ampersands_are_kept() -> None:
    body = rss("<item><title>Tom &amp;amp;amp; Jerry &amp; &#233;t&#233; &amp;eacute;</title>"
               "<link>https://hostile.example/k</link></item>")
    (item,) = parse_feed(URL, body).items
    assert item.title == "Tom &amp; Jerry & été é"  # known entities decoded, as before


@pytest.fixture(autouse=True)
def _no_hidden_state() -> Iterator[None]:
    yield
    assert parse.MAX_TITLE_CHARS == MAX_TITLE_CHARS
