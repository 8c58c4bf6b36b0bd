"""Which section a story belongs to, with the reason; pure: no I/O, no clock, no store.

A feed with a fixed `section:` puts its stories there. For `section: auto` feeds each story is
scored against every section's keywords: whole words only, ALL-CAPS keywords (AI, EU, AU) match
case-sensitively so "ai" or "eu" inside prose does not count, other keywords match in any case
and in the plural; a keyword in the title counts twice. The best score wins, ties go to the
section listed first; a story matching nothing goes to the fallback section or is dropped.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from digest.models import Story

AUTO = "auto"
ELSEWHERE_ID = "elsewhere"
ELSEWHERE_TITLE = "Elsewhere"
TITLE_WEIGHT = 2


@dataclass(frozen=True, slots=True)
class SectionRule:
    """A section and its keywords, compiled once per build."""

    id: str
    title: str
    exact: re.Pattern[str] | None  # case-sensitive keywords (acronyms)
    folded: re.Pattern[str] | None  # case-insensitive keywords

    def hits(self, text: str) -> dict[str, str]:
        """Distinct keywords found, case-folded -> as written in the text."""
        found: dict[str, str] = {}
        for pattern in (self.exact, self.folded):
            if pattern is not None:
                for match in pattern.finditer(text):
                    word = " ".join(match.group(0).split())
                    found.setdefault(word.casefold(), word)
        return found


def _is_acronym(word: str) -> bool:
    letters = [c for c in word if c.isalpha()]
    return len(letters) >= 2 and all(c.isupper() for c in letters)


def _alternation(words: Sequence[str], *, plural: bool) -> str:
    # Longest first, so "South Africa" wins over "Africa" at the same position.
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        body = r"\s+".join(re.escape(w) for w in word.split())
        parts.append(body + ("(?:e?s)?" if plural and word[-1].isalpha() else ""))
    return r"(?<!\w)(?:" + "|".join(parts) + r")(?!\w)"


def compile_rule(section_id: str, title: str, keywords: Sequence[str]) -> SectionRule:
    words = [k.strip() for k in keywords if k.strip()]
    acronyms = [w for w in words if _is_acronym(w)]
    others = [w for w in words if not _is_acronym(w)]
    return SectionRule(
        id=section_id,
        title=title,
        # Acronyms may take a lower-case plural ("GPUs") but never match in lower case.
        exact=re.compile(_alternation(acronyms, plural=True)) if acronyms else None,
        folded=re.compile(_alternation(others, plural=True), re.IGNORECASE) if others else None,
    )


@dataclass(frozen=True, slots=True)
class Verdict:
    section: str | None  # None: dropped
    score: int
    reason: str


def score_story(story: Story, rules: Sequence[SectionRule]) -> Verdict:
    best: Verdict | None = None
    for rule in rules:
        in_title = rule.hits(story.title)
        in_summary = {k: v for k, v in rule.hits(story.summary).items() if k not in in_title}
        score = TITLE_WEIGHT * len(in_title) + len(in_summary)
        if score and (best is None or score > best.score):
            words = sorted(in_title.values()) + sorted(in_summary.values())
            best = Verdict(rule.id, score, f"keywords {', '.join(words)} (score {score})")
    return best or Verdict(None, 0, "no section keyword matched")


def classify_stories(
    stories: Sequence[Story],
    rules: Sequence[SectionRule],
    feed_sections: Mapping[str, str],
    *,
    fallback: str | None = ELSEWHERE_ID,
) -> tuple[list[Story], list[str]]:
    """Give each story its section; returns the placed stories and a line per dropped one."""
    placed: list[Story] = []
    dropped: list[str] = []
    for story in stories:
        feed_url = story.items[0].feed_url if story.items else ""
        fixed = feed_sections.get(feed_url, AUTO)
        if fixed != AUTO:
            placed.append(replace(story, section=fixed, section_reason=f"feed section {fixed}"))
            continue
        verdict = score_story(story, rules)
        if verdict.section is not None:
            placed.append(replace(story, section=verdict.section, section_reason=verdict.reason))
        elif fallback is not None:
            placed.append(replace(story, section=fallback,
                                  section_reason=f"{verdict.reason}: fallback {fallback}"))
        else:
            dropped.append(f"unmatched, dropped: {story.title!r} ({story.source})")
    return placed, dropped
