"""A story's text cut into words once, for both of the build's readers of words: near-duplicates
(`neardup`: stemmed words, names) and sections (`classify`: words as written and folded).

One regular-expression pass finds the words and the places where a sentence or a headline part
starts; each distinct word is then worked out once and kept (`Word`), so that a window, whose
stories repeat their words a lot, pays for a word's folding, stemming and name test once.

A word is letters and digits joined by hyphens, apostrophes, dots or "&" ("Kenya-based",
"Node.js", "AT&T", "don't") or a number with thousands commas ("1,000"); an abbreviation
written with dots is its letters ("U.K." is "UK"). Pure functions of their arguments: no I/O,
no clock. The only importer of PyStemmer.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from dataclasses import dataclass
from typing import Any

import Stemmer

# Both readers read a summary's lede, not the whole article (README "Duplicates", "Sections").
# Sections read 600 characters until issue 23: on the real-world corpus the 280 more changed
# 27 of 2,226 items' sections, most for the worse (a video channel's links to its social
# pages made world news "tech").
LEDE_CHARS = 320

# Words (three kinds, see the module's docstring), then what starts a sentence, a clause or a
# headline part: the next word's capital says nothing of a name.
# (\w, which lets "_" into a word, finds words faster than anything that keeps it out.)
# An abbreviation's last dot ("U.S.") is part of it: no sentence ends there.
_SCAN = re.compile(r"\w+(?:[-'’.&]\w+|,\d+)*(?:(?<=\.\w)\.)?|[.!?:;](?=\s|$)|[\"“”(\[|–—]|\s-\s")
_WORDS_ONLY = re.compile(r"\w+(?:[-'’.&]\w+|,\d+)*(?:(?<=\.\w)\.)?")  # where no reader needs BREAK
_BREAKS = frozenset(".!?:;\"“”([|–— \t\n\r\f\v")
_DOTTED = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")
_PARTS = re.compile(r"[-&]")

_STOPWORD_TEXT = """
a about above after again against all also am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had
has have having he her here hers him his how i if in into is it its itself just me more most my
no nor not now of off on once only or other our out over own same she should so some such than
that the their them then there these they this those through to too under until up very was we
were what when where which while who whom why will with would you your says said say new after
amid over its it's s t live update updated breaking watch
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

_thread = threading.local()  # a PyStemmer stemmer must not be shared between threads


def stem(word: str) -> str:
    """Snowball English: "ships", "shipping" and "shipped" are all "ship"."""
    stemmer = getattr(_thread, "stemmer", None)
    if stemmer is None:
        stemmer = _thread.stemmer = Stemmer.Stemmer("english")
    return str(stemmer.stemWord(word))


def fold(word: str) -> str:
    """Lower case, without accents, with a straight apostrophe."""
    word = word.casefold()
    if word.isascii():
        return word
    return "".join(c for c in unicodedata.normalize("NFKD", word)
                   if not unicodedata.combining(c)).replace("’", "'")


def normalise(raw: str) -> str:
    """One word as near-duplicates compare it: folded, stemmed; "" for a stop word or a lone
    letter. "U.S" is "us"; "2.1" and "1,000" stay numbers ("1000")."""
    w = fold(raw).replace("’", "'").replace(",", "")
    if not w[0].isdigit():
        w = w.replace(".", "")
    if w.endswith("'s"):
        w = w[:-2]
    if w.isdigit():
        return w
    if len(w) < 2 or w in STOPWORDS:
        return ""
    return stem(w)


# capitalised, but not names
CALENDAR = frozenset(normalise(w) for w in (
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday", "January",
    "February", "March", "April", "May", "June", "July", "August", "September", "October",
    "November", "December"))


@dataclass(slots=True)  # not frozen: made for every new word, and a frozen one is slower to make
class Word:
    """One word as both readers need it; never changed once made."""

    text: str  # as written, less a possessive "'s", trailing dots and an abbreviation's dots
    folded: str  # `fold(text)`
    stems: tuple[str, ...]  # near-duplicates' words: its parts (split at - and &), normalised
    names: tuple[str, ...]  # the stems that are names inside a sentence (capital, or a number)
    names_first: tuple[str, ...]  # ... and at a sentence's start (numbers, later parts)
    # what a section lexicon found of this word, kept by it (classify.Lexicon.hits_in): (the
    # lexicon's serial number, the word's one-word hits, the longest term it starts), set at
    # once so that a thread with another lexicon never reads half of it
    looked_up: tuple[int, Any, int] = (-1, None, 0)  # Any: list[classify.Hit] | None


BREAK = Word("", "", (), (), ())  # where a sentence, a clause or a headline part starts


def _word(token: str) -> Word:
    if token[0] in _BREAKS or token[0].isspace():
        return BREAK
    text = token[:-2] if token.endswith(("'s", "’s")) else token
    text = text.rstrip(".")
    if "." in text and _DOTTED.fullmatch(text):  # "U.K" is "UK", "a.i" is "ai"
        text = text.replace(".", "")
    stems: list[str] = []
    names: list[str] = []
    names_first: list[str] = []
    parts = _PARTS.split(token) if "-" in token or "&" in token else (token,)
    for n, part in enumerate(parts):
        if not part:
            continue
        normal = normalise(part)
        if not normal:
            continue
        stems.append(normal)
        if normal[0].isdigit():
            names.append(normal)
            names_first.append(normal)
        elif part[0].isupper() and normal not in CALENDAR:
            names.append(normal)
            if n:
                names_first.append(normal)
    return Word(text, fold(text) if text else "", tuple(stems), tuple(names), tuple(names_first))


_known: dict[str, Word] = {}
_KEPT = 1 << 18  # distinct tokens kept; a poll of 1000 feeds has about 100,000


def scan(text: str, *, breaks: bool = True) -> list[Word]:
    """The words of a text, in order, with BREAK where a sentence or part starts (unless
    `breaks` is false: only sections read the text, and they need none)."""
    get = _known.get
    return [get(token) or _learn(token)
            for token in (_SCAN if breaks else _WORDS_ONLY).findall(text)]


def _learn(token: str) -> Word:
    if len(_known) > _KEPT:
        _known.clear()
    word = _known[token] = _word(token)
    return word


# Desk and live-page prefixes: "UPDATE 2-", "Updated:", "BREAKING:", "Live:", "As it happened:".
_PREFIX = re.compile(
    r"^\s*(?:(?:update[sd]?|updating|refile|rpt|corrected|correction|urgent|breaking(?: news)?|"
    r"just in|developing|exclusive|analysis|explainer|factbox|watch|video|live(?: updates?| blog"
    r"| coverage)?|as it happened)\s*\d*\s*[-:–—|]+\s*)+",
    re.IGNORECASE)
_SUFFIX = re.compile(r"\s*[-–—|:(]\s*(?:live(?: updates?| blog)?|as it happened|video|update[sd]?)"
                     r"\)?\s*$", re.IGNORECASE)
# Agency datelines at the start of a summary: "NAIROBI (Reuters) -", "BERLIN, Nov 24 (AP) —",
# "(Reuters) -".
_DATELINE = re.compile(
    r"^\s*(?:[A-Z][A-Z .'’/-]{1,40}(?:,\s*[A-Z][A-Za-z .]{1,30})?"
    r"(?:,\s*[A-Z][a-z]{2,8}\.?\s+\d{1,2})?\s*)?\([A-Za-z .]{2,25}\)\s*[-–—]+\s*"
    r"|^\s*[A-Z][A-Z .'’/-]{2,40}\s*[-–—]{1,2}\s+")


_SUFFIX_HINTS = ("live", "happened", "video", "update", "blog")


def strip_title(title: str) -> str:
    """The headline without desk and live-page prefixes and suffixes."""
    prefix = _PREFIX.match(title)
    if prefix:
        title = title[prefix.end():]
    end = title[-24:].lower()
    if any(hint in end for hint in _SUFFIX_HINTS):
        title = _SUFFIX.sub("", title)
    return title.strip()


@dataclass(frozen=True, slots=True)
class Cut:
    """A story's title and summary cut into words once: the headline (desk prefixes left out),
    the summary's agency dateline and its lede (the next LEDE_CHARS, ending at a whole
    word)."""

    title: list[Word]
    dateline: list[Word]
    lede: list[Word]
    lede_text: str  # the lede as written (near-duplicates look for live-page blurbs in it)

    @property
    def summary(self) -> list[Word]:
        """The summary's words that sections read: the dateline's too ("NAIROBI (Reuters)")."""
        return [*self.dateline, *self.lede] if self.dateline else self.lede


def cut(title: str, summary: str) -> Cut:
    head = summary[:LEDE_CHARS + 80]
    dateline = _DATELINE.match(head)
    start = dateline.end() if dateline else 0
    lede = summary[start:start + LEDE_CHARS]
    if len(summary) > start + LEDE_CHARS and summary[start + LEDE_CHARS].isalnum():
        space = lede.rfind(" ")
        if space > 0:
            lede = lede[:space]  # not the start of a word cut off
    # the dateline is read by sections alone
    return Cut(scan(strip_title(title)), scan(summary[:start], breaks=False) if start else [],
               scan(lede), lede)
