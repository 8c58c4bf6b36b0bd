"""Sectioning scored on the hand-labelled sets (tests/data/sections/, 340+ items).

Issue 5's targets: accuracy >= 0.90 and no section below 0.85 precision, with the shipped
feeds.yaml sections (built-in word lists plus keywords). `make bench` prints the figures.
"""

from __future__ import annotations

import pytest

from labelled_sections import LABELS, SETS, default_lexicon, load, score


@pytest.mark.parametrize("name", SETS)
def test_labelled_set_is_big_and_has_hard_cases(name: str) -> None:
    items = load(name)
    assert len(items) >= 150
    assert {i.section for i in items} == set(LABELS)
    assert sum(i.hard for i in items) >= 30


@pytest.mark.parametrize("name", SETS)
def test_accuracy_and_precision_per_section(name: str) -> None:
    lexicon, min_score = default_lexicon()
    result = score(load(name), lexicon, min_score)
    wrong = [f"{i.id} {i.section}->{got}: {i.story.title}" for i, got, _ in result.wrong]
    assert result.accuracy >= 0.90, wrong
    for label in LABELS:
        assert result.precision(label) >= 0.85, (label, wrong)
