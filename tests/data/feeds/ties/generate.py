"""Write tie-a.xml, tie-b.xml and tie-c.xml: three invented wires whose items cluster into
stories only one way when a build is deterministic (issue 16: determinism;
tests/test_determinism.py).

All words are invented (syllables), so a family of items shares words with no other family
and its scores depend on its own words alone:

- bridges: Y shares two words with X and two other words with Z, X and Z nothing; X and Z
  mirror each other (as many words, as many written as names), so X-Y and Y-Z score exactly
  the same. Where that is a weak match (below neardup.STRONG), either pair may join, but not
  all three (`Comparison.join_ok`): which pair joins is decided by how tied matches are
  ordered, nothing else;
- bridges whose X also has a wire copy in another feed: three tied weak matches;
- wire copies (one text in two or three feeds, other URLs), "UPDATE 1-" rewrites, the same
  link with tracking parameters, and single stories (some with the same time and weight, so
  their scores tie too).

Published between 2026-11-23 and 2026-11-29: the window of the edition of Monday 2026-11-30
(07:00 UTC, 7 days). Run from the repository root: `python tests/data/feeds/ties/generate.py`;
the output is the same on every run (fixed seed).
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
FEEDS = ("a", "b", "c")
START = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
_CONSONANTS = "bdfgklmnprstvz"
_VOWELS = "aou"


class Words:
    """Invented words, never the same one twice."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def take(self, count: int) -> list[str]:
        out: list[str] = []
        while len(out) < count:
            word = "".join(self.rng.choice(_CONSONANTS) + self.rng.choice(_VOWELS)
                           for _ in range(3))
            if word not in self.used:
                self.used.add(word)
                out.append(word)
        return out


def sentence(words: list[str]) -> str:
    text = " ".join(words)
    return text[0].upper() + text[1:]


def title_words(rng: random.Random, shared: list[str], own: list[str], shared_names: bool,
                own_names: list[bool]) -> str:
    """A title of the shared and own words, shuffled, an own word first (its capital there,
    at the start of the title, never makes it a name)."""
    words = [w.capitalize() if shared_names else w for w in shared]
    words += [w.capitalize() if name else w for w, name in zip(own[1:], own_names[1:],
                                                                strict=True)]
    rng.shuffle(words)
    return sentence([own[0], *words])


def main() -> None:
    rng = random.Random(16)
    words = Words(rng)
    items: dict[str, list[tuple[datetime, str, str, str]]] = {f: [] for f in FEEDS}
    serial = 0

    def add(feed: str, when: datetime, title: str, summary: str, link: str = "") -> str:
        nonlocal serial
        serial += 1
        link = link or f"https://tie-{feed}.example/news/{serial:04d}"
        items[feed].append((when, title, summary, link))
        return link

    def when() -> datetime:
        return START + timedelta(minutes=rng.randrange(0, 6 * 24 * 60 - 12 * 60))

    for n in range(130):  # bridges X - Y - Z; every 4th with a wire copy of X
        # Some words written as names (capitalised inside the title: weighed NAME_BOOST
        # times), so that the sums of weights depend on the order they are added in. X and Z
        # mirror each other: the same number of words, the same words written as names.
        first, second = words.take(2), words.take(2)
        shared_names = rng.random() < 0.5
        k, m = rng.randrange(3, 7), rng.randrange(2, 6)
        own_names = [rng.random() < 0.4 for _ in range(k)]
        x = title_words(rng, first, words.take(k), shared_names, own_names)
        z = title_words(rng, second, words.take(k), shared_names, own_names)
        y = title_words(rng, first + second, words.take(m), shared_names,
                        [rng.random() < 0.4 for _ in range(m)])
        t = when()
        feeds = rng.sample(FEEDS, 3)
        for feed, part, hours in zip(feeds, (x, y, z), (0, 1, 2), strict=True):
            add(feed, t + timedelta(hours=hours), part, part + ".")
        if n % 4 == 0:
            add(feeds[1], t + timedelta(minutes=20), x, x + ".")

    for _ in range(40):  # wire copies in two or three feeds
        title, summary = sentence(words.take(5)), sentence(words.take(12)) + "."
        t = when()
        for i, feed in enumerate(rng.sample(FEEDS, rng.choice((2, 3)))):
            add(feed, t + timedelta(minutes=15 * i), title, summary)

    for _ in range(20):  # a rewrite: "UPDATE 1-" and one sentence more
        title, summary = sentence(words.take(6)), sentence(words.take(10)) + "."
        t = when()
        feed, other = rng.sample(FEEDS, 2)
        add(feed, t, title, summary)
        add(other, t + timedelta(hours=3), "UPDATE 1-" + title,
            summary + " " + sentence(words.take(6)) + ".")

    for _ in range(15):  # the same link, with tracking parameters, in another feed
        title, summary = sentence(words.take(6)), sentence(words.take(10)) + "."
        t = when()
        feed, other = rng.sample(FEEDS, 2)
        link = add(feed, t, title, summary)
        add(other, t + timedelta(hours=1), title, summary,
            link + "?utm_source=rss&utm_medium=feed")

    for _ in range(30):  # pairs of single stories published at the same minute: tied scores
        t = when()
        feed = rng.choice(FEEDS)
        for _ in range(2):
            add(feed, t, sentence(words.take(6)), sentence(words.take(10)) + ".")

    for _ in range(60):  # single stories
        add(rng.choice(FEEDS), when(), sentence(words.take(6)), sentence(words.take(10)) + ".")

    for feed in FEEDS:
        write(feed, sorted(items[feed], key=lambda item: item[0], reverse=True))


def write(feed: str, entries: list[tuple[datetime, str, str, str]]) -> None:
    lines = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<rss version="2.0">',
        "  <channel>",
        f"    <title>Tie Wire {feed.upper()}</title>",
        f"    <link>https://tie-{feed}.example/</link>",
        "    <description>Invented items for tests/test_determinism.py.</description>",
    ]
    for when, title, summary, link in entries:
        lines += [
            "    <item>",
            f"      <title>{escape(title)}</title>",
            f"      <link>{escape(link)}</link>",
            f'      <guid isPermaLink="false">{escape(link)}</guid>',
            f"      <pubDate>{format_datetime(when)}</pubDate>",
            f"      <description>{escape(summary)}</description>",
            "    </item>",
        ]
    lines += ["  </channel>", "</rss>", ""]
    (HERE / f"tie-{feed}.xml").write_text("\n".join(lines), encoding="utf-8")


if __name__ == "__main__":
    main()
