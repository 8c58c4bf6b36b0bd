"""The archive's feeds, sitemap and robots.txt (issue 19, digest.web.feeds): the Atom feed
reads back through feedparser without complaint and has what RFC 4287 requires; the JSON Feed
matches a published JSON Feed 1.1 schema (feedparser 6 does not read JSON Feed); entries come
in the order given with stable, unique ids and the first send time; hostile text comes back
exactly (the Atom feed minus what XML 1.0 cannot carry) and never breaks the documents."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import feedparser
import jsonschema
import pytest

from conftest import DATA
from digest.archive import Archive, ArchivedEdition
from digest.config import Settings, settings_from_mapping
from digest.models import DeliveryStatus, Edition, Section, Story
from digest.store import Outcome, Store
from digest.web.feeds import atom_feed, json_feed, robots_txt, sitemap

BASE = "https://news.example.org"
SECRET = "feeds-test-secret-0123456789abcdef0123"
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
ATOM = "{http://www.w3.org/2005/Atom}"
SITEMAP = "{http://www.sitemaps.org/schemas/sitemap/0.9}"
SCHEMA = json.loads((DATA / "jsonfeed" / "schema-v1.1.json").read_text(encoding="utf-8"))
# RFC 3339 section 5.6 date-time, with a numeric offset or Z
RFC3339 = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
# RFC 4151: tag:authorityName,YYYY[-MM[-DD]]:specific
TAG = re.compile(r"tag:[a-z0-9.-]+,\d{4}(-\d\d(-\d\d)?)?:[\w/:@!$&'()*+,;=.~%-]+")
# Hostile text: markup, a CDATA end, entities, quotes, right-to-left and astral-plane text.
HOSTILE = ("<script>alert('x')</script> ]]> <![CDATA[ & &amp; \"quoted\" 'single' "
           "\u202eטקסט עברי\u202c العربية 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 😀 \U0010fffd <b>bold</b> tab\there")
CONTROLS = "".join(chr(c) for c in range(0x20) if c not in (0x9, 0xA, 0xD)) + "\x7f\ufffe\uffff"


def settings(**web: Any) -> Settings:
    raw: dict[str, Any] = {"title": "The Brief <& \"friends\">",
                           "email": {"lang": web.pop("lang", "en")},
                           "web": {"base_url": BASE, "secret": SECRET, **web}}
    return settings_from_mapping(raw, base_dir=Path("."), env={})


def payload(day: date, stories: list[tuple[str, str]]) -> dict[str, Any]:
    """An edition's JSON: (section, title) stories, in that order."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for n, (section, title) in enumerate(stories):
        sections.setdefault(section, []).append({
            "title": title, "url": f"https://wire.example.org/{day}/{n}", "source": "Wire",
            "published": None, "summary": f"About {title}.", "score": 1.0, "also": []})
    return {"edition": day.isoformat(), "title": "The Brief",
            "generated_at": datetime(day.year, day.month, day.day, 6, tzinfo=UTC).isoformat(),
            "sections": [{"id": s, "title": s.title(), "stories": st}
                         for s, st in sections.items()]}


def send(store: Store, day: date, stories: list[tuple[str, str]], *, subject: str,
         sent_at: datetime | None) -> None:
    """Freeze an edition; send it (twice, to two readers: the first send counts) unless
    sent_at is None."""
    frozen = store.freeze_edition(day, title="The Brief", payload=payload(day, stories),
                                  subject=subject, html="<p>x</p>", text="x", fingerprints=[],
                                  now=NOW)
    if sent_at is None:
        return
    for n, reader in enumerate(("ana@example.org", "bo@example.org")):
        store.take_deliveries(frozen.id, [reader], owner="t", now=sent_at, stale_before=sent_at)
        store.finish_deliveries(frozen.id, [Outcome(reader, DeliveryStatus.SENT, f"<m{n}@x>")],
                                now=sent_at + timedelta(hours=n))


@pytest.fixture
def archive(tmp_path: Path) -> Iterator[list[ArchivedEdition]]:
    """Three sent editions (and an unsent one) as digest.archive gives them: newest first."""
    store = Store(f"sqlite:///{tmp_path / 'digest.db'}")
    try:
        send(store, date(2026, 11, 16), [("tech", "Chips in Lagos"), ("europe", "Rail strike")],
             subject="The Brief: Chips in Lagos", sent_at=datetime(2026, 11, 16, 7, 2, tzinfo=UTC))
        send(store, date(2026, 11, 23), [("tech", "Unsent story")], subject="Unsent",
             sent_at=None)
        send(store, date(2026, 11, 30), [("africa", "Elections in Accra"),
                                         ("africa", "A second story"), ("tech", "Quantum chip")],
             subject="The Brief: Elections in Accra",
             sent_at=datetime(2026, 11, 30, 7, 1, 30, tzinfo=UTC))
        send(store, date(2026, 12, 7), [("europe", HOSTILE + " title")], subject=HOSTILE,
             sent_at=datetime(2026, 12, 7, 7, 0, tzinfo=UTC))
        yield Archive(settings(), store).latest()
    finally:
        store.close()


def content(edition: ArchivedEdition) -> str:
    """The HTML of an edition, as the web pages would give it (raw text included on purpose:
    the feeds must carry whatever HTML they are handed)."""
    stories = "".join(f"<li>{s.title}</li>" for s in edition.edition.stories)
    return f"<h1>{edition.subject}</h1><ul>{stories}</ul>"


def hostile_edition(text: str) -> ArchivedEdition:
    story = Story(title=text, url="https://wire.example.org/1", source="Wire", published=None,
                  summary=text, weight=1.0, items=())
    edition = Edition(date(2026, 12, 14), "The Brief", datetime(2026, 12, 14, 6, tzinfo=UTC),
                      (Section("tech", "Tech", (story,)),))
    return ArchivedEdition(edition, text, datetime(2026, 12, 14, 7, tzinfo=UTC))


def parse_atom(data: bytes, **options: Any) -> Any:
    parsed = feedparser.parse(data, resolve_relative_uris=False, **options)
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    return parsed


def check_json_feed(data: bytes) -> dict[str, Any]:
    """The JSON Feed against the published schema, plus what the schema leaves to formats
    jsonschema checks only with extra packages: RFC 3339 dates, absolute URLs."""
    document = json.loads(data.decode("utf-8"))
    jsonschema.Draft7Validator(SCHEMA).validate(document)
    assert document["version"] == "https://jsonfeed.org/version/1.1"
    for url in (document["home_page_url"], document["feed_url"]):
        assert url.startswith(BASE + "/")
    for item in document["items"]:
        assert item["url"].startswith(BASE + "/editions/")
        for key in ("date_published", "date_modified"):
            assert RFC3339.fullmatch(item[key]), item[key]
            assert datetime.fromisoformat(item[key]).tzinfo is not None
    return document


# --- Atom ---


def test_atom_feed_reads_back_newest_first_with_first_send_times(
        archive: list[ArchivedEdition]) -> None:
    assert [e.edition.date for e in archive] == [date(2026, 12, 7), date(2026, 11, 30),
                                                 date(2026, 11, 16)]
    data = atom_feed(settings(), archive, content=content)
    parsed = parse_atom(data, sanitize_html=False)
    feed = parsed.feed
    assert feed.title == "The Brief <& \"friends\">"
    assert feed.id == BASE + "/"
    assert feed.language == "en"
    assert {(link.rel, link.href) for link in feed.links} == {
        ("self", BASE + "/feed.atom"), ("alternate", BASE + "/")}
    assert feed.generator == "digest"
    assert feed.updated == "2026-12-07T07:00:00+00:00"  # the newest entry's
    entries = parsed.entries
    assert [e.title for e in entries] == [HOSTILE, "The Brief: Elections in Accra",
                                          "The Brief: Chips in Lagos"]
    assert [e.link for e in entries] == [f"{BASE}/editions/{d}/"
                                         for d in ("2026-12-07", "2026-11-30", "2026-11-16")]
    assert [e.id for e in entries] == [f"tag:news.example.org,2026:edition/{d}"
                                       for d in ("2026-12-07", "2026-11-30", "2026-11-16")]
    # the first message's time (the second reader was sent an hour later)
    assert [e.published for e in entries] == [
        "2026-12-07T07:00:00+00:00", "2026-11-30T07:01:30+00:00", "2026-11-16T07:02:00+00:00"]
    assert [e.updated for e in entries] == [e.published for e in entries]
    assert entries[1].summary == "Elections in Accra · Quantum chip"  # each section's lead
    assert entries[1].content[0].type == "text/html"
    assert entries[1].content[0].value == content(archive[1])
    # stable: the same bytes from a second call, and unique ids
    assert atom_feed(settings(), archive, content=content) == data
    assert len({e.id for e in entries}) == len(entries)
    # feedparser's defaults (its HTML sanitizer on) read it without complaint too
    assert parse_atom(data).entries[1].content[0].value == content(archive[1])


def test_atom_feed_has_what_rfc_4287_requires(archive: list[ArchivedEdition]) -> None:
    root = ET.fromstring(atom_feed(settings(lang="fr-CA"), archive, content=content))
    assert root.tag == ATOM + "feed"
    assert root.get("{http://www.w3.org/XML/1998/namespace}lang") == "fr-CA"

    def one(parent: ET.Element, name: str) -> ET.Element:
        found = parent.findall(ATOM + name)
        assert len(found) == 1, (name, len(found))
        return found[0]

    # 4.1.1: exactly one id, title and updated; an author (or one in every entry)
    for name in ("id", "title", "updated", "generator"):
        one(root, name)
    assert one(one(root, "author"), "name").text
    assert RFC3339.fullmatch(one(root, "updated").text or "")
    links = {(link.get("rel"), link.get("type")) for link in root.findall(ATOM + "link")}
    assert links == {("self", "application/atom+xml"), ("alternate", "text/html")}
    entries = root.findall(ATOM + "entry")
    assert len(entries) == 3
    for entry in entries:
        # 4.1.2: exactly one id, title and updated; a link alternate; content and summary
        assert TAG.fullmatch(one(entry, "id").text or ""), one(entry, "id").text
        for name in ("title", "updated", "published", "summary"):
            assert one(entry, name).text
        for name in ("updated", "published"):
            assert RFC3339.fullmatch(one(entry, name).text or "")
        assert [(link.get("rel"), link.get("href", "")[:len(BASE) + 10])
                for link in entry.findall(ATOM + "link")] == [("alternate", BASE + "/editions/")]
        # the content is escaped HTML as text (3.1.1.2), not child elements
        assert one(entry, "content").get("type") == "html"
        assert one(entry, "content").findall("*") == []


def test_atom_ids_keep_a_base_path_apart_and_fall_back_to_the_url(
        archive: list[ArchivedEdition]) -> None:
    parsed = parse_atom(atom_feed(settings(base_url="https://example.org/brief/"), archive,
                                  content=content))
    assert parsed.entries[1].id == "tag:example.org,2026:brief/edition/2026-11-30"
    assert parsed.entries[1].link == "https://example.org/brief/editions/2026-11-30/"
    assert parsed.feed.id == "https://example.org/brief/"
    parsed = parse_atom(atom_feed(settings(base_url="http://[::1]:8080"), archive,
                                  content=content))
    assert parsed.entries[1].id == "http://[::1]:8080/editions/2026-11-30/"


def test_an_edition_never_sent_is_dated_when_it_was_made() -> None:
    edition = replace(hostile_edition("Quiet week"), sent_at=None)
    parsed = parse_atom(atom_feed(settings(), [edition], content=content))
    assert parsed.entries[0].published == "2026-12-14T06:00:00+00:00"
    assert parsed.feed.updated == "2026-12-14T06:00:00+00:00"
    item = check_json_feed(json_feed(settings(), [edition], content=content))["items"][0]
    assert item["date_published"] == "2026-12-14T06:00:00+00:00"


def test_an_empty_archive_still_makes_valid_feeds() -> None:
    parsed = parse_atom(atom_feed(settings(), [], content=content))
    assert parsed.entries == [] and parsed.feed.updated == "1970-01-01T00:00:00+00:00"
    assert check_json_feed(json_feed(settings(), [], content=content))["items"] == []


def test_feeds_need_a_base_url(archive: list[ArchivedEdition]) -> None:
    bare = settings_from_mapping({"title": "The Brief"}, base_dir=Path("."), env={})
    assert bare.web.base_url is None
    with pytest.raises(ValueError, match="base_url"):
        atom_feed(bare, archive, content=content)
    with pytest.raises(ValueError, match="base_url"):
        json_feed(bare, archive, content=content)


# --- JSON Feed ---


def test_json_feed_matches_the_json_feed_1_1_schema(archive: list[ArchivedEdition]) -> None:
    data = json_feed(settings(lang="de"), archive, content=content)
    document = check_json_feed(data)
    assert {k: document[k] for k in ("title", "home_page_url", "feed_url", "language",
                                     "authors")} == {
        "title": "The Brief <& \"friends\">", "home_page_url": BASE + "/",
        "feed_url": BASE + "/feed.json", "language": "de",
        "authors": [{"name": "The Brief <& \"friends\">"}]}
    items = document["items"]
    assert [i["id"] for i in items] == [f"{BASE}/editions/{d}/"
                                        for d in ("2026-12-07", "2026-11-30", "2026-11-16")]
    assert [i["url"] for i in items] == [i["id"] for i in items]
    assert [i["title"] for i in items] == [e.subject for e in archive]
    assert [i["content_html"] for i in items] == [content(e) for e in archive]
    assert items[1]["summary"] == "Elections in Accra · Quantum chip"
    assert [i["date_published"] for i in items] == [
        "2026-12-07T07:00:00+00:00", "2026-11-30T07:01:30+00:00", "2026-11-16T07:02:00+00:00"]
    assert [i["date_modified"] for i in items] == [i["date_published"] for i in items]
    assert json_feed(settings(lang="de"), archive, content=content) == data


def test_the_schema_check_can_fail(archive: list[ArchivedEdition]) -> None:
    document = json.loads(json_feed(settings(), archive, content=content))
    for broken in ({**document, "version": "https://jsonfeed.org/version/2"},
                   {k: v for k, v in document.items() if k != "items"},
                   {**document, "items": [{"id": "x"}]},  # neither content_html nor _text
                   {**document, "items": [{**document["items"][0], "title": 3}]},
                   {**document, "extra": 1}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft7Validator(SCHEMA).validate(broken)


# --- hostile text ---


def test_hostile_text_comes_back_exactly_and_never_breaks_the_documents() -> None:
    text = HOSTILE + " line\r\nbreak " + CONTROLS + " \ud800 end"
    edition = hostile_edition(text)
    expected = HOSTILE + " line\nbreak \x7f  end"  # what XML 1.0 can carry, line ends as read

    atom = atom_feed(settings(), [edition], content=lambda e: f"<p>{e.subject}</p>")
    root = ET.fromstring(atom)  # well-formed: no character XML 1.0 refuses
    assert not re.search("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]", atom.decode("utf-8"))
    assert root.find(f"{ATOM}entry/{ATOM}title") is not None
    entry = parse_atom(atom, sanitize_html=False).entries[0]
    assert entry.title == expected
    assert entry.content[0].value == f"<p>{expected}</p>"
    assert entry.summary == expected

    # JSON carries every character but a lone surrogate (UTF-8 cannot encode one)
    item = check_json_feed(json_feed(settings(), [edition],
                                     content=lambda e: f"<p>{e.subject}</p>"))["items"][0]
    kept = text.replace("\ud800", "")
    assert (item["title"], item["summary"], item["content_html"]) == (kept, kept,
                                                                      f"<p>{kept}</p>")


def test_hostile_text_through_the_store(archive: list[ArchivedEdition]) -> None:
    hostile = archive[0]
    assert hostile.subject == HOSTILE
    entry = parse_atom(atom_feed(settings(), archive, content=content),
                       sanitize_html=False).entries[0]
    assert (entry.title, entry.summary) == (HOSTILE, HOSTILE + " title")
    assert entry.content[0].value == content(hostile)
    item = check_json_feed(json_feed(settings(), archive, content=content))["items"][0]
    assert (item["title"], item["content_html"]) == (HOSTILE, content(hostile))


# --- sitemap and robots.txt ---


def test_sitemap_lists_absolute_urls_with_their_dates() -> None:
    urls: list[tuple[str, date | None]] = [
        (BASE + "/", None), (BASE + "/editions/2026-11-30", date(2026, 11, 30)),
        (BASE + "/search?q=a&page=2", date(2026, 12, 7))]
    root = ET.fromstring(sitemap(urls))
    assert root.tag == SITEMAP + "urlset"
    found = [(u.findtext(SITEMAP + "loc"), u.findtext(SITEMAP + "lastmod"))
             for u in root.findall(SITEMAP + "url")]
    assert found == [(BASE + "/", None), (BASE + "/editions/2026-11-30", "2026-11-30"),
                     (BASE + "/search?q=a&page=2", "2026-12-07")]
    assert b"q=a&amp;page=2" in sitemap(urls)
    assert ET.fromstring(sitemap([])).findall(SITEMAP + "url") == []


@pytest.mark.parametrize("url", ["/editions/2026-11-30", "editions", "news.example.org/x",
                                 "ftp://news.example.org/x", "javascript:alert(1)",
                                 "https://", BASE + "/a b", BASE + "/\x00",
                                 BASE + "/" + "x" * 2048])
def test_sitemap_refuses_what_is_not_an_absolute_url(url: str) -> None:
    with pytest.raises(ValueError):
        sitemap([(url, None)])


def test_sitemap_holds_at_most_50000_urls() -> None:
    urls: list[tuple[str, date | None]] = [(f"{BASE}/editions/{n}", None)
                                           for n in range(50_000)]
    assert len(ET.fromstring(sitemap(urls))) == 50_000
    with pytest.raises(ValueError, match="50,000"):
        sitemap([*urls, (BASE + "/one-more", None)])


def test_robots_txt_allows_everything_and_names_the_sitemap() -> None:
    assert robots_txt(BASE + "/") == (
        "User-agent: *\nAllow: /\n\nSitemap: https://news.example.org/sitemap.xml\n")
    assert robots_txt("https://example.org/brief").endswith(
        "Sitemap: https://example.org/brief/sitemap.xml\n")
    for bad in ("/relative", "https://example.org/\nDisallow: /"):
        with pytest.raises(ValueError):
            robots_txt(bad)
