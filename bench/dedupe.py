"""Story clustering: `digest.dedupe.cluster_stories` on synthetic news windows, against exact
all-pairs comparison, and its quality on the labelled sets and on real same-day feeds.

1. Cost of clustering a window: `cluster_stories(items)` on synthetic windows of 10,000,
   25,000 and 50,000 items (`--sizes`), best of 3 runs at 10,000 and of 2 above. Targets: the
   50k window in at most 6x the 10k window's time (5x the items), and under 15 s (300 us/item).
2. The peer, exact all-pairs comparison at 10,000 items: every pair of texts gets the same
   verification the LSH path gives its candidates, `neardup.Comparison(texts).verdict(a, b)` with
   the window's IDF weights. It is timed over a fixed random sample of pairs and extrapolated
   linearly to all n(n-1)/2 pairs (said so in the report); plain Jaccard of the word sets is
   timed over all pairs when a sample says that takes under a minute. Target: all-pairs time /
   cluster_stories time >= 20x. The sampled pairs that pass verification show the blocking's
   recall: did cluster_stories put them in one story?
3. Quality on the hand-labelled sets tests/data/stories/{dev,holdout}.yaml (scored by
   tests/labelled_stories.py, pairwise), each alone and both as one window.
4. The clusters cluster_stories makes of real same-day feeds: the corpus files of 2026-02-17/18
   as one window, those of 2021-10-16/17 as another, every multi-item cluster printed.
5. Dense windows (issue 23; `--dense` runs this alone): a real-like window of 6,400 items over
   36 hours from 2,000 outlets whose stories reach 100-300 items (`dense_window`), and 10,000-
   and 50,000-item windows of the same kind (36 hours a 6,400 items), each measured in its own
   subprocess: time (best of 3, 2 at 50k), the process's RSS high-water mark while clustering
   (VmHWM, reset before each run) and tracemalloc's peak of one more run, pair scores counted
   in an untimed run (verification and joining apart), candidate pairs inside dense stories,
   and quality against the planted stories. Bars, printed PASS/FAIL: 6,400 items < 2 s;
   50,000 < 15 s; memory < 400 MB; 50k / 10k time <= 5.5x.

Synthetic windows look like news, not noise: the vocabulary and word frequencies come from the
English feeds of the real-world corpus in `<repo>/../shared/corpus/feeds`, read and parsed with
`digest.parse` at run time (never copied into the repo; sections 1, 2 and 4 are skipped with a
message when the folder is absent). Each story is a title of 6-12 words and a summary of 25-60
words drawn from the corpus's title and summary unigram frequencies, plus 2-3 story-specific
invented names (drawn Zipf-like from a pool, so a few names recur across many stories, as real
names do). Sources: 200 feed names; published times spread over 7 days; fixed seed. About 10% of
the items are duplicates of an earlier story, published 5 minutes to 6 hours after it: wire
copies (same text, another source and URL), "UPDATE 1-" titles with a sentence added to the
summary, copies with a few words changed, and the same URL with tracking parameters.

Every loop is bounded; nothing here asserts a timing. Run alone: `python bench/dedupe.py`
(`--sizes 10000,50000`, `--pair-sample N`, `--dense-sizes 6400` to shorten; `--dense` for
section 5 alone).
"""

from __future__ import annotations

import argparse
import gc
import inspect
import itertools
import json
import os
import re
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CORPUS = REPO.parent / "shared" / "corpus" / "feeds"
TESTS = REPO / "tests"
SIZES = (10_000, 25_000, 50_000)
PAIRS_N = 10_000  # the window the all-pairs peer is measured on
PAIR_SAMPLE = 2_000_000  # sampled pairs for the all-pairs verdict() peer
FULL_JACCARD_LIMIT_S = 60.0  # plain Jaccard over all pairs only if a sample says it is quicker
SEED = 20261127
DUPLICATE_SHARE = 0.10
SOURCES = 200
WINDOW_DAYS = 7
WINDOWS = {"2026-02-17/18": ("2026-02-17", "2026-02-18"),
           "2021-10-16/17": ("2021-10-16", "2021-10-17")}

_TOKEN = re.compile(r"[^\W_]+(?:['’.-][^\W_]+)*")
_ENGLISH = frozenset(("the", "of", "and", "to", "in", "a", "is", "for", "on", "with", "that", "by",
                     "at", "as", "from", "was", "are", "has", "have", "it", "its", "be", "an",
                     "his", "her", "their", "after"))


def runs_for(size: int) -> int:
    return 3 if size <= 10_000 else 2


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- inputs: the real corpus ---


def load_corpus(log: Callable[[str], None] = print) -> list[tuple[str, Any]] | None:
    """(file name, FeedOutcome) for every corpus file, or None when the folder is absent."""
    from digest.parse import parse_feed

    if not CORPUS.is_dir():
        log(f"real-world corpus not found at {CORPUS}: skipping the synthetic windows and the "
            "real-feed clusters (labelled sets only)")
        return None
    return [(p.name, parse_feed(f"https://feeds.example/{p.name}", p.read_bytes()))
            for p in sorted(CORPUS.iterdir()) if p.is_file()]


def is_english(items: Sequence[Any]) -> bool:
    """A feed is English when English function words are at least 15% of its words."""
    words = [w.lower() for it in items for w in _TOKEN.findall(f"{it.title} {it.summary}")]
    return len(words) >= 50 and sum(w in _ENGLISH for w in words) / len(words) >= 0.15


class WordModel:
    """Unigram frequencies of the corpus's English titles and summaries (kept apart: headlines
    use fewer function words than summaries)."""

    def __init__(self, titles: list[str], summaries: list[str]) -> None:
        import numpy as np

        self.title_vocab, self.title_p = self._model(titles, np)
        self.summary_vocab, self.summary_p = self._model(summaries, np)
        self.tokens = sum(len(_TOKEN.findall(t)) for t in titles + summaries)

    @staticmethod
    def _model(texts: list[str], np: Any) -> tuple[list[str], Any]:
        counts = Counter(w for t in texts for w in _TOKEN.findall(t))
        vocab = sorted(counts, key=lambda w: (-counts[w], w))
        freq = np.array([counts[w] for w in vocab], dtype=float)
        return vocab, freq / freq.sum()


def word_model(outcomes: list[tuple[str, Any]]) -> tuple[WordModel, list[str]]:
    english = [(name, o.items) for name, o in outcomes if o.items and is_english(o.items)]
    titles = [it.title for _, items in english for it in items if it.title]
    summaries = [it.summary[:600] for _, items in english for it in items if it.summary]
    return WordModel(titles, summaries), [name for name, _ in english]


# --- synthetic windows ---


def _source_names() -> list[str]:
    first = ("Daily", "Global", "Morning", "Evening", "Northern", "Southern", "Coastal", "Capital",
             "Metro", "Valley", "Union", "Pacific", "Atlantic", "Central", "Western", "Eastern",
             "Open", "Free", "Public", "National")
    second = ("Herald", "Times", "Post", "Wire", "Courier", "Tribune", "Gazette", "Observer",
              "Ledger", "Report")
    return [f"{a} {b}" for a, b in itertools.product(first, second)][:SOURCES]


def _names(rng: Any, count: int) -> list[str]:
    """Invented proper names ("Varoneki", "Tolsad"): the story-specific rare words."""
    onsets = ("b", "c", "d", "f", "g", "h", "j", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z",
              "br", "dr", "gr", "kr", "st", "tr", "sh", "ch")
    vowels = ("a", "e", "i", "o", "u", "ai", "ou", "ei")
    out: set[str] = set()
    while len(out) < count:
        syllables = int(rng.integers(2, 5))
        word = "".join(onsets[int(rng.integers(len(onsets)))] + vowels[int(rng.integers(
            len(vowels)))] for _ in range(syllables))
        if rng.random() < 0.5:
            word += "nrstlk"[int(rng.integers(6))]
        out.add(word.capitalize())
    return sorted(out)


def synthetic_window(model: WordModel, n: int, seed: int = SEED) -> tuple[list[Any], list[int]]:
    """`n` items, about DUPLICATE_SHARE of them duplicates of earlier ones, sorted by time;
    and each item's synthetic story number (the ground truth)."""
    import numpy as np

    from digest.models import Item

    rng = np.random.default_rng(seed)
    sources = _source_names()
    hosts = [s.lower().replace(" ", "") + ".example" for s in sources]
    n_dup = round(n * DUPLICATE_SHARE)
    n_orig = n - n_dup
    pool = _names(rng, max(1000, n_orig))
    name_p = 1.0 / np.arange(1, len(pool) + 1) ** 1.05
    name_p /= name_p.sum()
    start = datetime(2026, 11, 20, tzinfo=UTC)

    title_len = rng.integers(6, 13, n_orig)
    summary_len = rng.integers(25, 61, n_orig)
    title_words = rng.choice(len(model.title_vocab), int(title_len.sum()), p=model.title_p)
    summary_words = rng.choice(len(model.summary_vocab), int(summary_len.sum()),
                               p=model.summary_p)
    entities = rng.choice(len(pool), (n_orig, 3), p=name_p)
    n_entities = rng.integers(2, 4, n_orig)
    when = rng.random(n_orig) * WINDOW_DAYS * 86400
    source_of = rng.integers(0, len(sources), n_orig)

    def item(k: int, story: int, src: int, url: str, title: str, summary: str,
             published: datetime) -> Item:
        return Item(feed_url=f"https://{hosts[src]}/feed", key=f"k{k}", url=url, title=title,
                    summary=summary, published=published, source=sources[src], id=k + 1,
                    first_seen=published)

    items: list[Item] = []
    story_of: list[int] = []
    t_at = s_at = 0
    for s in range(n_orig):
        title = [model.title_vocab[w] for w in title_words[t_at:t_at + title_len[s]]]
        summary = [model.summary_vocab[w] for w in summary_words[s_at:s_at + summary_len[s]]]
        t_at += title_len[s]
        s_at += summary_len[s]
        names = [pool[e] for e in entities[s][:n_entities[s]]]
        for name in names[:1 + int(rng.integers(2))]:
            title.insert(int(rng.integers(len(title) + 1)), name)
        for name in names:
            summary.insert(int(rng.integers(len(summary) + 1)), name)
        title[0] = title[0][:1].upper() + title[0][1:]
        src = int(source_of[s])
        slug = "-".join(w.lower() for w in title[:6])
        url = f"https://{hosts[src]}/news/2026/11/{slug}-{s}"
        published = start + timedelta(seconds=float(when[s]))
        items.append(item(s, s, src, url, " ".join(title), " ".join(summary) + ".", published))
        story_of.append(s)

    kinds = ("wire", "update", "edited", "tracking")
    kind_p = (0.35, 0.2, 0.25, 0.2)
    for d in range(n_dup):
        k = n_orig + d
        orig = items[int(rng.integers(n_orig))]
        s = story_of[int(orig.key[1:])]
        kind = kinds[int(rng.choice(4, p=kind_p))]
        published = orig.published + timedelta(seconds=float(rng.uniform(300, 6 * 3600)))
        src = int(rng.integers(len(sources)))
        title, summary = orig.title, orig.summary
        url = f"https://{hosts[src]}/world/{k}/{orig.url.rsplit('/', 1)[1]}"
        if kind == "update":
            src = sources.index(orig.source)
            url = f"{orig.url}-update-{k}"
            title = f"UPDATE {int(rng.integers(1, 4))}-{title}"
            extra = rng.choice(len(model.summary_vocab), 12, p=model.summary_p)
            summary = summary + " " + " ".join(model.summary_vocab[w] for w in extra) + "."
        elif kind == "edited":
            title_w, summary_w = title.split(), summary.split()
            for words, changes, vocab, p in ((title_w, 2, model.title_vocab, model.title_p),
                                             (summary_w, 4, model.summary_vocab,
                                              model.summary_p)):
                for _ in range(changes):
                    words[int(rng.integers(len(words)))] = vocab[int(rng.choice(len(vocab),
                                                                                p=p))]
            title, summary = " ".join(title_w), " ".join(summary_w)
        elif kind == "tracking":
            url = f"{orig.url}?utm_source=rss&utm_medium=feed&utm_campaign={sources[src][:5]}"
        items.append(item(k, s, src, url, title, summary, published))
        story_of.append(s)

    order = sorted(range(n), key=lambda i: (items[i].published, i))
    return [items[i] for i in order], [story_of[i] for i in order]


def synthetic_quality(stories: Sequence[Any], items: Sequence[Any],
                      story_of: Sequence[int]) -> dict[str, Any]:
    """Pairwise against the planted duplicates: pairs of one synthetic story merged, pairs of
    different synthetic stories merged."""
    truth = {it.key: s for it, s in zip(items, story_of, strict=True)}
    per_story = Counter(story_of)
    true_pairs = sum(c * (c - 1) // 2 for c in per_story.values())
    found = correct = 0
    for story in stories:
        m = len(story.items)
        found += m * (m - 1) // 2
        correct += sum(c * (c - 1) // 2 for c in Counter(truth[i.key]
                                                         for i in story.items).values())
    return {"stories_planted": len(per_story), "stories_found": len(stories),
            "true_pairs": true_pairs, "found_pairs": found, "correct_pairs": correct,
            "wrong_pairs": found - correct}


# --- 1. cost ---


def time_cluster(items: Sequence[Any], runs: int) -> tuple[list[float], list[Any]]:
    from digest.dedupe import cluster_stories
    from digest.gcpause import gc_paused

    times, stories = [], []
    for _ in range(runs):
        gc.collect()
        t0 = time.perf_counter()
        with gc_paused():  # as Editions.build clusters
            stories, _ = cluster_stories(items)
        times.append(time.perf_counter() - t0)
    return times, stories


def breakdown(items: Sequence[Any]) -> dict[str, Any]:
    """One untimed-by-the-table pass through the steps near_duplicates takes, to see where the
    time goes and how many candidate pairs blocking makes."""
    from digest import neardup

    t0 = time.perf_counter()
    texts = [neardup.text_of(i.title, i.summary, i.when) for i in items]
    t1 = time.perf_counter()
    comparison = neardup.Comparison(texts)
    df, weight = comparison.df, comparison.weight
    # neardup is being tuned: candidate_pairs has taken (texts, df) and (texts, df, weight)
    takes_weight = len(inspect.signature(neardup.candidate_pairs).parameters) >= 3
    pairs = (neardup.candidate_pairs(texts, df, weight) if takes_weight
             else neardup.candidate_pairs(texts, df))
    t2 = time.perf_counter()
    verified = sum(comparison.verdict(a, b)[1] is None for a, b in pairs)
    t3 = time.perf_counter()
    return {"text_of_s": round(t1 - t0, 3), "candidates_s": round(t2 - t1, 3),
            "verify_s": round(t3 - t2, 3), "candidate_pairs": len(pairs), "verified": verified}


def _try_breakdown(items: Sequence[Any], log: Callable[[str], None]) -> dict[str, Any]:
    try:
        return breakdown(items)
    except (TypeError, AttributeError) as exc:  # neardup's inner API changed: report, go on
        log(f"  breakdown unavailable with this neardup: {exc}")
        return {"error": str(exc)}


# --- 2. the all-pairs peer ---


def sample_pairs(n: int, count: int, seed: int = SEED) -> list[tuple[int, int]]:
    """`count` pairs i < j drawn uniformly (with replacement) from all pairs of n."""
    import numpy as np

    rng = np.random.default_rng(seed + 1)
    i = rng.integers(0, n, count * 2)
    j = rng.integers(0, n, count * 2)
    keep = i != j
    i, j = i[keep][:count], j[keep][:count]
    lo, hi = np.minimum(i, j), np.maximum(i, j)
    return list(zip(lo.tolist(), hi.tolist(), strict=True))


def all_pairs(items: Sequence[Any], stories: Sequence[Any], cluster_s: float, sample: int,
              log: Callable[[str], None]) -> dict[str, Any]:
    from digest import neardup

    n = len(items)
    total_pairs = n * (n - 1) // 2
    texts = [neardup.text_of(i.title, i.summary, i.when) for i in items]
    verdict = neardup.Comparison(texts).verdict  # the window's IDF weights
    pairs = sample_pairs(n, min(sample, total_pairs))

    gc.collect()
    t0 = time.perf_counter()
    passed = [(a, b) for a, b in pairs if verdict(a, b)[1] is None]
    sim_s = time.perf_counter() - t0
    sim_full_s = sim_s * total_pairs / len(pairs)

    sets = [t.words for t in texts]
    gc.collect()
    t0 = time.perf_counter()
    hits = 0
    for a, b in pairs:
        x, y = sets[a], sets[b]
        union = len(x | y)
        if union and len(x & y) / union >= 0.5:
            hits += 1
    jac_sample_s = time.perf_counter() - t0
    jac_estimate_s = jac_sample_s * total_pairs / len(pairs)
    if jac_estimate_s <= FULL_JACCARD_LIMIT_S:
        log(f"  plain Jaccard over all {total_pairs:,} pairs (estimated {jac_estimate_s:.0f} s)")
        gc.collect()
        t0 = time.perf_counter()
        full_hits = 0
        for a in range(n - 1):
            x = sets[a]
            for y in sets[a + 1:]:
                union = len(x | y)
                if union and len(x & y) / union >= 0.5:
                    full_hits += 1
        jac_s, jac_how, jac_hits = time.perf_counter() - t0, "measured over all pairs", full_hits
    else:
        jac_s, jac_how, jac_hits = jac_estimate_s, "extrapolated from the sample", None

    story_of = {it.key: k for k, story in enumerate(stories) for it in story.items}
    together = sum(story_of[items[a].key] == story_of[items[b].key] for a, b in passed)
    return {
        "n": n, "total_pairs": total_pairs, "sampled_pairs": len(pairs),
        "cluster_stories_s": round(cluster_s, 3),
        "similarity_sample_s": round(sim_s, 3),
        "similarity_us_per_pair": round(sim_s / len(pairs) * 1e6, 3),
        "similarity_all_pairs_s": round(sim_full_s, 1),
        "jaccard_sample_s": round(jac_sample_s, 3),
        "jaccard_all_pairs_s": round(jac_s, 1),
        "jaccard_how": jac_how,
        "jaccard_pairs_at_0.5": jac_hits,
        "ratios": {
            "all-pairs similarity (extrapolated) / cluster_stories": round(sim_full_s
                                                                           / cluster_s, 1),
            f"all-pairs plain Jaccard ({jac_how.split()[0]}) / cluster_stories":
                round(jac_s / cluster_s, 1),
        },
        "sample_verified_pairs": len(passed),
        "sample_verified_in_one_story": together,
    }


# --- 3. labelled sets ---


def labelled() -> dict[str, Any]:
    if os.fspath(TESTS) not in sys.path:
        sys.path.append(os.fspath(TESTS))
    import labelled_stories as ls

    sets = {name: ls.load(name) for name in ls.SETS}
    both_items, story, kind, negative = [], {}, {}, {}
    for name, data in sets.items():
        both_items += [replace(it, id=len(both_items) + k + 1) for k, it in enumerate(data.items)]
        story |= {key: f"{name}:{s}" for key, s in data.story.items()}
        kind |= data.kind
        negative |= {f"{name}:{s}": v for s, v in data.negative.items()}
    sets["both"] = ls.Labelled(both_items, story, kind, negative)
    out = {}
    for name, data in sets.items():
        t0 = time.perf_counter()
        s = ls.score(data)
        out[name] = {
            "items": len(data.items), "true_pairs": s.true_pairs, "found_pairs": s.found_pairs,
            "correct_pairs": s.correct_pairs, "precision": round(s.precision, 4),
            "recall": round(s.recall, 4),
            "recall_by_kind": {k: list(v) for k, v in sorted(s.recall_by_kind.items())},
            "wrong_merges": len(s.wrong),
            "wrong_across_sets": sum(data.story[a.key].split(":")[0]
                                     != data.story[b.key].split(":")[0] for a, b in s.wrong)
            if name == "both" else None,
            "wrong_examples": [f"{a.title!r} ({a.source}) + {b.title!r} ({b.source})"
                               for a, b in s.wrong[:5]],
            "seconds": round(time.perf_counter() - t0, 3),
        }
    return out


# --- 4. real same-day feeds ---


def real_windows(outcomes: list[tuple[str, Any]]) -> dict[str, Any]:
    from digest.dedupe import cluster_stories
    from digest.gcpause import gc_paused

    out = {}
    for label, days in WINDOWS.items():
        names = [name for name, _ in outcomes if any(d in name for d in days)]
        items = [replace(it, source=name, id=k + 1, first_seen=it.first_seen or it.published)
                 for k, (name, it) in enumerate((name, it) for name, o in outcomes
                                                if name in names for it in o.items)]
        t0 = time.perf_counter()
        with gc_paused():  # as Editions.build clusters
            stories, _ = cluster_stories(items)
        seconds = time.perf_counter() - t0
        multi = [s for s in stories if len(s.items) > 1]
        multi.sort(key=lambda s: (-len(s.items), s.title))
        out[label] = {
            "files": names, "items": len(items), "stories": len(stories),
            "seconds": round(seconds, 3), "multi_item_clusters": len(multi),
            "clusters": [[f"{it.source}: {it.title}" for it in s.items] for s in multi],
        }
    return out


# --- 5. dense windows (issue 23) ---

DENSE_SIZES = (6_400, 10_000, 50_000)
DENSE_BASE = 6_400  # the real-like window: the real one had 6,366 items over 36 hours
DENSE_HOURS = 36.0  # its span; a bigger window keeps its items per hour (50,000: 11.7 days)
DENSE_OUTLETS = 2_000
DENSE_STORY = (100, 300)  # items of one dense story
# shares of a window's items; the rest are stories of one item
DENSE_SHARES = (("dense", 0.62), ("same-topic", 0.12), ("small", 0.14))
DENSE_BAR_BASE_S = 2.0  # the 6,400-item window clusters in under 2 s ...
DENSE_BAR_50K_S = 15.0  # ... 50,000 items in under 15 s ...
DENSE_BAR_MB = 400.0  # ... the process's RSS staying under 400 MB while clustering ...
DENSE_BAR_GROWTH = 5.5  # ... and 5x the items (10k -> 50k) take at most 5.5x the time
# Same-day events of one topic that are different events: each topic's events share its words,
# and some share a name or a number too (two quakes of one magnitude, films at one festival);
# the place, the company, the market or the film differs. None may merge with another.
_FAMILIES = {
    "quake": "earthquake quake magnitude strikes jolts tremor tsunami warning epicentre depth "
             "residents buildings",
    "markets": "stocks shares index market close trading investors session gains losses points "
               "percent",
    "earnings": "quarterly profit earnings revenue results beats estimates outlook forecast "
                "sales analysts",
    "festival": "review film premiere festival drama director cast screen performance",
}
_MAGNITUDES = ("5.9", "6.1", "6.4")  # few: two quakes of a day often share one
# An outlet's own headline for an event: its main name with this chance, each other name with
# the next; TITLE_TOPIC (from, to) of its words; its lede: LEDE_FILL (from, to) words of the
# outlet's own, each of the event's names with LEDE_NAME_P, LEDE_TOPIC of its EVENT_WORDS words.
_HEAD_NAME_P, _OTHER_NAME_P = 0.9, 0.4
_TITLE_TOPIC = (2, 4)
_LEDE_FILL = (10, 31)
_LEDE_NAME_P = 0.8
_EVENT_WORDS, _LEDE_TOPIC = 10, 5
_ANGLES = (2, 5)  # a dense story has two to four angles
_NO_LEDE = 0.6  # the share of headlines with no summary (aggregators and many feeds give none)
_WORD_ZIPF = 1.0  # how unevenly an event's words are used (Zipf exponent over its list)
_UPDATES, _EDITS, _COPIES, _WIRE_COPIES = 0.07, 0.08, 0.25, 0.35  # shares of a story's items


class _Words:
    """Words drawn from the corpus's frequencies: inverse CDF over precomputed cumulative
    sums (numpy's choice with p= sums the whole vocabulary again on every call)."""

    def __init__(self, model: WordModel, rng: Any) -> None:
        import numpy as np

        self.rng, self.model = rng, model
        self.title_cdf = np.cumsum(model.title_p)
        self.summary_cdf = np.cumsum(model.summary_p)
        # what an event's own words are drawn from: the corpus's lower-case words of four
        # letters or more, past the commonest 150 ("talks", "ceasefire", "tariffs")
        self.content = [w for w in model.title_vocab[150:6000] if w.isalpha() and w.islower()
                        and len(w) >= 4]

    def title(self, k: int) -> list[str]:
        at = self.title_cdf.searchsorted(self.rng.random(k) * self.title_cdf[-1], side="right")
        vocab = self.model.title_vocab
        return [vocab[min(i, len(vocab) - 1)] for i in at.tolist()]

    def topic(self, k: int) -> list[str]:
        at = self.rng.choice(len(self.content), k, replace=False)
        return [self.content[i] for i in at.tolist()]

    def summary(self, k: int) -> list[str]:
        at = self.summary_cdf.searchsorted(self.rng.random(k) * self.summary_cdf[-1],
                                           side="right")
        vocab = self.model.summary_vocab
        return [vocab[min(i, len(vocab) - 1)] for i in at.tolist()]


@dataclass
class _Event:
    """One story of a dense window: who and what it is about, and when it broke."""

    story: int
    kind: str  # dense, same-topic, small, single
    family: str | None
    names: list[str]  # the main one first
    numbers: list[str]
    angles: list[list[str]]  # its words besides names, one list for each angle of it
    start_h: float
    size: int


def _dense_outlets() -> list[str]:
    places = ("City", "County", "State", "Region", "Coast", "Valley", "Lakes", "Hills",
              "Plains", "Harbour")
    return [f"{s} {p}" for s, p in itertools.product(_source_names(), places)][:DENSE_OUTLETS]


def _dense_events(rng: Any, words: _Words, n: int, hours: float) -> list[_Event]:
    """The stories of an n-item window: dense ones of DENSE_STORY items, same-day events of
    one topic (_FAMILIES), small stories of 2-12 items, the rest single items."""
    import numpy as np

    pool = _names(rng, max(1000, n // 4))
    name_p = 1.0 / np.arange(1, len(pool) + 1) ** 1.05  # a few names recur, as real ones do
    name_cdf = np.cumsum(name_p / name_p.sum())

    def names(k: int) -> list[str]:
        at = name_cdf.searchsorted(rng.random(k), side="right")
        return [pool[min(i, len(pool) - 1)] for i in at.tolist()]

    def number() -> str:
        return str(int(rng.integers(2, 400)))

    events: list[_Event] = []

    def add(kind: str, size: int, family: str | None = None) -> None:
        start = float(rng.random()) * max(hours - 2.0, 1.0)
        if family is None:
            # its own words: a dense story's angles (the quake, the rescue, the aftershocks,
            # the reactions) share its names and numbers, not their other words
            angles = [words.topic(_EVENT_WORDS)
                      for _ in range(int(rng.integers(*_ANGLES)) if kind == "dense" else 1)]
            who = names(int(rng.integers(3, 5)))
            numbers = [number()] if rng.random() < 0.5 else []
        else:
            angles = [_FAMILIES[family].split()]
            who = [_names(rng, 1)[0], *names(1)]  # its own place, company, film; and another
            numbers = {"quake": [_MAGNITUDES[int(rng.integers(len(_MAGNITUDES)))]],
                       "markets": [f"{rng.uniform(0.1, 3.0):.1f}"],
                       "earnings": [f"{rng.uniform(0.5, 40):.1f}"]}.get(family, [])
            if family == "festival":  # every film of the window's festival: its name
                who.insert(1, festival)
        events.append(_Event(len(events), kind, family, who, numbers, angles, start, size))

    festival = _names(rng, 1)[0]
    targets = {kind: round(share * n) for kind, share in DENSE_SHARES}
    total = 0
    while total + DENSE_STORY[0] <= targets["dense"]:
        size = min(int(rng.integers(DENSE_STORY[0], DENSE_STORY[1] + 1)),
                   targets["dense"] - total)
        add("dense", size)
        total += size
    done, family_names = 0, list(_FAMILIES)
    while done < targets["same-topic"]:
        size = min(int(rng.integers(3, 31)), targets["same-topic"] - done)
        add("same-topic", size, family_names[len(events) % len(family_names)])
        done += size
    total += done
    done = 0
    while done < targets["small"]:
        size = min(int(rng.integers(2, 13)), targets["small"] - done)
        add("small", size)
        done += size
    total += done
    for _ in range(n - total):
        add("single", 1)
    return events


def _headline(rng: Any, words: _Words, event: _Event) -> tuple[str, str]:
    """An outlet's own title and summary for an event, on one of its angles (the first most
    often): a few of the event's names and numbers, some of the angle's words, and otherwise
    words of its own."""
    import numpy as np

    angle = min(int(rng.geometric(0.5)) - 1, len(event.angles) - 1)
    topic_words = event.angles[angle]
    who = [name for k, name in enumerate(event.names)
           if rng.random() < (_HEAD_NAME_P if k == 0 else _OTHER_NAME_P)]
    who = who or [event.names[int(rng.integers(len(event.names)))]]
    # an event's words are not used alike: "dies" in most headlines, "tributes" in some
    usage = 1.0 / np.arange(1, len(topic_words) + 1) ** _WORD_ZIPF
    usage /= usage.sum()
    topic = [topic_words[i] for i in rng.choice(
        len(topic_words), int(rng.integers(*_TITLE_TOPIC)), replace=False, p=usage).tolist()]
    numbers = list(event.numbers[:1]) if event.numbers and rng.random() < 0.5 else []
    title = words.title(max(2, int(rng.integers(6, 12)) - len(who) - len(topic) - len(numbers)))
    for word in (*who, *topic, *numbers):
        title.insert(int(rng.integers(len(title) + 1)), word)
    if event.family == "markets" and rng.random() < 0.5:  # a market report's usual opening
        title[:0] = [("Stocks", "Shares")[int(rng.integers(2))],
                     ("rise", "fall", "edge", "slip", "steady")[int(rng.integers(5))]]
    title[0] = title[0][:1].upper() + title[0][1:]
    if rng.random() < _NO_LEDE:
        return " ".join(title), ""  # a feed that gives no summary
    summary = words.summary(int(rng.integers(*_LEDE_FILL)))
    extra = [name for name in event.names if rng.random() < _LEDE_NAME_P]
    extra += [topic_words[i] for i in rng.choice(len(topic_words), _LEDE_TOPIC, replace=False,
                                                 p=usage).tolist()]
    extra += event.numbers if rng.random() < 0.5 else []
    for word in extra:
        summary.insert(int(rng.integers(1, len(summary) + 1)), word)
    summary[0] = summary[0][:1].upper() + summary[0][1:]
    return " ".join(title), " ".join(summary) + "."


def dense_window(model: WordModel, n: int, seed: int = SEED
                 ) -> tuple[list[Any], list[int], list[_Event]]:
    """A real-like dense window of `n` items, sorted by time, each item's story number and the
    stories. DENSE_HOURS x n / DENSE_BASE hours long, DENSE_OUTLETS outlets. Of a story's
    items after its first: word-for-word copies (_WIRE_COPIES of a dense story's items carry
    one of its two to four agency versions, the first most; _COPIES of another story's copy
    an earlier item), _UPDATES "UPDATE n-" rewrites of an earlier item by its outlet (a
    sentence added; the number changed in a third of them, as a death toll rises), _EDITS
    copies with two title words changed, the rest each outlet's own headline."""
    import numpy as np

    from digest.models import Item

    rng = np.random.default_rng(seed + n)
    words = _Words(model, rng)
    hours = DENSE_HOURS * n / DENSE_BASE
    outlets = _dense_outlets()
    hosts = [o.lower().replace(" ", "") + ".example" for o in outlets]
    start = datetime(2026, 11, 20, tzinfo=UTC)
    events = _dense_events(rng, words, n, hours)
    items: list[Any] = []
    story_of: list[int] = []
    for event in events:
        dense = event.kind == "dense"
        mean_h = 5.0 if dense else 3.0
        # a dense story's agency versions, each carried word for word by many outlets (the
        # first most)
        wires = [_headline(rng, words, event) for _ in range(int(rng.integers(2, 5)) * dense)]
        wire_cdf = np.cumsum(1.0 / np.arange(1, len(wires) + 1))
        copies = _WIRE_COPIES if dense else _COPIES
        told: list[tuple[str, str, int]] = []  # (title, summary, outlet) of what it published
        for k in range(event.size):
            src = int(rng.integers(len(outlets)))
            roll = rng.random()
            if k > 0 and _UPDATES + _EDITS <= roll < _UPDATES + _EDITS + copies:
                if wires:
                    title, summary = wires[int(wire_cdf.searchsorted(
                        rng.random() * wire_cdf[-1], side="right"))]
                else:
                    title, summary, _ = told[int(rng.integers(len(told)))]
            elif k == 0 or roll >= _UPDATES + _EDITS:
                title, summary = _headline(rng, words, event)
            else:
                title, summary, first = told[int(rng.integers(len(told)))]
                if roll < _UPDATES:
                    src = first
                    title = f"UPDATE {int(rng.integers(1, 4))}-{title}"
                    summary = f"{summary} {' '.join(words.summary(12))}."
                    if event.numbers and rng.random() < 1 / 3:
                        title = title.replace(event.numbers[0], str(int(rng.integers(2, 400))))
                else:
                    title_w = title.split()
                    for _ in range(2):
                        title_w[int(rng.integers(len(title_w)))] = words.title(1)[0]
                    title = " ".join(title_w)
            offset = float(rng.exponential(mean_h))
            at = event.start_h + offset
            if at > hours:
                at = event.start_h + float(rng.random()) * (hours - event.start_h)
            published = start + timedelta(hours=at)
            told.append((title, summary, src))
            slug = "-".join(w.lower() for w in title.split()[:6])
            key = len(items)
            items.append(Item(
                feed_url=f"https://{hosts[src]}/feed", key=f"d{key}",
                url=f"https://{hosts[src]}/news/{slug}-{key}", title=title, summary=summary,
                published=published, source=outlets[src], id=key + 1, first_seen=published))
            story_of.append(event.story)
    order = sorted(range(len(items)), key=lambda i: (items[i].published, i))
    return [items[i] for i in order], [story_of[i] for i in order], events


def dense_quality(stories: Sequence[Any], items: Sequence[Any], story_of: Sequence[int],
                  events: Sequence[_Event]) -> dict[str, Any]:
    """Pairwise and B-cubed scores against the planted stories; wrong pairs between different
    events of one topic; how many pieces each dense story ended in."""
    truth = {it.key: s for it, s in zip(items, story_of, strict=True)}
    size_of = Counter(story_of)
    true_pairs = sum(c * (c - 1) // 2 for c in size_of.values())
    found = correct = same_topic_wrong = 0
    b_precision = b_recall = 0.0
    pieces: Counter[int] = Counter()
    largest: dict[int, int] = {}
    for story in stories:
        m = len(story.items)
        found += m * (m - 1) // 2
        counts = Counter(truth[i.key] for i in story.items)
        correct += sum(c * (c - 1) // 2 for c in counts.values())
        for s, c in counts.items():
            b_precision += c * c / m
            b_recall += c * c / size_of[s]
            pieces[s] += 1
            largest[s] = max(largest.get(s, 0), c)
        by_family: Counter[str] = Counter()  # pairs of one topic, less those of one event
        for s, c in counts.items():
            family = events[s].family
            if family:
                by_family[family] += c
                same_topic_wrong -= c * (c - 1) // 2
        same_topic_wrong += sum(c * (c - 1) // 2 for c in by_family.values())
    n = len(items)
    bp, br = b_precision / n, b_recall / n
    dense = [e.story for e in events if e.kind == "dense"]
    return {
        "true_pairs": true_pairs, "found_pairs": found, "correct_pairs": correct,
        "precision": round(correct / found, 4) if found else 1.0,
        "recall": round(correct / true_pairs, 4) if true_pairs else 1.0,
        "bcubed_precision": round(bp, 4), "bcubed_recall": round(br, 4),
        "bcubed_f1": round(2 * bp * br / (bp + br), 4) if bp + br else 0.0,
        "same_topic_wrong_pairs": same_topic_wrong,
        "dense_stories": len(dense),
        "dense_pieces_mean": round(sum(pieces[s] for s in dense) / len(dense), 1) if dense
        else 0.0,
        "dense_in_largest_piece": round(sum(largest[s] / size_of[s] for s in dense)
                                        / len(dense), 3) if dense else 0.0,
    }


def _rss_mb(field: str) -> float:
    """VmRSS or VmHWM (the high-water mark) of this process, from /proc (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


DENSE_CHILD_TIMEOUT_S = 900.0  # one size's runs; a hang is reported, never waited on forever


def _reset_rss_peak() -> bool:
    """Start VmHWM again from the current RSS (Linux: writing 5 to clear_refs)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _counted_run(items: Sequence[Any]) -> dict[str, int]:
    """One untimed cluster_stories run with Comparison.score and .verdict wrapped to count
    calls: verdict is verification (one score each); every other score is a join check's.
    Also counts Comparison.join_ok calls and, when neardup has a Joiner (group profiles), its
    own counters: profile comparisons made and the word counts they read."""
    from digest import neardup
    from digest.dedupe import cluster_stories
    from digest.gcpause import gc_paused

    counts = Counter[str]()
    cls = neardup.Comparison
    originals = {name: getattr(cls, name) for name in ("score", "verdict", "join_ok")}

    def wrap(name: str) -> Callable[..., Any]:
        original = originals[name]

        def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
            counts[name] += 1
            return original(self, *args, **kwargs)
        return counted

    joiner = getattr(neardup, "Joiner", None)
    made: list[Any] = []
    init = joiner.__init__ if joiner else None

    def remember(self: Any, *args: Any, **kwargs: Any) -> None:
        assert init is not None
        init(self, *args, **kwargs)
        made.append(self)

    try:
        for name in originals:
            setattr(cls, name, wrap(name))
        if joiner:
            joiner.__init__ = remember
        with gc_paused():
            cluster_stories(items)
    finally:
        for name, original in originals.items():
            setattr(cls, name, original)
        if joiner:
            joiner.__init__ = init
    out = {"verify_scores": counts["verdict"],
           "join_scores": counts["score"] - counts["verdict"],
           "join_ok_calls": counts["join_ok"]}
    if made:
        out |= {"join_checks": made[-1].checks, "join_words": made[-1].words_read}
    return out


def _dense_blocking(items: Sequence[Any], story_of: Sequence[int],
                    events: Sequence[_Event]) -> dict[str, Any]:
    """One pass through the steps before joining, timed apart (the cycle collector paused, as
    in the timed runs): text_of, candidate_pairs, verification; and how many candidate and
    verified pairs lie inside one dense story."""
    from digest import neardup
    from digest.gcpause import gc_paused

    with gc_paused():
        t0 = time.perf_counter()
        texts = [neardup.text_of(i.title, i.summary, i.when) for i in items]
        t1 = time.perf_counter()
        comparison = neardup.Comparison(texts)
        arrays = getattr(neardup, "_candidates", None)  # the pairs in the order matches reads
        if arrays is None:
            pairs = sorted(neardup.candidate_pairs(texts, comparison.df, comparison.weight))
        else:
            first, second = arrays(texts, comparison.df, comparison.weight)
            pairs = list(zip(first.tolist(), second.tolist(), strict=True))
        t2 = time.perf_counter()
        verified = [(a, b) for a, b in pairs if comparison.verdict(a, b)[1] is None]
        t3 = time.perf_counter()
    dense = {e.story for e in events if e.kind == "dense"}
    inside = Counter(story_of[a] for a, b in pairs if story_of[a] == story_of[b]
                     and story_of[a] in dense)
    inside_verified = Counter(story_of[a] for a, b in verified if story_of[a] == story_of[b]
                              and story_of[a] in dense)
    sizes = Counter(story_of)
    worst = max(inside, key=lambda s: (inside[s] / sizes[s], s)) if inside else None
    return {
        "text_of_s": round(t1 - t0, 3), "candidates_s": round(t2 - t1, 3),
        "verify_s": round(t3 - t2, 3), "candidate_pairs": len(pairs), "verified": len(verified),
        "dense_candidate_pairs": sum(inside.values()),
        "dense_verified": sum(inside_verified.values()),
        "dense_items": sum(sizes[s] for s in dense),
        "worst_story": None if worst is None else {
            "items": sizes[worst], "candidate_pairs": inside[worst],
            "verified": inside_verified[worst], "all_pairs": sizes[worst] * (sizes[worst] - 1)
            // 2},
    }


def dense_child(n: int, runs: int, traced: bool) -> dict[str, Any]:
    """Everything measured on one dense window, in this (fresh) process: run by dense_bench
    in a subprocess per size, so that each window's memory is its own."""
    import tracemalloc

    from digest import neardup
    from digest.dedupe import cluster_stories
    from digest.gcpause import gc_paused

    outcomes = load_corpus(lambda _: None)
    if outcomes is None:
        return {"skipped": f"no corpus at {CORPUS}"}
    model, _ = word_model(outcomes)
    del outcomes
    t0 = time.perf_counter()
    items, story_of, events = dense_window(model, n)
    made_s = time.perf_counter() - t0
    del model
    gc.collect()
    rss_before = _rss_mb("VmRSS")
    times: list[float] = []
    stories: list[Any] = []
    hwm = 0.0
    for _ in range(runs):
        stories = []  # the run before's stories are not held during this one
        gc.collect()
        peak_reset = _reset_rss_peak()
        t0 = time.perf_counter()
        with gc_paused():  # as Editions.build clusters
            stories, _ = cluster_stories(items)
        times.append(time.perf_counter() - t0)
        hwm = max(hwm, _rss_mb("VmHWM"))
    texts = [neardup.text_of(i.title, i.summary, i.when) for i in items]
    gc.collect()
    t0 = time.perf_counter()
    with gc_paused():
        cluster_stories(items, texts=texts)  # as a build does: words worked out at ingest
    given_s = time.perf_counter() - t0
    del texts
    traced_mb = None
    if traced:
        gc.collect()
        tracemalloc.start()
        with gc_paused():
            cluster_stories(items)
        traced_mb = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    sizes = Counter(story_of)
    return {
        "items": n, "hours": round(DENSE_HOURS * n / DENSE_BASE, 1),
        "generated_s": round(made_s, 1),
        "stories_planted": len(events),
        "dense_stories": sum(e.kind == "dense" for e in events),
        "largest_story": max(sizes.values()),
        "runs": [round(t, 3) for t in times], "best_s": round(min(times), 3),
        "texts_given_s": round(given_s, 3),
        "rss_before_mb": round(rss_before, 1),
        "rss_peak_mb": round(hwm, 1) if peak_reset else None,
        "traced_peak_mb": None if traced_mb is None else round(traced_mb, 1),
        "counts": _counted_run(items),
        "blocking": _dense_blocking(items, story_of, events),
        "quality": dense_quality(stories, items, story_of, events),
    }


def dense_bench(sizes: Sequence[int] = DENSE_SIZES, traced: bool = True,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Each size's dense_child in a fresh subprocess, side by side, and the bars."""
    import subprocess

    rows = []
    for n in sizes:
        runs = 3 if n <= 10_000 else 2
        log(f"  dense window of {n:,} items: cluster_stories x {runs} in a subprocess")
        done = subprocess.run(
            [sys.executable, os.fspath(Path(__file__).resolve()), "--dense-child", str(n),
             "--dense-runs", str(runs), *([] if traced else ["--no-tracemalloc"])],
            capture_output=True, text=True, check=False, cwd=REPO,
            timeout=DENSE_CHILD_TIMEOUT_S)
        if done.returncode != 0:
            raise RuntimeError(f"dense child {n} failed:\n{done.stderr[-3000:]}")
        row = json.loads(done.stdout.strip().splitlines()[-1])
        if "skipped" in row:
            return {"skipped": row["skipped"]}
        rows.append(row)
    return {"rows": rows, "bars": dense_bars(rows)}


def dense_bars(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's bars against what was measured (those whose windows ran)."""
    by_n = {r["items"]: r for r in rows}
    bars = []
    if DENSE_BASE in by_n:
        bars.append({"bar": f"{DENSE_BASE:,}-item dense window < {DENSE_BAR_BASE_S:g} s",
                     "value": by_n[DENSE_BASE]["best_s"], "unit": "s",
                     "ok": by_n[DENSE_BASE]["best_s"] < DENSE_BAR_BASE_S})
    if 50_000 in by_n:
        bars.append({"bar": f"50,000 items < {DENSE_BAR_50K_S:g} s",
                     "value": by_n[50_000]["best_s"], "unit": "s",
                     "ok": by_n[50_000]["best_s"] < DENSE_BAR_50K_S})
    peaks = [r["rss_peak_mb"] for r in rows if r["rss_peak_mb"] is not None]
    if peaks:
        bars.append({"bar": f"memory < {DENSE_BAR_MB:g} MB (largest RSS high-water while "
                            "clustering, whole process)",
                     "value": max(peaks), "unit": "MB", "ok": max(peaks) < DENSE_BAR_MB})
    if 10_000 in by_n and 50_000 in by_n:
        growth = by_n[50_000]["best_s"] / by_n[10_000]["best_s"]
        bars.append({"bar": f"growth 10k -> 50k <= {DENSE_BAR_GROWTH:g}x",
                     "value": round(growth, 2), "unit": "x", "ok": growth <= DENSE_BAR_GROWTH})
    return bars


def print_dense(result: dict[str, Any]) -> None:
    print("\n  5. Dense windows (issue 23): stories of 100-300 items, same-day events of one "
          "topic")
    if "skipped" in result:
        print(f"    skipped: {result['skipped']}")
        return
    print(f"    {DENSE_OUTLETS:,} outlets; {DENSE_HOURS:g} h per {DENSE_BASE:,} items; each "
          "window in its own process; best of 3 (2 at 50k), cycle collector paused")
    print(f"    {'items':>7} {'hours':>6} {'best s':>7} {'runs s':<20} {'texts given':>11} "
          f"{'text_of':>7} {'cands':>6} {'verify':>6} {'join+rest':>9} {'RSS before':>10} "
          f"{'RSS peak':>8} {'traced':>7}")
    for r in result["rows"]:
        b = r["blocking"]
        rest = r["best_s"] - b["text_of_s"] - b["candidates_s"] - b["verify_s"]
        runs = ", ".join(f"{t:.2f}" for t in r["runs"])
        peak = "n/a" if r["rss_peak_mb"] is None else f"{r['rss_peak_mb']:.0f}"
        traced = "n/a" if r["traced_peak_mb"] is None else f"{r['traced_peak_mb']:.0f}"
        print(f"    {r['items']:>7,} {r['hours']:>6.1f} {r['best_s']:>7.2f} {runs:<20} "
              f"{r['texts_given_s']:>11.2f} {b['text_of_s']:>7.2f} {b['candidates_s']:>6.2f} "
              f"{b['verify_s']:>6.2f} {rest:>9.2f} {r['rss_before_mb']:>10.0f} {peak:>8} "
              f"{traced:>7}")
    print("    (s; MB. texts given: as Editions.build calls it, words worked out at ingest. "
          "text_of / cands / verify: a separate pass; join+rest = best - those, an estimate. "
          "RSS peak: VmHWM of the process while clustering; traced: tracemalloc's peak of one "
          "more run)")
    print("    pair scores and blocking (an untimed run with Comparison.score counted):")
    for r in result["rows"]:
        c, b = r["counts"], r["blocking"]
        profile = (f", {c['join_checks']:,} profile checks reading {c['join_words']:,} word "
                   "entries" if "join_checks" in c else "")
        print(f"    {r['items']:>7,}: pair scores {c['verify_scores'] + c['join_scores']:,} "
              f"(verification {c['verify_scores']:,}, joining {c['join_scores']:,}; "
              f"join_ok calls {c['join_ok_calls']:,}{profile})")
        w = b["worst_story"]
        worst = (f"; the densest in candidates: {w['items']} items, {w['candidate_pairs']:,} "
                 f"candidate pairs of {w['all_pairs']:,}, {w['verified']:,} verified"
                 if w else "")
        print(f"             candidate pairs {b['candidate_pairs']:,} (inside dense stories "
              f"{b['dense_candidate_pairs']:,} for {b['dense_items']:,} items), verified "
              f"{b['verified']:,} ({b['dense_verified']:,}){worst}")
    print("    quality against the planted stories:")
    for r in result["rows"]:
        q = r["quality"]
        print(f"    {r['items']:>7,}: {r['stories_planted']:,} stories ({r['dense_stories']} "
              f"dense, largest {r['largest_story']}); pairwise P {q['precision']:.3f} R "
              f"{q['recall']:.3f}; B-cubed P {q['bcubed_precision']:.3f} R "
              f"{q['bcubed_recall']:.3f} F1 {q['bcubed_f1']:.3f}; wrong pairs between "
              f"same-topic events {q['same_topic_wrong_pairs']:,}; a dense story in "
              f"{q['dense_pieces_mean']:.1f} pieces, {q['dense_in_largest_piece']:.0%} of it "
              "in the largest")
    print("    BARS:")
    for bar in result["bars"]:
        print(f"      {'PASS' if bar['ok'] else 'FAIL'}  {bar['bar']}: {bar['value']:g} "
              f"{bar['unit']}")


# --- the benchmark ---


def bench(sizes: Sequence[int] = SIZES, pair_sample: int = PAIR_SAMPLE, pairs_n: int = PAIRS_N,
          log: Callable[[str], None] = print,
          dense_sizes: Sequence[int] = DENSE_SIZES) -> dict[str, Any]:
    import numpy as np

    result: dict[str, Any] = {"setup": {"corpus": None, "seed": SEED, "numpy": np.__version__}}
    outcomes = load_corpus(log)
    if outcomes is not None:
        model, english = word_model(outcomes)
        result["setup"] |= {
            "corpus": str(CORPUS), "files": len(outcomes), "english_files": len(english),
            "tokens": model.tokens, "title_vocabulary": len(model.title_vocab),
            "summary_vocabulary": len(model.summary_vocab),
            "duplicate_share": DUPLICATE_SHARE, "sources": SOURCES, "days": WINDOW_DAYS,
        }
        windows: dict[int, tuple[list[Any], list[int]]] = {}
        rows = []
        peer_stories: list[Any] = []
        peer_best = None
        for size in sorted(set(sizes) | {pairs_n}):
            t0 = time.perf_counter()
            items, story_of = synthetic_window(model, size)
            made = time.perf_counter() - t0
            if size not in sizes:  # only the peer's window: time it, no row
                times, stories = time_cluster(items, runs_for(size))
                peer_best, peer_stories, windows[size] = min(times), stories, (items, story_of)
                continue
            log(f"  {size:,} items (generated in {made:.1f} s): cluster_stories x "
                f"{runs_for(size)}")
            times, stories = time_cluster(items, runs_for(size))
            best = min(times)
            if size == pairs_n:
                peer_best, peer_stories, windows[size] = best, stories, (items, story_of)
            rows.append({
                "items": size, "runs": [round(t, 3) for t in times], "best_s": round(best, 3),
                "us_per_item": round(best / size * 1e6, 1),
                "peak_rss_mb": round(_peak_rss_mb(), 1),
                "breakdown": _try_breakdown(items, log),
                "synthetic": synthetic_quality(stories, items, story_of),
            })
            del items, story_of, stories
            gc.collect()
        growth = {}
        by_size = {r["items"]: r["best_s"] for r in rows}
        if len(by_size) > 1:
            lo, hi = min(by_size), max(by_size)
            growth = {"from": lo, "to": hi, "items_ratio": round(hi / lo, 2),
                      "time_ratio": round(by_size[hi] / by_size[lo], 2)}
        result["cost"] = {"rows": rows, "growth": growth}
        log(f"  all-pairs peer at {pairs_n:,} items ({pair_sample:,} sampled pairs)")
        items, _ = windows[pairs_n]
        assert peer_best is not None
        result["all_pairs"] = all_pairs(items, peer_stories, peer_best, pair_sample, log)
        del windows, items, peer_stories
        gc.collect()
    else:
        result["skipped"] = f"no corpus at {CORPUS}"
    log("  labelled sets")
    result["labelled"] = labelled()
    if outcomes is not None:
        log("  real same-day feeds")
        result["real"] = real_windows(outcomes)
        if dense_sizes:
            result["dense"] = dense_bench(dense_sizes, log=log)
    result["peak_rss_mb"] = round(_peak_rss_mb(), 1)
    return result


def _short(text: str, width: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."


def print_report(result: dict[str, Any]) -> None:
    s = result["setup"]
    print("\nStory clustering (digest.dedupe.cluster_stories)")
    if "cost" in result:
        print(f"  synthetic windows: word model of {s['english_files']} English feeds of "
              f"{s['files']} corpus files ({s['tokens']:,} words; vocabulary "
              f"{s['title_vocabulary']:,} in titles, {s['summary_vocabulary']:,} in summaries), "
              f"{s['sources']} sources, "
              f"{s['days']} days, {s['duplicate_share']:.0%} duplicates, seed {s['seed']}")
        print("\n  1. Cost of clustering a window (best of 3 at 10k, of 2 above)")
        print(f"  {'items':>7} {'best s':>7} {'us/item':>8} {'runs s':<22} {'text_of':>7} "
              f"{'cands s':>7} {'verify':>7} {'cand pairs':>10} {'verified':>8} "
              f"{'peak RSS MB':>11}")
        for r in result["cost"]["rows"]:
            b = r["breakdown"]
            runs = ", ".join(f"{t:.2f}" for t in r["runs"])
            if "error" in b:
                print(f"  {r['items']:>7,} {r['best_s']:>7.2f} {r['us_per_item']:>8.1f} {runs:<22} "
                      f"(breakdown unavailable: {b['error']})")
                continue
            print(f"  {r['items']:>7,} {r['best_s']:>7.2f} {r['us_per_item']:>8.1f} {runs:<22} "
                  f"{b['text_of_s']:>7.2f} {b['candidates_s']:>7.2f} {b['verify_s']:>7.2f} "
                  f"{b['candidate_pairs']:>10,} {b['verified']:>8,} {r['peak_rss_mb']:>11.1f}")
        print("  (text_of / cands / verify: one separate pass through near_duplicates' steps)")
        print("  synthetic ground truth (pairs of items; planted = one original + its copies):")
        for r in result["cost"]["rows"]:
            q = r["synthetic"]
            rec = q["correct_pairs"] / q["true_pairs"] if q["true_pairs"] else 1.0
            print(f"    {r['items']:>7,}: {q['stories_planted']:,} stories planted, "
                  f"{q['stories_found']:,} found; planted pairs merged {q['correct_pairs']:,}/"
                  f"{q['true_pairs']:,} ({rec:.1%}); wrong pairs {q['wrong_pairs']:,}")
        g = result["cost"]["growth"]
        if g:
            print(f"  GROWTH: {g['to']:,} / {g['from']:,} items ({g['items_ratio']}x the items): "
                  f"{g['time_ratio']:.2f}x the time  (target <= 6x for 5x; 50k target < 15 s, "
                  "<= 300 us/item)")

        a = result["all_pairs"]
        print(f"\n  2. Against all-pairs comparison at {a['n']:,} items "
              f"({a['total_pairs']:,} pairs)")
        print(f"    cluster_stories (best of {runs_for(a['n'])})        "
              f"{a['cluster_stories_s']:>9.2f} s")
        print(f"    all-pairs Comparison.verdict        {a['similarity_all_pairs_s']:>9.1f} s  "
              f"EXTRAPOLATED linearly from {a['sampled_pairs']:,} random pairs "
              f"({a['similarity_sample_s']:.2f} s, {a['similarity_us_per_pair']:.2f} us/pair)")
        extra = (f"; {a['jaccard_pairs_at_0.5']:,} pairs >= 0.5"
                 if a["jaccard_pairs_at_0.5"] is not None else "")
        print(f"    all-pairs plain Jaccard (words)     {a['jaccard_all_pairs_s']:>9.1f} s  "
              f"{a['jaccard_how'].upper()} (sample: {a['jaccard_sample_s']:.2f} s){extra}")
        print("    RATIOS (time for the window):")
        for name, value in a["ratios"].items():
            print(f"      {name:<62} {value:7.1f}x  (target >= 20x)")
        v, t = a["sample_verified_pairs"], a["sample_verified_in_one_story"]
        print(f"    blocking recall on the sample: {t} of {v} sampled pairs that pass "
              f"verdict() are in one story from cluster_stories"
              + (f" ({t / v:.1%})" if v else ""))
    else:
        print(f"  synthetic windows and real feeds: skipped ({result.get('skipped')})")

    print("\n  3. Quality on the labelled sets (pairwise)")
    for name, q in result["labelled"].items():
        kinds = ", ".join(f"{k} {f}/{t}" for k, (f, t) in q["recall_by_kind"].items())
        print(f"    {name:<8} {q['items']:>4} items  true pairs {q['true_pairs']:>4}  found "
              f"{q['found_pairs']:>4}  precision {q['precision']:.3f}  recall {q['recall']:.3f}"
              f"  wrong merges {q['wrong_merges']}")
        if q["wrong_across_sets"] is not None:
            print(f"             (one window; IDF over both sets; {q['wrong_across_sets']} of the "
                  "wrong merges join a dev item to a holdout item: the sets were written "
                  "apart and tell rival versions of some events)")
        print(f"             recall by kind: {kinds}")
        for line in q["wrong_examples"]:
            print(f"             wrong: {_short(line, 150)}")

    if "real" in result:
        print("\n  4. Clusters in real same-day feeds")
        for label, w in result["real"].items():
            print(f"    {label}: {len(w['files'])} files, {w['items']} items -> {w['stories']} "
                  f"stories, {w['multi_item_clusters']} multi-item clusters "
                  f"({w['seconds'] * 1000:.0f} ms)")
            for k, members in enumerate(w["clusters"], 1):
                print(f"      cluster {k} ({len(members)} items)")
                for m in members:
                    print(f"        {_short(m)}")
    if "dense" in result:
        print_dense(result["dense"])
    print(f"\n  peak RSS of this process so far: {result['peak_rss_mb']:.0f} MB (ru_maxrss; from "
          "bench/run.py it includes the benchmarks before this one)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)),
                        help="window sizes to time, comma-separated (default %(default)s)")
    parser.add_argument("--pair-sample", type=int, default=PAIR_SAMPLE, metavar="N",
                        help="pairs the all-pairs similarity peer is timed on")
    parser.add_argument("--pairs-n", type=int, default=PAIRS_N, metavar="N",
                        help="window size of the all-pairs comparison")
    parser.add_argument("--dense", action="store_true",
                        help="only the dense windows (section 5; about a minute)")
    parser.add_argument("--dense-sizes", default=",".join(map(str, DENSE_SIZES)),
                        help="dense window sizes, comma-separated (default %(default)s; "
                             "empty: none)")
    parser.add_argument("--no-tracemalloc", action="store_true",
                        help="dense windows: skip the traced run (its peak memory)")
    parser.add_argument("--dense-child", type=int, metavar="N", help=argparse.SUPPRESS)
    parser.add_argument("--dense-runs", type=int, default=3, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the results here")
    args = parser.parse_args(argv)
    try:
        sizes = [int(x) for x in args.sizes.split(",") if x.strip()]
        dense_sizes = [int(x) for x in args.dense_sizes.split(",") if x.strip()]
    except ValueError:
        parser.error("--sizes and --dense-sizes take comma-separated integers")
    if any(not 100 <= n <= 200_000 for n in dense_sizes):
        parser.error("need --dense-sizes in 100..200000")
    if args.dense_child is not None:  # one window, measured in this process (dense_bench)
        sys.path.insert(0, os.fspath(REPO))
        print(json.dumps(dense_child(args.dense_child, args.dense_runs,
                                     not args.no_tracemalloc)))
        return 0
    if args.dense:
        sys.path.insert(0, os.fspath(REPO))
        result = {"dense": dense_bench(dense_sizes, not args.no_tracemalloc)}
        print_dense(result["dense"])
        if args.json:
            args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        return 0
    if not sizes or min(sizes) < 100 or max(sizes) > 200_000 or not (
            100 <= args.pairs_n <= 50_000 and 1_000 <= args.pair_sample <= 20_000_000):
        parser.error("need sizes in 100..200000, --pairs-n in 100..50000 and --pair-sample in "
                     "1000..20000000")
    sys.path.insert(0, os.fspath(REPO))
    result = bench(sizes, args.pair_sample, args.pairs_n, dense_sizes=dense_sizes)
    print_report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
