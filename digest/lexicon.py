"""The word lists: the built-in ones shipped in digest/lexicon/*.yaml, and each section's whole
vocabulary (built-in lists, its own keywords, less its exclusions) as classify's Lexicon.

The one module that reads word lists; it decides nothing about a story (digest.classify does).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path
from typing import Protocol

import yaml

from digest import classify
from digest.errors import ConfigError

_LEXICONS = Path(__file__).parent / "lexicon"
_SafeLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@lru_cache(maxsize=1)
def lexicon_names() -> tuple[str, ...]:
    """The built-in word lists shipped in digest/lexicon/."""
    return tuple(sorted(p.stem for p in _LEXICONS.glob("*.yaml")))


@cache
def load_lexicon(name: str) -> tuple[tuple[str, float], ...]:
    """A built-in word list as (term, weight) pairs: each group's weight times the list's
    `scale` (tech words say what a story is about, place names only where it happened)."""
    path = _LEXICONS / f"{name}.yaml"
    try:
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=_SafeLoader)
        scale = float(data.get("scale", 1))
        return tuple((str(term), scale * float(group.get("weight", 3)))
                     for group in data["groups"].values() for term in group["terms"])
    except (OSError, yaml.YAMLError, KeyError, TypeError, ValueError) as e:
        raise ConfigError(str(path), [f"<file>: not a word list: {e}"]) from e


class Keyword(Protocol):
    @property
    def term(self) -> str: ...
    @property
    def weight(self) -> float: ...


class SectionWords(Protocol):
    """What this module reads of a configured section (config.SectionSettings)."""

    @property
    def id(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def keywords(self) -> tuple[Keyword, ...]: ...
    @property
    def exclude(self) -> tuple[str, ...]: ...
    @property
    def weight(self) -> float: ...
    def lexicons(self) -> tuple[str, ...]: ...


def section_lexicon(sections: Iterable[SectionWords]) -> classify.Lexicon:
    """Every section's words: its built-in word lists, its keywords, less its exclusions."""
    specs = []
    for section in sections:
        terms = [term for name in section.lexicons() for term in load_lexicon(name)]
        terms.extend((k.term, k.weight) for k in section.keywords)
        specs.append(classify.SectionSpec(section.id, section.title, tuple(terms),
                                          section.exclude, section.weight))
    # What readers expect under "Elsewhere" even when it happens in a section's region: sport,
    # entertainment, science. Listed last, so a tie goes to a real section.
    specs.append(classify.SectionSpec(classify.ELSEWHERE_ID, classify.ELSEWHERE_TITLE,
                                      load_lexicon(classify.ELSEWHERE_ID)))
    return classify.Lexicon(specs)
