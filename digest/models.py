"""Plain value types shared by the pipeline steps; no I/O and no third-party types here."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

# Where each recipient's unsubscribe link goes in a rendered edition: rendered (and frozen) once
# per edition, the message gets each recipient's own link when it is composed.
UNSUBSCRIBE_PLACEHOLDER = "https://unsubscribe.invalid/digest-recipient"
# and each reader's preferences page (issue 18), filled in the same way
PREFERENCES_PLACEHOLDER = "https://preferences.invalid/digest-recipient"


class FeedStatus(StrEnum):
    """Health of a feed after its last poll."""

    NEW = "new"  # configured, never polled
    OK = "ok"
    ERROR = "error"  # the last poll failed; polled again after a backoff
    DISABLED = "disabled"  # the server said 410 Gone: not polled until `fetch --all`


class DeliveryStatus(StrEnum):
    """Where one (edition, recipient) delivery stands."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    DEFERRED = "deferred"  # a 4xx answer: tried again after `retry_after`
    FAILED = "failed"
    SUPPRESSED = "suppressed"
    # Handed to the server, then the sender was killed or the connection lost before its
    # answer: most likely delivered, perhaps not. Counts as sent (never sent again) unless
    # the operator asks for it (`digest send --resend-unconfirmed`).
    UNCONFIRMED = "unconfirmed"


# Delivered as far as anyone can tell: not sent again, and the edition counts as sent.
DELIVERED = (DeliveryStatus.SENT, DeliveryStatus.UNCONFIRMED)
# waiting to go: claimable now, waiting for a retry time, claimed and under way
WAITING = (DeliveryStatus.PENDING, DeliveryStatus.DEFERRED, DeliveryStatus.SENDING)


class ReaderStatus(StrEnum):
    """Where a reader stands (issue 18). Only `active` readers are sent editions."""

    PENDING = "pending"  # signed up, has not confirmed yet (double opt-in)
    ACTIVE = "active"
    UNSUBSCRIBED = "unsubscribed"
    BOUNCED = "bounced"  # the address does not take mail (issue 20)
    COMPLAINED = "complained"  # marked a message as spam (issue 20)


class BounceKind(StrEnum):
    """What came back about a message (issue 20): from the SMTP server at send time, the bounce
    mailbox (DSN, ARF, a mailto unsubscribe) or a provider's webhook."""

    HARD = "hard"  # permanent: the address does not exist or refuses mail (5xx)
    SOFT = "soft"  # transient: mailbox full, server busy (4xx); counted over a period
    COMPLAINT = "complaint"  # the reader marked it as spam (ARF, a provider's report)
    UNSUBSCRIBE = "unsubscribe"  # a mail to the signed List-Unsubscribe mailto address
    OTHER = "other"  # nothing to act on: an auto-reply, a delay warning, unreadable


class ReaderSource(StrEnum):
    """How a reader came to be in the store."""

    CONFIG = "config"  # `recipients:` in feeds.yaml: operator-managed
    IMPORT = "import"  # `digest readers import FILE.csv`
    FORM = "form"  # the web service's subscribe page
    API = "api"  # the web service's JSON endpoint
    COMMAND = "command"  # `digest readers add`, `digest unsubscribe`


@dataclass(frozen=True, slots=True)
class Consent:
    """What a reader agreed to, when, and from where (GDPR article 7(1): the controller must
    be able to show it)."""

    at: datetime
    ip: str | None  # the client's address, for the web service
    form: str  # where: "web /subscribe", "import people.csv: <source>", "feeds.yaml", ...
    text: str  # the exact wording agreed to


class EditKind(StrEnum):
    NOTE = "note"  # the editor's note (Markdown) at the top of the edition
    PIN = "pin"  # the story leads its section
    DROP = "drop"  # the story is left out
    MOVE = "move"  # the story goes to another section
    RETITLE = "retitle"  # a new headline and/or a shorter summary
    ADD = "add"  # a story from a page the editor gave, fetched and read like a feed item


@dataclass(frozen=True, slots=True)
class Edit:
    """One change an editor made, as the store keeps it."""

    id: int  # its place in the order edits were made
    edition: date
    kind: EditKind
    story: str | None  # the clean link of the story it is about; None for the note
    value: Mapping[str, Any]  # note: {text}; move: {section}; retitle: {title?, summary?};
    #                           add: {url, title, summary, source, image?, published?, section?}
    by: str
    at: datetime

    @property
    def label(self) -> str:
        return f"edit #{self.id} {self.kind} by {self.by}"


@dataclass(frozen=True, slots=True)
class Reader:
    """One reader of the newsletter, as the store keeps them."""

    id: int
    address: str  # as written
    key: str  # the local part as written, the domain in lower case: how addresses compare
    status: ReaderStatus
    source: ReaderSource
    created_at: datetime
    name: str | None = None
    sections: tuple[str, ...] | None = None  # None: every section
    paused: bool = False  # active, but sent nothing until they resume
    in_config: bool = False  # listed in feeds.yaml `recipients:` now
    consent: Consent | None = None
    confirmed_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    unsubscribe_reason: str | None = None
    updated_at: datetime | None = None

    @property
    def receives(self) -> bool:
        """Whether the next edition goes to them."""
        return self.status is ReaderStatus.ACTIVE and not self.paused


@dataclass(frozen=True, slots=True)
class ReaderLinks:
    """A reader's own signed links, put into each message they are sent: the web service's
    pages (None without it), and the bounce mailbox's addresses (None without one)."""

    unsubscribe: str | None = None
    preferences: str | None = None
    envelope: str | None = None  # the envelope sender: bounces come back to it (VERP)
    mailto: str | None = None  # List-Unsubscribe's mailto address


@dataclass(frozen=True, slots=True)
class Item:
    """One entry of one feed, already cleaned: plain-text title and summary, an http(s) URL."""

    feed_url: str
    key: str  # identity within the feed; see dedupe.item_key for the fallback chain
    url: str
    title: str
    summary: str
    published: datetime | None  # what the feed said, UTC; None when it gave no date
    guid: str | None = None
    author: str | None = None
    id: int | None = None  # the store's row id, once stored
    source: str = ""  # the feed's display name, filled in when read back from the store
    weight: float = 1.0  # the feed's weight, filled in when read back from the store
    first_seen: datetime | None = None  # when we first stored it, UTC
    image: str | None = None  # an https thumbnail (media:thumbnail, media:content, enclosure)
    # Its words as a build reads them, packed (digest.features), when the store kept them
    # under the key the build asked for; not part of what the item is.
    features: str | None = field(default=None, compare=False, repr=False)

    @property
    def when(self) -> datetime | None:
        """The date a reader would see: the feed's, else when we first saw the item."""
        return self.published or self.first_seen


@dataclass(frozen=True, slots=True)
class FeedOutcome:
    """What one poll of one feed produced; a failure is a value here, never an exception."""

    url: str
    status: FeedStatus
    items: tuple[Item, ...] = ()
    title: str | None = None  # the feed's own <title>
    error: str | None = None  # one line, when status is ERROR
    etag: str | None = None
    last_modified: str | None = None
    not_modified: bool = False  # the server answered 304
    new_items: int = 0  # filled in by the store
    ttl: timedelta | None = None  # the feed's own <ttl>: poll no more often than this
    unchanged: bool = False  # the body was byte-for-byte the last one: not parsed again
    body_hash: str | None = None  # of the body parsed (or skipped as unchanged)
    moved_to: str | None = None  # permanent redirect (301/308): the feed's new URL
    cache_for: timedelta | None = None  # Cache-Control max-age of the answer
    retry_after: timedelta | None = None  # 429/503 Retry-After
    gone: bool = False  # 410 Gone: the feed is to be disabled
    # What a successful parse left out, one line each ("2 items dropped: no usable link",
    # "kept the newest 500 of 100,000 items"): shown with the feed's status (issue 17).
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class FeedHealth:
    """A feed as `digest feeds` shows it."""

    url: str
    name: str
    status: FeedStatus
    last_fetched_at: datetime | None
    last_error: str | None
    items: int
    next_poll_at: datetime | None = None
    last_success_at: datetime | None = None
    moved_to: str | None = None  # where a permanent redirect sent us, when it did
    error_count: int = 0  # consecutive failed polls


@dataclass(frozen=True, slots=True)
class AlsoLink:
    """Another outlet that carried the same story."""

    source: str
    url: str


@dataclass(frozen=True, slots=True)
class Story:
    """One news story: a representative item plus the duplicates merged into it."""

    title: str
    url: str
    source: str
    published: datetime | None
    summary: str
    weight: float
    items: tuple[Item, ...]  # the representative first, then the merged ones
    also: tuple[AlsoLink, ...] = ()
    merge_reasons: tuple[str, ...] = ()  # one line per merged item, for --explain
    section: str = ""
    section_reason: str = ""
    section_terms: tuple[str, ...] = ()  # the words that decided the section, as found
    score: float = 0.0
    image: str | None = None  # the representative's thumbnail, else another item's

    @property
    def when(self) -> datetime | None:
        return self.items[0].when if self.items else self.published


@dataclass(frozen=True, slots=True)
class Section:
    """A titled group of ranked stories in an edition."""

    id: str
    title: str
    stories: tuple[Story, ...]


@dataclass(frozen=True, slots=True)
class Edition:
    """One issue of the newsletter: named by the date of its scheduled send."""

    date: date
    title: str
    generated_at: datetime
    sections: tuple[Section, ...]
    dropped: tuple[str, ...] = field(default=())  # --explain lines for candidates left out
    note: str | None = None  # the editor's note for this edition (Markdown; issue 22)

    @property
    def stories(self) -> list[Story]:
        return [story for section in self.sections for story in section.stories]


@dataclass(frozen=True, slots=True)
class Rendered:
    """An edition rendered for one set of sections: what a message is made of."""

    subject: str
    html: str
    text: str


@dataclass(frozen=True, slots=True)
class Delivery:
    """One row of the send history."""

    edition: date  # the edition's name: the date of its scheduled send
    recipient: str
    status: DeliveryStatus
    sent_at: datetime | None
    message_id: str | None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery taken for sending and not yet recorded."""

    claimed_at: datetime | None
    owner: str | None  # host:pid:start of the process that took it
    handed_over_at: datetime | None  # the message reached the point of no return


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the store remembers about a feed between polls."""

    url: str
    etag: str | None
    last_modified: str | None
    next_poll_at: datetime | None
    error_count: int = 0
    status: FeedStatus = FeedStatus.NEW
    fetch_url: str | None = None  # set after a permanent redirect
    body_hash: str | None = None


# --- the JSON shape of an edition (DESIGN.md section 3); also how a frozen edition is kept ---


def iso(value: datetime | None) -> str | None:
    """ISO 8601, or None: how every JSON output writes a time."""
    return value.isoformat() if value is not None else None


def edition_to_dict(edition: Edition) -> dict[str, object]:
    """The edition as `digest build --format json` prints it."""
    return {
        "edition": edition.date.isoformat(),
        "title": edition.title,
        "generated_at": edition.generated_at.isoformat(),
        "note": edition.note,
        "sections": [
            {
                "id": section.id,
                "title": section.title,
                "stories": [
                    {
                        "title": story.title,
                        "url": story.url,
                        "source": story.source,
                        "published": iso(story.published),
                        "summary": story.summary,
                        "score": round(story.score, 4),
                        "also": [{"source": a.source, "url": a.url} for a in story.also],
                        "image": story.image,
                    }
                    for story in section.stories
                ],
            }
            for section in edition.sections
        ],
    }


def edition_from_dict(data: dict[str, Any]) -> Edition:
    """Inverse of edition_to_dict, for editions frozen in the store."""
    sections = []
    for s in data["sections"]:
        stories = tuple(
            Story(
                title=st["title"],
                url=st["url"],
                source=st["source"],
                published=datetime.fromisoformat(st["published"]) if st["published"] else None,
                summary=st["summary"],
                weight=1.0,
                items=(),
                also=tuple(AlsoLink(a["source"], a["url"]) for a in st["also"]),
                section=s["id"],
                score=float(st["score"]),
                image=st.get("image"),
            )
            for st in s["stories"]
        )
        sections.append(Section(s["id"], s["title"], stories))
    return Edition(
        date=date.fromisoformat(data["edition"]),
        title=data["title"],
        generated_at=datetime.fromisoformat(data["generated_at"]),
        sections=tuple(sections),
        note=data.get("note"),
    )
