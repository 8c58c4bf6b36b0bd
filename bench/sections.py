"""Sectioning and ranking: time per story on 50,000 stories, against a regex peer, and accuracy
on the labelled sets.

1. Cost: `classify.classify_stories` and `rank.select_sections` on 50,000 stories with the
   shipped feeds.yaml sections (built-in word lists plus keywords). The stories are the titles
   and summaries of the real-world corpus (`../shared/corpus/feeds`, read at run time, never
   copied here) and of the labelled sets, repeated with their own URLs, sources and dates
   until there are 50,000. Target: under 100 us per story.
2. The peer: the same words matched the way digest did before (and most keyword filters do):
   one case-insensitive regex alternation per section, every section run over title and
   summary. Same stories, same run.
3. Accuracy and precision/recall per section on tests/data/sections/{dev,holdout}.yaml.

Nothing here asserts a timing. Run alone: `python bench/sections.py [--stories N]`.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, os.fspath(REPO))
sys.path.insert(0, os.fspath(REPO / "tests"))

import labelled_sections  # noqa: E402
from digest import classify, rank  # noqa: E402
from digest.config import load_settings  # noqa: E402
from digest.lexicon import load_lexicon, section_lexicon  # noqa: E402
from digest.models import Item, Story  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "feeds"
STORIES = 50_000
NOW = datetime(2026, 11, 30, 7, tzinfo=UTC)


def texts() -> list[tuple[str, str]]:
    """(title, summary) pairs: the corpus's items, when it is there, and the labelled sets."""
    out = [(i.story.title, i.story.summary) for name in labelled_sections.SETS
           for i in labelled_sections.load(name)]
    if CORPUS.is_dir():
        from digest.parse import parse_feed

        for path in sorted(CORPUS.glob("*.xml")):
            outcome = parse_feed(f"https://corpus.example/{path.name}", path.read_bytes())
            out.extend((it.title, it.summary) for it in outcome.items)
    return out


def stories(n: int) -> list[Story]:
    pairs = texts()
    out = []
    for k in range(n):
        title, summary = pairs[k % len(pairs)]
        when = NOW - timedelta(minutes=7 * (k % 1440))
        source = f"Source {k % 200}"
        item = Item(feed_url=f"https://s{k % 200}.example/feed", key=str(k),
                    url=f"https://s{k % 200}.example/{k}", title=title, summary=summary,
                    published=when, source=source)
        out.append(Story(title=title, url=item.url, source=source, published=when,
                         summary=summary, weight=1.0, items=(item,)))
    return out


def regex_peer(specs: Sequence[classify.SectionSpec]) -> list[tuple[str, re.Pattern[str]]]:
    peer = []
    for spec in specs:
        words = sorted({t for t, _ in spec.terms}, key=len, reverse=True)
        body = "|".join(re.escape(w) for w in words)
        peer.append((spec.id, re.compile(rf"(?<!\w)(?:{body})(?:e?s)?(?!\w)", re.IGNORECASE)))
    return peer


def best_of(runs: int, fn: Any) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def bench(n: int = STORIES) -> dict[str, Any]:
    settings = load_settings(REPO / "feeds.yaml", env={})
    lexicon = section_lexicon(settings.sections)
    specs = [classify.SectionSpec(
        s.id, s.title, tuple(t for name in s.lexicons() for t in load_lexicon(name))
        + tuple((k.term, k.weight) for k in s.keywords)) for s in settings.sections]
    window = stories(n)
    placed: list[Story] = []

    def run_classify() -> None:
        nonlocal placed
        placed, _ = classify.classify_stories(window, lexicon, {},
                                              min_score=settings.edition.min_score)

    classify_s = best_of(3, run_classify)
    limits = [rank.SectionLimit(s.id, s.title, s.max_stories, s.min_stories,
                                s.max_per_source or settings.edition.max_per_source, s.boost)
              for s in settings.sections]
    limits.append(rank.SectionLimit(classify.ELSEWHERE_ID, classify.ELSEWHERE_TITLE, 5))
    rank_s = best_of(3, lambda: rank.select_sections(
        placed, limits, now=NOW, half_life=settings.edition.half_life,
        max_stories=settings.edition.max_stories))
    peer = regex_peer(specs)

    def run_peer() -> None:
        for story in window:
            for _, pattern in peer:
                len(pattern.findall(story.title)) * 2 + len(pattern.findall(story.summary))

    peer_s = best_of(2, run_peer)
    sections = {s.section for s in placed}
    quality = {}
    for name in labelled_sections.SETS:
        result = labelled_sections.score(labelled_sections.load(name), lexicon,
                                         settings.edition.min_score)
        quality[name] = {
            "items": result.total, "accuracy": round(result.accuracy, 3),
            "per_section": {label: {"precision": round(result.precision(label), 3),
                                    "recall": round(result.recall(label), 3)}
                            for label in labelled_sections.LABELS},
            "wrong": [f"{i.id} [{i.section} -> {got}] {i.story.title} :: {reason}"
                      for i, got, reason in result.wrong],
        }
    return {
        "stories": n,
        "terms": sum(map(len, (lexicon.folded, lexicon.exact, lexicon.runs, lexicon.exact_runs))),
        "classify_s": round(classify_s, 3), "classify_us": round(classify_s / n * 1e6, 1),
        "rank_s": round(rank_s, 3), "rank_us": round(rank_s / n * 1e6, 1),
        "peer_s": round(peer_s, 3), "peer_us": round(peer_s / n * 1e6, 1),
        "ratio": round(peer_s / classify_s, 2), "sections_used": sorted(sections),
        "quality": quality,
    }


def print_report(r: dict[str, Any]) -> None:
    print(f"\nSectioning and ranking ({r['stories']:,} stories, {r['terms']:,} distinct terms)")
    print(f"  classify_stories   {r['classify_s']:7.2f} s  {r['classify_us']:6.1f} us/story"
          "  (target with ranking < 100 us)")
    print(f"  select_sections    {r['rank_s']:7.2f} s  {r['rank_us']:6.1f} us/story")
    print(f"  together                      {r['classify_us'] + r['rank_us']:6.1f} us/story")
    print(f"  peer: regex per section        {r['peer_s']:7.2f} s  {r['peer_us']:6.1f} us/story")
    print(f"  RATIO regex peer / classify_stories: {r['ratio']}x")
    for name, q in r["quality"].items():
        per = ", ".join(f"{k} P {v['precision']:.2f} R {v['recall']:.2f}"
                        for k, v in q["per_section"].items())
        print(f"  {name:8s} {q['items']} items  accuracy {q['accuracy']:.3f}  ({per})")
        for line in q["wrong"]:
            print(f"      wrong: {line[:160]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=STORIES)
    args = parser.parse_args(argv)
    print_report(bench(args.stories))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
