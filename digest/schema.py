"""The database schema: every table digest keeps (SQLAlchemy Core). The store reads and
writes them; the migrations (digest/migrations) bring an existing database up to them."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
    func,
)

from digest.models import FeedStatus

metadata = MetaData()

feeds = Table(
    "feeds", metadata,
    Column("id", Integer, primary_key=True),
    Column("url", String(2048), nullable=False, unique=True),
    Column("name", Text),  # from feeds.yaml; None means "use the feed's own title"
    Column("title", Text),  # the feed's own <title>
    Column("weight", Float, nullable=False, default=1.0),
    Column("status", String(16), nullable=False, default=FeedStatus.NEW.value),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("last_fetched_at", DateTime(timezone=True)),
    Column("last_success_at", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("error_count", Integer, nullable=False, default=0),
    Column("next_poll_at", DateTime(timezone=True)),
    Column("fetch_url", Text),  # where a permanent redirect (301/308) sent us; None: `url`
    Column("body_hash", String(64)),  # of the last body parsed, to skip parsing it again
    # Taken for polling by one instance until then (several instances share the feeds); a
    # crashed instance's lease runs out and the feed is polled by another.
    Column("leased_by", String(200)),
    Column("lease_until", DateTime(timezone=True)),
)

items = Table(
    "items", metadata,
    Column("id", Integer, primary_key=True),
    Column("feed_id", Integer, ForeignKey("feeds.id", ondelete="CASCADE"), nullable=False),
    Column("key", Text, nullable=False),  # identity within the feed (dedupe.item_key)
    Column("guid", Text),
    Column("url", Text, nullable=False),
    Column("canonical_url", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False, default=""),
    Column("author", Text),
    Column("image", Text),  # an https thumbnail from the feed, if it gave one
    Column("published_at", DateTime(timezone=True)),
    Column("first_seen_at", DateTime(timezone=True), nullable=False),
    # Older than the edition window when first seen (a feed's back catalogue on its first
    # poll): remembered, so it is never new again, but never offered in an edition.
    Column("seen_only", Boolean, nullable=False, default=False, server_default=false()),
    # Its words as a build reads them (digest/features.py), and the key they were worked out
    # under: a build uses them only under its own key.
    Column("features", Text),
    Column("features_key", String(16)),
    UniqueConstraint("feed_id", "key", name="uq_items_feed_key"),
    Index("ix_items_published_at", "published_at"),
    Index("ix_items_first_seen_at", "first_seen_at"),
    Index("ix_items_canonical_url", "canonical_url"),
)
# An edition reads its window by an item's date, published else first seen
# (Store.items_between): without this, every build scans the whole table (bench/store.py).
Index("ix_items_dated_at", func.coalesce(items.c.published_at, items.c.first_seen_at))

editions = Table(
    "editions", metadata,
    Column("id", Integer, primary_key=True),
    Column("edition", String(10), nullable=False, unique=True),  # ISO date of its send
    Column("title", Text, nullable=False),
    Column("subject", Text, nullable=False),
    Column("payload", Text, nullable=False),  # the edition's JSON (models.edition_to_dict)
    Column("html", Text, nullable=False),
    Column("text", Text, nullable=False),
    Column("frozen_at", DateTime(timezone=True), nullable=False),
)

# Every identity of every item a frozen edition carried (canonical URL, guid): a later edition
# refuses a candidate matching any of them, so a story is not offered twice under another feed.
edition_fingerprints = Table(
    "edition_fingerprints", metadata,
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("fingerprint", Text, primary_key=True),
    Index("ix_edition_fingerprints_fingerprint", "fingerprint"),
)

# The stories of each frozen edition, one row each, for the archive's search (issue 19). Its
# full-text index is made by migration 0007 and differs by database (SQLite: the FTS5 table
# `archive_search`; PostgreSQL: the generated column `search` with a GIN index): SQLAlchemy has
# no type for either, so it is not described here, and the store queries it by name.
archive_stories = Table(
    "archive_stories", metadata,
    Column("id", Integer, primary_key=True),
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"), nullable=False),
    Column("position", Integer, nullable=False),  # its place in the edition, from 0
    Column("section_id", String(100), nullable=False),
    Column("section_title", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("summary", Text, nullable=False),
    Column("source", Text, nullable=False),
    Column("url", Text, nullable=False),
    Index("ix_archive_stories_edition_id", "edition_id"),
)

# The audience (issue 18): one row per reader, whatever brought them (feeds.yaml, an import,
# the web form, a command). Only `active` readers who are not paused are sent editions. A reader
# who leaves keeps their row (the history and the reason); `digest readers forget` deletes it
# and keeps a hash in forgotten_readers.
readers = Table(
    "readers", metadata,
    Column("id", Integer, primary_key=True),
    Column("address", String(320), nullable=False),  # as written
    # the local part as written, the domain in lower case: how two addresses compare
    Column("address_key", String(320), nullable=False, unique=True),
    Column("name", Text),
    Column("status", String(16), nullable=False),  # models.ReaderStatus
    Column("sections", Text),  # a JSON list of section ids; NULL: every section
    Column("paused", Boolean, nullable=False, default=False, server_default=false()),
    Column("source", String(16), nullable=False),  # models.ReaderSource
    # listed in feeds.yaml `recipients:` now; `config_sections` is what that line said when
    # last synced, so a reader's own later choice stands until the line changes
    Column("in_config", Boolean, nullable=False, default=False, server_default=false()),
    Column("config_sections", Text),
    Column("consent_at", DateTime(timezone=True)),
    Column("consent_ip", String(64)),
    Column("consent_form", Text),
    Column("consent_text", Text),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("confirmed_at", DateTime(timezone=True)),
    Column("unsubscribed_at", DateTime(timezone=True)),
    Column("unsubscribe_reason", Text),
    # who ended it: "reader" (a link, the form), "operator" (a command), "config" (the line was
    # removed from feeds.yaml: putting it back brings them back), "bounce", "complaint"
    Column("unsubscribed_by", String(16)),
    Index("ix_readers_address", "address"),  # the check before each hand-over
    Index("ix_readers_status", "status"),
)

# Readers erased on request (GDPR article 17): a one-way hash of the address, so it is never
# mailed again by a config line or an import; nothing else about them is kept.
forgotten_readers = Table(
    "forgotten_readers", metadata,
    Column("address_hash", String(64), primary_key=True),
    Column("forgotten_at", DateTime(timezone=True), nullable=False),
)

# Fixed-window counters behind the web service's rate limits, shared by every instance.
rate_limits = Table(
    "rate_limits", metadata,
    Column("key", String(200), primary_key=True),  # "subscribe ip 203.0.113.9", ...
    Column("window_start", DateTime(timezone=True), primary_key=True),
    Column("hits", Integer, nullable=False),
)

# What came back about readers' mail (issue 20): a bounce at send time (the SMTP reply), a DSN or
# complaint report from the bounce mailbox, a provider's webhook, a mailto unsubscribe. Each
# source event is recorded once (`event_id`: the mailbox message's Message-ID, the provider's
# notification id, ...), so a message read twice or a webhook delivered twice counts once. The
# reader's status follows from these rows and the limits of `bounces:`. Forgetting a reader
# deletes their rows.
bounce_events = Table(
    "bounce_events", metadata,
    Column("id", Integer, primary_key=True),
    Column("event_id", String(300), unique=True),  # NULL: a send-time bounce (one per attempt)
    Column("address_key", String(320), nullable=False),
    Column("kind", String(16), nullable=False),  # models.BounceKind
    Column("source", String(16), nullable=False),  # smtp, mailbox, ses, postmark
    Column("edition", String(10)),
    Column("reason", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_bounce_events_reader", "address_key", "kind", "at"),
)

# The editor's pass (issue 22): each change an editor made to an edition before it was frozen,
# in order (`id`), applied over the automatic edition on every build (digest.edits): `story` is
# the clean link of the story it is about (None for the note), `value` its JSON (the new
# section, title, summary, note, or the article added). Kept after the freeze, as its record.
edition_edits = Table(
    "edition_edits", metadata,
    Column("id", Integer, primary_key=True),
    Column("edition", String(10), nullable=False),
    Column("kind", String(16), nullable=False),  # edits.EditKind
    Column("story", String(2048)),
    Column("value", Text, nullable=False),
    Column("made_by", String(200), nullable=False),
    Column("made_at", DateTime(timezone=True), nullable=False),
    Index("ix_edition_edits_edition", "edition", "id"),
)

# Where each edition stands in review: when its draft went to the editors (once, whichever
# instance claims it), and who approved it (approving freezes it: digest.editing).
edition_reviews = Table(
    "edition_reviews", metadata,
    Column("edition", String(10), primary_key=True),
    Column("drafted_at", DateTime(timezone=True)),
    Column("notified_at", DateTime(timezone=True)),
    Column("approved_at", DateTime(timezone=True)),
    Column("approved_by", String(200)),
)

# Scheduled editions that were not sent because the daemon was down past the grace period.
skipped_editions = Table(
    "skipped_editions", metadata,
    Column("edition", String(10), primary_key=True),
    Column("scheduled_at", DateTime(timezone=True), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("reason", Text, nullable=False),
)

# Running `digest run` processes: each beats every half minute (`digest status --check`).
instances = Table(
    "instances", metadata,
    Column("owner", String(200), primary_key=True),  # host:pid:start (digest.owner)
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("beat_at", DateTime(timezone=True), nullable=False),
    Column("next_send_at", DateTime(timezone=True)),
    Column("stopped_at", DateTime(timezone=True)),  # a clean stop
    Column("config", Text),
)

deliveries = Table(
    "deliveries", metadata,
    Column("id", Integer, primary_key=True),
    Column("edition_id", Integer, ForeignKey("editions.id", ondelete="CASCADE"),
           nullable=False),
    Column("recipient", String(320), nullable=False),
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("retry_after", DateTime(timezone=True)),  # a deferred delivery: not before this
    Column("claimed_at", DateTime(timezone=True)),
    Column("claimed_by", String(200)),  # host:pid:start of the claiming process
    # set just before the message was handed over (SMTP: before the final "."): a claim left
    # with this set was most likely delivered, one without it certainly not
    Column("handed_over_at", DateTime(timezone=True)),
    Column("sent_at", DateTime(timezone=True)),
    Column("message_id", Text),
    Column("error", Text),
    UniqueConstraint("edition_id", "recipient", name="uq_deliveries_edition_recipient"),
)
