"""Clustering scored on the hand-labelled story sets (tests/data/stories/, 400+ items).

The floors below sit just under what digest achieves today (dev: precision 1.000, recall
0.924; holdout: 0.973, 0.941), so a change cannot make it worse unnoticed. The issue's targets
(precision 0.99, recall 0.97) are not both met: some of another outlet's own write-ups and
live pages share too few words with the wire copy, and a few same-topic events share too many
(README "Duplicates"; `make bench` prints the figures per kind).
"""

from __future__ import annotations

import pytest

from labelled_stories import SETS, load, score

# kinds of duplicate that share a URL, a guid or nearly all their words: every pair is found
COMPLETE = ("tracking-url", "amp-url", "same-guid", "wire", "punctuation-case", "edited-title",
            "update-prefix")


@pytest.mark.parametrize("name", SETS)
def test_labelled_set_is_big_and_varied_enough(name: str) -> None:
    labelled = load(name)
    assert len(labelled.items) >= 150
    kinds = set(labelled.kind.values())
    assert {"rewrite", "live-prefix", "update-prefix", *COMPLETE} <= kinds
    assert set(labelled.negative.values()) == {"same-topic", "opposite", "follow-up", "template"}


@pytest.mark.parametrize("name", SETS)
def test_precision_and_recall_on_labelled_stories(name: str) -> None:
    result = score(load(name))
    wrong = [f"{a.title!r} + {b.title!r}" for a, b in result.wrong]
    assert result.precision >= 0.96, wrong
    assert result.recall >= 0.90
    for kind in COMPLETE:
        found, total = result.recall_by_kind[kind]
        assert found == total, kind
