"""The same stored items give the same edition in every process (issue 16: determinism).

Sets and dicts of strings iterate in an order that Python draws per process (PYTHONHASHSEED):
nothing a build does in such an order (summing word weights, breaking ties) may change the
edition. Each case stores one window once, with a build that fetches (dated by `--edition`, so
nothing depends on today's date), then builds it in five fresh processes with five hash seeds,
each on its own copy of the database, and compares their JSON, `generated_at` (the wall clock)
left out.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import CORPUS, FEEDS

SEEDS = ("0", "1", "42", "12345", "4294967295")
HANG = 300  # seconds: a build that takes longer has hung

# Invented wires (tests/data/feeds/ties/generate.py) full of exactly tied scores: before the fix,
# five seeds gave five different editions of them.
TIES = sorted((FEEDS / "ties").glob("tie-*.xml"))
TIES_EDITION = "2026-11-30"  # Monday; its items are dated 23-29 November 2026

CORPUS_FILES = sorted(CORPUS.glob("*.xml")) if CORPUS.is_dir() else []
CORPUS_EDITION = "2026-03-02"  # the Monday after the newest corpus item (2026-02-18)


def _ties_config(folder: Path) -> dict[str, Any]:
    """Each wire in a section of its own, no section or edition limit that bites: the JSON
    lists every story of the window, with the outlets merged into it."""
    assert len(TIES) == 3, "tests/data/feeds/ties/generate.py writes them"
    sections = [{"id": f"wire-{p.stem}", "title": p.stem, "max_stories": 100_000} for p in TIES]
    feeds = [{"url": str(p), "section": s["id"]} for p, s in zip(TIES, sections, strict=True)]
    return _config(folder, "7d", sections, feeds)


def _corpus_config(folder: Path) -> dict[str, Any]:
    """Every corpus feed (read in place), each story sorted by its words into tech, Africa or
    Europe; a window that reaches back to the oldest items."""
    sections = [{"id": s, "title": s.title(), "max_stories": 100_000}
                for s in ("tech", "africa", "europe")]
    feeds = [{"url": str(p), "section": "auto"} for p in CORPUS_FILES]
    return _config(folder, "8000d", sections, feeds, retention="9000d")


def _config(folder: Path, window: str, sections: list[dict[str, Any]],
            feeds: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {
        "title": "Determinism", "timezone": "UTC", "database": str(folder / "window.db"),
        "schedule": {"digest": "0 7 * * mon"},
        "edition": {"window": window, "max_stories": 100_000, "unmatched": "drop"},
        "email": {"max_html_bytes": "1GiB"},  # nothing trimmed to fit an email
        "sections": sections, "feeds": feeds, **extra,
    }


def _build(config: Path, database: Path, edition: str, seed: str, *fetch: str) -> dict[str, Any]:
    env = {**os.environ, "PYTHONHASHSEED": seed,
           # the database of the config, even when the suite runs on PostgreSQL
           "DIGEST_DATABASE_URL": f"sqlite:///{database}"}
    done = subprocess.run(
        [sys.executable, "-m", "digest", "--config", str(config), "build", "--format", "json",
         "--edition", edition, *fetch],
        capture_output=True, text=True, env=env, timeout=HANG, cwd=config.parent)
    assert done.returncode == 0, f"seed {seed}: {done.stderr}"
    edition_json: dict[str, Any] = json.loads(done.stdout)
    edition_json.pop("generated_at")  # the wall clock
    return edition_json


def _stories(edition: dict[str, Any]) -> list[dict[str, Any]]:
    return [story for section in edition["sections"] for story in section["stories"]]


def _difference(first: dict[str, Any], other: dict[str, Any]) -> str:
    a = {(s["title"], s["url"], json.dumps(s["also"])) for s in _stories(first)}
    b = {(s["title"], s["url"], json.dumps(s["also"])) for s in _stories(other)}
    return (f"{len(_stories(first))} vs {len(_stories(other))} stories; "
            f"only in the first: {sorted(a - b)[:3]}; only in the other: {sorted(b - a)[:3]}")


def _builds(tmp_path: Path, config_data: dict[str, Any], edition: str,
            seeds: Sequence[str] = SEEDS) -> list[dict[str, Any]]:
    config = tmp_path / "feeds.yaml"
    config.write_text(yaml.safe_dump(config_data, sort_keys=False), encoding="utf-8")
    stored = tmp_path / "window.db"
    _build(config, stored, edition, "0")  # fetches the feeds: the window is stored once
    copies = []
    for seed in seeds:  # each build its own copy: no build can change what another reads
        copy = tmp_path / f"seed-{seed}.db"
        with closing(sqlite3.connect(stored)) as source, closing(sqlite3.connect(copy)) as target:
            source.backup(target)
        copies.append(copy)
    with ThreadPoolExecutor(max_workers=2) as pool:  # the machines have 2 cores
        return list(pool.map(lambda seed, copy: _build(config, copy, edition, seed, "--no-fetch"),
                             seeds, copies))


def _assert_identical(editions: list[dict[str, Any]], seeds: Sequence[str] = SEEDS) -> None:
    different = [seed for seed, e in zip(seeds, editions, strict=True) if e != editions[0]]
    distinct = len({json.dumps(e, sort_keys=True) for e in editions})
    assert not different, (
        f"{distinct} different editions from {len(seeds)} hash seeds; seed {seeds[0]} vs "
        f"{different[0]}: {_difference(editions[0], editions[seeds.index(different[0])])}")


CASES = [
    pytest.param(_ties_config, TIES_EDITION, 300, id="ties"),
    pytest.param(_corpus_config, CORPUS_EDITION, 300, id="corpus", marks=[
        pytest.mark.slow,
        pytest.mark.skipif(not CORPUS_FILES, reason=f"no feed corpus at {CORPUS}")]),
]


@pytest.mark.parametrize(("make_config", "edition", "at_least"), CASES)
def test_the_same_window_gives_the_same_edition_under_any_hash_seed(
        tmp_path: Path, make_config: Callable[[Path], dict[str, Any]], edition: str,
        at_least: int) -> None:
    editions = _builds(tmp_path, make_config(tmp_path), edition)
    stories = _stories(editions[0])
    # not vacuous: the window is there, and some of its stories were merged from several items
    assert len(stories) > at_least
    assert any(s["also"] for s in stories)
    _assert_identical(editions)
