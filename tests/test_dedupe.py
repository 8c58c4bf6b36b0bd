"""dedupe: URL canonicalisation, item identity, merging duplicates, refusing sent stories."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.dedupe import canonical_url, cluster_stories, fingerprints, item_key
from digest.models import Item


def item(url: str, *, source: str = "A", title: str = "T", guid: str | None = None,
         weight: float = 1.0, summary: str = "", day: int = 24, id: int = 0) -> Item:
    return Item(feed_url=f"https://{source.lower()}.example/feed", key="", url=url, title=title,
                summary=summary, published=datetime(2026, 11, day, 9, tzinfo=UTC), guid=guid,
                source=source, weight=weight, id=id)


@pytest.mark.parametrize(("a", "b"), [
    ("https://Example.ORG/a/b", "https://example.org/a/b"),
    ("https://www.example.org/a", "https://example.org/a"),
    ("https://example.org:443/a", "https://example.org/a"),
    ("http://example.org:80/a", "https://example.org/a"),
    ("https://example.org/a/", "https://example.org/a"),
    ("https://example.org/a#comments", "https://example.org/a"),
    ("https://example.org/a?utm_source=rss&utm_medium=feed", "https://example.org/a"),
    ("https://example.org/a?fbclid=x&gclid=y&mc_cid=z&ref=hn", "https://example.org/a"),
    ("https://example.org/a?b=2&a=1", "https://example.org/a?a=1&b=2"),
    ("https://example.org/caf%c3%a9", "https://example.org/café"),
])
def test_canonical_url_equates(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


@pytest.mark.parametrize(("a", "b"), [
    ("https://example.org/a?id=1", "https://example.org/a?id=2"),
    ("https://example.org/a", "https://example.com/a"),
    ("https://example.org/a", "https://example.org/A"),  # paths are case-sensitive
    ("https://example.org:8443/a", "https://example.org/a"),
])
def test_canonical_url_keeps_what_matters(a: str, b: str) -> None:
    assert canonical_url(a) != canonical_url(b)


def test_item_key_fallback_chain() -> None:
    with_guid = item("https://example.org/a", guid="tag:example.org,2026:1")
    assert item_key(with_guid) == "guid:tag:example.org,2026:1"
    assert item_key(item("https://www.example.org/a/?utm_source=x")) == "url:example.org/a"
    no_link = Item(feed_url="f", key="", url="", title="Hello", summary="", published=None)
    assert item_key(no_link).startswith("title:")
    assert item_key(no_link) != item_key(Item(feed_url="f", key="", url="", title="Other",
                                              summary="", published=None))


def test_same_url_across_feeds_is_one_story_with_also() -> None:
    a = item("https://wire.example/story?utm_source=a", source="Wire", summary="short", id=1)
    b = item("https://www.wire.example/story/", source="Daily", summary="a fuller summary",
             weight=2.0, id=2)
    c = item("https://other.example/x", source="Other", id=3)
    stories, dropped = cluster_stories([a, b, c])
    assert dropped == []
    assert len(stories) == 2
    merged = next(s for s in stories if len(s.items) == 2)
    assert merged.source == "Daily"  # the heavier feed is the representative
    assert [(x.source, x.url) for x in merged.also] == [("Wire", a.url)]
    assert merged.merge_reasons and "same URL" in merged.merge_reasons[0]


def test_representative_prefers_fuller_summary_then_earliest() -> None:
    early = item("https://x.example/s", source="Early", summary="same", day=23, id=1)
    late = item("https://x.example/s", source="Late", summary="same", day=25, id=2)
    fuller = item("https://x.example/s", source="Full", summary="much longer text", day=26,
                  id=3)
    assert cluster_stories([late, early])[0][0].source == "Early"
    assert cluster_stories([late, early, fuller])[0][0].source == "Full"


def test_global_guid_merges_but_short_guid_does_not() -> None:
    g1 = item("https://a.example/1", source="A", guid="urn:uuid:1234-5678-90ab", id=1)
    g2 = item("https://b.example/2", source="B", guid="urn:uuid:1234-5678-90ab", id=2)
    s1 = item("https://a.example/3", source="A", guid="42", id=3)
    s2 = item("https://b.example/4", source="B", guid="42", id=4)
    stories, _ = cluster_stories([g1, g2, s1, s2])
    assert sorted(len(s.items) for s in stories) == [1, 1, 2]


def test_already_sent_stories_are_refused_under_another_url_form() -> None:
    sent = fingerprints(item("https://wire.example/story"))
    again = item("https://www.wire.example/story/?utm_campaign=weekly", source="Other")
    fresh = item("https://wire.example/new-story")
    stories, dropped = cluster_stories([again, fresh], sent)
    assert [s.url for s in stories] == [fresh.url]
    assert len(dropped) == 1 and "already sent" in dropped[0]


def test_a_sent_duplicate_takes_its_whole_cluster_with_it() -> None:
    sent = fingerprints(item("https://a.example/1", guid="https://a.example/?p=1"))
    copy = item("https://mirror.example/1", source="Mirror", guid="https://a.example/?p=1")
    stories, dropped = cluster_stories([copy], sent)
    assert stories == [] and len(dropped) == 1
