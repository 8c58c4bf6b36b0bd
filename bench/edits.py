"""The editor's pass (issue 22): what applying an edition's edits costs a build, against the
ranking every build runs anyway (`rank.select_sections` over the same candidates), measured in
one run.

Synthetic candidates (10,000 and 50,000 stories over four sections, each with two other
articles) and 60 edits of every kind (pins, drops, moves, retitles, additions, a note), some of
them naming a story by one of its other articles' links. `edits.plan` looks for the links the
edits name in one pass over the candidates, so the cost grows with the candidates, not with
candidates x edits. Each is timed alone (the edits: `plan` and `arrange`; the ranking of the
edited candidates is the same ranking), best of 9 runs. Target: applying the edits costs at
most a quarter of the ranking.

Every loop is bounded; nothing here asserts a timing. Run alone: `python bench/edits.py`.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, os.fspath(Path(__file__).resolve().parents[1]))

from digest import edits, rank
from digest.models import AlsoLink, Edit, EditKind, Item, Section, Story

NOW = datetime(2026, 11, 30, 7, tzinfo=UTC)
SECTIONS = ("tech", "africa", "europe", "elsewhere")
SIZES = (10_000, 50_000)
EDITS = 60
RUNS = 9
TARGET = 0.25  # edits / ranking


def candidates(n: int) -> list[Story]:
    out = []
    for i in range(n):
        url = f"https://news{i % 200}.example.org/story/{i}"
        item = Item(feed_url=f"https://feed{i % 200}.example.org/rss", key=url, url=url,
                    title=f"Story number {i} about things", summary="A summary. " * 8,
                    published=NOW - timedelta(minutes=i % 10_000))
        out.append(Story(title=item.title, url=url, source=f"Outlet {i % 200}",
                         published=item.published, summary=item.summary, weight=1.0,
                         items=(item,), also=(AlsoLink("Wire", f"{url}?wire=1"),
                                              AlsoLink("Agency", f"{url}/agency")),
                         section=SECTIONS[i % len(SECTIONS)]))
    return out


def some_edits(stories: list[Story]) -> list[Edit]:
    day = date(2026, 11, 30)
    step = len(stories) // EDITS
    out = []
    kinds = (EditKind.PIN, EditKind.DROP, EditKind.MOVE, EditKind.RETITLE, EditKind.ADD)
    for n in range(EDITS - 1):
        target = stories[n * step]
        kind = kinds[n % len(kinds)]
        link = target.also[0].url if n % 3 == 0 else target.url  # by another article's link
        value: dict[str, Any] = {}
        if kind is EditKind.MOVE:
            value = {"section": "europe"}
        elif kind is EditKind.RETITLE:
            value = {"title": f"New headline {n}"}
        elif kind is EditKind.ADD:
            link = f"https://added.example.net/{n}"
            value = {"url": link, "title": f"Added {n}", "summary": "", "source": "Added",
                     "section": "tech"}
        out.append(Edit(n + 1, day, kind, link, value, "bench", NOW))
    out.append(Edit(EDITS, day, EditKind.NOTE, None, {"text": "A note."}, "bench", NOW))
    return out


def best(work: Callable[[], object]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def bench() -> dict[str, Any]:
    limits = [rank.SectionLimit(s, s.title(), 8) for s in SECTIONS]
    titles = {s: s.title() for s in SECTIONS}
    rows = []
    for n in SIZES:
        stories = candidates(n)
        stored = some_edits(stories)

        def ranking(stories: list[Story] = stories) -> object:
            return rank.select_sections(stories, limits, now=NOW, half_life=timedelta(days=2),
                                        max_stories=30)

        plan = edits.plan(stored, stories, sections=titles, place=lambda s: s)
        assert not plan.problems, plan.problems[:3]  # every edit found its story
        selected = rank.select_sections(plan.candidates, limits, now=NOW,
                                        half_life=timedelta(days=2), max_stories=30)

        def editing(stories: list[Story] = stories, stored: list[Edit] = stored,
                    selected: list[Section] = selected) -> object:
            plan = edits.plan(stored, stories, sections=titles, place=lambda s: s)
            return edits.arrange(selected, plan, limits, now=NOW, half_life=timedelta(days=2))

        base = best(ranking)
        cost = best(editing)
        rows.append({"candidates": n, "edits": EDITS, "ranking_s": base, "edits_s": cost,
                     "ratio": cost / base})
    return {"rows": rows, "target": TARGET}


def print_report(result: dict[str, Any]) -> None:
    print("\n== edits: applying an edition's edits, against the ranking it runs anyway ==")
    print(f"{'candidates':>10} {'edits':>5} {'ranking':>10} {'edits':>10} {'ratio':>7}")
    for r in result["rows"]:
        print(f"{r['candidates']:>10,} {r['edits']:>5} {r['ranking_s'] * 1000:>8.1f}ms "
              f"{r['edits_s'] * 1000:>8.1f}ms {r['ratio']:>6.2f}x")
    worst = max(r["ratio"] for r in result["rows"])
    verdict = "met" if worst <= result["target"] else "NOT met"
    print(f"target: the edits cost at most {result['target']:.2f}x the ranking: {verdict} "
          f"(worst {worst:.2f}x)")


if __name__ == "__main__":
    print_report(bench())
