"""The deliverer on its own: a real SQLite store and the file transport, an edition frozen
straight into the store. No templates, no word lists, no feeds: delivering needs none of them
(issue 16)."""

from __future__ import annotations

import email
import email.policy
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from digest.addresses import address_key
from digest.config import DeliverySettings, Recipient
from digest.delivery import Deliverer, Letters
from digest.models import DeliveryStatus, Reader, ReaderSource, ReaderStatus
from digest.send import FileTransport, Outgoing, Transport, Unsubscribe
from digest.store import FrozenEdition, NewReader, Store

EDITION = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 7, 0, tzinfo=UTC)
PAYLOAD = {"edition": "2026-11-30", "title": "The Test Brief",
           "generated_at": "2026-11-30T06:00:00+00:00",
           "sections": [{"id": "tech", "title": "Tech", "stories": [
               {"title": "A chip", "url": "https://news.example.org/chip", "source": "Wire",
                "published": None, "summary": "About a chip.", "score": 0.5, "also": []}]}]}


def freeze(store: Store, day: date = EDITION) -> FrozenEdition:
    return store.freeze_edition(day, title="The Test Brief", payload=PAYLOAD,
                                subject="The Test Brief: a chip", html="<p>A chip</p>",
                                text="A chip\n", fingerprints=["url:news.example.org/chip"],
                                now=NOW)


def deliverer(store: Store, outbox: Path, recipients: list[str],
              clock: list[datetime] | None = None,
              transport: Callable[[], Transport] | None = None) -> Deliverer:
    """A deliverer whose audience is these readers (added to the store as active readers
    unless they are there already), in this order, while they still receive."""
    moments = clock or [NOW]
    wanted = [Recipient.model_validate(r) for r in recipients]
    for r in wanted:
        store.add_reader(NewReader(r.email, address_key(r.email), ReaderStatus.ACTIVE,
                                   ReaderSource.COMMAND, sections=r.sections), now=NOW)

    def audience() -> list[Reader]:
        receiving = {reader.address: reader for reader in store.audience()}
        return [receiving[r.email] for r in wanted if r.email in receiving]

    return Deliverer(
        store, DeliverySettings.model_validate({"from": "Brief <brief@example.org>"}),
        audience, transport=transport or (lambda: FileTransport(outbox)),
        letters=Letters("Brief <brief@example.org>", "<brief.example.org>",
                        Unsubscribe(None, b"")),
        clock=lambda: moments[-1])


def leave(store: Store, address: str, **change: object) -> None:
    """The reader unsubscribes (another process's doing, as far as the deliverer knows)."""
    reader = store.reader(address_key(address))
    assert reader is not None
    store.update_reader(reader.id, now=NOW, **(change or {"status": ReaderStatus.UNSUBSCRIBED}))


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'digest.db'}")


def test_a_frozen_edition_goes_to_each_recipient_once(store: Store, tmp_path: Path) -> None:
    frozen = freeze(store)
    outbox = tmp_path / "outbox"
    sender = deliverer(store, outbox, ["ana@example.org", "ben@example.org"])

    report = sender.send(frozen)

    assert [(r.recipient, r.status) for r in report.results] == [
        ("ana@example.org", DeliveryStatus.SENT), ("ben@example.org", DeliveryStatus.SENT)]
    files = sorted(p.name for p in (outbox / "2026-11-30").iterdir())
    assert files == ["ana@example.org.eml", "ben@example.org.eml"]
    message = email.message_from_bytes((outbox / "2026-11-30" / files[0]).read_bytes(),
                                       policy=email.policy.default)
    assert message["Subject"] == "The Test Brief: a chip"
    assert message["To"] == "ana@example.org"
    html = message.get_body(("html",))
    assert html is not None and "<p>A chip</p>" in html.get_content()
    assert {(d.edition, d.recipient, d.status) for d in store.history()} == {
        (EDITION, "ana@example.org", DeliveryStatus.SENT),
        (EDITION, "ben@example.org", DeliveryStatus.SENT)}

    # Again, with a third reader added: only the new one gets it.
    again = deliverer(store, outbox, ["ana@example.org", "ben@example.org", "kofi@example.org"])
    second = again.send(freeze(store))  # freezing twice keeps the first
    assert [(r.recipient, r.kind) for r in second.results] == [
        ("ana@example.org", "sent before"), ("ben@example.org", "sent before"),
        ("kofi@example.org", "sent")]
    assert len(list((outbox / "2026-11-30").iterdir())) == 3


def test_a_reader_who_left_before_the_send_is_not_in_it(store: Store, tmp_path: Path) -> None:
    sender = deliverer(store, tmp_path / "outbox", ["ana@example.org", "ben@example.org"])
    leave(store, "ben@example.org")
    report = sender.send(freeze(store))
    assert [(r.recipient, r.status) for r in report.results] == [
        ("ana@example.org", DeliveryStatus.SENT)]
    assert [p.name for p in (tmp_path / "outbox" / "2026-11-30").iterdir()] == [
        "ana@example.org.eml"]


@pytest.mark.parametrize("change", [{"status": ReaderStatus.UNSUBSCRIBED}, {"paused": True}],
                         ids=["unsubscribed", "paused"])
def test_a_reader_who_leaves_during_the_send_is_not_sent_it(
        store: Store, tmp_path: Path, change: dict[str, object]) -> None:
    # Ben leaves while Ana's message is being written: his message, not yet handed over, must
    # not go out (issue 18: an unsubscribe takes effect for every message not yet handed over).
    outbox = tmp_path / "outbox"

    class Meanwhile(FileTransport):
        def send(self, message: Outgoing, handed_over: Callable[[], None] = lambda: None
                 ) -> None:
            if message.recipient == "ana@example.org":
                leave(store, "ben@example.org", **change)
            super().send(message, handed_over)

    sender = deliverer(store, outbox, ["ana@example.org", "ben@example.org", "cy@example.org"],
                       transport=lambda: Meanwhile(outbox))
    report = sender.send(freeze(store))
    assert [(r.recipient, r.status) for r in report.results] == [
        ("ana@example.org", DeliveryStatus.SENT), ("ben@example.org", DeliveryStatus.SUPPRESSED),
        ("cy@example.org", DeliveryStatus.SENT)]
    assert "during the send" in report.results[1].detail
    assert sorted(p.name for p in (outbox / "2026-11-30").iterdir()) == [
        "ana@example.org.eml", "cy@example.org.eml"]
    assert {d.recipient: d.status for d in store.history()}["ben@example.org"] is \
        DeliveryStatus.SUPPRESSED


def test_a_reader_of_some_sections_needs_a_renderer(store: Store, tmp_path: Path) -> None:
    # Without a renderer the deliverer can send whole frozen editions only, and says so.
    sender = deliverer(store, tmp_path / "outbox",
                       [{"email": "ana@example.org", "sections": ["tech"]}])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="no renderer"):
        sender.send(freeze(store))


def test_delivering_loads_no_templates_or_word_lists(tmp_path: Path) -> None:
    code = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(Path(__file__).parent)!r})
import test_delivery as t
from digest.store import Store
store = Store("sqlite:///{tmp_path / 'alone.db'}")
report = t.deliverer(store, Path({str(tmp_path / 'outbox')!r}), ["ana@example.org"]).send(
    t.freeze(store))
assert [r.kind for r in report.results] == ["sent"], report
loaded = sorted(m for m in ("jinja2", "mjml", "digest.render", "digest.neardup", "numpy")
                if m in sys.modules)
lexicon = sys.modules.get("digest.lexicon")  # config names the lists; none may be read
read = lexicon.load_lexicon.cache_info().currsize if lexicon else 0
print(loaded, read)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    assert out.strip().splitlines()[-1] == "[] 0"


def test_resending_unconfirmed_deliveries_sends_only_those_with_their_message_id(
        store: Store, tmp_path: Path) -> None:
    # Issue 17 (10): what a killed run handed over is recorded unconfirmed; sending those
    # again reaches only them, with the Message-ID recorded, and records them sent. An
    # address that unsubscribed since, or left the list, is not sent again.
    from digest.errors import DeliveryError
    from digest.store import Outcome

    frozen = freeze(store)
    readers = ["ana@example.org", "ben@example.org", "kofi@example.org", "zed@example.org"]
    outbox = tmp_path / "outbox"
    deliverer(store, outbox, readers).send(frozen)
    store.finish_deliveries(frozen.id, [
        Outcome(r, DeliveryStatus.UNCONFIRMED, f"<first-{r}>", "unconfirmed: killed")
        for r in readers[1:]], now=NOW)
    leave(store, "kofi@example.org")
    sender = deliverer(store, outbox, readers[:3])  # zed left the list
    assert [r.kind for r in sender.send(frozen).results] == [  # a normal run leaves them be
        "sent before", "unconfirmed before"]  # (kofi left: not among the readers)
    for path in outbox.glob("*/*.eml"):
        path.unlink()

    # The outbox cannot be written: the run stops, ben stays unconfirmed.
    (tmp_path / "blocked").write_text("not a folder")
    blocked = deliverer(store, tmp_path / "blocked", readers[:3])
    with pytest.raises(DeliveryError, match="the rest stay unconfirmed"):
        blocked.send(frozen, resend_unconfirmed=True)
    assert {d.recipient for d in store.history(status=DeliveryStatus.UNCONFIRMED)} == \
        set(readers[1:])

    report = sender.send(frozen, resend_unconfirmed=True)
    assert [(r.recipient, r.kind, r.detail) for r in report.results] == [
        ("kofi@example.org", "unconfirmed before",
         "not sent again: no longer among the readers"),
        ("zed@example.org", "unconfirmed before",
         "not sent again: no longer among the readers"),
        ("ben@example.org", "sent", "<first-ben@example.org>")]
    assert [p.name for p in outbox.glob("*/*.eml")] == ["ben@example.org.eml"]
    message = email.message_from_bytes((outbox / "2026-11-30" / "ben@example.org.eml")
                                       .read_bytes(), policy=email.policy.default)
    assert message["Message-ID"] == "<first-ben@example.org>"
    states = {d.recipient: (d.status, d.message_id, d.error) for d in store.history()}
    assert states["ben@example.org"] == (DeliveryStatus.SENT, "<first-ben@example.org>",
                                         "sent again: the first copy was unconfirmed")
    assert states["kofi@example.org"][0] is DeliveryStatus.UNCONFIRMED
    assert [r.detail for r in sender.send(frozen, resend_unconfirmed=True).results] == [
        "not sent again: no longer among the readers",
        "not sent again: no longer among the readers"]
