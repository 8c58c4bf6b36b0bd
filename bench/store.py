"""The store at scale: item ingest on PostgreSQL against SQLite, and an edition build over
1,000,000 stored items.

1. Ingest (issue 9): `Store.record_polls` with one batch of INGEST_FEEDS polls of
   INGEST_ITEMS items each (what `refresh` stores in one transaction), first all new, then
   the same polls again (all known, as most polls are), ROUNDS rounds on a growing table.
   Items/s on a SQLite file (WAL) and on PostgreSQL at 127.0.0.1:5432 in a database this
   script creates and drops; the ratio PostgreSQL / SQLite (target >= 0.5x). PostgreSQL is
   skipped, with a message, when the server does not answer.
2. Build: `Editions.build(day, fetch=False)` over FILL_ITEMS items of FILL_FEEDS feeds spread over
   two years (target < 2 s), with where the time goes (window query, dedupe, classify and
   rank, render) and a profile. The SQLite file is filled once with executemany and cached
   under the temp folder, keyed by its parameters and by digest/schema.py; PostgreSQL gets
   the same rows by COPY into a database this script creates and drops.

Titles and summaries come from a word model of the real-world corpus (`../shared/corpus/
feeds`, as bench/dedupe.py does) plus invented names, with 10% duplicates across feeds, so
dedupe and classify do real work. Nothing here asserts a timing. Run alone:
`python bench/store.py [--skip-postgres] [--items N]`.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, os.fspath(REPO))

import dedupe as dedupe_bench  # noqa: E402  (bench/dedupe.py: the corpus word model)
import yaml  # noqa: E402

from digest import classify, dedupe, features, rank  # noqa: E402
from digest.app import App, make_app  # noqa: E402
from digest.config import settings_from_mapping  # noqa: E402
from digest.lexicon import section_lexicon  # noqa: E402
from digest.models import FeedOutcome, FeedStatus, Item  # noqa: E402
from digest.schema import feeds as feeds_table  # noqa: E402
from digest.schema import items as items_table  # noqa: E402
from digest.store import Packer, PollRecord, Store  # noqa: E402

PG_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"
INGEST_FEEDS = 200
INGEST_ITEMS = 50
ROUNDS = 3
FILL_ITEMS = 1_000_000
FILL_FEEDS = 3_000
FILL_DAYS = 730
EDITION = date(2026, 11, 30)  # a Monday: the default schedule sends at 07:00 UTC
BUILD_RUNS = 3
SEED = 20261127
CHUNK = 50_000
TMP = Path(tempfile.gettempdir())


# --- PostgreSQL: a database of our own, dropped after ---


@contextmanager
def pg_database(log: Callable[[str], None], server: str = PG_SERVER) -> Iterator[str | None]:
    """A new empty database's URL (dropped after), or None (with a message) when the server
    does not answer."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    name = f"digest_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT",
                          connect_args={"connect_timeout": 3})
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        log(f"  PostgreSQL at {server} does not answer: skipped ({str(e.orig).strip()[:120]})")
        admin.dispose()
        yield None
        return
    try:
        yield f"{server}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# --- words ---


class Words:
    """Headline and summary words: the corpus's English word model, or (no corpus) the
    built-in section word lists; plus invented names, the story-specific rare words."""

    def __init__(self, log: Callable[[str], None]) -> None:
        import numpy as np

        self.rng = np.random.default_rng(SEED)
        outcomes = dedupe_bench.load_corpus(log)
        if outcomes is not None:
            model, _ = dedupe_bench.word_model(outcomes)
            self.title_vocab, self.title_p = model.title_vocab, model.title_p
            self.summary_vocab, self.summary_p = model.summary_vocab, model.summary_p
            self.source = f"corpus word model ({len(outcomes)} files)"
        else:
            from digest.lexicon import lexicon_names, load_lexicon

            vocab = sorted({t for n in lexicon_names() for t, _ in load_lexicon(n)})
            vocab += ["the", "of", "in", "to", "and", "a", "on", "for", "with", "after", "says"]
            p = np.full(len(vocab), 1.0 / len(vocab))
            self.title_vocab = self.summary_vocab = vocab
            self.title_p = self.summary_p = p
            self.source = "built-in word lists (no corpus)"
        self.names = dedupe_bench._names(self.rng, 20_000)

    def texts(self, n: int) -> tuple[list[str], list[str]]:
        """`n` (title, summary) pairs."""
        rng = self.rng
        t_len = rng.integers(6, 13, n)
        s_len = rng.integers(20, 45, n)
        t_words = rng.choice(len(self.title_vocab), int(t_len.sum()), p=self.title_p)
        s_words = rng.choice(len(self.summary_vocab), int(s_len.sum()), p=self.summary_p)
        names = rng.integers(0, len(self.names), (n, 2))
        titles, summaries = [], []
        t_at = s_at = 0
        tv, sv, nm = self.title_vocab, self.summary_vocab, self.names
        for k in range(n):
            title = [tv[w] for w in t_words[t_at:t_at + t_len[k]]]
            summary = [sv[w] for w in s_words[s_at:s_at + s_len[k]]]
            t_at += t_len[k]
            s_at += s_len[k]
            a, b = nm[names[k, 0]], nm[names[k, 1]]
            title.insert(len(title) // 2, a)
            summary[:0] = [a, b]
            titles.append(" ".join(title).capitalize())
            summaries.append(" ".join(summary) + ".")
        return titles, summaries


def feed_urls(n: int) -> list[str]:
    return [f"https://news{k % 500}.example/feeds/{k}.xml" for k in range(n)]


# --- 1. ingest ---


def poll_records(words: Words, urls: Sequence[str], per_feed: int, round_: int,
                 now: datetime) -> list[PollRecord]:
    titles, summaries = words.texts(len(urls) * per_feed)
    records = []
    for f, url in enumerate(urls):
        host = url.split("/")[2]
        keyed = []
        for i in range(per_feed):
            k = f * per_feed + i
            item = Item(feed_url=url, key="", url=f"https://{host}/{f}/r{round_}/story-{i}",
                        title=titles[k], summary=summaries[k], guid=f"{url}#r{round_}-{i}",
                        published=now - timedelta(minutes=k % 600), author="A. Writer")
            item = replace(item, key=dedupe.item_key(item))
            keyed.append((item, dedupe.canonical_url(item.url)))
        outcome = FeedOutcome(url, FeedStatus.OK, tuple(it for it, _ in keyed), etag='"e"')
        records.append(PollRecord(outcome, keyed, now + timedelta(hours=1)))
    return records


def ingest_on(url: str, words: Words, rounds: int, analyser: Packer | None = None
              ) -> dict[str, Any]:
    """Store.record_polls rounds; with `analyser`, new items are analysed as they are stored
    (what `digest refresh` does), without it the store's own work alone."""
    urls = feed_urls(INGEST_FEEDS)
    store = Store(url)
    try:
        store.sync_feeds((u, None, 1.0) for u in urls)
        now = datetime(2026, 11, 27, 12, tzinfo=UTC)
        new_s, known_s = [], []
        for r in range(rounds):
            records = poll_records(words, urls, INGEST_ITEMS, r, now)
            t0 = time.perf_counter()
            stored = store.record_polls(records, now=now, features=analyser)
            new_s.append(time.perf_counter() - t0)
            assert sum(stored) == INGEST_FEEDS * INGEST_ITEMS, sum(stored)
            t0 = time.perf_counter()
            stored = store.record_polls(records, now=now, features=analyser)
            known_s.append(time.perf_counter() - t0)
            assert sum(stored) == 0
            now += timedelta(hours=1)
        n = INGEST_FEEDS * INGEST_ITEMS
        return {"new_s": [round(t, 3) for t in new_s], "known_s": [round(t, 3) for t in known_s],
                "new_items_per_s": round(n / min(new_s)),
                "known_items_per_s": round(n / min(known_s)),
                "items_stored": stored_items(store)}
    finally:
        store.close()


def bench_ingest(words: Words, postgres: bool, log: Callable[[str], None],
                 rounds: int = ROUNDS) -> dict[str, Any]:
    out: dict[str, Any] = {"feeds": INGEST_FEEDS, "items_per_feed": INGEST_ITEMS,
                           "rounds": rounds}
    folder = Path(tempfile.mkdtemp(prefix="digest-bench-ingest-"))
    analyser = features.Analyser(section_lexicon(
        build_settings(f"sqlite:///{folder / 'unused.db'}", folder).sections))  # opened by none
    for suffix, packer in (("", None), ("_analysed", analyser)):
        what = "the store alone" if packer is None else "analysing new items as refresh does"
        try:
            log(f"  SQLite, {what}: {rounds} rounds of {INGEST_FEEDS} x {INGEST_ITEMS} items, "
                "new then known")
            out["sqlite" + suffix] = ingest_on(f"sqlite:///{folder / f'ingest{suffix}.db'}",
                                               words, rounds, packer)
        finally:
            for leftover in folder.glob("ingest*"):
                leftover.unlink()
        if postgres:
            with pg_database(log) as url:
                if url is not None:
                    log(f"  PostgreSQL, {what}: the same")
                    out["postgresql" + suffix] = ingest_on(url, words, rounds, packer)
        if "postgresql" + suffix in out:
            s, p = out["sqlite" + suffix], out["postgresql" + suffix]
            out["ratio_new" + suffix] = round(p["new_items_per_s"] / s["new_items_per_s"], 2)
            out["ratio_known" + suffix] = round(p["known_items_per_s"] / s["known_items_per_s"],
                                                2)
    shutil.rmtree(folder, ignore_errors=True)
    return out


# --- 2. build over a big store ---


def cache_path(n_items: int) -> Path:
    # v1: the version of item_rows; bump it when the rows it makes change.
    return TMP / f"digest-bench-store-v1-{n_items}-{FILL_FEEDS}-{FILL_DAYS}-{SEED}.db"


def ensure_indexes(path: Path) -> list[str]:
    """Create the items indexes digest/schema.py has and the cached file lacks (the Store
    creates missing tables only); returns their names."""
    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{path}")
    try:
        with engine.connect() as conn:  # reflection skips expression indexes: ask SQLite
            present = set(conn.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'index'").scalars())
        added = [ix for ix in items_table.indexes if ix.name not in present]
        for ix in added:
            ix.create(engine)
        if added:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        return [str(ix.name) for ix in added]
    finally:
        engine.dispose()


def item_rows(words: Words, n_items: int, feed_ids: Sequence[int], urls: Sequence[str]
              ) -> Iterator[list[dict[str, Any]]]:
    """Rows for the items table in time order, CHUNK at a time: uniform over FILL_DAYS up to
    the edition's send; 10% copies of a story of the hours before from another feed (the same
    link with tracking parameters, or a lightly edited headline); 5% undated."""
    rng = words.rng
    end = datetime(EDITION.year, EDITION.month, EDITION.day, 7, tzinfo=UTC)
    span = FILL_DAYS * 86400
    offsets = sorted(rng.random(n_items) * span)
    for start in range(0, n_items, CHUNK):
        n = min(CHUNK, n_items - start)
        titles, summaries = words.texts(n)
        feed_of = rng.integers(0, len(feed_ids), n)
        dup = rng.random(n) < 0.10
        undated = rng.random(n) < 0.05
        back = rng.integers(1, 40, n)
        lag = rng.random(n) * 7200
        rows: list[dict[str, Any]] = []
        for i in range(n):
            k = start + i
            f = int(feed_of[i])
            host = urls[f].split("/")[2]
            url = f"https://{host}/news/{k}"
            title, summary = titles[i], summaries[i]
            if dup[i] and i >= 40:
                orig = rows[i - int(back[i])]
                title, summary = orig["title"], orig["summary"]
                if k % 2:
                    url = orig["url"] + "?utm_source=rss&utm_medium=feed"
                else:
                    title = title.replace(" the ", " a ", 1) + " - report"
            published = end - timedelta(seconds=span - float(offsets[k]))
            rows.append({
                "feed_id": feed_ids[f], "key": f"guid:{url}#{k}", "guid": f"{url}#{k}",
                "url": url, "canonical_url": url.split("?")[0], "title": title,
                "summary": summary, "author": None, "image": None,
                "published_at": None if undated[i] else published,
                "first_seen_at": published + timedelta(seconds=float(lag[i])),
                "seen_only": False})
        yield rows


def fill_sqlite(words: Words, n_items: int, log: Callable[[str], None]) -> tuple[Path, float]:
    """The cached SQLite file (filled now if missing) and the seconds the fill took (0: cached)."""
    path = cache_path(n_items)
    if path.exists():
        log(f"  using the cached {path} ({path.stat().st_size / 1e6:.0f} MB)")
        t0 = time.perf_counter()
        added = ensure_indexes(path)
        if added:
            log(f"  created {', '.join(added)} in {time.perf_counter() - t0:.1f} s")
        return path, 0.0
    partial = path.with_suffix(".partial")
    for p in TMP.glob(partial.name + "*"):
        p.unlink()
    log(f"  filling {partial}: {n_items:,} items of {FILL_FEEDS:,} feeds over {FILL_DAYS} days")
    t0 = time.perf_counter()
    store = Store(f"sqlite:///{partial}")
    try:
        urls = feed_urls(FILL_FEEDS)
        store.sync_feeds((u, f"Source {k}", 1.0) for k, u in enumerate(urls))
        with store.engine.connect() as conn:
            ids = {r.url: r.id for r in conn.execute(feeds_table.select().with_only_columns(
                feeds_table.c.url, feeds_table.c.id))}
        feed_ids = [ids[u] for u in urls]
        for rows in item_rows(words, n_items, feed_ids, urls):
            with store.engine.begin() as conn:
                conn.execute(items_table.insert(), rows)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        store.close()
    partial.rename(path)
    for leftover in TMP.glob(partial.name + "*"):  # -wal, -shm, a lock file of the Store
        leftover.unlink(missing_ok=True)
    seconds = time.perf_counter() - t0
    log(f"  filled in {seconds:.0f} s ({path.stat().st_size / 1e6:.0f} MB)")
    return path, seconds


def copy_to_postgres(sqlite_file: Path, url: str) -> float:
    """The same feeds and items, by COPY; returns the seconds it took."""
    t0 = time.perf_counter()
    Store(url).close()  # the schema
    from sqlalchemy import create_engine

    engine = create_engine(url)
    src = sqlite3.connect(sqlite_file)
    try:
        raw = engine.raw_connection()
        try:
            pg = raw.driver_connection
            assert pg is not None
            with pg.cursor() as cur:
                for table in ("feeds", "items"):
                    cols = [r[1] for r in src.execute(f"PRAGMA table_info({table})")]
                    kinds = {r[1]: r[2] for r in src.execute(f"PRAGMA table_info({table})")}
                    stamps = [i for i, c in enumerate(cols) if kinds[c].startswith("DATETIME")]
                    flags = [i for i, c in enumerate(cols) if kinds[c].startswith("BOOLEAN")]
                    with cur.copy(f"COPY {table} ({', '.join(cols)}) FROM STDIN") as copy:
                        for row in src.execute(f"SELECT {', '.join(cols)} FROM {table}"):
                            values = list(row)
                            for i in stamps:  # SQLite keeps UTC without an offset
                                if values[i] is not None:
                                    values[i] += "+00"
                            for i in flags:
                                values[i] = bool(values[i])
                            copy.write_row(values)
                    cur.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                f"(SELECT max(id) FROM {table}))")
            pg.commit()
            pg.autocommit = True
            pg.execute("VACUUM ANALYZE items")
            pg.execute("VACUUM ANALYZE feeds")
        finally:
            raw.close()
    finally:
        src.close()
        engine.dispose()
    return time.perf_counter() - t0


def build_settings(database: str, folder: Path) -> Any:
    """The shipped feeds.yaml's sections and edition settings, FILL_FEEDS feeds of our own."""
    shipped = yaml.safe_load((REPO / "feeds.yaml").read_text(encoding="utf-8"))
    raw = {
        "title": "The Weekly Brief", "database": database,
        "edition": shipped.get("edition", {}), "sections": shipped["sections"],
        "feeds": [{"url": u, "name": f"Source {k}"}
                  for k, u in enumerate(feed_urls(FILL_FEEDS))],
        "delivery": {"from": "Brief <brief@example.org>", "transport": "file",
                     "outbox": str(folder / "outbox")},
    }
    (folder / "feeds.yaml").write_text(yaml.safe_dump(raw, sort_keys=False), encoding="utf-8")
    return settings_from_mapping(raw, base_dir=folder, env={}, source=str(folder / "feeds.yaml"))


class Stages:
    """Wall time spent in each step of a build (the functions Editions.build calls)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
        return timed


@contextmanager
def staged(app: App) -> Iterator[Stages]:
    stages = Stages()
    saved = (dedupe.cluster_stories, classify.classify_stories, rank.select_sections)
    app.store.items_between = stages.wrap("window query", app.store.items_between)  # type: ignore[method-assign]
    app.store.sent_fingerprints = stages.wrap(  # type: ignore[method-assign]
        "sent fingerprints", app.store.sent_fingerprints)
    dedupe.cluster_stories = stages.wrap("dedupe", dedupe.cluster_stories)  # type: ignore[assignment]
    classify.classify_stories = stages.wrap("classify", classify.classify_stories)  # type: ignore[assignment]
    rank.select_sections = stages.wrap("rank", rank.select_sections)  # type: ignore[assignment]
    app.editions._within_budget = stages.wrap(  # type: ignore[method-assign]
        "render", app.editions._within_budget)
    try:
        yield stages
    finally:
        dedupe.cluster_stories, classify.classify_stories, rank.select_sections = saved
        for name in ("items_between", "sent_fingerprints"):
            vars(app.store).pop(name, None)
        vars(app.editions).pop("_within_budget", None)


def window_plan(app: App) -> list[str]:
    """How the database runs the window query (EXPLAIN), to see whether an index serves it."""
    from sqlalchemy import event

    caught: list[tuple[str, Any]] = []

    def grab(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
             many: bool) -> None:
        if "FROM items" in statement and not caught:
            caught.append((statement, params))

    engine = app.store.engine
    event.listen(engine, "before_cursor_execute", grab)
    try:
        _, send_at = app.editions.edition_for(EDITION)
        app.store.items_between(send_at - app.settings.edition.window, send_at,
                                [f.url for f in app.settings.feeds])
    finally:
        event.remove(engine, "before_cursor_execute", grab)
    statement, params = caught[0]
    prefix = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + statement, params).all()
    return [str(r[-1]) for r in rows]


def stored_items(store: Store) -> int:
    """How many items the store holds."""
    from sqlalchemy import func, select

    with store.engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(items_table)) or 0)


def forget_features(app: App) -> None:
    """Items as stored before there were features (digest/features.py)."""
    from sqlalchemy import update

    with app.store.engine.begin() as conn:
        conn.execute(update(items_table).where(items_table.c.features_key.is_not(None))
                     .values(features=None, features_key=None))


def time_build(database: str, folder: Path, runs: int, log: Callable[[str], None]
               ) -> dict[str, Any]:
    settings = build_settings(database, folder)
    app = make_app(settings)
    app.poller.sync_feeds()
    try:
        forget_features(app)
        app.editions.build(EDITION, fetch=False)  # warm: imports, lexicon, templates, page cache
        # The first build over items stored without features (filled here by executemany, or
        # stored by an older digest): it works them out and stores them back, once.
        forget_features(app)
        t0 = time.perf_counter()
        app.editions.build(EDITION, fetch=False)
        cold = time.perf_counter() - t0
        times, stage_runs = [], []
        result = None
        for _ in range(runs):
            with staged(app) as stages:
                t0 = time.perf_counter()
                result = app.editions.build(EDITION, fetch=False)
                times.append(time.perf_counter() - t0)
            stage_runs.append(stages.seconds)
        assert result is not None
        best = min(range(runs), key=times.__getitem__)
        profile = cProfile.Profile()
        profile.enable()
        app.editions.build(EDITION, fetch=False)
        profile.disable()
        text = io.StringIO()
        pstats.Stats(profile, stream=text).sort_stats("tottime").print_stats(12)
        top = [line for line in text.getvalue().splitlines()
               if line.strip() and line.strip()[0].isdigit()][:12]
        _, send_at = app.editions.edition_for(EDITION)
        window = app.store.items_between(send_at - settings.edition.window, send_at,
                                         [f.url for f in settings.feeds])
        stages_best = {k: round(v, 3) for k, v in stage_runs[best].items()}
        stages_best["other"] = round(times[best] - sum(stage_runs[best].values()), 3)
        return {
            "cold_s": round(cold, 3),
            "runs_s": [round(t, 3) for t in times], "best_s": round(min(times), 3),
            "median_s": round(statistics.median(times), 3), "window_items": len(window),
            "stories": len(result.edition.stories), "stages_s": stages_best,
            "plan": window_plan(app), "profile_top_tottime": top,
        }
    finally:
        app.close()


def bench_build(words: Words, n_items: int, postgres: bool, log: Callable[[str], None],
                runs: int = BUILD_RUNS) -> dict[str, Any]:
    path, fill_s = fill_sqlite(words, n_items, log)
    out: dict[str, Any] = {"items": n_items, "feeds": FILL_FEEDS, "days": FILL_DAYS,
                           "edition": EDITION.isoformat(), "sqlite_file": str(path),
                           "sqlite_fill_s": round(fill_s, 1), "words": words.source}
    folder = Path(tempfile.mkdtemp(prefix="digest-bench-build-"))
    try:
        log(f"  SQLite: Editions.build({EDITION}, fetch=False) x {runs}")
        out["sqlite"] = time_build(f"sqlite:///{path}", folder, runs, log)
        if postgres:
            with pg_database(log) as url:
                if url is not None:
                    log("  PostgreSQL: COPY the same rows")
                    out["postgresql_fill_s"] = round(copy_to_postgres(path, url), 1)
                    log(f"  filled in {out['postgresql_fill_s']:.0f} s; Editions.build x {runs}")
                    out["postgresql"] = time_build(url, folder, runs, log)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return out


# --- the benchmark ---


def bench(n_items: int = FILL_ITEMS, postgres: bool = True,
          log: Callable[[str], None] = print) -> dict[str, Any]:
    words = Words(log)
    log("  1. ingest: Store.record_polls")
    ingest = bench_ingest(words, postgres, log)
    log(f"  2. build over {n_items:,} stored items")
    build = bench_build(words, n_items, postgres, log)
    return {"ingest": ingest, "build": build}


def print_report(result: dict[str, Any]) -> None:
    print("\nThe store (digest.store on SQLite and PostgreSQL)")
    g = result["ingest"]
    print(f"\n  1. Ingest: Store.record_polls, one batch of {g['feeds']} polls x "
          f"{g['items_per_feed']} items, {g['rounds']} rounds (best)")
    for suffix, what in (("", "the store alone"),
                         ("_analysed", "new items analysed as stored, as refresh does")):
        print(f"    {what}:")
        print(f"    {'database':<11} {'new items/s':>11} {'known items/s':>13} "
              f"{'new s (rounds)':<22} {'known s (rounds)':<22}")
        for name in ("sqlite", "postgresql"):
            if name + suffix in g:
                r = g[name + suffix]
                print(f"    {name:<11} {r['new_items_per_s']:>11,} {r['known_items_per_s']:>13,} "
                      f"{', '.join(map(str, r['new_s'])):<22} "
                      f"{', '.join(map(str, r['known_s'])):<22}")
        if "ratio_new" + suffix in g:
            print(f"    RATIO PostgreSQL / SQLite: new items {g['ratio_new' + suffix]:.2f}x, known "
                  f"items {g['ratio_known' + suffix]:.2f}x  (target >= 0.5x)")
        else:
            print("    PostgreSQL: skipped")
    b = result["build"]
    print(f"\n  2. Editions.build({b['edition']}, fetch=False) over {b['items']:,} items of "
          f"{b['feeds']:,} feeds ({b['days']} days; {b['words']})")
    fill = f"filled in {b['sqlite_fill_s']} s" if b["sqlite_fill_s"] else "cached"
    print(f"    SQLite file {b['sqlite_file']} ({fill})")
    if "postgresql_fill_s" in b:
        print(f"    PostgreSQL filled by COPY in {b['postgresql_fill_s']} s")
    for name in ("sqlite", "postgresql"):
        if name not in b:
            continue
        r = b[name]
        stages = ", ".join(f"{k} {v:.3f}" for k, v in r["stages_s"].items())
        print(f"    {name}: best {r['best_s']:.3f} s, median {r['median_s']:.3f} s (runs "
              f"{', '.join(map(str, r['runs_s']))}); {r['window_items']:,} items in the window, "
              f"{r['stories']} stories placed  (target < 2 s)")
        print(f"      stages of the best run (s): {stages}")
        print(f"      the first build, working out and storing the window's features: "
              f"{r['cold_s']:.3f} s")
        print("      window query plan: " + " | ".join(line[:160] for line in r["plan"]))
        print("      profile, top functions by own time:")
        for line in r["profile_top_tottime"]:
            print(f"        {line}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--items", type=int, default=FILL_ITEMS, metavar="N",
                        help="items in the big store (default %(default)s)")
    parser.add_argument("--skip-postgres", action="store_true",
                        help="SQLite only")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    if not 10_000 <= args.items <= 5_000_000:
        parser.error("--items takes 10000..5000000")
    result = bench(args.items, postgres=not args.skip_postgres)
    print_report(result)
    if args.json:
        import json

        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
