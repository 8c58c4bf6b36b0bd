"""The archive in the store (issue 19): only editions that went out are listed, newest first,
once each however often they were resent; search finds their stories by every word typed
(SQLite FTS5 or PostgreSQL text search), ranked, paged, and never an unsent edition's."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from digest.models import DeliveryStatus
from digest.store import Outcome, Store

NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)


def payload(day: date, stories: list[tuple[str, str, str]]) -> dict[str, Any]:
    """An edition's JSON with these (section, title, summary) stories."""
    sections: dict[str, list[dict[str, Any]]] = {}
    for n, (section, title, summary) in enumerate(stories):
        sections.setdefault(section, []).append({
            "title": title, "url": f"https://news.example.org/{day}/{n}", "source": "Wire",
            "published": None, "summary": summary, "score": 1.0, "also": []})
    return {"edition": day.isoformat(), "title": "The Brief", "generated_at": NOW.isoformat(),
            "sections": [{"id": s, "title": s.title(), "stories": st}
                         for s, st in sections.items()]}


def freeze(store: Store, day: date, stories: list[tuple[str, str, str]], *,
           sent: bool = True) -> None:
    frozen = store.freeze_edition(day, title="The Brief", payload=payload(day, stories),
                                  subject=f"The Brief {day}", html="<p>x</p>", text="x",
                                  fingerprints=[], now=NOW)
    if sent:
        store.take_deliveries(frozen.id, ["ana@example.org"], owner="t", now=NOW,
                              stale_before=NOW)
        store.finish_deliveries(frozen.id, [Outcome("ana@example.org", DeliveryStatus.SENT,
                                                    "<m@x>")], now=NOW + timedelta(minutes=1))


@pytest.fixture
def store(db_url: str) -> Any:
    s = Store(db_url)
    yield s
    s.close()


def test_only_editions_that_went_out_are_listed_newest_first(store: Store) -> None:
    freeze(store, date(2026, 11, 16), [("tech", "Chips in Lagos", "A fab opens.")])
    freeze(store, date(2026, 11, 30), [("europe", "Rail strike", "Trains stop.")])
    freeze(store, date(2026, 11, 23), [("tech", "Unsent chip story", "Never sent.")],
           sent=False)
    editions = store.sent_editions()
    assert [e.edition for e in editions] == [date(2026, 11, 30), date(2026, 11, 16)]
    assert editions[0].sent_at == NOW + timedelta(minutes=1)
    assert store.count_sent_editions() == 2
    assert store.sent_edition(date(2026, 11, 23)) is None
    found = store.sent_edition(date(2026, 11, 30))
    assert found is not None and (found[1], found[2]) == (date(2026, 11, 16), None)
    assert store.sent_edition(date(2026, 11, 16), since=date(2026, 11, 20)) is None
    assert [e.edition for e in store.sent_editions(since=date(2026, 11, 20))] == [
        date(2026, 11, 30)]


def test_search_needs_every_word_ranks_titles_first_and_skips_unsent(store: Store) -> None:
    freeze(store, date(2026, 11, 16), [
        ("tech", "Chipmakers gather in Lagos", "A summit on semiconductors."),
        ("africa", "Lagos traffic plan", "The city talks about chips only in passing.")])
    freeze(store, date(2026, 11, 23), [("tech", "Chip fab in Lagos", "Unsent.")], sent=False)
    freeze(store, date(2026, 11, 30), [("europe", "Zürich élections", "Voters in Zurich.")])
    hits, total = store.search_stories("lagos chip")
    assert total == 2 and [h.title for h in hits] == [
        "Chipmakers gather in Lagos", "Lagos traffic plan"]  # the title match first
    assert {h.edition for h in hits} == {date(2026, 11, 16)}
    assert store.search_stories("lagos chip", limit=1, offset=1)[0][0].title == \
        "Lagos traffic plan"
    assert store.search_stories("zurich")[1] == 1  # in the summary, and "Zürich" in the title
    # typed operators and quotes are words, not syntax
    for query in ('"lagos', "lagos OR nothing", "NEAR(lagos", "title:lagos", "*", "-- '"):
        hits, _ = store.search_stories(query)
        assert all(h.edition == date(2026, 11, 16) for h in hits)
    assert store.search_stories("") == ([], 0)
    assert store.search_stories("lagos", since=date(2026, 11, 20)) == ([], 0)


def test_stop_words_and_short_words_count_alike_on_both_databases(store: Store) -> None:
    # PostgreSQL's 'english' text search drops stop words and stems; the query must still
    # need every word, as on SQLite, and a short word is not a prefix on either.
    freeze(store, date(2026, 11, 16), [
        ("africa", "Who runs Lagos", "The governor, for now."),
        ("africa", "Lagos traffic plan", "Elections about buses.")])
    assert [h.title for h in store.search_stories("who lagos")[0]] == ["Who runs Lagos"]
    assert store.search_stories("the")[1] == 1
    assert store.search_stories("lag") == ([], 0)
    assert [h.title for h in store.search_stories("election")[0]] == ["Lagos traffic plan"]
