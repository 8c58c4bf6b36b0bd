"""Sending an edition: freeze it once (or take it as frozen), then deliver it; or a dry run,
or a test copy (use case).

`Publisher` joins the use cases it is given, `Editions`, `Deliverer`, `Readers` (whose
`recipients:` it syncs before a send) and `Editing` (whether the edition awaits approval), and
nothing else: `digest send` and the daemon's
scheduled send both come through here.
"""

from __future__ import annotations

import threading
from datetime import date

from digest.delivery import Deliverer, DeliveryResult, Progress, SendReport
from digest.editing import Editing
from digest.editions import Editions
from digest.models import Edition, edition_from_dict
from digest.readers import Readers


class Publisher:
    """Sends the editions that `editions` builds through `deliverer`."""

    def __init__(self, editions: Editions, deliverer: Deliverer, readers: Readers,
                 editing: Editing) -> None:
        self.editions = editions
        self.deliverer = deliverer
        self.readers = readers
        self.editing = editing

    def deliver(
        self, day: date | None = None, *, to: str | None = None, dry_run: bool = False,
        fetch: bool = True, stop: threading.Event | None = None, retry_now: bool = False,
        resend_unconfirmed: bool = False, progress: Progress | None = None,
    ) -> SendReport:
        """Send an edition (default: the upcoming one) to every recipient who has not had it
        yet, or say who would get what (`dry_run`), or send one test copy (`to`: not recorded,
        does not freeze the edition). The first real send freezes it: what goes out later is
        byte for byte what went out first. `retry_now`: deferred deliveries go now, without
        waiting for their retry time. `resend_unconfirmed`: only the edition's unconfirmed
        deliveries go, again (default: of the edition sent last); nothing is built or frozen.
        With `schedule.approval`, an edition nobody approved is not sent (the report says
        why, in `awaiting`) until its timeout, if it has one. `progress`: see
        `Deliverer.send`."""
        if not to:  # the audience as feeds.yaml has it now
            self.readers.sync_config()
        if resend_unconfirmed:
            return self._resend_unconfirmed(day, stop=stop, progress=progress)
        day, send_at = self.editions.edition_for(day)
        frozen = self.editions.frozen(day)
        edition: Edition | None = None
        if frozen is not None:
            edition = edition_from_dict(frozen.payload)
        elif dry_run or to:  # built to look at or test, not frozen
            edition = self.editions.build(day, fetch=fetch).edition
        elif (waiting := self.editing.waiting(day, send_at)) is not None:
            return SendReport(day, [DeliveryResult("*", None, waiting)], awaiting=waiting)
        else:
            frozen, _ = self.editions.build_and_freeze(day, fetch=fetch)
            edition = edition_from_dict(frozen.payload) if frozen is not None else None
        if edition is None or not edition.stories:
            return SendReport(day, [DeliveryResult("*", None, "the edition has no stories")],
                              dry_run=dry_run)
        if to:
            return self.deliverer.test_copy(edition, to, dry_run=dry_run)
        if dry_run:
            return self.deliverer.dry_run(edition, frozen=frozen)
        assert frozen is not None
        return self.deliverer.send(frozen, stop=stop, retry_now=retry_now, progress=progress)

    def _resend_unconfirmed(self, day: date | None, *, stop: threading.Event | None,
                            progress: Progress | None) -> SendReport:
        day = day or self.deliverer.last_edition()
        frozen = self.editions.frozen(day) if day is not None else None
        if day is None or frozen is None:
            return SendReport(day or self.editions.edition_for()[0], [DeliveryResult(
                "*", None, "the edition was not sent: nothing to send again")])
        return self.deliverer.send(frozen, stop=stop, resend_unconfirmed=True,
                                   progress=progress)
