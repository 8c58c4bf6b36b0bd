"""Poller.refresh against a real local server and SQLite: conditional GET kept in the store,
unchanged bodies not parsed, the poll schedule (interval, <ttl>, max-age, backoff), the first
poll's back catalogue, and databases made by an earlier digest."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from random import Random
from typing import Any

import pytest
from sqlalchemy import select

from conftest import FEEDS, FeedServer, Route, WriteConfig, count_items, fixed_clock, open_app
from digest import dedupe, fetch
from digest.app import App
from digest.cli import main
from digest.config import load_settings
from digest.models import FeedOutcome, FeedStatus
from digest.parse import parse_feed
from digest.schema import items

NOW = "2026-11-27T12:00:00+00:00"


def rss(*items: tuple[str, str], ttl: int | None = None) -> bytes:
    """A small RSS 2.0 feed of (guid, pubDate) items, written for these tests."""
    body = "".join(
        f"<item><title>Story {guid}</title><link>https://wire.example/{guid}</link>"
        f"<guid isPermaLink=\"false\">{guid}</guid><pubDate>{date}</pubDate>"
        f"<description>About {guid}.</description></item>" for guid, date in items)
    extra = f"<ttl>{ttl}</ttl>" if ttl else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
            f"<title>Wire</title><link>https://wire.example/</link>{extra}{body}"
            "</channel></rss>").encode()


RECENT = "Thu, 26 Nov 2026 09:00:00 +0000"


def make_app(write_config: WriteConfig, urls: list[str], when: str = NOW,
             **config: Any) -> App:
    path = write_config({"feeds": [{"url": u} for u in urls], **config})
    settings = load_settings(path)
    return open_app(settings, clock=fixed_clock(when), random=Random(7))


def state(app: App, url: str) -> Any:
    return next(s for s in app.store.feed_states([url]))


def one(app: App, force: bool = True) -> FeedOutcome:
    outcomes = app.poller.refresh(force=force)
    assert len(outcomes) == 1
    return outcomes[0]


# --- conditional GET, kept in the store ---


def test_second_poll_sends_validators_gets_304_and_keeps_everything(
    feed_server: FeedServer, write_config: WriteConfig
) -> None:
    url = feed_server.url("rss2.xml")
    app = make_app(write_config, [url])
    first = one(app)
    assert first.status is FeedStatus.OK and first.new_items == 5
    etag = state(app, url).etag
    assert etag

    second = one(app)

    assert second.not_modified and second.status is FeedStatus.OK and second.new_items == 0
    assert feed_server.requests[-1][1].get("If-None-Match") == etag
    assert state(app, url).etag == etag
    assert count_items(app.store) == 5


def test_304_without_validators_keeps_the_stored_ones(
    feed_server: FeedServer, write_config: WriteConfig
) -> None:
    feed_server.routes["/v.xml"] = Route(body=rss(("a", RECENT)), headers={
        "ETag": '"v1"', "Last-Modified": "Wed, 25 Nov 2026 10:00:00 GMT"})
    url = feed_server.url("v.xml")
    app = make_app(write_config, [url])
    one(app)
    feed_server.routes["/v.xml"] = Route(status=304)  # no ETag, no Last-Modified

    assert one(app).not_modified

    kept = state(app, url)
    assert (kept.etag, kept.last_modified) == ('"v1"', "Wed, 25 Nov 2026 10:00:00 GMT")
    assert feed_server.requests[-1][1].get("If-Modified-Since") == kept.last_modified


def test_the_same_body_again_is_not_parsed(
    feed_server: FeedServer, write_config: WriteConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    feed_server.routes["/same.xml"] = Route(body=rss(("a", RECENT), ("b", RECENT)))
    url = feed_server.url("same.xml")
    calls: list[str] = []
    real: Callable[..., FeedOutcome] = fetch.parse_feed

    def counting(*args: Any, **kwargs: Any) -> FeedOutcome:
        calls.append(args[0])
        return real(*args, **kwargs)

    monkeypatch.setattr(fetch, "parse_feed", counting)  # one feed: parsed in a thread here
    app = make_app(write_config, [url])
    assert one(app).new_items == 2

    second = one(app)

    assert second.unchanged and second.status is FeedStatus.OK and second.new_items == 0
    assert calls == [url]  # parsed once, not twice
    feed_server.routes["/same.xml"] = Route(body=rss(("a", RECENT), ("b", RECENT),
                                                     ("c", RECENT)))
    third = one(app)
    assert not third.unchanged and third.new_items == 1 and len(calls) == 2


# --- the schedule ---


def test_a_fresh_poll_is_due_again_after_poll_every_only(
    feed_server: FeedServer, write_config: WriteConfig
) -> None:
    url = feed_server.url("rss2.xml")
    app = make_app(write_config, [url], schedule={"poll_every": "30m"})
    one(app, force=False)
    assert state(app, url).next_poll_at == datetime.fromisoformat(NOW) + timedelta(minutes=30)
    hits = feed_server.hits("rss2.xml")

    assert app.poller.refresh() == []  # not due: nothing requested
    assert feed_server.hits("rss2.xml") == hits
    assert len(app.poller.refresh(force=True)) == 1  # fetch --all polls it anyway


def test_the_feeds_ttl_makes_it_wait_longer(feed_server: FeedServer,
                                             write_config: WriteConfig) -> None:
    feed_server.routes["/ttl.xml"] = Route(body=rss(("a", RECENT), ttl=180))
    url = feed_server.url("ttl.xml")
    app = make_app(write_config, [url])
    one(app)
    assert state(app, url).next_poll_at == datetime.fromisoformat(NOW) + timedelta(hours=3)


def test_cache_control_max_age_makes_it_wait_longer(feed_server: FeedServer,
                                                     write_config: WriteConfig) -> None:
    feed_server.routes["/cc.xml"] = Route(body=rss(("a", RECENT)),
                                          headers={"Cache-Control": "public, max-age=7200"})
    url = feed_server.url("cc.xml")
    app = make_app(write_config, [url])
    one(app)
    assert state(app, url).next_poll_at == datetime.fromisoformat(NOW) + timedelta(hours=2)


def test_consecutive_failures_back_off_then_a_success_resets(
    feed_server: FeedServer, write_config: WriteConfig
) -> None:
    feed_server.routes["/flaky.xml"] = Route(status=500, body=b"oops")
    url = feed_server.url("flaky.xml")
    app = make_app(write_config, [url])
    now = datetime.fromisoformat(NOW)
    waits = []
    for _ in range(4):
        assert one(app).status is FeedStatus.ERROR
        waits.append(state(app, url).next_poll_at - now)

    assert state(app, url).error_count == 4
    for n, wait in enumerate(waits):  # nominal 1h, 2h, 4h, 8h, jittered down by <= 25%
        nominal = timedelta(hours=2 ** n)
        assert nominal * 0.75 <= wait <= nominal, (n, wait)
    health = app.reports.feeds()[0]
    assert health.status is FeedStatus.ERROR
    assert health.last_error == "HTTP 500 Internal Server Error"

    feed_server.routes["/flaky.xml"] = Route(body=rss(("a", RECENT)))
    assert one(app).status is FeedStatus.OK
    assert state(app, url).error_count == 0
    assert state(app, url).next_poll_at == now + timedelta(hours=1)


# --- what a first poll stores ---


def test_the_back_catalogue_is_stored_as_seen_but_never_offered(
    feed_server: FeedServer, write_config: WriteConfig
) -> None:
    feed_server.routes["/old.xml"] = Route(body=rss(
        ("recent", RECENT),
        ("last-month", "Mon, 26 Oct 2026 09:00:00 +0000"),
        ("last-year", "Wed, 26 Nov 2025 09:00:00 +0000")))
    url = feed_server.url("old.xml")
    app = make_app(write_config, [url])
    assert one(app).new_items == 3
    assert count_items(app.store) == 3

    everything = app.store.items_between(datetime(2000, 1, 1, tzinfo=UTC),
                                         datetime(2030, 1, 1, tzinfo=UTC), [url],
                                         features_key=app.editions.analyser.key)

    assert [i.guid for i in everything] == ["recent"]
    assert everything[0].features == app.editions.analyser.pack(everything[0])
    with app.store.engine.connect() as conn:  # what is never offered is never analysed
        analysed = dict(conn.execute(select(items.c.guid, items.c.features_key)).all())
    assert analysed == {"recent": app.editions.analyser.key, "last-month": None, "last-year": None}
    assert one(app).new_items == 0  # and they are never new again


def test_relative_guids_do_not_depend_on_the_host_and_port() -> None:
    body = (FEEDS / "rss2.xml").read_bytes().replace(b"testwire-0001", b"/stories/0001")
    a = parse_feed("http://127.0.0.1:8001/feed.xml", body)
    b = parse_feed("http://localhost:9002/feed.xml", body)
    assert "/stories/0001" in {i.guid for i in a.items}
    assert [i.guid for i in a.items] == [i.guid for i in b.items]
    assert [dedupe.item_key(i) for i in a.items] == [dedupe.item_key(i) for i in b.items]


# --- databases made by an earlier digest ---


# --- what the operator sees ---


def test_fetch_prints_a_plain_line_per_feed_when_not_on_a_terminal(
    feed_server: FeedServer, write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_server.routes["/missing.xml"] = Route(status=404, body=b"no")
    path = write_config({"feeds": [{"url": feed_server.url("rss2.xml"), "name": "Wire"},
                                   {"url": feed_server.url("missing.xml"), "name": "Gap"}]})

    assert main(["--config", str(path), "fetch"]) == 0  # a broken feed is not a failed run

    lines = capsys.readouterr().err.splitlines()
    # a `feed_polled` log line each (issue 24: through the one logging setup)
    progress = sorted(line for line in lines if " feed_polled: [" in line)
    assert len(progress) == 2
    assert any(line.endswith("ok Wire: 5 new") for line in progress), progress
    assert any("error Gap: HTTP 404" in line for line in progress), progress
    # and the failing feed's warning, as the daemon prints it
    warnings = [line for line in lines if " warning feed_error: " in line]
    assert len(warnings) == 1
    assert f"feed {feed_server.url('missing.xml')}: HTTP 404" in warnings[0]


def test_feeds_reports_a_permanent_move_and_a_disabled_feed(
    feed_server: FeedServer, write_config: WriteConfig, capsys: pytest.CaptureFixture[str]
) -> None:
    feed_server.routes["/old.xml"] = Route(status=301,
                                           headers={"Location": feed_server.url("new.xml")})
    feed_server.routes["/new.xml"] = Route(body=rss(("a", RECENT)))
    feed_server.routes["/gone.xml"] = Route(status=410, body=b"gone")
    path = write_config({"feeds": [{"url": feed_server.url("old.xml"), "name": "Mover"},
                                   {"url": feed_server.url("gone.xml"), "name": "Ghost"}]})
    assert main(["--config", str(path), "fetch", "--format", "json"]) == 0
    fetched = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert fetched["Mover"]["moved_to"] == feed_server.url("new.xml")
    assert fetched["Ghost"]["status"] == "disabled"

    assert main(["--config", str(path), "feeds", "--format", "json"]) == 0
    health = {f["name"]: f for f in json.loads(capsys.readouterr().out)}
    assert health["Mover"]["status"] == "ok"
    assert health["Mover"]["moved_to"] == feed_server.url("new.xml")
    assert health["Mover"]["url"] == feed_server.url("old.xml")  # feeds.yaml's URL stays its id
    assert health["Mover"]["items"] == 1 and health["Mover"]["last_success_at"]
    assert health["Ghost"]["status"] == "disabled"
    assert "410 Gone" in health["Ghost"]["last_error"]
    assert health["Ghost"]["next_poll_at"] is None

    assert main(["--config", str(path), "fetch"]) == 0  # nothing due: neither is requested
    assert feed_server.hits("old.xml") == 1 and feed_server.hits("gone.xml") == 1
    assert main(["--config", str(path), "fetch", "--all"]) == 0
    assert feed_server.hits("old.xml") == 1  # the new URL is polled directly
    assert feed_server.hits("new.xml") == 2 and feed_server.hits("gone.xml") == 2
    capsys.readouterr()
    assert main(["--config", str(path), "feeds"]) == 0
    table = capsys.readouterr().out
    assert "disabled" in table and "moved" in table


def test_an_edition_built_long_after_its_date_still_offers_its_stories(
    feed_server: FeedServer, write_config: WriteConfig
) -> None:
    # The offline demo's way: fixed-date feeds, an edition named by date, built months later.
    # The back-catalogue cut is then measured from that edition's send, not from today.
    feed_server.routes["/past.xml"] = Route(body=rss(("recent", RECENT), (
        "older", "Mon, 26 Oct 2026 09:00:00 +0000")))
    url = feed_server.url("past.xml")
    app = make_app(write_config, [url], when="2027-03-01T12:00:00+00:00")

    result = app.editions.build(date(2026, 11, 30))

    assert [s.url for s in result.edition.stories] == ["https://wire.example/recent"]
    assert count_items(app.store) == 2  # the older one is kept, as seen only
