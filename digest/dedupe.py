"""Identity of items and stories: URL canonicalisation, per-feed item keys, merging items that
are the same story across feeds, and refusing stories an earlier edition already carried.

Pure functions of their arguments: no I/O, no clock, no store.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import lru_cache
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from digest.models import AlsoLink, Item, Story

# Query parameters that say how a reader arrived, not what they read. Dropped before comparing.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
    "mc_cid", "mc_eid", "ref", "ref_src", "ref_url", "referrer", "cmpid", "ocid", "at_medium",
    "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4", "ito", "icid",
    "_hsenc", "_hsmi", "mkt_tok", "spm", "share", "s_cid", "smid", "sr_share", "rss",
    "taid", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "xtor",
    "__twitter_impression", "feature", "output_type",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_")
_DEFAULT_PORTS = {"http": 80, "https": 443}


@lru_cache(maxsize=1 << 16)  # a poll keys each item by it and stores it: computed once
def canonical_url(url: str) -> str:
    """The form two links to the same article share.

    Lower-case scheme and host; http and https compare equal (the scheme is dropped); `www.`,
    default ports, fragments, trailing slashes and tracking parameters (TRACKING_PARAMS, any
    utm_*/pk_*/mtm_*) removed; the remaining query sorted; percent-escapes normalised.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").rstrip(".")
    host = host.removeprefix("www.")
    port = parts.port if parts.port and parts.port != _DEFAULT_PORTS.get(scheme) else None
    netloc = f"{host}:{port}" if port else host
    path = quote(unquote(parts.path), safe="/:@!$&'()*+,;=-._~%") or "/"
    path = path.rstrip("/") or "/"
    query = sorted(
        (k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
        if k.lower() not in TRACKING_PARAMS and not k.lower().startswith(TRACKING_PREFIXES)
    )
    return urlunsplit(("", netloc, path, urlencode(query), "")).removeprefix("//")


def item_key(item: Item) -> str:
    """An item's identity within its feed: a fallback chain, first that applies wins.

    1. the feed's guid/id, as the publisher wrote it (stable across edits of title and link);
    2. else the canonical URL of its link;
    3. else a hash of title and date (a feed with neither guid nor link).
    """
    if item.guid:
        return f"guid:{item.guid}"
    if item.url:
        return f"url:{canonical_url(item.url)}"
    stamp = item.published.isoformat() if item.published else ""
    digest = hashlib.sha256(f"{item.title.casefold()}|{stamp}".encode()).hexdigest()[:32]
    return f"title:{digest}"


def fingerprints(item: Item) -> set[str]:
    """Every identity by which a later edition recognises this item as already sent."""
    out = {f"url:{canonical_url(item.url)}"}
    if item.guid and _is_global_guid(item.guid):
        out.add(f"guid:{item.guid}")
    return out


def _is_global_guid(guid: str) -> bool:
    """A guid can identify an item across feeds only if it looks globally unique (a URL, a
    tag: or urn: URI); short counters like "1234" repeat between publishers."""
    return guid.startswith(("http://", "https://", "tag:", "urn:")) and len(guid) > 12


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = list(range(n))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _representative_order(item: Item) -> tuple[float, int, float, int]:
    """Best first: the heaviest feed, then the fuller summary, then the earliest, then stable."""
    when = item.when
    return (-item.weight, -len(item.summary), when.timestamp() if when else float("inf"),
            item.id or 0)


def cluster_stories(
    items: Sequence[Item], already_sent: Iterable[str] = ()
) -> tuple[list[Story], list[str]]:
    """Merge items that share a canonical URL or a global guid into stories.

    Returns the stories (representative chosen by `_representative_order`, the others in
    `also`) and one explanation per story refused because an earlier edition carried it.
    """
    sent = set(already_sent)
    union = _UnionFind(len(items))
    first_seen: dict[str, int] = {}
    reasons: dict[int, str] = {}
    for i, item in enumerate(items):
        for mark in sorted(fingerprints(item)):
            j = first_seen.setdefault(mark, i)
            if j != i and union.find(i) != union.find(j):
                union.union(i, j)
                kind = "same URL" if mark.startswith("url:") else "same guid"
                reasons.setdefault(i, f"{kind} as {items[j].source}")
                reasons.setdefault(j, f"{kind} as {items[i].source}")
    groups: dict[int, list[int]] = {}
    for i in range(len(items)):
        groups.setdefault(union.find(i), []).append(i)

    stories: list[Story] = []
    dropped: list[str] = []
    for members in groups.values():
        order = sorted(members, key=lambda i: _representative_order(items[i]))
        group = [items[i] for i in order]
        lead = group[0]
        marks = set().union(*(fingerprints(it) for it in group))
        if marks & sent:
            dropped.append(f"already sent: {lead.title!r} ({lead.source}, {lead.url})")
            continue
        also: list[AlsoLink] = []
        seen_sources = {lead.source}
        for other in group[1:]:
            if other.source not in seen_sources:
                also.append(AlsoLink(other.source, other.url))
                seen_sources.add(other.source)
        merge_reasons = tuple(
            f"merged {items[i].source} ({items[i].url}): {reasons.get(i, 'same story')}"
            for i in order[1:]
        )
        stories.append(Story(
            title=lead.title, url=lead.url, source=lead.source, published=lead.published,
            summary=lead.summary, weight=lead.weight, items=tuple(group), also=tuple(also),
            merge_reasons=merge_reasons,
        ))
    return stories, dropped
