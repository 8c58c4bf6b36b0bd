"""retention: old items are pruned in batches, recent ones and the whole send history stay
(a SQLite file, and PostgreSQL when DIGEST_TEST_DATABASE_URL is set)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import func, select

from conftest import WriteConfig, count_items
from digest import dedupe
from digest.config import Settings, settings_from_mapping
from digest.errors import ConfigError
from digest.models import (
    DeliveryStatus,
    FeedOutcome,
    FeedStatus,
    Item,
    ReaderSource,
    ReaderStatus,
)
from digest.schema import deliveries, edition_fingerprints, editions, items
from digest.store import NewReader, PollRecord, Store

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
KEEP = timedelta(days=180)
WIRE = "https://wire.example/rss.xml"
POST = "https://post.example/atom.xml"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store(db_url)
    s.sync_feeds([(WIRE, "Wire", 1.0), (POST, "Post", 1.0)])
    yield s
    s.close()


def make_item(feed_url: str, n: int, published: datetime) -> Item:
    host = feed_url.split("/")[2]
    item = Item(feed_url=feed_url, key="", url=f"https://{host}/stories/{n}",
                title=f"Parliament votes on the {n}th harbour budget of Lagos",
                summary=f"Lawmakers debated budget {n} for a long night.", published=published,
                guid=f"https://{host}/stories/{n}")
    return replace(item, key=dedupe.item_key(item))


def poll(store: Store, feed_url: str, batch: list[Item], *, now: datetime) -> int:
    outcome = FeedOutcome(feed_url, FeedStatus.OK, tuple(batch))
    (new,) = store.record_polls([PollRecord(
        outcome, [(it, dedupe.canonical_url(it.url)) for it in batch], now + timedelta(hours=1))],
        now=now)
    return new


def stored_keys(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(select(items.c.key)).scalars())


def test_old_items_go_recent_ones_stay(store: Store) -> None:
    old_day = NOW - KEEP - timedelta(days=1)
    old = [make_item(WIRE, n, old_day) for n in range(3)]
    recent = [make_item(POST, n, NOW - KEEP + timedelta(days=1)) for n in range(2)]
    poll(store, WIRE, old, now=old_day)
    poll(store, POST, recent, now=NOW - KEEP + timedelta(days=1))
    # first seen exactly at the cutoff: not older than it, so it stays
    edge = make_item(POST, 99, NOW - KEEP)
    poll(store, POST, [edge], now=NOW - KEEP)

    assert store.prune_items(now=NOW, keep=KEEP) == 3
    assert stored_keys(store) == {it.key for it in recent} | {edge.key}
    assert store.prune_items(now=NOW, keep=KEEP) == 0  # nothing left to prune


def test_first_seen_decides_not_published(store: Store) -> None:
    # A feed's back catalogue: published long ago, but first seen recently. It stays (it is
    # what keeps the item from being "new" on the next poll).
    back = [make_item(WIRE, n, NOW - timedelta(days=900)) for n in range(4)]
    poll(store, WIRE, back, now=NOW - timedelta(days=3))
    assert store.prune_items(now=NOW, keep=KEEP) == 0
    assert count_items(store) == 4


def test_a_local_now_is_compared_in_utc(store: Store) -> None:
    seen = NOW - KEEP - timedelta(hours=1)
    poll(store, WIRE, [make_item(WIRE, 1, seen)], now=seen)
    # the same instant as NOW, written at UTC+05:00: the item is an hour past the cutoff
    local_now = NOW.astimezone(timezone(timedelta(hours=5)))
    assert store.prune_items(now=local_now, keep=KEEP) == 1


def test_batches_cover_everything(store: Store) -> None:
    # 12 old items with batch 5: rounds of 5, 5 and 2.
    old_day = NOW - KEEP - timedelta(days=30)
    poll(store, WIRE, [make_item(WIRE, n, old_day) for n in range(7)], now=old_day)
    poll(store, POST, [make_item(POST, n, old_day) for n in range(5)],
         now=old_day + timedelta(days=1))
    keeper = make_item(POST, 100, NOW)
    poll(store, POST, [keeper], now=NOW)
    assert store.prune_items(now=NOW, keep=KEEP, batch=5) == 12
    assert stored_keys(store) == {keeper.key}


def test_an_exact_multiple_of_the_batch(store: Store) -> None:
    old_day = NOW - KEEP - timedelta(days=2)
    poll(store, WIRE, [make_item(WIRE, n, old_day) for n in range(10)], now=old_day)
    assert store.prune_items(now=NOW, keep=KEEP, batch=5) == 10
    assert count_items(store) == 0


class Packs:
    """Stands in for digest.features.Analyser: packs every item as its title."""

    key = "k" * 16

    def pack_all(self, batch: list[Item]) -> list[str]:
        return [item.title for item in batch]


def features_of(store: Store) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        return dict(conn.execute(select(items.c.key, items.c.features)).all())


def test_features_of_items_past_two_windows_are_forgotten_the_items_stay(store: Store) -> None:
    def analysed_poll(feed: str, batch: list[Item], seen: datetime) -> None:
        outcome = FeedOutcome(feed, FeedStatus.OK, tuple(batch))
        store.record_polls([PollRecord(outcome, [(it, dedupe.canonical_url(it.url))
                                                 for it in batch], None)],
                           now=seen, features=Packs())

    old_seen, recent_seen = NOW - timedelta(days=20), NOW - timedelta(days=3)
    old = [make_item(WIRE, n, old_seen) for n in range(7)]
    recent = [make_item(POST, n, recent_seen) for n in range(2)]
    analysed_poll(WIRE, old, old_seen)
    analysed_poll(POST, recent, recent_seen)
    assert set(features_of(store).values()) == {it.title for it in old + recent}

    assert store.forget_features(before=NOW - timedelta(days=14), batch=3) == 7  # 3 + 3 + 1
    assert features_of(store) == {**{it.key: None for it in old},
                                  **{it.key: it.title for it in recent}}
    assert count_items(store) == 9
    assert store.forget_features(before=NOW - timedelta(days=14)) == 0


def test_bad_arguments_are_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="keep"):
        store.prune_items(now=NOW, keep=timedelta(0))
    with pytest.raises(ValueError, match="batch"):
        store.prune_items(now=NOW, keep=KEEP, batch=0)


def test_a_sent_edition_is_untouched_and_still_refuses_its_stories(store: Store) -> None:
    sent_day = NOW - KEEP - timedelta(days=20)
    story = make_item(WIRE, 7, sent_day)
    other = make_item(WIRE, 8, sent_day)
    poll(store, WIRE, [story, other], now=sent_day)
    [stored] = [it for it in store.items_between(sent_day - timedelta(days=1), sent_day, [WIRE])
                if it.key == story.key]
    frozen = store.freeze_edition(
        date(2026, 5, 11), title="The Weekly Brief",
        payload={"edition": "2026-05-11", "sections": []},
        subject="Subject", html="<p>html</p>", text="text",
        fingerprints=dedupe.fingerprints(stored), now=sent_day)
    # Sent to two recipients (rows written directly: the claim API is not what this tests).
    with store.engine.begin() as conn:
        conn.execute(deliveries.insert(), [
            {"edition_id": frozen.id, "recipient": address, "attempts": 1, "sent_at": sent_day,
             "status": DeliveryStatus.SENT.value, "message_id": f"<{address}>"}
            for address in ("ana@example.org", "ben@example.org")])
    store.add_reader(NewReader("cy@example.org", "cy@example.org", ReaderStatus.UNSUBSCRIBED,
                               ReaderSource.COMMAND), now=sent_day)
    readers = store.readers()
    history = store.history()
    fingerprints = store.sent_fingerprints()
    with store.engine.connect() as conn:
        marks = conn.scalar(select(func.count()).select_from(edition_fingerprints))
    assert fingerprints and marks

    assert store.prune_items(now=NOW, keep=KEEP) == 2
    assert count_items(store) == 0
    assert store.frozen_edition(date(2026, 5, 11)) == frozen
    assert store.history() == history
    assert store.sent_fingerprints() == fingerprints
    assert store.readers() == readers  # who left stays left
    with store.engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(editions)) == 1
        assert conn.scalar(select(func.count()).select_from(edition_fingerprints)) == marks

    # The feed still lists the story, now re-dated into the next window; and another outlet
    # carries it too. Stored again as new, it is still refused as sent.
    again = replace(story, published=NOW - timedelta(days=1))
    copy = replace(make_item(POST, 7, NOW - timedelta(days=1)), url=story.url, guid=None)
    copy = replace(copy, key=dedupe.item_key(copy))
    assert poll(store, WIRE, [again], now=NOW) == 1
    assert poll(store, POST, [copy], now=NOW) == 1
    window = store.items_between(NOW - timedelta(days=7), NOW, [WIRE, POST])
    assert len(window) == 2
    stories, dropped = dedupe.cluster_stories(window, store.sent_fingerprints())
    assert stories == []
    assert len(dropped) == 1 and "2026-05-11" in dropped[0]


# --- config ---


def settings(raw: dict[str, object]) -> Settings:
    return settings_from_mapping(raw, base_dir=Path("."), env={})


def test_retention_defaults_to_180_days() -> None:
    assert settings({}).retention == timedelta(days=180)


def test_retention_is_a_duration() -> None:
    assert settings({"retention": "2w"}).retention == timedelta(weeks=2)
    with pytest.raises(ConfigError) as e:
        settings({"retention": "half a year"})
    assert any(p.startswith("retention: not a duration") for p in e.value.problems)


@pytest.mark.parametrize(("retention", "window"), [("7d", "7d"), ("3d", "14d")])
def test_retention_must_be_longer_than_the_window(retention: str, window: str) -> None:
    with pytest.raises(ConfigError) as e:
        settings({"retention": retention, "edition": {"window": window}})
    assert e.value.problems == [
        f"retention: must be longer than edition.window ({window}), not {retention}"]


def test_retention_just_over_the_window_is_fine() -> None:
    s = settings({"retention": "8d", "edition": {"window": "7d"}})
    assert s.retention == timedelta(days=8)


def test_digest_db_prune_and_the_daemon_job(write_config: WriteConfig,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from digest.app import make_app
    from digest.cli import main
    from digest.config import load_settings
    from digest.daemon import Daemon

    feed = "https://wire.example/feed.xml"
    config = write_config({"retention": "30d", "feeds": [{"url": feed}]})
    now = datetime.now(UTC)
    store = Store(load_settings(config, env={}).database)
    try:
        store.sync_feeds([(feed, None, 1.0)])
        poll(store, feed, [make_item(feed, n, now - timedelta(days=60)) for n in range(3)],
             now=now - timedelta(days=60))
        poll(store, feed, [make_item(feed, n, now) for n in range(3, 5)], now=now)
    finally:
        store.close()
    assert main(["--config", str(config), "db", "prune"]) == 0
    assert capsys.readouterr().out.strip() == \
        "database: 3 items older than 30 days deleted"

    events: list[tuple[str, str]] = []
    daemon = Daemon(lambda: load_settings(config, env={}), make_app, config=config,
                    on_event=lambda event, message, **_: events.append((event, message)))
    try:
        poll(daemon.app.store, feed, [make_item(feed, 9, now)], now=now - timedelta(days=45))
        daemon._prune()
        assert events == [("prune", "1 items older than the retention deleted")]
        assert len(stored_keys(daemon.app.store)) == 2  # the two seen today
    finally:
        daemon.app.close()
