"""features: each item's words worked out once, when stored, kept with the key they were worked
out under, and read back by builds (the store, a real SQLite file or the suite's PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import select, update

from conftest import fixed_clock, open_app
from digest import classify, features, neardup
from digest.app import App
from digest.config import load_settings
from digest.lexicon import section_lexicon
from digest.models import Edition, Item, edition_to_dict
from digest.schema import items as items_table
from digest.store import Store

DAY = date(2026, 11, 30)
TEXTS = [
    ("UPDATE 2-Kenya's central bank cuts rate to 9.25% as inflation eases",
     "NAIROBI (Reuters) - Kenya's central bank cut its benchmark rate on Tuesday ..."),
    ("Stocks fall as Nvidia slides on China report", "Wall Street closed lower."),
    ("Zürich: Économie suisse résiste", ""),
    ("EU and AU leaders meet in Addis Ababa", "The African Union summit opened."),
    ("", ""),
]


def item(title: str, summary: str, **kw: object) -> Item:
    return Item(feed_url="https://feeds.example/a", key=f"guid:{title}", url="https://a.example/1",
                title=title, summary=summary, published=datetime(2026, 11, 27, 9, tzinfo=UTC),
                **kw)  # type: ignore[arg-type]


def lexicon(*keywords: str) -> classify.Lexicon:
    return classify.Lexicon([
        classify.SectionSpec("tech", "Tech", (("Nvidia", 3.0), ("AI", 3.0),
                                              *((k, 3.0) for k in keywords))),
        classify.SectionSpec("africa", "Africa", (("Kenya", 3.0), ("African Union", 4.0),
                                                  ("AU", 3.0))),
    ])


@pytest.mark.parametrize(("title", "summary"), TEXTS)
def test_packed_features_read_back_as_worked_out(title: str, summary: str) -> None:
    analyser = features.Analyser(lexicon())
    it = item(title, summary)
    worked_out = analyser.analyse(it)
    assert features.unpack(analyser.pack(it), it.when) == worked_out
    assert worked_out.text == neardup.text_of(title, summary, it.when)
    assert worked_out.found == classify.found_terms(title, summary, analyser.lexicon)


def test_the_first_text_finds_its_terms_and_words() -> None:
    found = features.Analyser(lexicon()).analyse(item(*TEXTS[0])).found
    assert found == (("africa", "Kenya", 6.0),)  # in the title: twice its weight, once
    text = features.Analyser(lexicon()).analyse(item(*TEXTS[0])).text
    assert text.numbers == {"9.25"} and "kenya" in text.title and not text.roundup
    assert features.Analyser(lexicon()).analyse(item(*TEXTS[1])).text.roundup  # a market report
    assert {"addi", "ababa"} <= features.Analyser(lexicon()).analyse(item(*TEXTS[3])).text.names


@pytest.mark.parametrize("packed", [
    "", "just words", "a\tb\tc\tr\t[[1,2]]", "a\tb\tc\tr\t[[\"tech\",\"AI\",null]]",
    "a\tb\tc\tr\tnot json", "a\tb\tr\t[]", "a\tb\tc\tr\t5", "a\tb\tc\tr\t{\"x\": 1}"])
def test_unpack_refuses_what_pack_did_not_write(packed: str) -> None:
    with pytest.raises(ValueError):
        features.unpack(packed, None)


def test_the_key_changes_with_the_sections_words_only() -> None:
    assert features.Analyser(lexicon()).key == features.Analyser(lexicon()).key
    assert features.Analyser(lexicon("chip")).key != features.Analyser(lexicon()).key
    assert len(features.Analyser(lexicon()).key) == 16


def test_a_bad_stored_value_is_worked_out_again_and_stored_back() -> None:
    analyser = features.Analyser(lexicon())
    good = item(*TEXTS[1], id=1, features=analyser.pack(item(*TEXTS[1])))
    bad = item(*TEXTS[3], id=2, features="not features")
    missing = item(*TEXTS[0], id=3)
    unstored = item(*TEXTS[2])  # no id: nothing to store back
    known, fresh = analyser.features([good, bad, missing, unstored])
    assert known == [analyser.analyse(i) for i in (good, bad, missing, unstored)]
    assert fresh == [(2, analyser.pack(bad)), (3, analyser.pack(missing))]


def stored(app: App) -> dict[str, tuple[str | None, str | None, bool]]:
    """Each stored item's title: (features, features_key, seen_only)."""
    t = items_table.c
    with app.store.engine.connect() as conn:
        return {r.title: (r.features, r.features_key, r.seen_only) for r in conn.execute(
            select(t.title, t.features, t.features_key, t.seen_only))}


def shape(edition: Edition) -> dict[str, object]:
    data = edition_to_dict(edition)
    data.pop("generated_at", None)
    return data


def test_refresh_stores_features_and_a_build_reads_them(demo: Path) -> None:
    settings = load_settings(demo, env={})
    app = open_app(settings, clock=fixed_clock("2026-11-27T10:00:00"))
    try:
        app.poller.refresh(force=True)  # every new item offered is analysed as it is stored
        rows = stored(app)
        offered = {k: v for k, v in rows.items() if not v[2]}
        assert offered and all(key == app.editions.analyser.key for _, key, _ in offered.values())
        assert all(f is not None for f, _, _ in offered.values())
        by_title = {i.title: i for i in app.store.items_between(
            datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC),
            [f.url for f in settings.feeds])}
        for title, (packed, _, _) in offered.items():
            assert packed == app.editions.analyser.pack(by_title[title])
        first = app.editions.build(DAY, fetch=False)
        auto = [s for s in first.edition.stories
                if s.section_reason and not s.section_reason.startswith("feed section")]
        assert auto, "the demo's auto feed has stories classified by their words"

        # The build reads what is stored: features saying "no section's words" send every
        # classified story to Elsewhere.
        with app.store.engine.begin() as conn:
            for title, (packed, _, _) in offered.items():
                words = packed.rpartition("\t")[0]  # type: ignore[union-attr]
                conn.execute(update(items_table).where(items_table.c.title == title)
                             .values(features=f"{words}\t[]"))
        emptied = {s.url: s for s in app.editions.build(DAY, fetch=False).edition.stories}
        again = [emptied[s.url] for s in auto if s.url in emptied]
        assert again, "Elsewhere has room for some of them"
        assert {s.section for s in again} == {classify.ELSEWHERE_ID}, again

        # Features missing (items stored before there were any): worked out, the same
        # edition, and stored back.
        with app.store.engine.begin() as conn:
            conn.execute(update(items_table).values(features=None, features_key=None))
        rebuilt = app.editions.build(DAY, fetch=False)
        assert shape(rebuilt.edition) == shape(first.edition)
        assert {k: v[0] for k, v in stored(app).items() if not v[2]} == {
            k: v[0] for k, v in offered.items()}
    finally:
        app.close()


def test_changed_sections_rework_the_features_under_a_new_key(demo: Path) -> None:
    settings = load_settings(demo, env={})
    app = open_app(settings, clock=fixed_clock("2026-11-27T10:00:00"))
    app.editions.build(DAY)
    old_key = app.editions.analyser.key
    app.close()
    tech = settings.sections[0]
    weekly = tech.keywords[0].model_copy(update={"term": "Weekly"})
    changed = settings.model_copy(update={"sections": (
        tech.model_copy(update={"keywords": (*tech.keywords, weekly)}), *settings.sections[1:])})
    app = open_app(changed, store=Store(settings.database),
                   clock=fixed_clock("2026-11-27T10:00:00"))
    try:
        assert app.editions.analyser.key != old_key
        assert section_lexicon(changed.sections).fingerprint != \
            section_lexicon(settings.sections).fingerprint
        app.editions.build(DAY, fetch=False)
        keys = {key for _, key, seen_only in stored(app).values() if not seen_only}
        assert keys == {app.editions.analyser.key}
    finally:
        app.close()


def test_the_daily_prune_forgets_features_two_windows_old(demo: Path) -> None:
    settings = load_settings(demo, env={})
    app = open_app(settings, clock=fixed_clock("2026-11-27T10:00:00"))
    app.poller.refresh(force=True)
    assert any(f for f, _, _ in stored(app).values())
    app.close()
    later = open_app(settings, clock=fixed_clock("2026-12-11T11:00:00"))
    try:  # 14 days and an hour later: two 7-day windows
        assert later.housekeeping.prune() == 0  # no item is past the retention ...
        assert [f for f, _, _ in stored(later).values()] == [None] * len(stored(later))
        assert later.editions.build(DAY, fetch=False).edition.stories  # ... and a build still works
    finally:
        later.close()
