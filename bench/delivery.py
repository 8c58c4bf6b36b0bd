"""Delivering an edition to 2,000 recipients over SMTP: messages per second against one new
connection per message with the edition rendered and composed afresh each time (rss2email's
way), the cost of assembling one recipient's message, and the share of the history bookkeeping.

1. Setup, in a temp folder: a copy of examples/demo with 2,000 recipients
   (reader0001@example.org ...), SMTP transport (`security: none`) to an aiosmtpd Controller on
   127.0.0.1 started here, whose handler only counts messages and bytes. The feeds are fetched
   once (`Poller.refresh`, clock stopped at 2026-11-30 06:00 UTC), then the timed runs, each on its
   own copy of that database.
2. digest's way: `Publisher.deliver(date(2026, 11, 30), fetch=False)` end to end (build,
   render and freeze the edition once, build its message once, then per recipient: claim in
   SQLite, fill in the recipient, send over a reused SMTP connection with the hand-over noted
   before the final ".", record). Once with one connection (`delivery.smtp.connections: 1`,
   the default) and once with 4. The server's counter must reach 2,000 each time.
3. The peer, rss2email's way: per recipient, render the edition afresh (`Editions.render`), build
   the message with the standard library (`EmailMessage`, both parts quoted-printable, as
   digest did before it built the message once), open a new `smtplib.SMTP` connection,
   `send_message`, quit; no bookkeeping. Run for a sample (`--peer-recipients`, default 300)
   against a fresh server and counter, and scaled linearly to all recipients (said so).
4. Assembly: `Letter.for_recipient(address)` (the recipient's headers, Message-ID and signed
   unsubscribe link joined into the edition's message) over every address, us per message,
   best of `--runs`; the message is the bytes SMTP sends. Target: under 100 us per recipient.
   The Letter itself (encoding the edition once) is timed apart.
5. Bookkeeping: per batch of 100 (as `deliver` does) the states read, `store.take_deliveries`,
   `store.handed_over` per recipient and `store.finish_deliveries`, for every recipient on a
   fresh edition row of the same SQLite database, as a share of
   digest's total seconds (one connection). For context, `deliver` is also run with a transport
   that sends nothing (digest's way without the wire).

6. The floor (issue 20): a bare smtplib loop sending one prebuilt message (the demo's, as
   digest composed it) to every recipient over one connection, the same aiosmtpd; and digest's
   send with DKIM on (`delivery.dkim`, RSA-2048 and Ed25519 keys made here), each on its own
   copy of the database.
7. The same against a minimal SMTP sink (a child process answering each command at once and
   reading DATA in blocks), where the client's own cost shows: the bare loop, digest's send
   (one connection) with DKIM off, RSA-2048 and Ed25519, and with each message dot-stuffed
   whole per recipient as before issue 20, and RSA-2048 over 4 connections; interleaved, best
   of `--runs` each. Issue 20's bar:
   digest with DKIM off >= 0.7x the bare loop.

The SMTP server runs in a child process (its own interpreter, so it does not take the client's
interpreter lock; counts in shared memory), the same server for both ways. Only 127.0.0.1
traffic; every loop is bounded; nothing here asserts a timing. Run alone:
`python bench/delivery.py` (`--recipients`, `--peer-recipients`, `--runs`); about a minute.
"""

from __future__ import annotations

import argparse
import dataclasses
import multiprocessing
import os
import shutil
import smtplib
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email.message import EmailMessage
from email.utils import format_datetime, localtime
from html import escape
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, os.fspath(REPO))

from sections import best_of  # noqa: E402  (one timing helper for the benches)

from digest.app import configured_transport, make_app  # noqa: E402
from digest.config import DkimSettings, load_settings  # noqa: E402
from digest.delivery import DELIVERY_BATCH  # noqa: E402
from digest.models import (  # noqa: E402
    UNSUBSCRIBE_PLACEHOLDER,
    DeliveryStatus,
    Rendered,
    edition_from_dict,
)
from digest.send import Outgoing, Unsubscribe, list_id, new_message_id  # noqa: E402
from digest.store import Outcome  # noqa: E402

DEMO = REPO / "examples" / "demo"
RECIPIENTS = 2_000
PEER_RECIPIENTS = 300
RUNS = 3
EDITION = date(2026, 11, 30)
NOW = datetime(2026, 11, 30, 6, 0, tzinfo=UTC)  # an hour before the demo's Monday 07:00 send
TARGET_RATIO = 2.0
TARGET_ASSEMBLY_US = 100.0
TARGET_BARE = 0.7  # issue 20: digest's send >= 0.7x a bare smtplib loop
SMTP_TIMEOUT_S = 30.0


class Counter:
    """aiosmtpd handler: accepts everything, keeps a count and a byte total, not the bodies.
    The counts live in shared memory: the server runs in a process of its own."""

    def __init__(self) -> None:
        self._counts = multiprocessing.Array("q", 3)  # messages, bytes, connections

    @property
    def messages(self) -> int:
        return int(self._counts[0])

    @property
    def bytes(self) -> int:
        return int(self._counts[1])

    @property
    def connections(self) -> int:  # EHLOs: smtplib sends one per connection
        return int(self._counts[2])

    async def handle_EHLO(self, server: Any, session: Session, envelope: Envelope,
                          hostname: str, responses: list[str]) -> list[str]:
        session.host_name = hostname
        with self._counts.get_lock():
            self._counts[2] += 1
        return responses

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        with self._counts.get_lock():
            self._counts[0] += 1
            self._counts[1] += len(envelope.original_content or b"")
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve(counter: Counter, port: int, ready: Any, stop: Any) -> None:
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait(3600)
    controller.stop()


@dataclass
class Server:
    """aiosmtpd in a child process (its own interpreter and core, as a real relay is)."""

    process: multiprocessing.Process
    stop_event: Any

    def stop(self) -> None:
        self.stop_event.set()
        self.process.join(30)
        if self.process.is_alive():
            self.process.kill()


def _fast_sink(counts: Any, port: int, ready: Any, stop: Any) -> None:
    """A minimal SMTP sink (RFC 5321's commands, answered at once; DATA read in blocks up to
    the final "."): so little work per message that the client's own cost shows. One
    thread per connection."""
    import socketserver

    class Session(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            sock = self.request
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(b"220 sink ESMTP\r\n")
            buffer = b""
            while True:
                while b"\r\n" not in buffer:
                    chunk = sock.recv(65536)
                    if not chunk:
                        return
                    buffer += chunk
                line, buffer = buffer.split(b"\r\n", 1)
                verb = line[:4].upper()
                if verb == b"EHLO":
                    sock.sendall(b"250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8\r\n")
                elif verb == b"DATA":
                    sock.sendall(b"354 go ahead\r\n")
                    buffer = b"\r\n" + buffer
                    while (end := buffer.find(b"\r\n.\r\n")) < 0:
                        keep = buffer[-4:]
                        chunk = sock.recv(262144)
                        if not chunk:
                            return
                        buffer = keep + chunk
                    buffer = buffer[end + 5:]
                    with counts.get_lock():
                        counts[0] += 1
                    sock.sendall(b"250 accepted\r\n")
                elif verb == b"QUIT":
                    sock.sendall(b"221 bye\r\n")
                    return
                else:
                    sock.sendall(b"250 ok\r\n")

    class Server(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Server(("127.0.0.1", port), Session) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        ready.set()
        stop.wait(3600)
        server.shutdown()


def _spawn(target: Callable[..., None], state: Any, what: str) -> tuple[Server, int]:
    """Run a server `target(state, port, ready, stop)` in a child process on a free port."""
    port = free_port()
    ready, stop = multiprocessing.Event(), multiprocessing.Event()
    process = multiprocessing.Process(target=target, args=(state, port, ready, stop),
                                      daemon=True)
    process.start()
    if not ready.wait(30):
        process.kill()
        raise RuntimeError(f"the {what} did not start")
    return Server(process, stop), port


def start_fast_sink() -> tuple[Server, Any, int]:
    counts = multiprocessing.Array("q", 1)
    server, port = _spawn(_fast_sink, counts, "SMTP sink")
    return server, counts, port


def start_server() -> tuple[Server, Counter, int]:
    counter = Counter()
    server, port = _spawn(_serve, counter, "SMTP server")
    return server, counter, port


class NoWire:
    """A transport that sends nothing (for digest's way without SMTP)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        return None

    def send(self, message: Outgoing, handed_over: Callable[[], None] | None = None) -> None:
        return None

    def delivered(self, message: Outgoing) -> bool:
        return False


def write_config(folder: Path, port: int, recipients: list[str]) -> Path:
    target = folder / "demo"
    shutil.copytree(DEMO, target, ignore=shutil.ignore_patterns("preview", "outbox", "*.db*"))
    config = target / "feeds.yaml"
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["database"] = "bench.db"
    data["delivery"] = {"from": "The Weekly Brief <brief@example.org>", "transport": "smtp",
                        "smtp": {"host": "127.0.0.1", "port": port, "security": "none"}}
    data["recipients"] = recipients
    config.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return config



def peer_message(rendered: Rendered, *, sender: str, recipient: str, edition: str,
                 lid: str, unsubscribe: Unsubscribe) -> EmailMessage:
    """The message built afresh with the standard library, as a peer does (and as digest did
    before it built the edition's message once)."""
    link = unsubscribe.link(recipient, lid) or f"mailto:{sender}"
    msg = EmailMessage()
    msg["Subject"] = rendered.subject
    msg["From"] = sender
    msg["To"] = recipient
    msg["Date"] = format_datetime(localtime())
    msg["Message-ID"] = new_message_id(edition, sender.rpartition("@")[2].rstrip(">"))
    msg["List-Id"] = lid
    msg["List-Unsubscribe"] = f"<{link}>"
    msg.set_content(rendered.text.replace(UNSUBSCRIBE_PLACEHOLDER, link), subtype="plain",
                    charset="utf-8", cte="quoted-printable")
    msg.add_alternative(rendered.html.replace(UNSUBSCRIBE_PLACEHOLDER, escape(link)),
                        subtype="html", charset="utf-8", cte="quoted-printable")
    return msg


def timed_deliver(config: Path, db: Path, counter: Counter | None, connections: int,
                  dkim_key: Path | None = None, *, port: int | None = None,
                  stuff_each: bool = False) -> tuple[float, int, int, int, int]:
    """`Publisher.deliver` on its own copy of the fetched database: seconds, sent, and what the
    server counted (messages, connections, bytes) during it. `dkim_key`: every message signed
    with this key (delivery.dkim)."""
    settings = load_settings(config, env={})
    smtp = settings.delivery.smtp.model_copy(update={
        "connections": connections, **({"port": port} if port is not None else {})})
    dkim = (DkimSettings(selector="bench", key_file=str(dkim_key))
            if dkim_key is not None else None)
    settings = settings.model_copy(update={
        "database": f"sqlite:///{db}",
        "delivery": settings.delivery.model_copy(update={"smtp": smtp, "dkim": dkim})})
    before = (counter.messages, counter.connections, counter.bytes) if counter else (0, 0, 0)
    transport = None
    if stuff_each:  # as before issue 20: every message dot-stuffed whole, per recipient
        def transport() -> Any:
            return StuffEach(configured_transport(settings))
    app = make_app(settings, clock=lambda: NOW, transport=transport)
    try:
        start = time.perf_counter()
        report = app.publisher.deliver(EDITION, fetch=False)
        seconds = time.perf_counter() - start
    finally:
        app.close()
    sent = sum(1 for r in report.results if r.status is DeliveryStatus.SENT)
    if counter is None:
        return seconds, sent, 0, 0, 0
    return (seconds, sent, counter.messages - before[0], counter.connections - before[1],
            counter.bytes - before[2])


class StuffEach:
    """The configured transport, given each message without its pre-stuffed bytes: the
    transport dot-stuffs the whole message itself, as every send did before issue 20."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def __enter__(self) -> Self:
        self.inner.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.inner.__exit__(*exc)

    def send(self, message: Outgoing, handed_over: Callable[[], None] | None = None) -> None:
        self.inner.send(dataclasses.replace(message, wire=None), handed_over or (lambda: None))

    def delivered(self, message: Outgoing) -> bool:
        return False


def bare_loop(port: int, prebuilt: Outgoing, addresses: list[str]) -> float:
    """Seconds for smtplib to send one prebuilt message to every address over one
    connection: the floor issue 20 measures digest's send against."""
    start = time.perf_counter()
    smtp = smtplib.SMTP("127.0.0.1", port, timeout=SMTP_TIMEOUT_S)
    try:
        for address in addresses:
            smtp.sendmail(prebuilt.sender, [address], prebuilt.data)
    finally:
        smtp.quit()
    return time.perf_counter() - start


def against_the_sink(config: Path, fetched: Path, folder: Path, prebuilt: Outgoing,
                     addresses: list[str], keys: dict[str, Path], runs: int
                     ) -> dict[str, float]:
    """Issue 20's bar, against the fast sink: the bare smtplib loop (one prebuilt message,
    one connection) and digest's send (one connection) with DKIM off, RSA-2048 and Ed25519,
    and with the old per-recipient dot-stuffing, and RSA-2048 over 4 connections (signing in
    each connection's thread); interleaved, best of `runs` each (seconds).
    The sink's count must reach every recipient each time."""
    sink, counts, port = start_fast_sink()
    best: dict[str, float] = {}
    try:
        for run in range(runs):
            before = counts[0]
            seconds = bare_loop(port, prebuilt, addresses)
            assert counts[0] - before == len(addresses), "the sink missed messages"
            best["bare"] = min(best.get("bare", seconds), seconds)
            for name, key, stuff, conns in (
                    ("off", None, False, 1), ("stuff_each", None, True, 1),
                    ("rsa", keys["rsa"], False, 1), ("ed25519", keys["ed25519"], False, 1),
                    ("rsa4", keys["rsa"], False, 4)):
                db = folder / f"sink-{name}-{run}.db"
                shutil.copyfile(fetched, db)
                before = counts[0]
                seconds, sent, _, _, _ = timed_deliver(config, db, None, conns, key, port=port,
                                                       stuff_each=stuff)
                assert sent == len(addresses) and counts[0] - before == len(addresses)
                best[name] = min(best.get(name, seconds), seconds)
    finally:
        sink.stop()
    return best


def write_dkim_keys(folder: Path) -> dict[str, Path]:
    """An RSA 2048 and an Ed25519 private key, PEM files in `folder`."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

    keys: dict[str, Any] = {"rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "ed25519": ed25519.Ed25519PrivateKey.generate()}
    paths = {}
    for kind, key in keys.items():
        paths[kind] = folder / f"dkim-{kind}.pem"
        paths[kind].write_bytes(key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption()))
    return paths


def bench(recipients: int = RECIPIENTS, peer_recipients: int = PEER_RECIPIENTS,
          runs: int = RUNS) -> dict[str, Any]:
    addresses = [f"reader{n:04d}@example.org" for n in range(1, recipients + 1)]
    peer_n = min(peer_recipients, recipients)
    with tempfile.TemporaryDirectory(prefix="digest-bench-delivery-") as tmp:
        folder = Path(tmp)
        controller, counter, port = start_server()
        try:
            config = write_config(folder, port, addresses)
            settings = load_settings(config, env={})
            app = make_app(settings, clock=lambda: NOW)
            app.poller.sync_feeds()
            _, send_at = app.editions.edition_for(EDITION)
            app.poller.refresh(as_of=send_at)
            app.close()  # flush to the file before copying it
            fetched = config.parent / "bench.db"
            copies = {}
            for name in ("one", "four", "nowire", "rsa", "ed25519"):
                copies[name] = folder / f"{name}.db"
                shutil.copyfile(fetched, copies[name])

            # --- digest's way: one edition, its message built once, bookkeeping ---
            one = timed_deliver(config, copies["one"], counter, 1)
            four = timed_deliver(config, copies["four"], counter, 4)
            keys = write_dkim_keys(folder)
            signed = {kind: timed_deliver(config, copies[kind], counter, 1, keys[kind])
                      for kind in ("rsa", "ed25519")}

            app = make_app(load_settings(config, env={}).model_copy(
                update={"database": f"sqlite:///{copies['one']}"}), clock=lambda: NOW)
            try:
                frozen = app.store.frozen_edition(EDITION)
                assert frozen is not None, "the demo edition was not frozen"
                edition = edition_from_dict(frozen.payload)
                rendered = Rendered(frozen.subject, frozen.html, frozen.text)
                name = EDITION.isoformat()

                # --- per-recipient assembly ---
                letters = app.editions.letters
                letter_s = best_of(runs, lambda: letters.letter(rendered, EDITION))
                letter = letters.letter(rendered, EDITION)
                def assemble() -> None:  # each message dropped after use, as a send does
                    for address in addresses:
                        letter.for_recipient(address)

                assemble_s = best_of(runs, assemble)
                wire_bytes = len(letter.for_recipient(addresses[0]).data)

                # --- bookkeeping: claim + hand-over + finish per recipient, fresh edition ---
                row = app.store.freeze_edition(  # an edition of its own, far from the demo's
                    date(2099, 1, 5), title=edition.title, payload={},
                    subject=frozen.subject, html="", text="", fingerprints=(), now=NOW)
                store = app.store
                start = time.perf_counter()
                for first in range(0, len(addresses), DELIVERY_BATCH):  # as deliver does
                    chunk = addresses[first:first + DELIVERY_BATCH]
                    store.delivery_states(row.id, chunk)
                    taken = store.take_deliveries(row.id, chunk, owner="bench:1:1", now=NOW,
                                                  stale_before=NOW)
                    for claim in taken:
                        store.handed_over(row.id, claim.recipient, now=NOW, owner="bench:1:1")
                    store.finish_deliveries(row.id, [
                        Outcome(c.recipient, DeliveryStatus.SENT, f"<{c.recipient}>")
                        for c in taken], now=NOW)
                bookkeeping_s = time.perf_counter() - start
            finally:
                app.close()

            # --- the floor: a bare smtplib loop, the same prebuilt message, one connection ---
            prebuilt = letter.for_recipient(addresses[0])
            before_bare = counter.messages
            bare_s = bare_loop(port, prebuilt, addresses)
            bare_received = counter.messages - before_bare
            sink = against_the_sink(config, fetched, folder, prebuilt, addresses, keys, runs)

            # --- digest's way without the wire ---
            nowire_settings = load_settings(config, env={}).model_copy(
                update={"database": f"sqlite:///{copies['nowire']}"})
            nowire = make_app(nowire_settings, clock=lambda: NOW, transport=NoWire)
            try:
                start = time.perf_counter()
                nowire.publisher.deliver(EDITION, fetch=False)
                nowire_s = time.perf_counter() - start
            finally:
                nowire.close()
        finally:
            controller.stop()

        # --- the peer: render afresh, compose afresh, new connection per message ---
        controller, peer_counter, port = start_server()
        peer_app = make_app(nowire_settings, clock=lambda: NOW)
        try:
            sender = settings.delivery.from_
            lid = list_id(settings.title, sender)
            start = time.perf_counter()
            for address in addresses[:peer_n]:
                fresh = peer_app.editions.render(edition)
                message = peer_message(fresh, sender=sender, recipient=address, edition=name,
                                       lid=lid, unsubscribe=peer_app.editions.letters.unsubscribe)
                smtp = smtplib.SMTP("127.0.0.1", port, timeout=SMTP_TIMEOUT_S)
                try:
                    smtp.send_message(message)
                finally:
                    smtp.quit()
            peer_s = time.perf_counter() - start
            peer_received, peer_sessions = peer_counter.messages, peer_counter.connections
        finally:
            peer_app.close()
            controller.stop()

    digest_s = one[0]
    peer_rate = peer_n / peer_s
    bare_rate = recipients / bare_s
    return {
        **{f"sink_{name}_s": round(secs, 3) for name, secs in sink.items()},
        **{f"sink_{name}_ratio": round(sink["bare"] / secs, 2) for name, secs in sink.items()},
        "bare_s": round(bare_s, 3),
        "bare_per_s": round(bare_rate, 1),
        "bare_received": bare_received,
        "bare_ratio": round(recipients / digest_s / bare_rate, 2),
        **{f"dkim_{kind}_{field}": value for kind, (secs, sent, received, _, _)
           in signed.items() for field, value in (
               ("s", round(secs, 3)), ("per_s", round(recipients / secs, 1)),
               ("sent", sent), ("received", received),
               ("ratio", round(recipients / secs / bare_rate, 2)))},
        "recipients": recipients,
        "html_bytes": len(rendered.html.encode()),
        "text_bytes": len(rendered.text.encode()),
        "message_bytes": wire_bytes,
        "stories": sum(len(s.stories) for s in edition.sections),
        "digest_s": round(digest_s, 3),
        "digest_per_s": round(recipients / digest_s, 1),
        "digest_sent": one[1],
        "digest_received": one[2],
        "digest_connections": one[3],
        "digest_received_mb": round(one[4] / 1e6, 1),
        "digest4_s": round(four[0], 3),
        "digest4_per_s": round(recipients / four[0], 1),
        "digest4_sent": four[1],
        "digest4_received": four[2],
        "digest4_connections": four[3],
        "nowire_s": round(nowire_s, 3),
        "peer_recipients": peer_n,
        "peer_s": round(peer_s, 3),
        "peer_scaled_s": round(peer_s * recipients / peer_n, 2),
        "peer_per_s": round(peer_rate, 1),
        "peer_received": peer_received,
        "peer_connections": peer_sessions,
        "ratio": round(recipients / digest_s / peer_rate, 2),
        "ratio4": round(recipients / four[0] / peer_rate, 2),
        "letter_ms": round(letter_s * 1e3, 2),
        "assembly_us": round(assemble_s / recipients * 1e6, 1),
        "bookkeeping_s": round(bookkeeping_s, 3),
        "bookkeeping_us": round(bookkeeping_s / recipients * 1e6, 1),
        "bookkeeping_share": round(bookkeeping_s / digest_s, 3),
        "runs": runs,
    }


def print_report(r: dict[str, Any]) -> None:
    n = r["recipients"]
    print(f"\nDelivery ({n:,} recipients, demo edition {EDITION}: {r['stories']} stories, "
          f"HTML {r['html_bytes']:,} bytes, text {r['text_bytes']:,} bytes, "
          f"{r['message_bytes']:,} bytes on the wire per message; local aiosmtpd)")
    print(f"  digest deliver, 1 conn  {r['digest_s']:7.2f} s  {r['digest_per_s']:8.1f} msg/s  "
          f"({r['digest_sent']:,} recorded sent, {r['digest_received']:,} received over "
          f"{r['digest_connections']} connection(s), {r['digest_received_mb']} MB)")
    print(f"  digest deliver, 4 conns {r['digest4_s']:7.2f} s  {r['digest4_per_s']:8.1f} msg/s  "
          f"({r['digest4_sent']:,} recorded sent, {r['digest4_received']:,} received over "
          f"{r['digest4_connections']} connection(s))")
    print(f"  floor: bare smtplib loop, one prebuilt message, one connection "
          f"{r['bare_s']:7.2f} s  {r['bare_per_s']:8.1f} msg/s  ({r['bare_received']:,} "
          "received)")
    print(f"  RATIO digest (1 conn) / bare smtplib loop: {r['bare_ratio']}x  "
          f"(target >= {TARGET_BARE:g}x)")
    for kind, label in (("rsa", "RSA-2048"), ("ed25519", "Ed25519")):
        print(f"  digest deliver, DKIM {label:<8} {r[f'dkim_{kind}_s']:7.2f} s  "
              f"{r[f'dkim_{kind}_per_s']:8.1f} msg/s  ({r[f'dkim_{kind}_sent']:,} recorded "
              f"sent, {r[f'dkim_{kind}_received']:,} received) = "
              f"{r[f'dkim_{kind}_ratio']}x the bare loop")
    print(f"  against a minimal SMTP sink (it answers at once; best of {r['runs']}, "
          "interleaved):")
    bare = r["sink_bare_s"]
    print(f"    bare smtplib loop, one prebuilt message {bare:7.3f} s  {n / bare:8.1f} msg/s")
    for name, label in (("off", "digest send, DKIM off"),
                        ("stuff_each", "digest send, dot-stuffing per reader (before)"),
                        ("rsa", "digest send, DKIM RSA-2048"),
                        ("ed25519", "digest send, DKIM Ed25519"),
                        ("rsa4", "digest send, DKIM RSA-2048, 4 connections")):
        secs = r[f"sink_{name}_s"]
        print(f"    {label:<45} {secs:7.3f} s  {n / secs:8.1f} msg/s  = "
              f"{r[f'sink_{name}_ratio']}x the bare loop"
              + (f"  (target >= {TARGET_BARE:g}x)" if name == "off" else ""))
    print(f"  peer: render + compose + new connection per message (rss2email's way), "
          f"{r['peer_recipients']:,} recipients")
    print(f"                          {r['peer_s']:7.2f} s  {r['peer_per_s']:8.1f} msg/s  "
          f"({r['peer_received']:,} received over {r['peer_connections']} connections)")
    scaled = "" if r["peer_recipients"] == n else ", scaled linearly from the sample"
    print(f"  peer for {n:,}          {r['peer_scaled_s']:7.2f} s{scaled}")
    print(f"  RATIO digest / peer messages per second: {r['ratio']}x with one connection, "
          f"{r['ratio4']}x with 4  (target >= {TARGET_RATIO:g}x)")
    print(f"  assembly  Letter.for_recipient {r['assembly_us']:7.1f} us/recipient  (target < "
          f"{TARGET_ASSEMBLY_US:g} us; best of {r['runs']}); the Letter once: "
          f"{r['letter_ms']:.2f} ms")
    print(f"  bookkeeping (batch claims, hand-over notes, batch records) "
          f"{r['bookkeeping_s']:7.2f} s  "
          f"{r['bookkeeping_us']:7.1f} us/recipient  = {r['bookkeeping_share']:.1%} of "
          "digest's total (one connection)")
    print(f"  digest deliver, no SMTP (transport sends nothing) {r['nowire_s']:7.2f} s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipients", type=int, default=RECIPIENTS)
    parser.add_argument("--peer-recipients", type=int, default=PEER_RECIPIENTS, metavar="N",
                        help="recipients the peer sends to (fewer: scaled, and said so)")
    parser.add_argument("--runs", type=int, default=RUNS, help="assembly timing: best of N")
    args = parser.parse_args(argv)
    print_report(bench(args.recipients, args.peer_recipients, args.runs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
