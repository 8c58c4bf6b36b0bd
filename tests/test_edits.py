"""The editor's pass (issue 22): edits stored per edition and applied over the automatic
edition on every build. The pure steps on stories written here; then the use case on real
feeds served on 127.0.0.1 and real databases (SQLite, and PostgreSQL when the suite has one):
edits survive a restart and a re-poll, a pinned story that later merges with another stays
pinned, an edit whose story left is reported and not fatal, two instances approving at once
freeze one edition, and an unapproved edition is not sent."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import (
    DEMO_DAY,
    DEMO_EDITION,
    FeedServer,
    Route,
    WriteConfig,
    open_app,
    rss_feed,
    store_demo_items,
)
from digest import edits
from digest.config import load_settings
from digest.editing import EditError
from digest.edits import story_id
from digest.models import AlsoLink, Edit, EditKind, Item, Section, Story
from digest.rank import SectionLimit

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)  # the Sunday before the Monday 07:00 send
EDITION = date(2026, 11, 30)
SECTIONS = {"tech": "Tech", "europe": "Europe"}
LIMITS = [SectionLimit("tech", "Tech", 3), SectionLimit("europe", "Europe", 3)]


# --- the pure steps ---


def story(n: int, section: str = "tech", *, also: tuple[str, ...] = (), score: float = 0.0
          ) -> Story:
    url = f"https://news.example.org/{n}"
    item = Item(feed_url="f", key=url, url=url, title=f"Story {n}", summary=f"About {n}.",
                published=NOW - timedelta(hours=n))
    return Story(title=f"Story {n}", url=url, source="News", published=item.published,
                 summary=item.summary, weight=1.0, items=(item,),
                 also=tuple(AlsoLink("Other", a) for a in also), section=section, score=score)


def edit(n: int, kind: EditKind, target: int | str | None = None, **value: Any) -> Edit:
    link = f"https://news.example.org/{target}" if isinstance(target, int) else target
    return Edit(n, EDITION, kind, link, value, "ana", NOW)


def no_place(s: Story) -> Story:
    raise AssertionError("nothing to place")


def test_the_last_word_on_a_story_wins_and_each_edit_says_what_it_did() -> None:
    stories = [story(i) for i in range(1, 5)]
    plan = edits.plan([edit(1, EditKind.PIN, 3), edit(2, EditKind.DROP, 3),
                       edit(3, EditKind.DROP, 4), edit(4, EditKind.PIN, 4),
                       edit(5, EditKind.RETITLE, 2, title="New two", summary="Short."),
                       edit(6, EditKind.NOTE, text="First"), edit(7, EditKind.NOTE, text="Hi")],
                      stories, sections=SECTIONS, place=no_place)
    urls = [s.url for s in plan.candidates]
    assert "https://news.example.org/3" not in urls  # pinned, then dropped
    assert "https://news.example.org/4" in urls and plan.pins == {
        "https://news.example.org/4": 4}  # dropped, then pinned: back, and chosen
    assert plan.chosen == {"https://news.example.org/4"}
    two = next(s for s in plan.candidates if s.url.endswith("/2"))
    assert (two.title, two.summary) == ("New two", "Short.")
    assert plan.note == "Hi"
    assert plan.effects[1] == "undone by a later edit of the same story"
    assert plan.effects[2] == "'Story 3' left out"
    assert plan.effects[3] == "undone by a later edit of the same story"
    assert plan.effects[4] == "'Story 4' leads Tech"
    assert plan.effects[5] == "'Story 2' is headed 'New two'"
    assert plan.effects[6] == "the note was written again later"
    assert plan.effects[7] == "the editor's note (2 characters)"
    assert plan.lines[0] == "edit #1 pin by ana: undone by a later edit of the same story"
    assert plan.problems == ()


def test_an_edit_finds_its_story_through_any_article_the_story_carries() -> None:
    # Pinned by the link of an article that is now one of the story's other articles (the
    # story merged with a heavier outlet's and is headed by it).
    merged = story(7, also=("https://news.example.org/1",))
    plan = edits.plan([edit(1, EditKind.PIN, 1)], [merged, story(2)], sections=SECTIONS,
                      place=no_place)
    assert plan.pins == {merged.url: 1} and plan.problems == ()


def test_edits_whose_story_or_section_is_gone_are_reported_not_fatal() -> None:
    plan = edits.plan([edit(1, EditKind.PIN, 99), edit(2, EditKind.MOVE, 1, section="sport"),
                       edit(3, EditKind.DROP, 2)], [story(1), story(2)], sections=SECTIONS,
                      place=no_place)
    assert len(plan.problems) == 2
    assert plan.problems[0].startswith("edit #1 pin by ana: no story in the window carries "
                                       "https://news.example.org/99")
    assert "section 'sport' is not in this edition's sections" in plan.problems[1]
    assert plan.effects[1].startswith("not applied: ")
    assert [s.url for s in plan.candidates] == [story(1).url]  # the drop still applied


def test_chosen_stories_are_in_past_the_limits_and_pins_lead() -> None:
    stories = [story(i, score=1.0 / i) for i in range(1, 6)]
    applied = edits.plan([edit(1, EditKind.PIN, 5), edit(2, EditKind.MOVE, 4, section="europe"),
                          edit(3, EditKind.PIN, 3)], stories, sections=SECTIONS,
                         place=no_place)
    # the ranking took the best three of tech (1, 2, 3), none of europe
    ranked = [s for s in applied.candidates if s.section == "tech"]
    selected = [Section("tech", "Tech", tuple(ranked[:3]))]
    sections, made_room = edits.arrange(selected, applied, LIMITS, now=NOW,
                                        half_life=timedelta(days=2))
    tech, europe = sections
    # 3, pinned last, leads; then 5, pinned before it, which took the place of the
    # lowest-ranked story nobody chose (2)
    assert [s.url[-1] for s in tech.stories] == ["3", "5", "1"]
    assert made_room == ["'Story 2' left out of Tech to make room for the editor's 'Story 5'"]
    assert [s.url[-1] for s in europe.stories] == ["4"]
    assert all(s.score > 0 for s in europe.stories)


def test_an_added_story_goes_where_its_words_or_the_editor_put_it() -> None:
    value = {"url": "https://paper.example.net/a", "title": "Brussels fines a chipmaker",
             "summary": "", "source": "Paper", "image": None, "published": None}

    def place(s: Story) -> Story:
        return Story(**{**{f: getattr(s, f) for f in Story.__slots__}, "section": "europe",
                        "section_reason": "europe 9"})

    plan = edits.plan([edit(1, EditKind.ADD, "https://paper.example.net/a", **value),
                       edit(2, EditKind.ADD, "https://paper.example.net/b",
                            **{**value, "url": "https://paper.example.net/b",
                               "section": "tech"})],
                      [story(1)], sections=SECTIONS, place=place)
    added = {s.url: s for s in plan.candidates}
    assert added["https://paper.example.net/a"].section == "europe"
    assert added["https://paper.example.net/b"].section == "tech"
    assert {"https://paper.example.net/a", "https://paper.example.net/b"} <= plan.chosen
    assert plan.effects[1] == "'Brussels fines a chipmaker' (Paper) added to Europe"


# --- the use case, on real feeds and databases ---


def rss(items: list[tuple[str, str, str, datetime]]) -> bytes:
    body = "".join(f"<item><title>{t}</title><link>{link}</link><guid>{link}</guid>"
                   f"<description>{d}</description><pubDate>{format_datetime(when)}</pubDate>"
                   f"</item>" for t, link, d, when in items)
    return (f'<?xml version="1.0"?><rss version="2.0"><channel><title>Wire</title>'
            f"<link>https://wire.example.org/</link><description>d</description>{body}"
            f"</channel></rss>").encode()


@pytest.fixture
def two_feeds(write_config: WriteConfig, feed_server: FeedServer) -> Path:
    feed_server.routes["/a.xml"] = Route(body=rss_feed(NOW, "alpha", count=4))
    feed_server.routes["/b.xml"] = Route(body=rss([]))
    return write_config({
        "sections": [{"id": "tech", "title": "Tech", "max_stories": 3},
                     {"id": "europe", "title": "Europe"}],
        "feeds": [{"url": feed_server.url("a.xml"), "name": "Alpha", "section": "tech"},
                  {"url": feed_server.url("b.xml"), "name": "Beta", "section": "tech",
                   "weight": 2.0}],
        "edition": {"unmatched": "drop"},
        "fetch": {"allow_private": True}})


def clock_at(when: datetime) -> Any:
    return lambda: when


def tech_urls(app: Any) -> list[str]:
    result = app.editions.build(EDITION, fetch=False)
    return [s.url for sec in result.edition.sections if sec.id == "tech" for s in sec.stories]


def test_edits_survive_a_restart_and_a_re_poll_and_a_merge_keeps_the_pin(
        two_feeds: Path, feed_server: FeedServer) -> None:
    settings = load_settings(two_feeds, env={})
    app = open_app(settings, clock=clock_at(NOW))
    try:
        app.poller.refresh(force=True)
        first = tech_urls(app)
        last = "https://news.example.org/alpha/chip-3"  # the oldest: ranked out of 3 places
        assert last not in first and len(first) == 3
        app.editing.pin(EDITION, last, by="ana")
        app.editing.drop(EDITION, story_id(first[0]), by="ana")
        app.editing.note(EDITION, "**Bold** words", by="ana")
    finally:
        app.close()
    # a later item, on a heavier feed, is the same story as the pinned one, under its own link
    feed_server.routes["/b.xml"] = Route(body=rss([
        ("alpha chipmaker 3 unveils an AI accelerator", "https://beta.example.net/chip",
         "Story 3 about a new AI chip design.", NOW - timedelta(hours=1))]))
    app = open_app(settings, clock=clock_at(NOW + timedelta(hours=2)))  # a restart
    try:
        app.poller.refresh(force=True)  # the re-poll
        result = app.editions.build(EDITION, fetch=False)
        tech = next(s for s in result.edition.sections if s.id == "tech")
        lead = tech.stories[0]
        assert lead.url == "https://beta.example.net/chip"  # now headed by the heavier feed
        assert last in [a.url for a in lead.also]  # and still pinned through its old link
        assert first[0] not in [s.url for s in tech.stories]  # still dropped
        assert result.edition.note == "**Bold** words"
        rendered = app.editions.rendered(result)
        assert "<strong>Bold</strong> words" in rendered.html
        assert "Bold words" in rendered.text and "**" not in rendered.text
        view = app.editing.overview(EDITION)
        assert [e.kind for e in view.edits] == [EditKind.PIN, EditKind.DROP, EditKind.NOTE]
        assert result.edited is not None
        assert "leads Tech" in result.edited.effects[view.edits[0].id]
        assert any(line.startswith("+ ") for line in view.changes)
        assert any(line.startswith("editor: edit #1 pin") for line in result.explain)
    finally:
        app.close()


def test_an_edit_whose_story_left_is_reported_and_the_edition_still_builds(
        two_feeds: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]) -> None:
    feed_server.routes["/b.xml"] = Route(body=rss([
        ("Beta unveils a chip plant", "https://beta.example.net/plant", "A plant.",
         NOW - timedelta(hours=2))]))
    settings = load_settings(two_feeds, env={})
    app = open_app(settings, clock=clock_at(NOW))
    try:
        app.poller.refresh(force=True)
        app.editing.pin(EDITION, "https://beta.example.net/plant", by="ana")
    finally:
        app.close()
    data = yaml.safe_load(two_feeds.read_text())
    data["feeds"] = data["feeds"][:1]  # the operator removes Beta from feeds.yaml
    two_feeds.write_text(yaml.safe_dump(data))
    from digest.cli import main

    assert main(["--config", str(two_feeds), "edit", "show", "--edition", "2026-11-30",
                 "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert len(shown["problems"]) == 1 and "https://beta.example.net/plant" in \
        shown["problems"][0]
    assert shown["edits"][0]["effect"].startswith("not applied: no story in the window")
    assert sum(len(s["stories"]) for s in shown["sections"]) == 3  # built all the same
    assert main(["--config", str(two_feeds), "build", "--edition", "2026-11-30",
                 "--no-fetch", "--explain", "--format", "json"]) == 0
    assert "editor: not applied: edit #1 pin" in capsys.readouterr().err


def test_bad_edits_are_refused_with_the_culprit_named(two_feeds: Path) -> None:
    settings = load_settings(two_feeds, env={})
    app = open_app(settings, clock=clock_at(NOW))
    try:
        app.poller.refresh(force=True)
        some = tech_urls(app)[0]
        calls: list[tuple[Callable[[], object], str]] = [
            (lambda: app.editing.pin(EDITION, "0000ffff", by="ana"), "no story of edition"),
            (lambda: app.editing.pin(EDITION, "https://nowhere.example/x", by="ana"),
             "no story of edition"),
            (lambda: app.editing.move(EDITION, some, "sport", by="ana"),
             "no section 'sport'; the sections are: tech, europe"),
            (lambda: app.editing.retitle(EDITION, some, by="ana"), "give a new title"),
            (lambda: app.editing.retitle(EDITION, some, title="x" * 301, by="ana"),
             "at most 300 characters"),
            (lambda: app.editing.retitle(EDITION, some, title="a\x07b", by="ana"),
             "control characters"),
            (lambda: app.editing.note(EDITION, "n" * 5001, by="ana"), "at most 5000"),
            (lambda: app.editing.reset(EDITION, [42]), "has no edit #42"),
            (lambda: app.editing.pin(EDITION, some, by=" "), "by: empty"),
        ]
        for call, message in calls:
            with pytest.raises(EditError, match=message):
                call()
        assert app.editing.overview(EDITION).edits == ()
    finally:
        app.close()


def test_an_approved_edition_is_frozen_as_edited_and_takes_no_more_edits(demo: Path) -> None:
    store_demo_items(demo)
    settings = load_settings(demo, env={})
    app = open_app(settings, clock=clock_at(datetime(2026, 11, 29, 9, tzinfo=UTC)))
    try:
        result = app.editions.build(DEMO_DAY, fetch=False)
        second = result.edition.sections[0].stories[1]
        app.editing.pin(DEMO_DAY, story_id(second.url), by="ana")
        done = app.editing.approve(DEMO_DAY, by="ana")
        assert not done.already and done.by == "ana"
        assert done.frozen.payload["sections"][0]["stories"][0]["url"] == second.url
        with pytest.raises(EditError, match="was approved by ana: it can no longer be edited"):
            app.editing.drop(DEMO_DAY, story_id(second.url), by="ben")
        with pytest.raises(EditError, match="can no longer be edited"):
            app.editing.reset(DEMO_DAY)
        again = app.editing.approve(DEMO_DAY, by="ben")
        assert again.already and again.by == "ana"
        assert app.editing.overview(DEMO_DAY).state == "approved"
    finally:
        app.close()


def test_two_instances_approving_at_once_freeze_one_edition(
        db_url: str, write_config: WriteConfig, feed_server: FeedServer) -> None:
    feed_server.routes["/a.xml"] = Route(body=rss_feed(NOW, "alpha", count=4))
    config = write_config({"database": db_url,
                           "feeds": [{"url": feed_server.url("a.xml"), "section": "tech"}],
                           "fetch": {"allow_private": True}})
    settings = load_settings(config, env={})
    apps = [open_app(settings, clock=clock_at(NOW)) for _ in range(2)]
    try:
        apps[0].poller.refresh(force=True)
        apps[0].editing.note(EDITION, "From both of us", by="ana")
        start = threading.Barrier(2)
        results: list[Any] = [None, None]

        def approve(i: int) -> None:
            start.wait()
            results[i] = apps[i].editing.approve(EDITION, by=f"editor {i}")

        threads = [threading.Thread(target=approve, args=(i,)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert sorted(r.already for r in results) == [False, True]
        assert results[0].frozen.id == results[1].frozen.id
        assert results[0].frozen.html == results[1].frozen.html
        assert "From both of us" in results[0].frozen.html
        winner = next(r for r in results if not r.already)
        assert {r.by for r in results} == {f"editor {results.index(winner)}"}
        from sqlalchemy import func, select

        from digest.schema import editions

        with apps[0].store.engine.connect() as conn:
            assert conn.scalar(select(func.count()).select_from(editions)) == 1
    finally:
        for app in apps:
            app.close()


def test_an_edition_awaiting_approval_is_not_sent_until_approved_or_timed_out(
        demo: Path) -> None:
    store_demo_items(demo)
    data = yaml.safe_load(demo.read_text())
    data["schedule"]["approval"] = "timeout(6h)"
    demo.write_text(yaml.safe_dump(data))
    settings = load_settings(demo, env={})
    send_at = datetime(2026, 11, 30, 7, tzinfo=UTC)
    outbox = demo.parent / "outbox" / DEMO_EDITION
    for now, sent in ((send_at, False), (send_at + timedelta(hours=5, minutes=59), False),
                      (send_at + timedelta(hours=6), True)):
        app = open_app(settings, clock=clock_at(now))
        try:
            report = app.publisher.deliver(DEMO_DAY, fetch=False)
            assert (report.awaiting is None) is sent, (now, report.awaiting)
            assert outbox.is_dir() is sent
            if not sent:
                assert "awaits an editor's approval until 2026-11-30T13:00:00+00:00" in \
                    str(report.awaiting)
                # a dry run and a test copy are not held back
                assert app.publisher.deliver(DEMO_DAY, fetch=False, dry_run=True).awaiting \
                    is None
        finally:
            app.close()


def test_with_approval_required_send_waits_until_an_editor_approves(
        demo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store_demo_items(demo)
    data = yaml.safe_load(demo.read_text())
    data["schedule"]["approval"] = "required"
    demo.write_text(yaml.safe_dump(data))
    from digest.cli import main

    args = ["--config", str(demo)]
    assert main([*args, "send", "--verbose", "--edition", DEMO_EDITION, "--no-fetch"]) == 0
    assert "not sent: edition 2026-11-30 awaits an editor's approval" in \
        capsys.readouterr().err
    outbox = demo.parent / "outbox" / DEMO_EDITION
    assert not outbox.exists()
    assert main([*args, "edit", "show", "--edition", DEMO_EDITION, "--format", "json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    dropped = shown["sections"][0]["stories"][0]
    assert main([*args, "edit", "drop", "--edition", DEMO_EDITION, dropped["id"],
                 "--by", "ana"]) == 0
    assert main([*args, "edit", "approve", "--edition", DEMO_EDITION, "--by", "ana"]) == 0
    assert "approved and frozen" in capsys.readouterr().out
    assert main([*args, "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    sent = sorted(outbox.iterdir())
    assert len(sent) == 3
    assert dropped["url"] not in sent[0].read_text(encoding="utf-8")


ARTICLE = b"""<!doctype html><html><head>
<title>Brussels fines a chipmaker over its AI accelerator | The Ledger</title>
<meta property="og:title" content="Brussels fines a chipmaker over its AI accelerator">
<meta property="og:site_name" content="The Ledger">
<meta property="og:description" content="The Commission says the AI chip design broke the
rules it agreed in 2024; the company will appeal.">
<meta property="article:published_time" content="2026-11-29T08:00:00Z">
</head><body><p>Invented for the tests.</p></body></html>"""


def test_a_story_added_by_url_is_read_like_a_feed_item_and_can_lead(
        two_feeds: Path, feed_server: FeedServer, capsys: pytest.CaptureFixture[str]) -> None:
    feed_server.routes["/ledger/fine.html"] = Route(
        body=ARTICLE, headers={"Content-Type": "text/html; charset=utf-8"})
    url = feed_server.url("ledger/fine.html")
    from digest.cli import main

    args = ["--config", str(two_feeds)]
    assert main([*args, "fetch", "--all"]) == 0
    capsys.readouterr()
    assert main([*args, "edit", "add", "--edition", "2026-11-30", url, "--section", "tech",
                 "--pin", "--by", "ana"]) == 0
    out = capsys.readouterr().out
    assert "edit #1 add saved" in out and "edit #2 pin saved" in out
    assert "Brussels fines a chipmaker over its AI accelerator (The Ledger)" in out
    assert main([*args, "build", "--edition", "2026-11-30", "--no-fetch", "--format",
                 "json"]) == 0
    built = json.loads(capsys.readouterr().out)
    lead = built["sections"][0]["stories"][0]
    assert (lead["title"], lead["source"], lead["url"]) == (
        "Brussels fines a chipmaker over its AI accelerator", "The Ledger", url)
    assert lead["summary"].startswith("The Commission says the AI chip design broke")
    # a page that is not there: one line naming it, exit 1, nothing stored
    assert main([*args, "edit", "add", "--edition", "2026-11-30",
                 feed_server.url("ledger/gone.html")]) == 1
    assert "ledger/gone.html: HTTP 404" in capsys.readouterr().err
    assert main([*args, "edit", "show", "--edition", "2026-11-30", "--format", "json"]) == 0
    assert [e["kind"] for e in json.loads(capsys.readouterr().out)["edits"]] == ["add", "pin"]
