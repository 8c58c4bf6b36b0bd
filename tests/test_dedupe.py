"""dedupe: URL canonicalisation, item identity, merging duplicates, refusing sent stories."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from digest.dedupe import canonical_url, cluster_stories, fingerprints, item_key
from digest.models import Item
from labelled_stories import load


def item(url: str, *, source: str = "A", title: str | None = None, guid: str | None = None,
         weight: float = 1.0, summary: str = "", day: int = 24, hour: int = 9,
         id: int = 0) -> Item:
    """An item; without a title, one made from a hash of the URL so unrelated items differ."""
    if title is None:
        digest = hashlib.sha256(url.encode()).hexdigest()
        title = " ".join("x" + digest[i:i + 6] for i in range(0, 36, 6))
    return Item(feed_url=f"https://{source.lower()}.example/feed", key="", url=url, title=title,
                summary=summary, published=datetime(2026, 11, day, hour, tzinfo=UTC), guid=guid,
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
    ("https://example.org/%7euser", "https://example.org/~user"),
    ("https://example.org/a/./b/../c", "https://example.org/a/c"),
    ("https://EXAMPLE.org/a?utm_campaign=x&id=3&pk_kwd=y&oly_enc_id=z", "https://example.org/a?id=3"),
    ("https://bücher.example/a", "https://xn--bcher-kva.example/a"),
    # AMP variants of one article
    ("https://example.org/news/story/amp", "https://example.org/news/story"),
    ("https://example.org/news/story/amp/", "https://example.org/news/story"),
    ("https://example.org/news/story?output=amp", "https://example.org/news/story"),
    ("https://example.org/news/story?amp=1", "https://example.org/news/story"),
    ("https://example.org/news/story?amp", "https://example.org/news/story"),
    ("https://amp.example.org/news/story", "https://example.org/news/story"),
    ("https://example.org/news/story.amp.html", "https://example.org/news/story.html"),
    ("https://www-example-org.cdn.ampproject.org/c/s/www.example.org/news/story",
     "https://example.org/news/story"),
    ("https://www.google.com/amp/s/example.org/news/story", "https://example.org/news/story"),
])
def test_canonical_url_equates(a: str, b: str) -> None:
    assert canonical_url(a) == canonical_url(b)


@pytest.mark.parametrize(("a", "b"), [
    ("https://example.org/a?id=1", "https://example.org/a?id=2"),
    ("https://example.org/a", "https://example.com/a"),
    ("https://example.org/a", "https://example.org/A"),  # paths are case-sensitive
    ("https://example.org:8443/a", "https://example.org/a"),
    ("https://example.org/a%2Fb", "https://example.org/a/b"),  # an escaped slash is data
    ("https://example.org/amplifiers", "https://example.org"),  # only a whole /amp segment
    ("https://example.org/amp/story", "https://example.org/story"),  # a leading /amp/ may be a
    # real section: left alone
    ("https://example.org/a?page=2", "https://example.org/a?page=3"),
    ("https://example.org/a?ref_id=7", "https://example.org/a"),  # only the exact name `ref`
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
    sent = dict.fromkeys(fingerprints(item("https://wire.example/story")), "2026-11-23")
    again = item("https://www.wire.example/story/?utm_campaign=weekly", source="Other",
                 title="Another title for it")
    fresh = item("https://wire.example/new-story")
    stories, dropped = cluster_stories([again, fresh], sent)
    assert [s.url for s in stories] == [fresh.url]
    assert len(dropped) == 1
    assert "already sent" in dropped[0]
    assert "same URL as a story in edition 2026-11-23" in dropped[0]


def test_a_sent_duplicate_takes_its_whole_cluster_with_it() -> None:
    sent = dict.fromkeys(
        fingerprints(item("https://a.example/1", guid="https://a.example/?p=1")), "2026-11-23")
    copy = item("https://mirror.example/1", source="Mirror", guid="https://a.example/?p=1")
    same_url_as_copy = item("https://mirror.example/1?utm_source=x", source="Other")
    stories, dropped = cluster_stories([copy, same_url_as_copy], sent)
    assert stories == [] and len(dropped) == 1
    assert "same guid as a story in edition 2026-11-23" in dropped[0]


def test_fingerprints_fit_an_index_however_long_the_item() -> None:
    # PostgreSQL refuses btree index entries over about 2,700 bytes.
    long = item("https://example.org/" + "a" * 5000 + "?utm_source=x", title="標" * 2000,
                summary="😀" * 5000, guid="tag:example.org," + "g" * 5000)
    marks = fingerprints(long)
    assert len(marks) == 3
    assert all(len(m.encode()) < 2600 for m in marks)
    # the long URL's hash is still the same for the same article under tracking parameters
    copy = item("https://www.example.org/" + "a" * 5000, guid="tag:example.org," + "g" * 5000)
    assert {m for m in marks if not m.startswith("text:")} <= fingerprints(copy)


# --- near-duplicates: the same story in other words ---

# A week of other news around the items under test, as in a real window: which words are rare
# (and so count for more) is learnt from the window.
BACKGROUND = load("dev").items

LEDE = ("NAIROBI (Reuters) - Kenyan lawmakers approved a contested finance bill on Tuesday "
        "that raises taxes on mobile money transfers and fuel, as police fired tear gas at "
        "protesters outside parliament.")


def kenya(title: str, *, source: str, summary: str = LEDE, hour: int = 9, day: int = 24,
          id: int = 0) -> Item:
    slug = "".join(c for c in title.lower() if c.isalnum())[:40]
    return item(f"https://{source.lower()}.example/{slug}", source=source, title=title,
                summary=summary, hour=hour, day=day, id=id)


@pytest.mark.parametrize(("kind", "title", "summary"), [
    ("wire copy, other dateline", "Kenya's parliament passes finance bill despite protests",
     LEDE.replace("NAIROBI (Reuters) -", "NAIROBI, Nov 24 (Reuters) -")),
    ("wire copy, trimmed", "Kenyan parliament passes finance bill despite protests",
     LEDE.split(", as police")[0] + "."),
    ("desk prefix", "UPDATE 2-Kenya's parliament passes finance bill despite protests", LEDE),
    ("live page", "Live: Kenya's parliament passes finance bill despite protests", LEDE),
    ("case and punctuation", "KENYA’S PARLIAMENT PASSES FINANCE BILL — DESPITE PROTESTS.", LEDE),
    ("edited title", "Kenya passes finance bill raising mobile money tax as protesters gather",
     LEDE),
    ("rewrite, same news cycle", "Kenyan MPs approve tax-raising finance bill amid tear gas",
     "Members of Kenya's parliament voted through a finance bill that raises taxes on fuel "
     "and mobile money transfers, while police fired tear gas at protesters in Nairobi."),
])
def test_near_duplicates_become_one_story(kind: str, title: str, summary: str) -> None:
    first = kenya("Kenya's parliament passes finance bill despite protests", source="Reuters",
                  id=1)
    other = kenya(title, source="Other", summary=summary, hour=11, id=2)

    stories, _ = cluster_stories([first, other, *BACKGROUND])

    merged = next(s for s in stories if first in s.items)
    assert [x.key for x in merged.items if x not in (first, other)] == [], kind
    assert other in merged.items, kind
    assert merged.also and merged.also[0].source in {"Reuters", "Other"}
    assert "similarity" in merged.merge_reasons[0]


@pytest.mark.parametrize(("kind", "title", "summary", "day", "hour"), [
    ("opposite outcome", "Kenya's parliament rejects finance bill despite protests",
     LEDE.replace("approved", "rejected"), 24, 11),
    ("follow-up days later", "Kenya's parliament passes finance bill despite protests",
     "Kenya's president signed the finance bill into law on Friday, three days after "
     "lawmakers approved it amid protests.", 27, 9),
    ("same topic, other country", "Uganda's parliament passes budget despite walkout",
     "KAMPALA (Reuters) - Ugandan lawmakers approved the national budget on Tuesday after "
     "opposition members walked out of parliament.", 24, 11),
    ("template headline, other day", "Kenya's parliament passes finance bill despite protests"
     " (2)", "NAIROBI (Reuters) - Briefing for Nov 25.", 25, 12),
])
def test_look_alikes_stay_apart(kind: str, title: str, summary: str, day: int, hour: int) -> None:
    first = kenya("Kenya's parliament passes finance bill despite protests", source="Reuters",
                  id=1)
    other = kenya(title, source="Other", summary=summary, day=day, hour=hour, id=2)
    stories, _ = cluster_stories([first, other, *BACKGROUND])
    assert next(s for s in stories if first in s.items).items == (first,), kind


def test_a_story_sent_before_is_refused_under_a_new_url_and_title() -> None:
    sent_item = kenya("Kenya's parliament passes finance bill despite protests",
                      source="Reuters", id=1)
    sent = dict.fromkeys(fingerprints(sent_item), "2026-11-23")
    again = kenya("UPDATE 1-Kenya passes finance bill despite protests", source="Daily", hour=15,
                  id=2)
    follow_up = kenya("Kenya's president signs finance bill into law", source="Daily", day=27,
                      summary="President William Ruto signed the finance bill on Friday.", id=3)

    stories, dropped = cluster_stories([again, follow_up], sent)

    assert [s.title for s in stories] == [follow_up.title]
    assert len(dropped) == 1 and "in edition 2026-11-23" in dropped[0]
    assert "similarity" in dropped[0]


def test_one_borderline_link_does_not_pull_two_stories_together() -> None:
    # Three copies of one story, and one item of another story that is only loosely like one
    # of them: the loose link alone may not merge the two groups.
    wire = [kenya("Kenya's parliament passes finance bill despite protests", source=s, id=n)
            for n, s in enumerate(("Reuters", "ABC", "Japan Today"), start=1)]
    loose = kenya("Kenyan shilling steadies as finance bill passes parliament", source="Markets",
                  summary="The shilling held at 129 per dollar on Tuesday as traders looked "
                          "past protests over the finance bill passed by parliament.", id=9)
    stories, _ = cluster_stories([*wire, loose])
    assert sorted(len(s.items) for s in stories) == [1, 3]
