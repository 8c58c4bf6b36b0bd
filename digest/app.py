"""The composition root: `make_app` builds every collaborator of one configuration once and
hands each use case what it needs; `App` holds the use cases.

The one place that wires. Constructing writes nothing (not even the feeds of feeds.yaml: that
is `Poller.sync_feeds`, a step of the commands that poll or build, and `recipients:` is
`Readers.sync_config`, a step of the commands that send or list readers). The use cases:

    poller       digest.refresh.Poller          poll due feeds, store their items
    editions     digest.editions.Editions       build, render, export, freeze an edition
    deliverer    digest.delivery.Deliverer      send a frozen edition to each recipient once
    publisher    digest.publish.Publisher       freeze-then-deliver, dry runs, test copies
    reports      digest.reports.Reports         history, feed health, status
    housekeeping digest.housekeeping.Housekeeping  retention, rate-limit counters, the schema
    instances    digest.instances.Instances     what running daemons record
    readers      digest.readers.Readers         the audience: join, choose, leave; the operator's
                                                commands; `recipients:` synced
    archive      digest.archive.Archive         the sent editions on the web, and their search
    bounces      digest.bounces.Bounces         bounces and complaints: at send time, the
                                                bounce mailbox, the providers' webhooks
    editing      digest.editing.Editing         the editor's pass: edits, review, approval,
                                                the draft emailed to the editors

and `metrics` (digest.metrics.Metrics), the handle the use cases count what happened into: it
does nothing until a process that serves metrics enables it (`digest run`, the web service).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from random import Random
from typing import TYPE_CHECKING

from digest.archive import Archive
from digest.config import Settings
from digest.housekeeping import Housekeeping, Schema
from digest.instances import Instances
from digest.reports import Reports
from digest.store import Store

# The use cases that pull in the heavy libraries (Jinja and MJML, numpy, aiohttp and
# feedparser) are imported in make_app, not here: `digest status --check` (Docker, every
# minute) and `digest db` wire only the light ones.
if TYPE_CHECKING:
    from digest.article import Article
    from digest.bounces import Bounces
    from digest.delivery import Deliverer
    from digest.dkimsign import DkimKey
    from digest.editing import Editing
    from digest.editions import Editions
    from digest.fetch import FetchLimits
    from digest.metrics import Metrics
    from digest.publish import Publisher
    from digest.readers import Readers
    from digest.refresh import Poller
    from digest.send import Transport

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class App:
    """digest's use cases over one configuration, one store and one clock."""

    settings: Settings
    clock: Clock
    store: Store  # owned here only to be closed; the use cases are handed it
    poller: Poller
    editions: Editions
    deliverer: Deliverer
    publisher: Publisher
    reports: Reports
    housekeeping: Housekeeping
    instances: Instances
    readers: Readers
    archive: Archive
    bounces: Bounces
    editing: Editing
    metrics: Metrics

    def close(self) -> None:
        self.store.close()


def make_app(
    settings: Settings, *, clock: Clock = utc_now, store: Store | None = None,
    limits: FetchLimits | None = None, transport: Callable[[], Transport] | None = None,
    random: Random | None = None, sleep: Callable[[float], None] = time.sleep,
) -> App:
    """Wire the collaborators for one configuration (the store opened on its database unless
    one is given; the transport the config names unless one is given)."""
    from digest.bounces import Bounces
    from digest.delivery import Deliverer, Letters
    from digest.editing import Editing
    from digest.editions import Editions
    from digest.errors import ConfigError, RenderError
    from digest.features import Analyser
    from digest.lexicon import section_lexicon
    from digest.metrics import Metrics, StoreFigures
    from digest.publish import Publisher
    from digest.readers import Readers
    from digest.refresh import Poller, fetch_limits
    from digest.render import Renderer
    from digest.send import Unsubscribe, list_id

    e = settings.email
    try:  # before the store: a config error opens (creates, migrates) no database
        renderer = Renderer(settings.tz, lang=e.lang, direction=e.dir, overrides=e.templates,
                            subject=e.subject, thumbnails=e.thumbnails,
                            view_url=view_url(settings),
                            preferences=settings.web.links, postal_address=e.postal_address,
                            theme=e.theme, accent=e.accent, logo=e.logo,
                            logo_width=e.logo_width, logo_height=e.logo_height,
                            full_stories=e.full_stories, note=e.note)
    except RenderError as error:  # a subject template that does not parse: a config error
        raise ConfigError(settings.source, [str(error)]) from error
    sign = dkim_signer(settings, clock)
    store = store if store is not None else Store(settings.database)
    reports = Reports(settings, store, clock=clock)
    metrics = Metrics(lambda: StoreFigures(reports.delivery_queue(), reports.reader_counts()))
    lexicon = section_lexicon(settings.sections)
    analyser = Analyser(lexicon)
    d = settings.delivery
    secret = d.unsubscribe_secret
    letters = Letters(d.from_, list_id(settings.title, d.from_), Unsubscribe(
        d.unsubscribe_url, secret.get_secret_value().encode() if secret else b""),
        reply_to=e.reply_to, sign=sign)
    poller = Poller(settings, store, analyser=analyser, limits=limits or fetch_limits(settings),
                    clock=clock, random=random or Random(), metrics=metrics)
    editions = Editions(settings, store, poller=poller, renderer=renderer, lexicon=lexicon,
                        analyser=analyser, letters=letters, clock=clock, metrics=metrics)
    transports = transport or (lambda: configured_transport(settings))
    editing = Editing(settings, store, editions, transport=transports, clock=clock,
                      read_article=partial(read_article, limits=poller.limits))
    readers = Readers(settings, store, clock=clock, transport=transports, metrics=metrics)
    bounces = Bounces(settings, store, clock=clock, verp=readers.verp, metrics=metrics)
    deliverer = Deliverer(store, d, readers.audience, transport=transports, links=readers.links,
                          letters=letters, clock=clock, sleep=sleep, on_bounce=bounces.at_send,
                          metrics=metrics,
                          render=lambda edition, sections: renderer.render(edition,
                                                                           sections=sections))
    return App(settings=settings, clock=clock, store=store, poller=poller, editions=editions,
               deliverer=deliverer, publisher=Publisher(editions, deliverer, readers, editing),
               reports=reports,
               housekeeping=Housekeeping(settings, store, clock=clock),
               instances=Instances(store, clock=clock), readers=readers,
               archive=Archive(settings, store), bounces=bounces, editing=editing,
               metrics=metrics)


def read_article(url: str, *, limits: FetchLimits) -> Article:
    """An article an editor adds by URL, fetched with the feeds' limits (digest.article)."""
    from digest.article import fetch_article

    return fetch_article(url, limits)


def view_url(settings: Settings) -> str | None:
    """Where each edition is on the web, for its "view in your browser" link: `email.view_url`,
    else the edition's archive page when the web service publishes one (issue 19). The page
    exists once the edition has gone out, which is when anyone can follow the link."""
    if settings.email.view_url:
        return settings.email.view_url
    base = settings.web.base_url
    return f"{base}/editions/{{edition}}/" if base and settings.archive.public else None


def dkim_signer(settings: Settings, clock: Clock) -> Callable[[bytes], bytes] | None:
    """`delivery.dkim`'s signer, or None; a key that cannot be used is a configuration
    error."""
    dkim = settings.delivery.dkim
    if dkim is None:
        return None
    from digest.dkimsign import DkimError, DkimSigner
    from digest.errors import ConfigError

    key = dkim_key(settings)
    assert key is not None
    try:
        return DkimSigner(key, domain=dkim_domain(settings), selector=dkim.selector,
                          clock=clock).sign
    except DkimError as error:
        raise ConfigError(settings.source, [str(error)]) from error


def dkim_domain(settings: Settings) -> str:
    """The DKIM signing domain: `delivery.dkim.domain`, else the From address's."""
    from email.utils import parseaddr

    dkim = settings.delivery.dkim
    return (dkim.domain if dkim and dkim.domain
            else parseaddr(settings.delivery.from_)[1].rpartition("@")[2])


def dkim_key(settings: Settings) -> DkimKey | None:
    """`delivery.dkim`'s private key, read from its file or the environment (None without
    DKIM); ConfigError naming where it came from when it cannot be used."""
    dkim = settings.delivery.dkim
    if dkim is None:
        return None
    from digest.dkimsign import DkimError, load_key
    from digest.errors import ConfigError

    try:
        if dkim.key_file is not None:
            source = f"delivery.dkim.key_file {dkim.key_file}"
            try:
                with open(dkim.key_file, "rb") as f:
                    pem = f.read(1024 * 1024)
            except OSError as e:
                raise DkimError(f"{source}: cannot read: {e.strerror}") from e
            return load_key(pem, source=source)
        assert dkim.key is not None
        return load_key(dkim.key.get_secret_value().encode(), source="delivery.dkim.key")
    except DkimError as error:
        raise ConfigError(settings.source, [str(error)]) from error


def make_reports(settings: Settings, *, clock: Clock = utc_now) -> Reports:
    """The reports alone (Docker's `status --check`, every minute: no renderer, word lists or
    fetcher). Close it when done."""
    return Reports(settings, Store(settings.database), clock=clock)


def make_schema(settings: Settings) -> Schema:
    """The schema use case, over a store opened without upgrading it. Close it when
    done."""
    return Schema(Store(settings.database, upgrade=False))


def configured_transport(settings: Settings) -> Transport:
    """The transport `delivery:` names: the .eml outbox, or SMTP (a pool with several
    connections)."""
    from digest.send import FileTransport, SmtpOptions, SmtpPool, SmtpTransport

    d = settings.delivery
    if d.transport == "file":
        return FileTransport(d.outbox)
    password = d.smtp.password.get_secret_value() if d.smtp.password else None
    options = SmtpOptions(d.smtp.host, d.smtp.port, d.smtp.security, d.smtp.username,
                          password, d.smtp.timeout, d.smtp.ca_file)
    if d.smtp.connections > 1:
        return SmtpPool(options, d.smtp.connections)
    return SmtpTransport(options)
