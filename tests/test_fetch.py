"""fetch: HTTP (conditional GET, limits, failures as outcomes), file:// and parsing into Items,
against a real HTTP server on 127.0.0.1, our own feed files and the real-world corpus."""

from __future__ import annotations

import socket
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import urljoin

import aiohttp
import pytest

from conftest import CORPUS, FEEDS, FeedServer, Route
from digest.fetch import FeedRequest, FetchLimits, _describe, fetch_feeds
from digest.models import FeedOutcome, FeedStatus, Item
from digest.parse import parse_feed

# Short limits keep failure tests fast; nothing here needs more than a fraction of a second.
FAST = FetchLimits(connect_timeout=2.0, total_timeout=5.0, max_bytes=1024 * 1024)


def fetch_one(url: str, limits: FetchLimits = FAST, **validators: str | None) -> FeedOutcome:
    outcomes = fetch_feeds([FeedRequest(url, **validators)], limits)
    assert len(outcomes) == 1
    assert outcomes[0].url == url
    return outcomes[0]


def by_guid(outcome: FeedOutcome) -> dict[str | None, Item]:
    return {item.guid: item for item in outcome.items}


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def assert_one_line_error(outcome: FeedOutcome) -> str:
    assert outcome.status is FeedStatus.ERROR
    assert outcome.items == ()
    assert outcome.error
    assert "\n" not in outcome.error
    assert "Traceback" not in outcome.error
    return outcome.error


def assert_clean(items: tuple[Item, ...]) -> None:
    for item in items:
        assert item.url.startswith(("http://", "https://")), item.url
        for text in (item.title, item.summary):
            lowered = text.lower()
            assert "<script" not in lowered, text
            assert "javascript:" not in lowered, text
            assert "onerror" not in lowered, text


# --- parsing: RSS 2.0 ---


def test_rss2_over_http_parses_titles_summaries_dates_and_guids(feed_server: FeedServer) -> None:
    url = feed_server.url("rss2.xml")
    outcome = fetch_one(url)

    assert outcome.status is FeedStatus.OK
    assert outcome.error is None
    assert outcome.title == "Test Wire"
    items = by_guid(outcome)
    assert list(items) == [
        "testwire-0001", "testwire-0002", "testwire-0003", "testwire-0004",
        "https://testwire.example/stories/library-hours",
    ]
    first = items["testwire-0001"]
    assert first.title == "First story: council approves new tram line"
    assert first.url == "https://testwire.example/stories/tram-line"
    assert first.summary == "The city council voted 31 to 12 for a tram line to the airport."
    assert first.published == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    assert first.feed_url == url
    # +0100 and -0500 offsets become UTC.
    assert items["testwire-0002"].published == datetime(2026, 11, 24, 13, 30, tzinfo=UTC)
    assert items["testwire-0003"].published == datetime(2026, 11, 25, 23, 45, tzinfo=UTC)
    assert items["https://testwire.example/stories/library-hours"].published == datetime(
        2026, 11, 27, 7, 15, tzinfo=UTC)
    for item in outcome.items:
        assert item.published is None or item.published.utcoffset() is not None


def test_rss2_summary_is_plain_text_with_entities_decoded() -> None:
    outcome = parse_feed("https://testwire.example/rss.xml", (FEEDS / "rss2.xml").read_bytes())
    summary = by_guid(outcome)["testwire-0002"].summary

    assert summary == (
        "Repairs will take six weeks. Ferries & buses will run extra services \u2014 see the "
        "travel page. Caf\u00e9 owners on the quay say they\u2019re \"worried\"."
    )
    assert "<" not in summary and "&amp;" not in summary and "&#" not in summary


def test_rss2_item_without_date_has_published_none() -> None:
    outcome = parse_feed("https://testwire.example/rss.xml", (FEEDS / "rss2.xml").read_bytes())
    undated = by_guid(outcome)["testwire-0004"]

    assert undated.title == "Fourth story: no publication date"
    assert undated.published is None


def test_rss2_relative_link_is_resolved_against_the_feed_url(feed_server: FeedServer) -> None:
    url = feed_server.url("rss2.xml")
    outcome = fetch_one(url)
    relative = by_guid(outcome)["testwire-0003"]

    assert relative.url == urljoin(url, "/stories/relative-one")
    assert relative.url == f"{feed_server.base_url}/stories/relative-one"
    # parse_feed alone resolves against whatever URL it is given.
    parsed = parse_feed("https://testwire.example/feeds/rss.xml",
                        (FEEDS / "rss2.xml").read_bytes())
    assert by_guid(parsed)["testwire-0003"].url == "https://testwire.example/stories/relative-one"


def test_rss2_permalink_guid_is_kept_as_guid() -> None:
    outcome = parse_feed("https://testwire.example/rss.xml", (FEEDS / "rss2.xml").read_bytes())
    item = outcome.items[-1]

    assert item.guid == "https://testwire.example/stories/library-hours"
    assert item.url == "https://testwire.example/stories/library-hours"
    assert item.key == ""  # identity is the app's job (dedupe.item_key), not fetch's


# --- parsing: Atom ---


def test_atom_parses_entries_with_utc_dates_and_ids(feed_server: FeedServer) -> None:
    outcome = fetch_one(feed_server.url("atom.xml"))

    assert outcome.status is FeedStatus.OK
    assert outcome.title == "Atom Test Feed"
    items = by_guid(outcome)
    assert list(items) == [
        "tag:atomtest.example,2026:entry-1",
        "tag:atomtest.example,2026:entry-2",
        "tag:atomtest.example,2026:entry-3",
    ]
    one = items["tag:atomtest.example,2026:entry-1"]
    assert one.title == "Entry one: absolute link"
    assert one.url == "https://atomtest.example/entries/one"
    assert one.summary == "A plain-text summary."
    # published wins over updated
    assert one.published == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    # 16:30+02:00
    assert items["tag:atomtest.example,2026:entry-2"].published == datetime(
        2026, 11, 26, 14, 30, tzinfo=UTC)
    # only <updated> (12:00-05:00) is there: it is used
    assert items["tag:atomtest.example,2026:entry-3"].published == datetime(
        2026, 11, 27, 17, 0, tzinfo=UTC)


def test_atom_html_title_and_content_become_plain_text() -> None:
    outcome = parse_feed("https://atomtest.example/feed.atom", (FEEDS / "atom.xml").read_bytes())
    two = by_guid(outcome)["tag:atomtest.example,2026:entry-2"]

    assert two.title == "Entry two: HTML content"
    assert two.summary == "Content with markup and an entity: &."


def test_atom_xml_base_resolves_relative_href(feed_server: FeedServer) -> None:
    outcome = fetch_one(feed_server.url("atom.xml"))
    three = by_guid(outcome)["tag:atomtest.example,2026:entry-3"]

    assert three.url == "https://atomtest.example/archive/2026/entries/three"
    assert three.summary == (
        "The link resolves to https://atomtest.example/archive/2026/entries/three.")


# --- hostile input and encodings ---


def test_hostile_feed_drops_unsafe_links_and_markup(feed_server: FeedServer) -> None:
    outcome = fetch_one(feed_server.url("hostile.xml"))

    assert outcome.status is FeedStatus.OK
    assert_clean(outcome.items)
    # The javascript: and data: items have no usable link; only the normal one survives.
    assert [(i.guid, i.url) for i in outcome.items] == [
        ("hostile-0003", "https://hostile.example/stories/normal")]
    assert outcome.items[0].summary == "Nothing unusual here."


def test_hostile_description_keeps_visible_text_only() -> None:
    # Give the javascript: item a fake base so its *description* can be inspected: parse the
    # same description in an item with a safe link.
    body = (FEEDS / "hostile.xml").read_bytes().replace(
        b"<link>javascript:alert(1)</link>", b"<link>https://hostile.example/one</link>")
    outcome = parse_feed("https://hostile.example/rss.xml", body)
    one = by_guid(outcome)["hostile-0001"]

    assert_clean(outcome.items)
    assert "Visible text survives." in one.summary
    assert "Click here or there." in one.summary
    for fragment in ("alert", "display: none", "<iframe", "onclick", "evil.example"):
        assert fragment not in one.summary


def test_latin1_feed_decodes_accented_words(feed_server: FeedServer) -> None:
    outcome = fetch_one(feed_server.url("latin1.xml"))

    assert outcome.status is FeedStatus.OK
    assert [i.title for i in outcome.items] == [
        "Zürich trams run late after a signal fault",
        "Côte d'Ivoire cocoa harvest starts early",
        "São Tomé and Príncipe opens a new ferry route",
    ]
    assert "sincèrement" in outcome.items[0].summary
    assert "Soubré" in outcome.items[1].summary
    assert all("\ufffd" not in i.title + i.summary for i in outcome.items)


# --- failures are outcomes ---


def test_http_404_is_an_error_naming_the_status(feed_server: FeedServer) -> None:
    outcome = fetch_one(feed_server.url("no-such-feed.xml"))

    error = assert_one_line_error(outcome)
    assert error.startswith("HTTP 404")


def test_connection_refused_is_an_error_naming_host_and_port() -> None:
    port = closed_port()
    outcome = fetch_one(f"http://127.0.0.1:{port}/feed.xml")

    error = assert_one_line_error(outcome)
    assert error == f"connection refused by 127.0.0.1:{port}"


def test_a_failed_name_lookup_is_a_dns_error_naming_the_host() -> None:
    # Built by hand: a real lookup would ask the machine's DNS server, and tests send nothing
    # beyond 127.0.0.1.
    key = SimpleNamespace(host="feeds.example", port=443, ssl=True, is_ssl=True)
    error = aiohttp.ClientConnectorError(key, socket.gaierror(-2, "Name or service not known"))

    assert _describe(error, FAST) == "DNS: cannot resolve feeds.example"


def test_slow_server_times_out(feed_server: FeedServer) -> None:
    feed_server.routes["/slow.xml"] = Route(body=(FEEDS / "rss2.xml").read_bytes(), delay=2.0)
    limits = FetchLimits(connect_timeout=0.5, total_timeout=0.5)
    outcome = fetch_one(feed_server.url("slow.xml"), limits)

    error = assert_one_line_error(outcome)
    assert error.startswith("timeout")
    assert "0.5 s" in error


def test_endless_body_is_cut_off_at_max_bytes(feed_server: FeedServer) -> None:
    feed_server.routes["/endless.xml"] = Route(endless=True)
    outcome = fetch_one(feed_server.url("endless.xml"), FetchLimits(max_bytes=100_000))

    error = assert_one_line_error(outcome)
    assert error.startswith("too large")
    assert "100000" in error


def test_declared_length_over_the_limit_is_refused(feed_server: FeedServer) -> None:
    feed_server.routes["/big.xml"] = Route(body=b"<rss>" + b" " * 5000 + b"</rss>")
    outcome = fetch_one(feed_server.url("big.xml"), FetchLimits(max_bytes=1000))

    error = assert_one_line_error(outcome)
    assert error.startswith("too large")
    assert "1000" in error


def test_html_page_is_reported_as_not_a_feed(feed_server: FeedServer) -> None:
    # feedparser also flags the page as malformed XML ("mismatched tag"); the reason must still
    # say what is wrong: it is a web page, not a feed.
    outcome = fetch_one(feed_server.url("not_a_feed.html"))

    error = assert_one_line_error(outcome)
    assert error.startswith("not a feed"), error


def test_small_html_page_is_reported_as_not_a_feed() -> None:
    outcome = parse_feed("https://example.org/", b"<html><body><p>Hello</p></body></html>")

    assert assert_one_line_error(outcome) == "not a feed (an HTML page)"


def test_empty_file_is_an_error_saying_empty(feed_server: FeedServer) -> None:
    outcome = fetch_one(feed_server.url("empty.xml"))

    error = assert_one_line_error(outcome)
    assert "empty" in error


def test_whitespace_only_body_is_empty() -> None:
    outcome = parse_feed("https://example.org/feed", b"  \n\t ")

    assert "empty" in assert_one_line_error(outcome)


def test_truncated_xml_recovers_the_items_before_the_cut(feed_server: FeedServer) -> None:
    # feedparser's lenient parser recovers what it read: the complete item, and the cut one
    # (title and link only: its description never closed, so it has no summary and no date).
    outcome = fetch_one(feed_server.url("truncated.xml"))

    assert outcome.status is FeedStatus.OK
    assert outcome.title == "Truncated Feed"
    assert [(i.guid, i.url) for i in outcome.items] == [
        ("truncated-0001", "https://truncated.example/stories/complete"),
        ("truncated-0002", "https://truncated.example/stories/cut"),
    ]
    complete = outcome.items[0]
    assert complete.title == "Complete item before the cut"
    assert complete.summary == "This item is whole."
    assert complete.published == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert outcome.items[1].published is None


def test_truncated_xml_cut_before_the_first_item_is_an_xml_error() -> None:
    body = b'<?xml version="1.0"?>\n<rss version="2.0"><channel><title>T</title><descr'
    outcome = parse_feed("https://example.org/feed", body)

    assert assert_one_line_error(outcome).startswith("XML error")


def test_truncated_xml_cut_inside_the_first_item_is_an_error() -> None:
    # Nothing usable came out of this document, so (parse_feed's own contract) the outcome is
    # an error. BUG: feedparser yields one empty entry, parse_feed only checks that the raw
    # entry list is non-empty, and returns status OK with no items and no reason.
    body = b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><tit'
    outcome = parse_feed("https://example.org/feed", body)

    assert assert_one_line_error(outcome).startswith("XML error")


def test_one_failing_feed_does_not_stop_the_others(feed_server: FeedServer) -> None:
    feed_server.routes["/slow.xml"] = Route(body=(FEEDS / "rss2.xml").read_bytes(), delay=2.0)
    feed_server.routes["/endless.xml"] = Route(endless=True)
    port = closed_port()
    names = ["rss2.xml", "missing.xml", "atom.xml", "slow.xml", "endless.xml",
             "not_a_feed.html", "empty.xml", "latin1.xml"]
    requests = [FeedRequest(feed_server.url(n)) for n in names]
    requests.insert(2, FeedRequest(f"http://127.0.0.1:{port}/feed.xml"))
    # Four connections: the slow feed holds one, the fast ones share the rest (the total timeout
    # also covers waiting for a pooled connection). More at once can overflow the test server's
    # listen backlog (5), and a dropped SYN is retried only after 1 s, past the 0.5 s timeout.
    limits = FetchLimits(per_host=4, connect_timeout=0.5, total_timeout=0.5, max_bytes=100_000)

    outcomes = fetch_feeds(requests, limits)

    assert [o.url for o in outcomes] == [r.url for r in requests]
    statuses = [o.status for o in outcomes]
    ok, err = FeedStatus.OK, FeedStatus.ERROR
    assert statuses == [ok, err, err, ok, err, err, err, err, ok]
    assert len(outcomes[0].items) == 5
    assert len(outcomes[3].items) == 3
    assert len(outcomes[8].items) == 3
    for outcome in outcomes:
        if outcome.status is FeedStatus.ERROR:
            assert_one_line_error(outcome)
    assert outcomes[1].error is not None and outcomes[1].error.startswith("HTTP 404")
    assert outcomes[2].error is not None and outcomes[2].error.startswith("connection refused")
    assert outcomes[4].error is not None and outcomes[4].error.startswith("timeout")
    assert outcomes[5].error is not None and outcomes[5].error.startswith("too large")
    assert outcomes[7].error is not None and "empty" in outcomes[7].error


def test_outcomes_come_back_in_request_order(feed_server: FeedServer) -> None:
    # The first feed answers last; the order must still be the order of the requests.
    feed_server.routes["/late.xml"] = Route(body=(FEEDS / "atom.xml").read_bytes(), delay=0.3)
    names = ["late.xml", "rss2.xml", "latin1.xml", "hostile.xml", "atom.xml"]
    requests = [FeedRequest(feed_server.url(n)) for n in names]
    seen: list[str] = []

    outcomes = fetch_feeds(requests, FAST, on_done=lambda o: seen.append(o.url))

    assert [o.url for o in outcomes] == [r.url for r in requests]
    assert [o.title for o in outcomes] == [
        "Atom Test Feed", "Test Wire", "Latin-1 Wire", "Hostile Test Feed", "Atom Test Feed"]
    assert sorted(seen) == sorted(r.url for r in requests)


def test_no_requests_no_outcomes() -> None:
    assert fetch_feeds([]) == []


# --- file:// ---


def test_file_url_is_read_and_parsed() -> None:
    url = (FEEDS / "atom.xml").as_uri()
    outcome = fetch_one(url)

    assert outcome.status is FeedStatus.OK
    assert outcome.title == "Atom Test Feed"
    assert [i.url for i in outcome.items] == [
        "https://atomtest.example/entries/one",
        "https://atomtest.example/entries/two",
        "https://atomtest.example/archive/2026/entries/three",
    ]
    assert all(i.feed_url == url for i in outcome.items)
    assert outcome.etag is None and outcome.last_modified is None


def test_file_url_with_latin1_and_absolute_links() -> None:
    outcome = fetch_one((FEEDS / "latin1.xml").as_uri())

    assert outcome.status is FeedStatus.OK
    assert outcome.items[0].title.startswith("Zürich")


def test_file_url_resolves_relative_links_against_the_channel_link() -> None:
    # A file:// feed has no http(s) address of its own: its channel <link> is the base.
    outcome = fetch_one((FEEDS / "rss2.xml").as_uri())

    assert outcome.status is FeedStatus.OK
    assert_clean(outcome.items)
    assert len(outcome.items) == 5
    assert "https://testwire.example/stories/relative-one" in {i.url for i in outcome.items}


def test_missing_file_is_an_error_naming_it(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "feed.xml"
    outcome = fetch_one(missing.as_uri())

    error = assert_one_line_error(outcome)
    assert "not found" in error
    assert str(missing) in error


def test_file_over_the_size_limit_is_refused(tmp_path: Path) -> None:
    big = tmp_path / "big.xml"
    big.write_bytes((FEEDS / "rss2.xml").read_bytes() * 4)
    outcome = fetch_one(big.as_uri(), FetchLimits(max_bytes=1000))

    error = assert_one_line_error(outcome)
    assert error.startswith("too large")
    # BUG: the file branch reports the limit in whole MiB, so a 1000-byte limit reads
    # "more than 0 MiB".
    assert "0 MiB" not in error, error


def test_file_url_in_a_batch_with_http(feed_server: FeedServer, tmp_path: Path) -> None:
    requests = [FeedRequest((tmp_path / "gone.xml").as_uri()),
                FeedRequest(feed_server.url("rss2.xml")),
                FeedRequest((FEEDS / "hostile.xml").as_uri())]
    outcomes = fetch_feeds(requests, FAST)

    assert [o.status for o in outcomes] == [FeedStatus.ERROR, FeedStatus.OK, FeedStatus.OK]
    assert "gone.xml" in (outcomes[0].error or "")


# --- conditional GET and headers ---


def test_conditional_get_with_etag_gets_not_modified(feed_server: FeedServer) -> None:
    url = feed_server.url("rss2.xml")
    first = fetch_one(url)
    assert first.status is FeedStatus.OK
    assert first.etag is not None and first.etag.startswith('"')
    assert first.not_modified is False

    second = fetch_one(url, etag=first.etag)

    assert second.status is FeedStatus.OK
    assert second.not_modified is True
    assert second.items == ()
    assert second.etag == first.etag
    assert feed_server.hits("rss2.xml") == 2
    first_headers, second_headers = (h for p, h in feed_server.requests if p == "/rss2.xml")
    assert "If-None-Match" not in first_headers
    assert second_headers.get("If-None-Match") == first.etag


def test_stale_etag_gets_the_full_feed_and_the_new_etag(feed_server: FeedServer) -> None:
    outcome = fetch_one(feed_server.url("atom.xml"), etag='"stale"')

    assert outcome.not_modified is False
    assert len(outcome.items) == 3
    assert outcome.etag not in (None, '"stale"')


def test_304_without_validators_keeps_the_ones_passed_in(feed_server: FeedServer) -> None:
    feed_server.routes["/same.xml"] = Route(status=304)
    lm = "Mon, 23 Nov 2026 09:00:00 GMT"
    outcome = fetch_one(feed_server.url("same.xml"), etag='"kept"', last_modified=lm)

    assert outcome.status is FeedStatus.OK
    assert outcome.not_modified is True
    assert outcome.etag == '"kept"'
    assert outcome.last_modified == lm
    (_, headers), = feed_server.requests
    assert headers.get("If-None-Match") == '"kept"'
    assert headers.get("If-Modified-Since") == lm


def test_last_modified_is_returned(feed_server: FeedServer) -> None:
    lm = "Tue, 24 Nov 2026 08:00:00 GMT"
    feed_server.routes["/lm.xml"] = Route(
        body=(FEEDS / "atom.xml").read_bytes(),
        headers={"Content-Type": "application/atom+xml", "Last-Modified": lm})
    outcome = fetch_one(feed_server.url("lm.xml"))

    assert outcome.status is FeedStatus.OK
    assert outcome.last_modified == lm
    assert outcome.etag is None


def test_etag_header_name_is_case_insensitive(feed_server: FeedServer) -> None:
    # HTTP header names are case-insensitive (RFC 9110 section 5.1); Go servers, for one,
    # send "Etag" and "Last-modified".
    feed_server.routes["/go.xml"] = Route(
        body=(FEEDS / "rss2.xml").read_bytes(),
        headers={"content-type": "application/rss+xml", "Etag": '"go-style"',
                 "Last-modified": "Mon, 23 Nov 2026 09:00:00 GMT"})
    outcome = fetch_one(feed_server.url("go.xml"))

    assert outcome.status is FeedStatus.OK
    assert outcome.etag == '"go-style"'
    assert outcome.last_modified == "Mon, 23 Nov 2026 09:00:00 GMT"


def test_user_agent_names_digest(feed_server: FeedServer) -> None:
    fetch_one(feed_server.url("rss2.xml"))

    (path, headers), = feed_server.requests
    assert path == "/rss2.xml"
    assert headers.get("User-Agent", "").startswith("digest/")


# --- the real-world corpus (../shared/corpus/feeds), skipped when it is not there ---

CORPUS_FILES = sorted(CORPUS.glob("*")) if CORPUS.is_dir() else []
needs_corpus = pytest.mark.skipif(not CORPUS_FILES, reason=f"no feed corpus at {CORPUS}")
corpus_files = pytest.mark.parametrize(
    "path", CORPUS_FILES or [Path("missing")], ids=lambda p: p.name)


def _corpus_url(path: Path) -> str:
    return f"https://corpus.example/{path.name}"


@needs_corpus
@corpus_files
def test_corpus_file_parses(path: Path) -> None:
    outcome = parse_feed(_corpus_url(path), path.read_bytes())

    if "empty" in path.name:
        assert path.stat().st_size == 0
        assert "empty" in assert_one_line_error(outcome)
    elif "truncated" in path.name:
        # The Reuters fixture breaks off before its first item closes: nothing to recover.
        assert assert_one_line_error(outcome).startswith("XML error")
    else:
        assert outcome.status is FeedStatus.OK, outcome.error
        assert len(outcome.items) >= 1
        assert_clean_corpus(outcome)


def assert_clean_corpus(outcome: FeedOutcome) -> None:
    for item in outcome.items:
        assert item.url.startswith(("http://", "https://")), item.url
        assert "<script" not in item.summary.lower()
        assert "<script" not in item.title.lower()
        assert item.title
        assert item.published is None or item.published.tzinfo is not None


@needs_corpus
def test_corpus_has_the_empty_and_truncated_files() -> None:
    names = [p.name for p in CORPUS_FILES]
    assert any("empty" in n for n in names)
    assert any("truncated" in n for n in names)


CORPUS_BY_FILE = [
    "dailytelegraph_au-latest-2021-10-17-empty.xml",  # 0 bytes
    "reuters-mostread-truncated.xml",  # truncated
    "jn-ultimas-2018-01-03.xml",  # ISO-8859-1
    "orenburg-news-2014-01-22.xml",  # windows-1251
    "qq-news-china-2018-09-18.xml",  # GB2312
    "uol-noticias-2018-09-24.xml",  # undeclared Latin-1
    "time-world-2026-02-16.xml",  # ~1 MB
]


@needs_corpus
@pytest.mark.parametrize("name", CORPUS_BY_FILE)
def test_corpus_file_url_fetch_matches_parse(name: str) -> None:
    path = CORPUS / name
    if not path.is_file():
        pytest.skip(f"{name} is not in the corpus")
    url = path.as_uri()

    outcome = fetch_one(url, FetchLimits(max_bytes=4 * 1024 * 1024))
    expected = parse_feed(url, path.read_bytes())

    assert outcome.status is expected.status
    assert outcome.error == expected.error
    assert outcome.items == expected.items
    if outcome.status is FeedStatus.OK:
        assert len(outcome.items) >= 1
        assert_clean_corpus(outcome)
    else:
        assert_one_line_error(outcome)


@needs_corpus
def test_corpus_legacy_encodings_decode() -> None:
    checks = {
        "jn-ultimas-2018-01-03.xml": "ç",  # Portuguese
        "orenburg-news-2014-01-22.xml": "о",  # Cyrillic
        "qq-news-china-2018-09-18.xml": "的",  # Chinese
    }
    for name, char in checks.items():
        path = CORPUS / name
        if not path.is_file():
            continue
        outcome = parse_feed(_corpus_url(path), path.read_bytes())
        text = " ".join(i.title + " " + i.summary for i in outcome.items)
        assert char in text, name
        assert "\ufffd" not in text, name
