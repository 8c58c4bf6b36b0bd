"""Who published a link: the outlet a story or an "Also covered by" link is credited to, named
from the link's host and the feeds that carried the window's items (issue 21).

Pure: no I/O, no store, no settings object (the caller hands in the configured feeds as a
mapping), and never an invented brand name: a name is a feed's, or the host itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache
from urllib.parse import urlsplit

from digest.models import Item

# Leading labels that name another rendering of one site, not another outlet: www.example.org,
# m.example.org and amp.example.org are example.org's pages.
_SITE_LABELS = ("www.", "amp.", "m.")
# ... and those a site serves its feeds from: feeds.example.org lists example.org's articles
# (feeds.arstechnica.com, rss.dw.com).
_FEED_LABELS = (*_SITE_LABELS, "feeds.", "feed.", "rss.")


@lru_cache(maxsize=1 << 16)  # each build asks for every item's link again
def outlet_host(url: str) -> str:
    """The site a link belongs to, as a name a reader can read ("lemonde.fr"): its host in
    lower case without a trailing dot, a port, or leading `www.`, `amp.`, `m.`; "" for a URL
    without one (a feed read from a file). The host is kept as the link spells it (ASCII for an
    IDNA name: a look-alike of another script cannot pass for a known outlet)."""
    return _site(url, _SITE_LABELS)


def feed_site(feed_url: str) -> str:
    """The site a feed's own articles are on, as far as its URL tells: outlet_host, with a
    feed-serving label (`feeds.`, `rss.`) dropped too; "" for a feed read from a file."""
    return _site(feed_url, _FEED_LABELS)


def plain_host(url: str) -> str | None:
    """The host of an http(s) URL that needs no parsing to find it: written in lower-case
    ASCII, without port, user, brackets or escapes; None for any other URL. A fast path:
    string operations only (a build asks this of every item's link)."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in ("https", "http"):
        return None
    host = rest.partition("/")[0].partition("?")[0].partition("#")[0]
    if not host or not host.isascii() or not host.isprintable() or host != host.lower() or any(
            c in host for c in " :@[]%\\"):
        return None
    return host


def _site(url: str, labels: tuple[str, ...]) -> str:
    host = plain_host(url)
    if host is None:
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:
            return ""
    host = host.rstrip(".")
    shorter = True
    while shorter:  # "www.m.example.org" too; never down to a bare label ("m.example" stays)
        shorter = False
        for label in labels:
            if host.startswith(label) and "." in host[len(label):]:
                host, shorter = host[len(label):], True
    return host


class _Ambiguous:
    """Several feeds with different names share a site: none of them is its outlet."""


_AMBIGUOUS = _Ambiguous()
_Names = dict[str, "str | _Ambiguous"]


def credit(items: Sequence[Item], sites: Sequence[str],
           feeds: Mapping[str, str | None] | None = None) -> list[str]:
    """The outlet each item is credited to; `sites[i]` is outlet_host of item i's link.

    `feeds` maps each configured feed's URL to its configured name (None: the feed's own
    title, which its items carry as `source`), so a feed with nothing in this window still
    names its site. First rule that applies:

    1. the link is on its own feed's site (feed_site of the feed URL): the feed's name;
    2. the link is on the site of other feeds, all of one name: that name (an aggregator's
       item linking to an outlet we also follow); several names: the site itself;
    3. the link is on the site most of its own feed's items in this window are on (a feed
       served from another host, feeds.bbci.co.uk, or read from a file): the feed's name;
    4. ... the site most items of other feeds, all of one name, are on: that name;
    5. the site itself ("reuters.com").

    The same site under several names (two sections of one newspaper) names no feed: the
    host is the honest credit there. Deterministic: no rule depends on the items' order.
    """
    if len(sites) != len(items):
        raise ValueError(f"{len(sites)} sites for {len(items)} items")
    names: dict[str, str] = {}  # feed URL -> its name
    for url, name in (feeds or {}).items():
        if name:
            names[url] = name
    on_site: dict[str, Counter[str]] = {}  # feed URL -> how many of its items each site has
    for item, site in zip(items, sites, strict=True):
        names.setdefault(item.feed_url, item.source)
        on_site.setdefault(item.feed_url, Counter())[site] += 1
    own = {url: feed_site(url) for url in names}
    by_url = _by_site((own[url], name) for url, name in names.items())
    homes = {url: _majority(counts) for url, counts in on_site.items()}
    by_home = _by_site((home, names[url]) for url, home in homes.items() if home)
    return [_credit(item, site, own, by_url, homes, by_home)
            for item, site in zip(items, sites, strict=True)]


def _credit(item: Item, site: str, own: Mapping[str, str], by_url: _Names,
            homes: Mapping[str, str], by_home: _Names) -> str:
    if not site:  # not reached by an http(s) link; the feed keeps it
        return item.source
    if site == own[item.feed_url]:
        return item.source
    named = by_url.get(site)
    if named is None and site == homes.get(item.feed_url):
        return item.source
    if named is None:
        named = by_home.get(site)
    return named if isinstance(named, str) else site


def _by_site(pairs: Iterable[tuple[str, str]]) -> _Names:
    """site -> the one name the feeds on it go by, or _AMBIGUOUS; sites "" left out."""
    out: _Names = {}
    for site, name in pairs:
        if site and name:
            out[site] = name if out.get(site, name) == name else _AMBIGUOUS
    return out


def _majority(counts: Counter[str]) -> str:
    """The site more than half of a feed's items are on, or ""."""
    site, n = counts.most_common(1)[0]
    return site if 2 * n > counts.total() else ""
