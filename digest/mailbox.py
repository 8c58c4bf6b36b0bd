"""Read the bounce mailbox over IMAP and hand each message out until it is marked done; never
parses a message or decides what it means (the bounce use case does) and keeps no history.

The only importer of the standard library's imaplib. A `Mailbox` is a session: connect with
TLS (implicit or STARTTLS: no plain-text option, so the password never travels in clear; the
certificate and host name verified), log in, select the folder read-write. `pending()` lists
what is left, oldest first; `done(uid)` moves a message to `done_folder`, or flags it with
DONE_KEYWORD, so no later session hands it out again. A crash between the two hands the message
out again: at least once, never lost (the caller recognises a repeat by an id it stored).

The server is not trusted with our memory or time: every answer is read within a byte budget,
a literal larger than the size cap ends the session, at most MAX_LIMIT messages are handled per
call, and the socket has a timeout.
"""

from __future__ import annotations

import base64
import contextlib
import imaplib
import logging
import re
import ssl
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Self

from digest.errors import DigestError

log = logging.getLogger(__name__)

DONE_KEYWORD = "$DigestDone"  # marks a processed message when done_folder is None
MAX_LIMIT = 5_000  # messages one pending() call handles, whatever the caller asks for
_CALL_BYTES = 64 << 20  # bodies one pending() call downloads (at least one message)
_CHUNK_BYTES = 8 << 20  # bodies one UID FETCH asks for (at least one message)
_CHUNK_COUNT = 100  # messages one UID FETCH of bodies names
_SIZES_COUNT = 500  # messages one UID FETCH of sizes names (a command line stays < 8 kB)
_ANSWER_BYTES = 4 << 20  # what any other answer may take (imaplib caps a line at 1 MB)
_SMALL_LITERAL = 64 << 10  # a literal outside a body fetch (a folder name, say)
_SERVER_TEXT = 200  # characters of a server's reply quoted in an error

Answer = tuple[str, list[Any]]


class MailboxError(DigestError):
    """The mailbox cannot be read: one line naming the server (host:port) and what failed
    (connect, TLS certificate not trusted, login refused for a user, a folder missing); never
    the password."""


@dataclass(frozen=True, slots=True)
class ImapOptions:
    """Where the bounce mailbox is and how to treat what was read (config's bounces.imap)."""

    host: str
    port: int = 993
    security: Literal["tls", "starttls"] = "tls"  # no plaintext option: see the docstring
    username: str = ""
    password: str = ""
    folder: str = "INBOX"
    # Processed messages are moved here (created if missing); None: they stay, flagged with
    # DONE_KEYWORD (for an account where moving is not wanted or not allowed).
    done_folder: str | None = "Processed"
    ca_file: str | None = None  # trust this CA instead of the system's (a private server)
    timeout: float = 30.0  # seconds, for each read or write on the socket
    max_message_bytes: int = 10_000_000  # larger messages are listed but not downloaded


@dataclass(frozen=True, slots=True)
class MailItem:
    """One message not yet done. `data` is the message exactly as stored (CRLF line ends),
    None when it is larger than max_message_bytes (not downloaded); `size` its size in bytes
    (the server's RFC822.SIZE for one not downloaded)."""

    uid: str
    data: bytes | None
    size: int


class _BoundedImap(imaplib.IMAP4):
    """imaplib's client reading each answer within a byte budget, through the two hooks its
    documentation offers for overriding (read for literals, readline for lines): a server that
    announces a huge literal or talks without end ends the session instead of filling memory."""

    literal_cap = _SMALL_LITERAL  # the largest literal accepted
    budget = _ANSWER_BYTES  # bytes left for the answer being read (set before each command)

    def read(self, size: int) -> bytes:
        if size > self.literal_cap:
            raise self.abort(f"server announced a {size}-byte literal, over the "
                             f"{self.literal_cap}-byte cap")
        self._spend(size)
        return super().read(size)

    def readline(self) -> bytes:
        line = super().readline()
        self._spend(len(line))
        return line

    def _spend(self, size: int) -> None:
        self.budget -= size
        if self.budget < 0:
            raise self.abort("server's answer is larger than expected")


class _BoundedImapTls(_BoundedImap, imaplib.IMAP4_SSL):
    """The same over implicit TLS."""


class Mailbox:
    """One IMAP session on the bounce folder; a context manager (connects and logs in on
    entry, logs out on exit)."""

    def __init__(self, options: ImapOptions) -> None:
        self.options = options
        self._where = f"IMAP {options.host}:{options.port}"
        self._folder = self._name(options.folder, "folder")
        self._done_folder = None if options.done_folder is None else \
            self._name(options.done_folder, "done_folder")
        if options.done_folder is not None and options.done_folder == options.folder:
            raise MailboxError(f"{self._where}: done_folder is the folder read "
                               f"({options.folder!r}): processed messages would come back")
        self._imap: _BoundedImap | None = None
        self._capabilities: frozenset[str] = frozenset()
        self._created = False  # done_folder created (or found) in this session
        self._broken = False  # the connection failed: no LOGOUT to send, just close it

    def __enter__(self) -> Self:
        self._imap = self._connect()
        try:
            self._login()
            self._select()
        except BaseException:
            self._close()
            raise
        return self

    def __exit__(self, et: type[BaseException] | None, e: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._close()

    def pending(self, limit: int = 500) -> list[MailItem]:
        """Messages not yet done, oldest (lowest UID) first: at most `limit` and MAX_LIMIT,
        fewer once their bodies pass 64 MB (the rest come next call). With done_folder, all
        in the folder (done ones were moved out), else those without DONE_KEYWORD; never one
        flagged \\Deleted (a copy-and-expunge move half done). BODY.PEEK[]: nothing is \\Seen."""
        if limit < 1:
            return []
        criteria = "UNDELETED" if self._done_folder is not None else \
            f"UNDELETED UNKEYWORD {DONE_KEYWORD}"
        uids = sorted(self._search(criteria))[:min(limit, MAX_LIMIT)]
        sizes = self._sizes(uids)
        cap = self.options.max_message_bytes
        chosen: list[int] = []
        spent = 0
        for uid in uids:
            if uid not in sizes:  # expunged meanwhile
                continue
            if sizes[uid] <= cap:
                if chosen and spent + sizes[uid] > max(_CALL_BYTES, cap):
                    break
                spent += sizes[uid]
            chosen.append(uid)
        bodies = self._bodies([u for u in chosen if sizes[u] <= cap], sizes)
        items = []
        for uid in chosen:
            if sizes[uid] > cap:
                items.append(MailItem(str(uid), None, sizes[uid]))
            elif uid in bodies:  # else expunged meanwhile
                items.append(MailItem(str(uid), bodies[uid], len(bodies[uid])))
        log.debug("%s: %d message(s) pending in %r", self._where, len(items),
                  self.options.folder)
        return items

    def done(self, uid: str) -> None:
        """Mark one message (a UID from this session's pending()) as processed: moved to
        done_folder (UID MOVE, RFC 6851, where offered; else UID COPY, \\Deleted and UID
        EXPUNGE from UIDPLUS, RFC 4315, or a plain EXPUNGE), or without done_folder flagged
        DONE_KEYWORD and \\Seen. A message already gone is not an error: done twice is fine."""
        if not re.fullmatch(r"[1-9][0-9]{0,9}", uid):
            raise ValueError(f"not an IMAP UID: {uid!r}")
        what = f"marking message {uid} done"
        if self._done_folder is None:
            answer = self._uid(what, "STORE", uid, "+FLAGS.SILENT",
                               f"({DONE_KEYWORD} \\Seen)", check=False)
            self._expect_or_gone(what, uid, answer)
            return
        if "MOVE" in self._capabilities:
            self._into_done_folder(uid, "MOVE")
            return
        self._into_done_folder(uid, "COPY")
        answer = self._uid(what, "STORE", uid, "+FLAGS.SILENT", "(\\Deleted)", check=False)
        self._expect_or_gone(what, uid, answer)
        if "UIDPLUS" in self._capabilities:
            self._uid(what, "EXPUNGE", uid)
        else:  # also removes any other message flagged \Deleted in the folder
            self._expect(what, self._command(what, lambda imap: imap.expunge()))

    # --- the session ---

    def _connect(self) -> _BoundedImap:
        o = self.options
        try:  # verifies the certificate chain and the host name
            context = ssl.create_default_context(cafile=o.ca_file)
        except (OSError, ssl.SSLError) as e:
            raise MailboxError(f"{self._where}: ca_file {o.ca_file}: cannot load: "
                               f"{self._text(e)}") from e
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        imap: _BoundedImap | None = None
        try:
            if o.security == "tls":
                imap = _BoundedImapTls(o.host, o.port, ssl_context=context, timeout=o.timeout)
            else:
                imap = _BoundedImap(o.host, o.port, timeout=o.timeout)
                if "STARTTLS" not in imap.capabilities:
                    raise MailboxError(f"{self._where}: server does not offer STARTTLS (use "
                                       "security: tls)")
                imap.starttls(context)
        except BaseException as e:
            if imap is not None:
                with contextlib.suppress(Exception):
                    imap.shutdown()
            if isinstance(e, ssl.SSLCertVerificationError):
                raise MailboxError(f"{self._where}: TLS certificate not trusted: "
                                   f"{e.verify_message} (set ca_file for a private "
                                   "server)") from e
            if isinstance(e, ssl.SSLError):
                hint = " (a plain-text port? it needs security: starttls)" \
                    if e.reason == "WRONG_VERSION_NUMBER" else ""
                raise MailboxError(f"{self._where}: TLS handshake failed: "
                                   f"{self._text(e)}{hint}") from e
            if isinstance(e, OSError | imaplib.IMAP4.error):  # refused, timed out, a BYE
                raise MailboxError(f"{self._where}: cannot connect: {self._text(e)}") from e
            raise
        return imap

    def _login(self) -> None:
        o = self.options
        refused = f"{self._where}: login refused for user {o.username!r}"
        try:
            user = _quoted(o.username)
            _quoted(o.password)
        except ValueError as e:
            raise MailboxError(f"{self._where}: cannot log in as {o.username!r}: the user "
                               f"name or password {e}") from None
        imap = self._session()
        imap.budget = _ANSWER_BYTES
        try:
            imap.login(user, o.password)  # imaplib quotes the password itself
        except (imaplib.IMAP4.abort, OSError) as e:
            raise MailboxError(f"{self._where}: connection lost at login: "
                               f"{self._text(e)}") from e
        except imaplib.IMAP4.error as e:
            raise MailboxError(f"{refused}: {self._text(e)}") from e
        # The extensions on offer can change with login (MOVE, UIDPLUS): ask again.
        answer = self._command("asking for capabilities", lambda imap: imap.capability())
        self._expect("asking for capabilities", answer)
        self._capabilities = frozenset(
            word.upper() for line in answer[1] if isinstance(line, bytes)
            for word in line.decode("ascii", "replace").split())

    def _select(self) -> None:
        o = self.options
        what = f"opening folder {o.folder!r}"
        answer = self._command(what, lambda imap: imap.select(self._folder))
        if answer[0] != "OK":
            raise MailboxError(f"{self._where}: folder {o.folder!r} missing or not "
                               f"selectable: {self._text(answer[1])}")
        if self._done_folder is None:
            # RFC 3501 section 7.1: without \* in PERMANENTFLAGS new keywords do not stick,
            # and every message would be handed out again forever.
            _, permanent = self._session().response("PERMANENTFLAGS")
            flags = b" ".join(p for p in permanent if isinstance(p, bytes)).lower()
            if permanent and b"\\*" not in flags and DONE_KEYWORD.lower().encode() not in flags:
                raise MailboxError(f"{self._where}: folder {o.folder!r} does not keep the "
                                   f"keyword {DONE_KEYWORD} (set done_folder)")

    def _close(self) -> None:
        """Log out; never raises (the session is over either way)."""
        imap, self._imap = self._imap, None
        if imap is None:
            return
        imap.budget, imap.literal_cap = _ANSWER_BYTES, _SMALL_LITERAL
        try:
            if not self._broken:
                imap.logout()
                return
        except Exception as e:  # a dead connection: nothing left to tell the server
            log.debug("%s: logout failed: %s", self._where, e)
        with contextlib.suppress(Exception):
            imap.shutdown()

    def _session(self) -> _BoundedImap:
        if self._imap is None:
            raise RuntimeError("Mailbox is used outside its `with` block")
        return self._imap

    def _command(self, what: str, call: Callable[[_BoundedImap], Answer], *,
                 budget: int = _ANSWER_BYTES, literal_cap: int = _SMALL_LITERAL) -> Answer:
        """Run one command within its budget; a protocol error or a lost connection becomes
        a MailboxError saying what we were doing."""
        imap = self._session()
        imap.budget, imap.literal_cap = budget, literal_cap
        try:
            return call(imap)
        except imaplib.IMAP4.readonly as e:  # SELECT answered READ-ONLY
            raise MailboxError(f"{self._where}: {what}: the folder is read-only, so no "
                               "message could be marked done") from e
        except (imaplib.IMAP4.abort, OSError) as e:
            self._broken = True
            raise MailboxError(f"{self._where}: {what}: connection lost: "
                               f"{self._text(e)}") from e
        except imaplib.IMAP4.error as e:
            raise MailboxError(f"{self._where}: {what}: {self._text(e)}") from e

    def _uid(self, what: str, command: str, *args: str, budget: int = _ANSWER_BYTES,
             literal_cap: int = _SMALL_LITERAL, check: bool = True) -> Answer:
        """One UID command (RFC 3501 section 6.4.8), as _command runs it; `check`: a refusal
        (NO, BAD) is a MailboxError too."""
        answer = self._command(what, lambda imap: imap.uid(command, *args), budget=budget,
                               literal_cap=literal_cap)
        if check:
            self._expect(what, answer)
        return answer

    def _expect(self, what: str, answer: Answer) -> None:
        if answer[0] != "OK":
            raise MailboxError(f"{self._where}: {what}: {self._text(answer[1])}")

    def _expect_or_gone(self, what: str, uid: str, answer: Answer) -> None:
        """A refusal about a message that is no longer in the folder is not a failure (RFC
        3501 makes a UID that does not exist a no-op, but not every server reads it so)."""
        if answer[0] != "OK" and int(uid) in self._search(f"UID {uid}"):
            self._expect(what, answer)

    def _into_done_folder(self, uid: str, verb: Literal["MOVE", "COPY"]) -> None:
        target, folder = self._done_folder, self.options.done_folder
        assert target is not None
        what = f"{'moving' if verb == 'MOVE' else 'copying'} message {uid} to {folder!r}"
        answer = self._uid(what, verb, uid, target, check=False)
        if answer[0] == "NO" and not self._created:
            # RFC 3501 section 6.4.7: [TRYCREATE] when the target does not exist; some
            # servers omit the code, so create on any refusal, once a session.
            self._created = True
            created = self._command(f"creating {folder!r}", lambda imap: imap.create(target))
            if created[0] == "OK":  # and subscribed: some mail clients list no other folder
                log.info("%s: created folder %r", self._where, folder)
                self._command(f"subscribing to {folder!r}", lambda imap: imap.subscribe(target))
            answer = self._uid(what, verb, uid, target, check=False)
        self._expect_or_gone(what, uid, answer)

    # --- reading ---

    def _search(self, criteria: str) -> set[int]:
        what = f"searching folder {self.options.folder!r}"
        answer = self._uid(what, "SEARCH", criteria)
        found: set[int] = set()
        for line in answer[1]:
            if line is None:
                continue
            if not isinstance(line, bytes) or not re.fullmatch(rb"[0-9 ]*", line):
                raise MailboxError(f"{self._where}: {what}: unexpected answer "
                                   f"{self._text(line)}")
            found.update(int(token) for token in line.split() if len(token) <= 10)
        return found

    def _sizes(self, uids: list[int]) -> dict[int, int]:
        what = f"reading message sizes in {self.options.folder!r}"
        wanted = set(uids)
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), _SIZES_COUNT):
            uid_set = _uid_set(uids[start:start + _SIZES_COUNT])
            answer = self._uid(what, "FETCH", uid_set, "(UID RFC822.SIZE)")
            for line in answer[1]:
                uid = _UID.search(line) if isinstance(line, bytes) else None
                size = _SIZE.search(line) if uid else None
                if uid and size and int(uid.group(1)) in wanted:
                    sizes[int(uid.group(1))] = int(size.group(1))
        return sizes

    def _bodies(self, uids: list[int], sizes: dict[int, int]) -> dict[int, bytes]:
        bodies: dict[int, bytes] = {}
        for chunk in _chunks(uids, sizes):
            what = f"reading messages in {self.options.folder!r}"
            expected = sum(sizes[u] for u in chunk)
            answer = self._uid(
                what, "FETCH", _uid_set(chunk), "(UID BODY.PEEK[])",
                # room for a server's RFC822.SIZE being somewhat off, and the framing
                budget=2 * expected + (1 << 20), literal_cap=self.options.max_message_bytes)
            bodies.update(_literals(answer[1], set(chunk)))
        return bodies

    # --- text ---

    def _name(self, folder: str, key: str) -> str:
        try:
            return _quoted(_modified_utf7(folder))
        except ValueError as e:
            raise MailboxError(f"{self._where}: {key} {folder!r}: {e}") from None

    def _text(self, reply: object) -> str:
        """A server's words or an error's, fit for one line: decoded, control characters
        dropped, shortened, and never the password (a server could echo it back)."""
        if isinstance(reply, ssl.SSLError) and reply.reason:
            reply = reply.reason  # WRONG_VERSION_NUMBER rather than a paragraph
        elif isinstance(reply, OSError) and reply.strerror:
            reply = reply.strerror
        elif isinstance(reply, BaseException) and len(reply.args) == 1:
            reply = reply.args[0]  # imaplib raises with the server's bytes
        if isinstance(reply, list):
            reply = b" ".join(r if isinstance(r, bytes) else str(r).encode() for r in reply
                              if r is not None)
        text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else str(reply)
        text = "".join(c if c.isprintable() else " " for c in text).strip()
        if self.options.password:
            text = text.replace(self.options.password, "***")
        if len(text) > _SERVER_TEXT:
            text = text[:_SERVER_TEXT] + "..."
        return text or "(no reason given)"


_UID = re.compile(rb"\bUID ([0-9]{1,10})\b")
_SIZE = re.compile(rb"\bRFC822\.SIZE ([0-9]{1,20})\b")
_BODY = re.compile(rb"\bBODY\[\] \{[0-9]+\}$")


def _literals(data: list[Any], wanted: set[int]) -> dict[int, bytes]:
    """The bodies of a UID FETCH answer by UID. imaplib hands a literal over as a pair (the
    line up to it, the literal), followed by the rest of the line; the UID may stand in
    either (RFC 3501 leaves the order of FETCH items to the server)."""
    found: dict[int, bytes] = {}
    for i, part in enumerate(data):
        if not (isinstance(part, tuple) and len(part) == 2 and _BODY.search(part[0])):
            continue
        after = data[i + 1] if i + 1 < len(data) and isinstance(data[i + 1], bytes) else b""
        uid = _UID.search(part[0]) or _UID.search(after)
        if uid and int(uid.group(1)) in wanted:
            found[int(uid.group(1))] = part[1]
    return found


def _chunks(uids: list[int], sizes: dict[int, int]) -> Iterable[list[int]]:
    """UIDs in groups for one UID FETCH each: at most _CHUNK_COUNT, and _CHUNK_BYTES of
    bodies unless a single message is larger."""
    chunk: list[int] = []
    total = 0
    for uid in uids:
        if chunk and (len(chunk) >= _CHUNK_COUNT or total + sizes[uid] > _CHUNK_BYTES):
            yield chunk
            chunk, total = [], 0
        chunk.append(uid)
        total += sizes[uid]
    if chunk:
        yield chunk


def _uid_set(uids: list[int]) -> str:
    """UIDs as an IMAP sequence set, runs written as ranges (RFC 3501 section 9,
    sequence-set): "3:5,9" names exactly 3, 4, 5 and 9."""
    runs: list[list[int]] = []
    for uid in sorted(set(uids)):
        if runs and uid == runs[-1][1] + 1:
            runs[-1][1] = uid
        else:
            runs.append([uid, uid])
    return ",".join(str(a) if a == b else f"{a}:{b}" for a, b in runs)


def _quoted(text: str) -> str:
    """An IMAP quoted string (RFC 3501 section 4.3): ASCII, no CR, LF or NUL."""
    if not text.isascii() or any(c in text for c in "\r\n\0"):
        raise ValueError("must be ASCII without line breaks")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _modified_utf7(name: str) -> str:
    """A folder name as IMAP spells it (RFC 3501 section 5.1.3): printable ASCII as itself
    ("&" as "&-"), anything else as UTF-16 in base64 with "," for "/", between "&" and "-"."""
    if not name or any(c in name for c in "\r\n\0"):
        raise ValueError("empty, or holds a line break")
    out: list[str] = []
    other: list[str] = []

    def flush() -> None:
        if other:
            encoded = base64.b64encode("".join(other).encode("utf-16-be")).decode("ascii")
            out.append("&" + encoded.rstrip("=").replace("/", ",") + "-")
            other.clear()

    for c in name:
        if " " <= c <= "~":
            flush()
            out.append("&-" if c == "&" else c)
        else:
            other.append(c)
    flush()
    return "".join(out)
