"""words: a story's text cut into words once, for near-duplicates and sections alike."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest import classify, features, neardup, words
from digest.lexicon import section_lexicon
from digest.models import Item
from digest.words import BREAK, cut, scan


def texts(text: str) -> list[str]:
    """The words as sections read them, "|" where a sentence or part starts."""
    return ["|" if w is BREAK else w.text for w in scan(text)]


@pytest.mark.parametrize(("text", "expected"), [
    ("Kenya-based AT&T hires", ["Kenya-based", "AT&T", "hires"]),  # joined words stay whole
    ("Kenya's and Kenya’s", ["Kenya", "and", "Kenya"]),  # possessives
    ("U.K. and E.U. talks; the U.S.'s envoy", ["UK", "and", "EU", "talks", "|", "the", "US",
                                                 "s", "envoy"]),  # dotted abbreviations
    ("the U.S. Senate votes", ["the", "US", "Senate", "votes"]),  # no sentence ends at "U.S."
    ("rose 2.1% to 1,000 jobs", ["rose", "2.1", "to", "1,000", "jobs"]),  # numbers
    ("Node.js 22 ships. Next", ["Node.js", "22", "ships", "|", "Next"]),
    ("NAIROBI (Reuters) - Police said: no", ["NAIROBI", "|", "Reuters", "|", "Police", "said",
                                             "|", "no"]),
    ("“Quoted” — and [so]", ["|", "Quoted", "|", "|", "and", "|", "so"]),
    ("", []),
])
def test_scan_finds_words_and_where_sentences_start(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_a_word_knows_its_folded_form_stems_and_names() -> None:
    ivory, based = scan("Côte Kenya-based")
    assert (ivory.folded, ivory.stems, ivory.names, ivory.names_first) == (
        "cote", ("cote",), ("cote",), ())  # a capital at a sentence's start is no name
    assert based.stems == ("kenya", "base") and based.names == ("kenya",)
    assert scan("7")[0].names_first == ("7",)  # a number is a name wherever it stands
    assert scan("Monday")[0].names == ()  # a calendar word is no name
    assert scan("the")[0].stems == ()  # a stop word


def test_the_same_word_is_worked_out_once_and_the_memory_is_bounded(
        monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []
    real = words._word

    def counting(token: str) -> words.Word:
        made.append(token)
        return real(token)

    monkeypatch.setattr(words, "_word", counting)
    monkeypatch.setattr(words, "_known", {})
    scan("Zanzibar Zanzibar zanzibar")
    assert made == ["Zanzibar", "zanzibar"]
    monkeypatch.setattr(words, "_KEPT", 2)
    scan("one two three four")
    assert len(words._known) <= 3


LEDE = " ".join(f"word{n}" for n in range(120))  # 869 characters


def test_cut_reads_the_dateline_and_the_lede() -> None:
    c = cut("UPDATE 2-Kenya passes bill - live", "NAIROBI (Reuters) - " + LEDE)
    assert [w.text for w in c.title] == ["Kenya", "passes", "bill"]  # desk prefix and suffix
    assert [w.text for w in c.dateline if w is not BREAK] == ["NAIROBI", "Reuters"]
    assert len(c.lede_text) <= words.LEDE_CHARS and not c.lede_text.endswith(" ")
    assert LEDE.startswith(c.lede_text + " ")  # ends at a whole word
    assert [w.text for w in c.lede] == c.lede_text.split()
    # sections read the dateline too, and nothing past the lede
    assert [w.text for w in c.summary if w is not BREAK] == ["NAIROBI", "Reuters",
                                                             *c.lede_text.split()]


def test_a_summary_without_a_dateline_or_shorter_than_the_lede() -> None:
    c = cut("Kenya votes", "Polls open at dawn.")
    assert c.dateline == [] and c.lede_text == "Polls open at dawn."
    assert c.summary is c.lede


def test_one_tokenisation_pass_serves_duplicates_and_sections(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Working out an item's features cuts its text once: neither the near-duplicate words nor
    the section terms scan it again (issue 23)."""
    analyser = features.Analyser(section_lexicon([]))
    item = Item(feed_url="https://f.example/feed", key="k", url="https://f.example/a",
                title="Kenya's U.K. envoy meets Ruto", summary="NAIROBI (Reuters) - " + LEDE,
                published=datetime(2026, 11, 24, tzinfo=UTC))
    scanned: list[str] = []
    real = words.scan

    def counting(text: str, *, breaks: bool = True) -> list[words.Word]:
        scanned.append(text)
        return real(text, breaks=breaks)

    monkeypatch.setattr(words, "scan", counting)
    got = analyser.analyse(item)
    assert len(scanned) == 3  # title, dateline, lede: each once
    assert sum(map(len, scanned)) <= len(item.title) + words.LEDE_CHARS + 20
    one = cut(item.title, item.summary)
    scanned.clear()
    assert neardup.text_from(one, item.title, item.when) == got.text
    assert classify.found_in(one, analyser.lexicon) == got.found
    assert scanned == []  # both read the words they were given
