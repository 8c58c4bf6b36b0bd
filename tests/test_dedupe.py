"""dedupe: URL canonicalisation, item identity, merging duplicates, refusing sent stories."""

from __future__ import annotations

import hashlib
import random
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest

from digest import neardup
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
    ("https://google.com/amp/s/example.org/news/story", "https://example.org/news/story"),
    # a link w3lib cannot parse (the port) still loses its tracking parameters
    ("https://example.org:99999/a?fbclid=x=y", "https://example.org:99999/a"),
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
    # only the AMP cache's own link forms (/c/s/..., Google's /amp/s/...) are unwrapped
    ("https://x.cdn.ampproject.org/cc/s/example.org/a", "https://example.org/a"),
    ("https://example.net/amp/s/example.org/story", "https://example.org/story"),
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


def test_item_keys_are_stored_so_their_form_never_changes() -> None:
    undated = Item(feed_url="f", key="", url="", title="Hello", summary="", published=None)
    dated = replace(undated, published=datetime(2026, 11, 24, 9, tzinfo=UTC))
    assert item_key(undated) == "title:" + hashlib.sha256(b"hello|").hexdigest()[:32]
    assert item_key(dated) == "title:" + hashlib.sha256(
        b"hello|2026-11-24T09:00:00+00:00").hexdigest()[:32]


def test_same_url_across_feeds_is_one_story_with_also() -> None:
    a = item("https://wire.example/story?utm_source=a", source="Wire", summary="short", id=1)
    b = item("https://www.wire.example/story/", source="Daily", summary="a fuller summary",
             weight=2.0, id=2)
    c = item("https://other.example/x", source="Other", id=3)
    stories, dropped = cluster_stories([a, b, c])
    assert dropped == []
    assert len(stories) == 2
    merged = next(s for s in stories if len(s.items) == 2)
    assert merged.items[0] is b  # the heavier feed is the representative
    # Its link is Wire's article: credited to Wire, as the link a reader follows (issue 21).
    assert (merged.source, merged.url) == ("Wire", "https://www.wire.example/story/")
    assert merged.also == ()  # Wire's own copy is the same article: no "also"
    assert merged.merge_reasons[0] == "credited to Wire, whose link it is: via Daily"
    assert "same URL" in merged.merge_reasons[1]


def test_representative_prefers_fuller_summary_then_earliest() -> None:
    # the ids run against the dates, so the earliest wins by its date, not as the lower id
    early = item("https://x.example/s", source="Early", summary="same", day=23, id=2)
    late = item("https://x.example/s", source="Late", summary="same", day=25, id=1)
    fuller = item("https://x.example/s", source="Full", summary="much longer text", day=26,
                  id=3)
    assert cluster_stories([late, early])[0][0].source == "Early"
    assert cluster_stories([late, early, fuller])[0][0].source == "Full"


def test_a_dated_item_leads_an_undated_copy_and_ties_go_to_the_lower_id() -> None:
    dated = item("https://x.example/s", source="Dated", summary="same", id=2)
    undated = replace(item("https://x.example/s", source="Undated", summary="same", id=1),
                      published=None)
    assert cluster_stories([undated, dated])[0][0].source == "Dated"
    second = item("https://x.example/s", source="Second", summary="same", id=2)
    first = item("https://x.example/s", source="First", summary="same", id=1)
    assert cluster_stories([second, first])[0][0].source == "First"
    unsaved = item("https://x.example/s", source="Unsaved", summary="same", id=None)  # type: ignore[arg-type]
    assert cluster_stories([first, unsaved])[0][0].source == "Unsaved"  # no id counts as 0


def test_merged_story_is_its_representative_with_the_others_as_also() -> None:
    lead = item("https://wire.example/story", source="Wire", weight=2.0, summary="The lead.",
                guid="tag:wire.example,2026:story-1", day=23, id=1)
    same_url = replace(item("https://www.wire.example/story/", source="Daily", id=2),
                       image="https://img.example/daily.jpg")
    same_guid = replace(item("https://mirror.example/x", source="Mirror",
                             guid="tag:wire.example,2026:story-1", id=3),
                        image="https://img.example/mirror.jpg")
    daily_again = item("https://wire.example/story?utm_source=rss", source="Daily", id=4)
    stories, _ = cluster_stories([lead, same_url, same_guid, daily_again])
    assert len(stories) == 1
    story = stories[0]
    assert (story.title, story.url, story.source, story.published, story.summary,
            story.weight) == (lead.title, lead.url, "Wire", lead.published, "The lead.", 2.0)
    assert story.items == (lead, same_url, same_guid, daily_again)
    assert story.image == "https://img.example/daily.jpg"  # the first in the story with one
    # other articles only (issue 21): Daily's two copies are the lead's own article
    assert [(a.source, a.url) for a in story.also] == [("Mirror", same_guid.url)]
    assert story.merge_reasons == (
        f"merged Daily ({same_url.url}): same URL as Wire",
        f"merged Mirror ({same_guid.url}): same guid as Wire",
        f"merged Daily ({daily_again.url}): same URL as Wire",
    )


def test_merge_reasons_name_the_other_outlet_whichever_came_first() -> None:
    light = item("https://wire.example/story", source="Light", id=1)
    heavy = item("https://www.wire.example/story", source="Heavy", weight=2.0, id=2)
    for order in ([light, heavy], [heavy, light]):
        story = cluster_stories(order)[0][0]
        assert story.source == "Heavy"
        assert story.merge_reasons == (f"merged Light ({light.url}): same URL as Heavy",)


def test_texts_worked_out_before_are_used_as_given() -> None:
    a = item("https://a.example/1", source="A", title="Ruto signs the finance bill", id=1)
    b = item("https://b.example/2", source="B", title="Nairobi marathon record falls", id=2)
    assert len(cluster_stories([a, b])[0]) == 2
    same = neardup.text_of(a.title, a.summary, a.when)
    assert len(cluster_stories([a, b], texts=[same, same])[0]) == 1  # the texts say: alike
    with pytest.raises(ValueError):
        cluster_stories([a, b], texts=[same])


@pytest.mark.parametrize(("guid", "is_global"), [
    ("http://a.example/?p=1", True),
    ("https://a.example/?p=1", True),
    ("tag:a.example,2026:1", True),
    ("urn:isbn:1234", True),
    ("urn:isbn:123", False),  # a scheme, but 12 characters at most: a counter
    ("post-123456789012", False),  # long, but no scheme
    ("42", False),
])
def test_a_guid_is_an_identity_across_feeds_only_if_globally_unique(guid: str,
                                                                   is_global: bool) -> None:
    a = item("https://a.example/1", source="A", guid=guid, id=1)
    b = item("https://b.example/2", source="B", guid=guid, id=2)
    assert (f"guid:{guid}" in fingerprints(a)) is is_global
    assert len(cluster_stories([a, b])[0]) == (1 if is_global else 2)


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
    guid, url = "tag:example.org," + "g" * 5000, "example.org/" + "a" * 5000
    assert {m for m in marks if not m.startswith("text:")} == {
        "guid:sha256:" + hashlib.sha256(guid.encode()).hexdigest(),
        "url:sha256:" + hashlib.sha256(url.encode()).hexdigest()}


def test_an_identity_of_up_to_500_characters_is_kept_as_written() -> None:
    path = "a" * (500 - len("url:example.org/"))
    assert f"url:example.org/{path}" in fingerprints(item(f"https://example.org/{path}"))
    longer = fingerprints(item(f"https://example.org/{path}b"))
    assert "url:sha256:" + hashlib.sha256(f"example.org/{path}b".encode()).hexdigest() in longer


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


# A rewrite of the Kenya story: alike enough for the same news cycle (0.16), not for days apart.
REWRITE_TITLE = "Kenyan MPs approve tax-raising finance bill amid tear gas"
REWRITE = ("Members of Kenya's parliament voted through a finance bill that raises taxes on fuel "
           "and mobile money transfers, while police fired tear gas at protesters in Nairobi.")


def test_a_sent_storys_fingerprint_keeps_its_date() -> None:
    rewrite = kenya(REWRITE_TITLE, source="Daily", summary=REWRITE, hour=15, id=2)
    title = "Kenya's parliament passes finance bill despite protests"
    for sent_day, refused in ((24, True), (17, False)):  # the same day, or a week before
        sent_item = kenya(title, source="Reuters", day=sent_day, id=1)
        sent = dict.fromkeys(fingerprints(sent_item), date(2026, 11, sent_day - 1))
        stories, dropped = cluster_stories([rewrite, *BACKGROUND], sent)
        assert (rewrite not in {it for s in stories for it in s.items}) is refused, sent_day
        if refused:
            assert len(dropped) == 1
            assert f"to {title!r} in edition 2026-11-23" in dropped[0]


def test_an_undated_sent_story_is_refused_only_as_a_close_copy() -> None:
    title = "Kenya's parliament passes finance bill despite protests"
    sent_item = replace(kenya(title, source="Reuters", id=1), published=None)
    sent = dict.fromkeys(fingerprints(sent_item), date(2026, 11, 23))
    copy = kenya(title, source="Daily", hour=15, id=2)
    rewrite = kenya(REWRITE_TITLE, source="Daily", summary=REWRITE, hour=15, id=3)
    stories, dropped = cluster_stories([rewrite, *BACKGROUND], sent)
    assert rewrite in stories[0].items and dropped == []
    stories, dropped = cluster_stories([copy], sent)
    assert stories == [] and len(dropped) == 1
    assert dropped[0].startswith(f"already sent: {title!r} (Daily")
    assert f"similarity 1.00 to {title!r} in edition 2026-11-23" in dropped[0]


def test_a_sent_storys_fingerprint_holds_as_much_of_its_words_as_a_comparison_reads() -> None:
    # A copy a week later is refused as the very same text (1.00): the fingerprint kept the
    # whole lede, past a dateline, and separators inside the title or summary were only spaces.
    words = [f"{name}{n}" for n in range(40) for name in ("Kisumu", "levy", "Mombasa")]
    summary = "NAIROBI (Reuters) - " + " ".join(words)
    assert len(summary) > neardup.LEDE_CHARS + 80
    title = "Kenya's parliament passes finance bill despite protests"
    sent_item = kenya(title.replace(" ", "\x1f"), source="Reuters",
                      summary=summary.replace(" ", "\x1f"), day=17, id=1)
    sent = dict.fromkeys(fingerprints(sent_item), date(2026, 11, 16))
    copy = kenya(title, source="Daily", summary=summary, id=2)
    stories, dropped = cluster_stories([copy], sent)
    assert stories == [] and len(dropped) == 1
    assert f"similarity 1.00 to {title!r} in edition 2026-11-16" in dropped[0]


def dense_story(names: str, words: str, start: int) -> list[Item]:
    """300 outlets' own headlines for one event (issue 23: real stories reach 100-300 items):
    its names and 4 of its 12 words each, taken in turn; a lede on every other one."""
    vocabulary = words.split()

    def some(at: int, size: int) -> str:
        return " ".join(vocabulary[(at + r) % len(vocabulary)] for r in range(size))

    return [item(f"https://outlet{k}.example/{start + k}", source=f"Outlet {k}",
                 title=f"{names} {some(5 * k, 4)}", id=start + k + 1,
                 summary=f"Officials said {names} {some(5 * k + 7, 6)}." if k % 2 == 0 else "")
            for k in range(300)]


def test_two_dense_stories_stay_apart_and_joining_them_scores_no_pair(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Two events of one morning with 300 items each, one name in common, and a headline
    # loosely like both: it joins one story, and that borderline link does not pull the
    # other 300 in. Joining scores no pair of texts: every score is a candidate's verdict.
    strike = dense_story("Varo Kell", "harbour strike dockers wages ports cargo ships union "
                         "talks pay deal walkout", 0)
    fire = dense_story("Varo Tusk", "wildfire blaze hectares firefighters evacuated homes "
                       "winds smoke villages crews flames rain", 300)
    bridge = item("https://bridge.example/1", source="Bridge", hour=10, id=999,
                  title="Varo Kell Tusk strike blaze dockers smoke")
    calls: list[str] = []
    score, verdict = neardup.Comparison.score, neardup.Comparison.verdict
    monkeypatch.setattr(neardup.Comparison, "score",
                        lambda self, i, j: calls.append("score") or score(self, i, j))
    monkeypatch.setattr(neardup.Comparison, "verdict",
                        lambda self, i, j: calls.append("verdict") or verdict(self, i, j))

    stories, _ = cluster_stories([*strike, *fire, bridge])

    found = sorted([sorted(it.id or 0 for it in s.items) for s in stories], key=len)
    strike_ids, fire_ids = [it.id for it in strike], [it.id for it in fire]
    assert found in ([fire_ids, [*strike_ids, 999]], [strike_ids, [*fire_ids, 999]])
    assert calls.count("score") == calls.count("verdict") > 0


def test_a_plain_link_skips_w3lib_and_comes_out_the_same() -> None:
    """canonical_url leaves w3lib out for links it would change no more than by sorting their
    query (issue 23: it was most of a first poll's time): over 40,000 seeded random links,
    every one taken as plain comes out exactly as w3lib makes it, and links that need its
    work still get it."""
    from w3lib.url import canonicalize_url

    from digest.dedupe import _plain_canonical

    def w3lib(url: str) -> str:
        try:
            return canonicalize_url(url)
        except ValueError:  # a port w3lib refuses: compared as written either way
            return url

    rng = random.Random(23)
    alphabet = "abcXYZ019-._~!$&'()*+,;=:@/%?#[] é"
    hosts = ["a.example", "www.b.co.uk", "x-y.org", "h.example:8080", "A.example", "h.example."]
    plain = queried = 0
    for _ in range(20_000):
        url = (rng.choice(["http://", "https://"]) + rng.choice(hosts) + "/"
               + "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 20))))
        pairs = "&".join(f"{rng.choice(['a', 'b', 'utm_source', 'B', 'a1'])}="
                         f"{rng.choice(['', 'x', 'RSS', '1', 'y.z'])}"
                         for _ in range(rng.randint(1, 4)))
        for link in (url, f"https://n.example/p/{rng.randint(0, 99)}?{pairs}"):
            made = _plain_canonical(link)
            if made is not None:
                plain += 1
                queried += "?" in link
                assert made == w3lib(link), link
    assert plain > 20_000 and queried > 15_000  # the fast path is taken often enough to matter
    for url in ("https://A.example/x", "https://a.example/x%7e", "https://a.example/a/../b",
                "https://a.example/x;", "https://a.example/x y", "https://a.example/é",
                "https://a.example/x?amp", "https://a.example/x?a=b#c", "https://a.example/?q=a+b"):
        assert _plain_canonical(url) is None, url
    assert canonical_url("https://a.example/a/../b") == "a.example/b"
    assert canonical_url("https://a.example/p?z=1&utm_source=x&a=2") == "a.example/p?a=2&z=1"
