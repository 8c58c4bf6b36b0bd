"""The archive's search (issue 19): `Store.search_stories` over five years of weekly editions on
SQLite (FTS5) and PostgreSQL (tsvector + GIN), against the floor of a naive scan of the same
rows (`LIKE '%word%'`) in the same run.

1. The archive: EDITIONS (260) weekly editions, Mondays back from 2026-11-30, each of 3-4
   sections and about 31 stories (25-37), about 8,000 stories in all. Titles (6-12 words) and
   summaries (18-40 words) are drawn from a vocabulary with a Zipf-Mandelbrot distribution
   (p ~ 1 / (rank + 2.7)^1.07): the English words of the real-world corpus
   (`../shared/corpus/feeds`, read in place, as bench/dedupe.py does) in their order of
   frequency, or, without the corpus, English function words then invented words. On top,
   recurring topics: 40 topics of two invented names and two vocabulary words, each running
   for a stretch of 4-30 weeks and coming back, about one story in five about one of them.
2. Index build: every edition frozen through the real store (`Store.freeze_edition`: the
   edition row, its archive rows and, by trigger or generated column, the full-text index),
   timed; then sent (`take_deliveries`, `finish_deliveries`, one reader), timed apart. The
   cost of the archive rows cannot be taken out without changing digest, so it is reported as
   the total.
3. Queries: QUERIES (1,000) of 1-3 words, fixed seed, a mix of kinds: common (every word among
   the 300 most frequent), rare (a word used in 1-10 stories, the rest common), topic (a
   recurring topic's name and perhaps a word), and no-hit (an invented word found nowhere,
   with common words). Each goes through `Store.search_stories(query, limit=20)` (the count
   and the first page, in one transaction) and, interleaved, through the floor: the same words
   (`digest.store.archive.search_terms`), each required in the title or the summary by
   case-insensitive `LIKE '%word%'`, sent editions only, newest edition first, its count and
   first 20 in one transaction. 50 warm-up queries of each, untimed. Reported per database:
   p50/p95/p99/max ms in all and by kind, the mean number of hits of each (they differ: FTS
   matches words and prefixes with stemming, LIKE any substring), and the ratio of the p99s.

SQLite is a temp file; PostgreSQL a database created on the server of `--postgres` (default:
DIGEST_TEST_DATABASE_URL, else postgresql+psycopg://postgres@127.0.0.1:5432/test) and dropped
after; skipped, with the reason printed, when the server does not answer. Nothing here asserts
a timing. Run alone: `python bench/archive.py` (`--editions`, `--queries`, `--quick`,
`--postgres URL`, `--skip-postgres`); under a minute at the defaults on 2 cores.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, os.fspath(REPO))

import dedupe as dedupe_bench  # noqa: E402  (bench/dedupe.py: the corpus reader)
import web as web_bench  # noqa: E402  (bench/web.py: a PostgreSQL database of our own)

from digest.models import DeliveryStatus  # noqa: E402
from digest.store import Outcome, Store  # noqa: E402
from digest.store.archive import search_terms  # noqa: E402

EDITIONS = 260  # five years of weekly editions
QUERIES = 1_000
QUICK_EDITIONS = 52
QUICK_QUERIES = 200
WARMUP = 50
LIMIT = 20
LAST = date(2026, 11, 30)  # a Monday, the newest edition
SECTIONS = (("world", "World"), ("tech", "Tech"), ("africa", "Africa"), ("europe", "Europe"))
TOPICS = 40
TOPIC_SHARE = 0.2
VOCABULARY = 20_000
ZIPF_S, ZIPF_Q = 1.07, 2.7
SEED = 20261207
PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
KINDS = ("common", "rare", "topic", "no-hit")
READER = "reader@example.org"
FUNCTION_WORDS = ("the", "of", "to", "in", "and", "a", "for", "on", "with", "as", "at", "by",
                  "is", "after", "from", "says", "over", "new", "its", "will", "be", "are",
                  "was", "has", "more", "than", "into", "up", "but", "not")


# --- the archive ---


class Words:
    """A vocabulary in order of frequency with Zipf-Mandelbrot weights, and invented names."""

    def __init__(self, rng: random.Random, log: Callable[[str], None]) -> None:
        outcomes = dedupe_bench.load_corpus(log)
        vocab: list[str] = []
        if outcomes is not None:
            model, english = dedupe_bench.word_model(outcomes)
            seen: set[str] = set()
            for word in model.summary_vocab:
                w = word.lower()
                if w.isalpha() and len(w) > 1 and w not in seen:
                    seen.add(w)
                    vocab.append(w)
            self.source = f"corpus vocabulary ({len(english)} English feeds)"
        else:
            vocab = list(FUNCTION_WORDS)
            self.source = "function words and invented words (no corpus)"
        vocab = vocab[:VOCABULARY]
        known = set(vocab)
        while len(vocab) < VOCABULARY:  # fill up (no corpus) with invented lower-case words
            word = invent(rng)
            if word not in known:
                known.add(word)
                vocab.append(word)
        self.vocab = vocab
        weights = [1.0 / (rank + ZIPF_Q) ** ZIPF_S for rank in range(len(vocab))]
        total = sum(weights)
        self.cumulative = list(itertools.accumulate(w / total for w in weights))
        self.rng = rng

    def draw(self, n: int) -> list[str]:
        return self.rng.choices(self.vocab, cum_weights=self.cumulative, k=n)


def invent(rng: random.Random) -> str:
    """An invented word ("varoneki"): names, and words no story has."""
    onsets = ("b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "st",
              "tr", "sh")
    vowels = ("a", "e", "i", "o", "u", "ai", "ou")
    return "".join(rng.choice(onsets) + rng.choice(vowels) for _ in range(rng.randint(2, 4)))


def make_archive(words: Words, editions: int) -> tuple[list[tuple[date, dict[str, Any]]],
                                                       list[list[str]]]:
    """(day, payload) per edition, oldest first, and the recurring topics' words."""
    rng = words.rng
    topics = [[invent(rng).capitalize(), invent(rng).capitalize(), *words.draw(2)]
              for _ in range(TOPICS)]
    # each topic runs for stretches of 4-30 weeks, with gaps between
    active: list[set[int]] = [set() for _ in range(editions)]
    for t in range(TOPICS):
        week = rng.randrange(0, max(1, editions // 3))
        while week < editions:
            run = rng.randint(4, 30)
            for w in range(week, min(editions, week + run)):
                active[w].add(t)
            week += run + rng.randint(10, 80)
    out = []
    for k in range(editions):
        day = LAST - timedelta(weeks=editions - 1 - k)
        sections = rng.sample(SECTIONS, rng.choice((3, 4)))
        n = rng.randint(25, 37)
        stories: dict[str, list[dict[str, Any]]] = {s: [] for s, _ in sections}
        for i in range(n):
            title = words.draw(rng.randint(6, 12))
            summary = words.draw(rng.randint(18, 40))
            if active[k] and rng.random() < TOPIC_SHARE:
                topic = topics[rng.choice(sorted(active[k]))]
                title[rng.randrange(len(title))] = topic[0]
                summary[rng.randrange(len(summary))] = f"{topic[0]} {topic[1]} {topic[2]}"
                if rng.random() < 0.5:
                    summary[rng.randrange(len(summary))] = topic[3]
            title[0] = title[0].capitalize()
            section = sections[i % len(sections)][0]
            stories[section].append({
                "title": " ".join(title), "url": f"https://wire{i % 7}.example/{day}/{i}",
                "source": f"Wire {i % 7}", "published": None,
                "summary": " ".join(summary).capitalize() + ".", "score": 1.0, "also": []})
        payload = {"edition": day.isoformat(), "title": "The Weekly Brief",
                   "generated_at": datetime(day.year, day.month, day.day, 6,
                                            tzinfo=UTC).isoformat(),
                   "sections": [{"id": s, "title": t, "stories": stories[s]}
                                for s, t in sections]}
        out.append((day, payload))
    return out, topics


def make_queries(words: Words, archive: list[tuple[date, dict[str, Any]]],
                 topics: list[list[str]], n: int) -> list[tuple[str, str]]:
    """(kind, query) pairs, a fixed mix of kinds."""
    rng = random.Random(SEED + 1)
    counts: Counter[str] = Counter()
    for _, payload in archive:
        for section in payload["sections"]:
            for story in section["stories"]:
                counts.update({w.lower().strip(".") for w in
                               f"{story['title']} {story['summary']}".split()})
    common = [w for w in words.vocab[:300] if counts[w]]
    rare = sorted(w for w, c in counts.items() if 1 <= c <= 10 and w.isalpha())
    used = set(counts)
    queries = []
    for k in range(n):
        kind = KINDS[0] if k % 10 < 4 else KINDS[1] if k % 10 < 7 else \
            KINDS[2] if k % 10 < 9 else KINDS[3]
        size = rng.randint(1, 3)
        if kind == "common":
            terms = rng.sample(common, size)
        elif kind == "rare":
            terms = [rng.choice(rare), *rng.sample(common, size - 1)]
        elif kind == "topic":
            topic = rng.choice(topics)
            terms = [topic[0], *([topic[1]] if size > 1 else []),
                     *([rng.choice(topic[2:])] if size > 2 else [])]
        else:
            missing = invent(rng) + "q"
            while missing in used:
                missing = invent(rng) + "q"
            terms = [missing, *rng.sample(common, size - 1)]
        rng.shuffle(terms)
        queries.append((kind, " ".join(terms)))
    return queries


# --- one database ---


def fill(store: Store, archive: list[tuple[date, dict[str, Any]]]) -> dict[str, float]:
    """Freeze every edition (timed), then send each to one reader (timed apart)."""
    t0 = time.perf_counter()
    frozen = []
    for day, payload in archive:
        frozen.append(store.freeze_edition(
            day, title=payload["title"], payload=payload, subject=f"The Weekly Brief {day}",
            html="<p>edition</p>", text="edition", fingerprints=[], now=datetime.now(UTC)))
    freeze_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    for edition in frozen:
        at = datetime(edition.edition.year, edition.edition.month, edition.edition.day, 7,
                      tzinfo=UTC)
        store.take_deliveries(edition.id, [READER], owner="bench", now=at, stale_before=at)
        store.finish_deliveries(edition.id, [Outcome(READER, DeliveryStatus.SENT, "<m@bench>")],
                                now=at)
    return {"freeze_s": round(freeze_s, 3), "send_s": round(time.perf_counter() - t0, 3)}


def naive_search(store: Store) -> Callable[[str], tuple[list[Any], int]]:
    """The floor: every word of the query in the title or the summary, as a substring."""
    from sqlalchemy import and_, func, or_, select

    from digest.models import DELIVERED
    from digest.schema import archive_stories as stories
    from digest.schema import deliveries, editions

    sent = select(deliveries.c.edition_id).where(
        deliveries.c.status.in_([s.value for s in DELIVERED])).exists().where(
        deliveries.c.edition_id == editions.c.id)

    def search(query: str) -> tuple[list[Any], int]:
        terms = search_terms(query)
        if not terms:
            return [], 0
        matches = and_(*(or_(stories.c.title.ilike(f"%{t}%"), stories.c.summary.ilike(f"%{t}%"))
                         for t in terms))
        base = (select(stories, editions.c.edition)
                .join(editions, editions.c.id == stories.c.edition_id).where(matches, sent))
        with store.engine.begin() as conn:
            total = conn.execute(select(func.count()).select_from(base.subquery())).scalar_one()
            rows = conn.execute(base.order_by(editions.c.edition.desc(), stories.c.position)
                                .limit(LIMIT)).all()
        return list(rows), int(total)

    return search


def percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]

    return {"n": len(ms), "p50": round(statistics.median(ordered), 3), "p95": round(at(0.95), 3),
            "p99": round(at(0.99), 3), "max": round(ordered[-1], 3)}


def run_database(url: str, archive: list[tuple[date, dict[str, Any]]],
                 queries: list[tuple[str, str]], log: Callable[[str], None]) -> dict[str, Any]:
    t0 = time.perf_counter()
    store = Store(url)
    try:
        schema_s = time.perf_counter() - t0
        built = fill(store, archive)
        with store.engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")
            stories = conn.exec_driver_sql("SELECT count(*) FROM archive_stories").scalar_one()
        log(f"    {len(archive)} editions, {stories:,} stories frozen in {built['freeze_s']} s, "
            f"sent in {built['send_s']} s")
        naive = naive_search(store)

        def fts(query: str) -> tuple[list[Any], int]:
            hits, total = store.search_stories(query, limit=LIMIT)
            return list(hits), total

        runs = {"fts": fts, "naive": naive}
        for _, query in queries[:WARMUP]:
            for fn in runs.values():
                fn(query)
        times: dict[str, dict[str, list[float]]] = {name: {k: [] for k in KINDS} for name in runs}
        hits: dict[str, list[int]] = {name: [] for name in runs}
        for k, (kind, query) in enumerate(queries):
            order = ("fts", "naive") if k % 2 == 0 else ("naive", "fts")  # interleaved
            for name in order:
                t = time.perf_counter()
                _, total = runs[name](query)
                times[name][kind].append((time.perf_counter() - t) * 1000)
                hits[name].append(total)
        out: dict[str, Any] = {"stories": stories, "schema_s": round(schema_s, 3), **built}
        for name in runs:
            every = [ms for kind in KINDS for ms in times[name][kind]]
            out[name] = {"all": percentiles(every),
                         **{kind: percentiles(times[name][kind]) for kind in KINDS
                            if times[name][kind]},
                         "mean_hits": round(statistics.mean(hits[name]), 1),
                         "no_hit_queries": sum(1 for h in hits[name] if h == 0)}
        out["ratio_p99"] = round(out["naive"]["all"]["p99"] / out["fts"]["all"]["p99"], 2)
        out["ratio_p50"] = round(out["naive"]["all"]["p50"] / out["fts"]["all"]["p50"], 2)
        return out
    finally:
        store.close()


# --- the benchmark ---


def bench(editions: int = EDITIONS, queries: int = QUERIES, *, postgres: str | None = None,
          skip_postgres: bool = False, log: Callable[[str], None] = print) -> dict[str, Any]:
    postgres = postgres or os.environ.get("DIGEST_TEST_DATABASE_URL") or PG_URL
    rng = random.Random(SEED)
    words = Words(rng, log)
    archive, topics = make_archive(words, editions)
    asked = make_queries(words, archive, topics, queries)
    result: dict[str, Any] = {
        "editions": editions, "queries": queries, "words": words.source,
        "stories": sum(len(s["stories"]) for _, p in archive for s in p["sections"]),
        "kinds": dict(Counter(kind for kind, _ in asked)),
        "examples": {kind: [q for k, q in asked if k == kind][:3] for kind in KINDS},
        "skipped": {},
    }
    folder = Path(tempfile.mkdtemp(prefix="digest-bench-archive-"))
    try:
        log(f"  SQLite: {folder / 'archive.db'}")
        result["sqlite"] = run_database(f"sqlite:///{folder / 'archive.db'}", archive, asked,
                                        log)
        if skip_postgres:
            result["skipped"]["PostgreSQL"] = "--skip-postgres"
        else:
            with web_bench.pg_database(postgres) as (url, why):
                if url is None:
                    log(f"  {why}: skipped")
                    result["skipped"]["PostgreSQL"] = why
                else:
                    result["postgresql_server"] = web_bench.pg_settings(url)
                    log(f"  {result['postgresql_server']}")
                    result["postgresql"] = run_database(url, archive, asked, log)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return result


def print_report(result: dict[str, Any]) -> None:
    print(f"\nThe archive's search (Store.search_stories, limit {LIMIT}) over "
          f"{result['editions']} weekly editions, {result['stories']:,} stories "
          f"({result['words']}); {result['queries']:,} queries "
          f"({', '.join(f'{n} {k}' for k, n in result['kinds'].items())})")
    for kind, examples in result["examples"].items():
        print(f"  e.g. {kind}: {' | '.join(examples)}")
    for name in ("sqlite", "postgresql"):
        if name not in result:
            continue
        r = result[name]
        print(f"\n  {name}: {r['stories']:,} stories; freezing the editions (edition rows, "
              f"archive rows, full-text index) {r['freeze_s']:.2f} s "
              f"({r['freeze_s'] * 1000 / result['editions']:.1f} ms an edition), sending "
              f"{r['send_s']:.2f} s")
        print(f"    {'search':<28} {'kind':<8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
              f"{'max ms':>8}")
        for run, label in (("fts", "search_stories (full text)"),
                           ("naive", "floor: LIKE '%word%' scan")):
            for kind in ("all", *KINDS):
                if kind in r[run]:
                    p = r[run][kind]
                    print(f"    {label if kind == 'all' else '':<28} {kind:<8} {p['p50']:>8.2f} "
                          f"{p['p95']:>8.2f} {p['p99']:>8.2f} {p['max']:>8.2f}")
            print(f"    {'':<28} mean hits {r[run]['mean_hits']}, "
                  f"{r[run]['no_hit_queries']} queries with none")
        print(f"    RATIO floor / search_stories: p99 {r['ratio_p99']:.2f}x, "
              f"p50 {r['ratio_p50']:.2f}x")
    for what, why in result["skipped"].items():
        print(f"\n  {what}: skipped ({why})")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--editions", type=int, default=None, metavar="N",
                        help=f"weekly editions in the archive (default {EDITIONS})")
    parser.add_argument("--queries", type=int, default=None, metavar="N",
                        help=f"searches timed per database (default {QUERIES:,})")
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_EDITIONS} editions and {QUICK_QUERIES} queries")
    parser.add_argument("--postgres", metavar="URL",
                        help=f"a PostgreSQL URL (default: DIGEST_TEST_DATABASE_URL, else "
                             f"{PG_URL}); a database is created on its server and dropped")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    editions = args.editions or (QUICK_EDITIONS if args.quick else EDITIONS)
    queries = args.queries or (QUICK_QUERIES if args.quick else QUERIES)
    if not 1 <= editions <= 5_000 or not WARMUP <= queries <= 100_000:
        parser.error(f"--editions takes 1..5000, --queries {WARMUP}..100000")
    result = bench(editions, queries, postgres=args.postgres, skip_postgres=args.skip_postgres)
    print_report(result)
    if args.json:
        import json

        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
