"""An item's words as an edition build reads them, worked out once and kept with the item.

Clustering compares items by their normalised words (`neardup.text_of`: tokenised, stemmed,
names and numbers marked) and classifying looks a story's words up in every section's terms
(`classify.found_terms`). Together that is most of a build's work, 150-250 us an item on a
small machine, and it depends only on the item's title and summary, on digest's code and on
the sections' word lists: not on the window or the edition. So polling (`Poller.refresh`: `digest
fetch`, `digest run`) works it out when it first stores an item and keeps it in
`items.features`, with the key it was worked out under
(`Analyser.key`); a build reads it back. An item whose features are missing or were worked out
under another key (sections or keywords changed since, another version of digest, items stored
before this existed) is worked out at build time and stored back, once.

Pure functions and values: no I/O but reading digest's own source once, for the key.
"""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import metadata
from pathlib import Path

from digest import classify, neardup, words
from digest.gcpause import gc_paused
from digest.models import Item

FORMAT = "1"  # of `pack`; part of the key
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))  # made once: cheaper


@dataclass(frozen=True, slots=True)
class Features:
    """What a build needs of one item's words."""

    text: neardup.Text  # for clustering
    found: tuple[classify.Found, ...]  # for classifying, when the item leads its story


@cache
def _code_key() -> str:
    """Changes whenever the code that works features out may give other results: the source of
    words, neardup and classify (any edit of them), the stemmer's version and Python's Unicode
    tables (case folding, accents)."""
    h = hashlib.sha256(FORMAT.encode())
    for module in (words, neardup, classify):
        try:
            h.update(Path(str(module.__file__)).read_bytes())
        except OSError:  # no source (a frozen build): the package's version has to do
            h.update(metadata.version("digest").encode())
    h.update(metadata.version("PyStemmer").encode())
    h.update(unicodedata.unidata_version.encode())
    return h.hexdigest()


class Analyser:
    """Works out and packs items' features for one lexicon."""

    def __init__(self, lexicon: classify.Lexicon) -> None:
        self.lexicon = lexicon
        # 16 hex digits: stored with every item, compared, never trusted for anything else
        self.key = hashlib.sha256(
            f"{_code_key()} {lexicon.fingerprint}".encode()).hexdigest()[:16]

    def analyse(self, item: Item) -> Features:
        cut = words.cut(item.title, item.summary)  # one pass serves both
        return Features(neardup.text_from(cut, item.title, item.when),
                        classify.found_in(cut, self.lexicon))

    def pack(self, item: Item) -> str:
        """The features of an item as `Item.features` keeps them (see `pack`)."""
        return pack(self.analyse(item))

    def pack_all(self, items: Sequence[Item]) -> list[str]:
        """`pack` for each item (what the store keeps for the new items of a poll)."""
        with gc_paused():  # see there: many small objects, no cycles
            return [pack(self.analyse(item)) for item in items]

    def features(self, items: Sequence[Item]) -> tuple[list[Features], list[tuple[int, str]]]:
        """Each item's features, read from `Item.features` (as the store gave them for this
        analyser's key) or worked out; and, for stored items that had none, (id, packed) to
        store back."""
        out: list[Features] = []
        fresh: list[tuple[int, str]] = []
        for item in items:
            if item.features is not None:
                try:
                    out.append(unpack(item.features, item.when))
                    continue
                except ValueError:  # not what this version writes: worked out again below
                    pass
            features = self.analyse(item)
            out.append(features)
            if item.id is not None:
                fresh.append((item.id, pack(features)))
        return out, fresh


def pack(features: Features) -> str:
    """One line: the words (`neardup.pack`), a tab, the terms found as JSON."""
    found = _JSON.encode(features.found)
    return f"{neardup.pack(features.text)}\t{found}"


def unpack(packed: str, when: datetime | None) -> Features:
    """The features `pack` wrote, for an item dated `when`; ValueError if it is not that."""
    words, _, found = packed.rpartition("\t")
    text = neardup.unpack(words, when)
    if found == "[]":
        return Features(text, ())
    rows = json.loads(found)
    if not isinstance(rows, list):
        raise ValueError(f"not a list of found terms: {found[:80]!r}")
    return Features(text, tuple(_found(rows)))


def _found(rows: Iterable[object]) -> Iterable[classify.Found]:
    for row in rows:
        if not (isinstance(row, list) and len(row) == 3 and isinstance(row[0], str)
                and isinstance(row[1], str) and isinstance(row[2], int | float)):
            raise ValueError(f"not a found term: {row!r}")
        yield row[0], row[1], float(row[2])
