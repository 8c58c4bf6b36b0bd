"""Identity of items and stories: URL canonicalisation, the clean links readers follow, per-feed
item keys, merging items that are the same story across feeds (credited by digest.outlets), and
refusing stories an earlier edition already carried.

Pure functions of their arguments: no I/O, no clock, no store.
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from functools import lru_cache
from urllib.parse import unquote, urlsplit, urlunsplit

from w3lib.url import canonicalize_url

from digest import neardup, outlets
from digest.models import AlsoLink, Item, Story

# Query parameters that say how a reader arrived, not what they read. Dropped before comparing
# (names compared case-insensitively), as is any parameter starting with TRACKING_PREFIXES.
TRACKING_PARAMS = frozenset({
    "fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "yclid", "twclid", "igshid",
    "mc_cid", "mc_eid", "ref", "ref_src", "ref_url", "referrer", "cmpid", "ocid", "at_medium",
    "at_campaign", "at_custom1", "at_custom2", "at_custom3", "at_custom4", "ito", "icid",
    "_hsenc", "_hsmi", "mkt_tok", "spm", "share", "s_cid", "smid", "sr_share", "rss",
    "taid", "ns_mchannel", "ns_source", "ns_campaign", "ns_linkname", "ns_fee", "xtor",
    "__twitter_impression", "feature", "output_type", "cid", "guccounter", "soc_src",
    "soc_trk", "sh", "dicbo",
})
TRACKING_PREFIXES = ("utm_", "pk_", "mtm_", "hsa_", "oly_", "vero_")
# Parameters that only ask for the AMP rendering of the same article: `?amp`, `?amp=1`,
# `?output=amp`, `?outputType=amp`.
_AMP_PARAMS = frozenset({"amp", "amp=1", "amp=true", "amp=", "output=amp", "outputtype=amp"})
_DEFAULT_PORTS = {"http": 80, "https": 443}


def _keep_param(pair: str) -> bool:
    name = pair.split("=", 1)[0].lower()
    return not (name in TRACKING_PARAMS or name.startswith(TRACKING_PREFIXES)
                or pair.lower() in _AMP_PARAMS)


def _may_be_amp_cache(host: str) -> bool:
    """Whether links on `host` may be AMP cache links (see _amp_cache_target)."""
    return host.endswith(".cdn.ampproject.org") or host in _GOOGLE


_GOOGLE = frozenset({"google.com", "www.google.com"})


def _amp_cache_target(host: str, path: str) -> str | None:
    """The article behind a Google AMP cache link, as `host/path`, or None."""
    if host.endswith(".cdn.ampproject.org"):  # /c/s/example.org/a, /v/s/..., /i/s/...
        parts = path.split("/", 4)
        if len(parts) == 5 and len(parts[1]) == 1 and parts[2] == "s":
            return parts[3] + "/" + parts[4]
    if host in _GOOGLE and path.startswith("/amp/s/"):
        return path.removeprefix("/amp/s/")
    return None


# A link w3lib's canonicalize_url leaves as it is, but for sorting its query: a lower-case
# host, a path without percent-escapes, characters to escape, ";" parameters or dot segments,
# a query of plain key=value pairs or none, no fragment. Most feed links are; w3lib took most
# of a first poll's time in the poller's process (issue 23).
_PLAIN_URL = re.compile(r"https?://[a-z0-9-]+(?:\.[a-z0-9-]+)*(?::[0-9]{1,5})?"
                        r"(?:/[A-Za-z0-9\-_~!$&'()*+,=:@][A-Za-z0-9\-._~!$&'()*+,=:@]*|/)+")


_PLAIN_QUERY = re.compile(r"[A-Za-z0-9\-._~]+=[A-Za-z0-9\-._~]*"
                          r"(?:&[A-Za-z0-9\-._~]+=[A-Za-z0-9\-._~]*)*")


def _plain_canonical(url: str) -> str | None:
    """What w3lib's canonicalize_url makes of a plain link (its query's key=value pairs
    sorted); None when the link is not plain."""
    base, mark, query = url.partition("?")
    if not _PLAIN_URL.fullmatch(base) or (mark and not _PLAIN_QUERY.fullmatch(query)):
        return None
    if not mark:
        return url
    pairs = sorted(tuple(p.split("=", 1)) for p in query.split("&"))
    return f"{base}?{'&'.join(f'{k}={v}' for k, v in pairs)}"


@lru_cache(maxsize=1 << 16)  # a poll keys each item by it and stores it: computed once
def canonical_url(url: str) -> str:
    """The form two links to the same article share.

    w3lib (Scrapy's URL library) does the RFC 3986 work: case of scheme and host, IDNA hosts,
    percent-escapes, dot segments, the fragment, query sorting. Then digest's own rules: http and
    https compare equal (the scheme is dropped); `www.` and `amp.` hosts, default ports and
    trailing slashes go; tracking parameters (TRACKING_PARAMS, TRACKING_PREFIXES) go; AMP
    variants (`?amp`, `?output=amp`, a last path segment `/amp`, `name.amp.html`, Google's AMP
    cache links) become the article they render.
    """
    url = url.strip()
    plain = _plain_canonical(url)
    if plain is not None:
        url = plain
    else:  # w3lib's work
        with contextlib.suppress(ValueError):  # a link w3lib cannot parse is compared as written
            url = canonicalize_url(url)
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    host = (parts.hostname or "").rstrip(".")
    path = parts.path
    target = _amp_cache_target(host, path)
    if target is not None:
        return canonical_url("https://" + target + (f"?{parts.query}" if parts.query else ""))
    host = host.removeprefix("www.").removeprefix("amp.").removeprefix("www.")
    if port and port != _DEFAULT_PORTS.get(parts.scheme):
        host = f"{host}:{port}"
    if path.endswith(".amp.html"):
        path = path.removesuffix(".amp.html") + ".html"
    path = path.rstrip("/")
    if path.endswith("/amp"):
        path = path.removesuffix("/amp").rstrip("/")
    query = "&".join(p for p in parts.query.split("&") if p and _keep_param(p))
    return urlunsplit(("", host, path or "/", query, "")).removeprefix("//")


# Characters IDNA 2003 (Python's codec) maps to others where browsers (UTS 46, not
# transitional) keep them: "faß.de" is not "fass.de". A host holding one is left as written.
_IDNA_DEVIATIONS = frozenset("\u00df\u03c2\u200c\u200d")


@lru_cache(maxsize=1 << 16)  # each build asks for every item's link again
def clean_link(url: str) -> str:
    """The link a reader follows to the article `url` names (issue 21): the publisher's URL
    without what says how the reader arrived.

    Kept as written: scheme, path, `www.`, the other query parameters in their order, an
    anchor (`#comments`). Changed: the host is lower-cased and IDNA-encoded (percent-escapes
    decoded first), a default port (:443 on https, :80 on http) goes, tracking parameters go
    by canonical_url's rule (TRACKING_PARAMS, TRACKING_PREFIXES, the AMP switches `?amp`,
    `?output=amp`), and so does a fragment made of them (`#xtor=RSS-1`); a Google AMP cache
    link becomes the article it serves. Never raises: a URL urllib cannot split, or one that
    is not http(s) (parse.safe_url lets none in), is returned as written.
    """
    # Most links have nothing to take off: found without parsing (a build cleans every item's
    # link, once a process).
    host = outlets.plain_host(url)
    if host and "?" not in url and "#" not in url and not _may_be_amp_cache(host):
        return url
    try:
        parts = urlsplit(url)
        port = parts.port
        host = parts.hostname
    except ValueError:
        return url
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not host:
        return url
    target = _amp_cache_target(host.rstrip("."), parts.path)
    if target is not None:
        return clean_link("https://" + target + (f"?{parts.query}" if parts.query else ""))
    # hostname took an IPv6 address's brackets off, and lower-cases only up to a "%" (the
    # zone of an IPv6 address)
    netloc = f"[{host}]" if ":" in host else _ascii_host(host.lower())
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc = f"{netloc}:{port}"
    userinfo, at, _ = parts.netloc.rpartition("@")
    query = "&".join(p for p in parts.query.split("&") if p and _keep_param(p))
    fragment = parts.fragment
    if "=" in fragment:  # parameters, not an anchor: `#xtor=RSS-1`, `#utm_source=x`
        fragment = "&".join(p for p in fragment.split("&") if p and _keep_param(p))
    return urlunsplit((scheme, userinfo + at + netloc, parts.path, query, fragment))


def _ascii_host(host: str) -> str:
    """`host` (lower case) as a DNS name: IDNA for a non-ASCII one (parse.safe_url
    percent-encodes it), else as written; as written too when IDNA 2003 would change it."""
    if host.isascii() and "%" not in host:
        return host
    name = unquote(host)
    if name.isascii() or _IDNA_DEVIATIONS.intersection(name):
        return host  # escaped ASCII ("ex%2Fample") is not decoded: it could be "/" or "@"
    try:
        encoded = name.encode("idna").decode("ascii")
    except UnicodeError:
        return host
    return encoded if _DNS_NAME.fullmatch(encoded) else host


_DNS_NAME = re.compile(r"[a-z0-9_.-]+")


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


# A sent story's words are kept as a fingerprint too, so a later edition recognises it under
# another URL: "text:<published ISO>\x1f<title>\x1f<start of summary>".
TEXT_MARK = "text:"
_SEP = "\x1f"


def fingerprints(item: Item) -> set[str]:
    """Every identity by which a later edition recognises this item as already sent: its
    canonical URL, its guid when globally unique, and its words (see TEXT_MARK)."""
    return {_text_mark(item), *_identities(item)}


def _identities(item: Item) -> list[str]:
    """The exact identities: `url:` canonical URL, `guid:` global guid (sorted, url last)."""
    out = []
    if item.guid and _is_global_guid(item.guid):
        out.append(_bounded(f"guid:{item.guid}"))
    if item.url:
        out.append(_bounded(f"url:{canonical_url(item.url)}"))
    return out


# Fingerprints are kept in an indexed column; PostgreSQL refuses index entries over about 2.7
# kB, so a long URL or guid is kept as its hash and a text mark is cut (UTF-8: at most 4 bytes
# a character, 4 x (200 + 400) + the date stays under that).
_MARK_CHARS = 500
_TITLE_CHARS = 200


def _bounded(mark: str) -> str:
    if len(mark) <= _MARK_CHARS:
        return mark
    kind, _, value = mark.partition(":")
    return f"{kind}:sha256:{hashlib.sha256(value.encode()).hexdigest()}"


def _text_mark(item: Item) -> str:
    when = item.when.isoformat() if item.when else ""
    title = item.title[:_TITLE_CHARS].replace(_SEP, " ")
    summary = item.summary[:neardup.LEDE_CHARS + 80].replace(_SEP, " ")
    return TEXT_MARK + _SEP.join((when, title, summary))


def _sent_text(mark: str) -> tuple[str, neardup.Text]:
    """The title and comparable words of a sent story's text fingerprint."""
    when, title, summary = mark.removeprefix(TEXT_MARK).split(_SEP, 2)
    return title, neardup.text_of(title, summary, datetime.fromisoformat(when) if when else None)


def _is_global_guid(guid: str) -> bool:
    """A guid can identify an item across feeds only if it looks globally unique (a URL, a
    tag: or urn: URI); short counters like "1234" repeat between publishers."""
    return guid.startswith(("http://", "https://", "tag:", "urn:")) and len(guid) > 12


def _representative_order(item: Item) -> tuple[float, int, float, int]:
    """Best first: the heaviest feed, then the fuller summary, then the earliest, then stable."""
    when = item.when
    return (-item.weight, -len(item.summary), when.timestamp() if when else float("inf"),
            item.id or 0)


def cluster_stories(
    items: Sequence[Item], sent: Mapping[str, date] | None = None,
    texts: Sequence[neardup.Text] | None = None, *,
    feeds: Mapping[str, str | None] | None = None,
) -> tuple[list[Story], list[str]]:
    """Merge items that are the same story into stories, and refuse stories already sent.

    Items are the same story when they share a canonical URL or a global guid, or when their
    texts are near-duplicates (`neardup`). `sent` maps the fingerprints of stories in delivered
    editions to the edition's name; a story matching one, by URL, guid or text, is left out.

    `texts` are the items' `neardup.text_of`, in order, when already worked out (the store
    keeps them: digest.features).

    Returns the stories and one line per story refused as already sent. A story is its
    representative (chosen by `_representative_order`) under its clean_link, credited to the
    outlet whose link it is (`outlets.credit`; `feeds` maps each configured feed's URL to its
    configured name, None for the feed's own title); `also` has the story's other articles,
    one entry per canonical URL other than the headline's, each under its clean_link and
    credited the same way (issue 21); `merge_reasons` has one line per merged item, and one
    saying which feed carried the headline when it is credited to another outlet.
    """
    if texts is not None and len(texts) != len(items):
        raise ValueError(f"{len(texts)} texts for {len(items)} items")
    return _cluster(items, sent or {}, texts, feeds or {})


def _cluster(items: Sequence[Item], sent: Mapping[str, date],
             known: Sequence[neardup.Text] | None, feeds: Mapping[str, str | None]
             ) -> tuple[list[Story], list[str]]:
    groups, reasons, sent_because = _grouped(items, sent, known)
    links = [clean_link(item.url) for item in items]  # each computed once (lru_cache)
    credited = outlets.credit(items, [outlets.outlet_host(link) for link in links], feeds)
    stories: list[Story] = []
    dropped: list[str] = []
    for members in groups:
        order = sorted(members, key=lambda i: _representative_order(items[i]))
        group = [items[i] for i in order]
        lead = group[0]
        why_sent = next((sent_because[i] for i in order if i in sent_because), None)
        if why_sent:
            dropped.append(f"already sent: {lead.title!r} ({lead.source}, {lead.url}): {why_sent}")
            continue
        also: list[AlsoLink] = []
        if len(order) > 1:  # another feed's copy of the headline is no other article
            articles = {canonical_url(lead.url)}
            for i in order[1:]:
                article = canonical_url(items[i].url)
                if article not in articles:
                    articles.add(article)
                    also.append(AlsoLink(credited[i], links[i]))
        merge_reasons = tuple(
            f"merged {items[i].source} ({items[i].url}): {reasons.get(i, 'same story')}"
            for i in order[1:]
        )
        outlet = credited[order[0]]
        if lead.source and outlet != lead.source:  # an aggregator's: the outlet is credited
            merge_reasons = (f"credited to {outlet}, whose link it is: via {lead.source}",
                             *merge_reasons)
        stories.append(Story(
            title=lead.title, url=links[order[0]], source=outlet, published=lead.published,
            summary=lead.summary, weight=lead.weight, items=tuple(group), also=tuple(also),
            merge_reasons=merge_reasons, image=next((it.image for it in group if it.image), None),
        ))
    return stories, dropped


def _grouped(items: Sequence[Item], sent: Mapping[str, date],
             known: Sequence[neardup.Text] | None
             ) -> tuple[list[list[int]], dict[int, str], dict[int, str]]:
    """The items in groups, each one story (ordered by their first item): the same URL, the
    same guid, or near-duplicate texts joined (`neardup.Joiner`); why each merged item was
    merged; why an item counts as already sent. Apart from building the stories, so that the
    comparison's words and indexes are freed before (a 50,000-item window's took 60 MB)."""
    n = len(items)
    sent_texts = [(edition, *_sent_text(mark)) for mark, edition in sorted(sent.items())
                  if mark.startswith(TEXT_MARK)]
    texts = (list(known) if known is not None
             else [neardup.text_of(it.title, it.summary, it.when) for it in items])
    texts.extend(text for _, _, text in sent_texts)
    comparison = neardup.Comparison(texts)
    union = neardup.Joiner(comparison, n)  # the window's items, grouped
    reasons: dict[int, str] = {}
    sent_because: dict[int, str] = {}  # item -> why it counts as already sent

    first_seen: dict[str, int] = {}
    for i, item in enumerate(items):
        for mark in _identities(item):
            kind = "same URL" if mark.startswith("url:") else "same guid"
            if mark in sent:
                sent_because.setdefault(i, f"{kind} as a story in edition {sent[mark]}")
            j = first_seen.setdefault(mark, i)
            if j != i and union.union(i, j):
                reasons.setdefault(i, f"{kind} as {items[j].source}")
                reasons.setdefault(j, f"{kind} as {items[i].source}")

    for match in comparison.best_first():
        if match.b < n:  # two items of this window
            if not union.join(match):  # one group already, or not alike enough (join_ok)
                continue
            a, b = items[match.a], items[match.b]
            reasons.setdefault(match.b, f"similarity {match.score:.2f} to {a.source} {a.title!r}")
            reasons.setdefault(match.a, f"similarity {match.score:.2f} to {b.source} {b.title!r}")
        elif match.a < n:  # an item and a sent story
            edition, title, _ = sent_texts[match.b - n]
            sent_because.setdefault(
                match.a, f"similarity {match.score:.2f} to {title!r} in edition {edition}")

    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(union.find(i), []).append(i)
    return list(groups.values()), reasons, sent_because
