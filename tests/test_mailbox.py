"""digest.mailbox against a real IMAP server (a private dovecot, tests/dovecot.py, emptied for
each test):
messages come back byte for byte until marked done, done moves or flags them (and may be
repeated), TLS is verified, and every failure is one line naming the server. A scripted server
plays the hostile one (a huge literal, an endless answer, a flood of UIDs, silence)."""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import HANG, REPO, free_port, wait_until
from digest.mailbox import (
    DONE_KEYWORD,
    MAX_LIMIT,
    ImapOptions,
    Mailbox,
    MailboxError,
    MailItem,
)
from dovecot import DOVECOT, Dovecot, dovecot_server, make_certificates, start_dovecot

# The fixture lives in tests/dovecot.py (not conftest: only these tests start dovecot); its
# name must be in this module for pytest to find it.
USES_FIXTURES = (dovecot_server,)

WRONG_PASSWORD = "Wr0ng-pass-Qx7-never-print"


@pytest.fixture(autouse=True)
def system_trust_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """"The system's CAs" means OpenSSL's defaults, not a bundle an environment variable names."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


def bounce(n: int, padding: int = 0) -> bytes:
    """A delivery status notification (RFC 3464's shape), invented, with CRLF line ends as
    IMAP stores messages; `padding` adds that many bytes of body."""
    return (f"From: Mail Delivery System <mailer-daemon@mx.example.net>\r\n"
            f"To: bounces@example.org\r\n"
            f"Subject: Undelivered Mail Returned to Sender {n}\r\n"
            f"Message-ID: <dsn-{n}@mx.example.net>\r\n"
            f"Content-Type: text/plain; charset=us-ascii\r\n"
            f"\r\n"
            f"The message to reader{n}@example.com could not be delivered.\r\n"
            f"{'x' * padding}\r\n").encode("ascii")


def uids(items: list[MailItem]) -> list[str]:
    return [item.uid for item in items]


# --- reading ------------------------------------------------------------------------------


def test_pending_returns_each_message_exactly_as_stored(dovecot_server: Dovecot) -> None:
    first, second = bounce(1), bounce(2, padding=3000)
    uid1 = dovecot_server.append(first)
    uid2 = dovecot_server.append(second)
    with Mailbox(dovecot_server.options()) as mailbox:
        items = mailbox.pending()
    assert items == [MailItem(uid1, first, len(first)), MailItem(uid2, second, len(second))]
    assert b"\r\n" in first and b"\n" not in first.replace(b"\r\n", b"")
    # read with BODY.PEEK[]: nothing became \Seen
    assert dovecot_server.flags() == {uid1: set(), uid2: set()}


def test_an_empty_folder_has_nothing_pending(dovecot_server: Dovecot) -> None:
    with Mailbox(dovecot_server.options()) as mailbox:
        assert mailbox.pending() == []
        assert mailbox.pending(limit=0) == []


def test_limit_hands_out_the_oldest_first(dovecot_server: Dovecot) -> None:
    appended = [dovecot_server.append(bounce(n)) for n in range(5)]
    with Mailbox(dovecot_server.options()) as mailbox:
        batch = mailbox.pending(limit=2)
        assert uids(batch) == appended[:2]
        for item in batch:
            mailbox.done(item.uid)
        assert uids(mailbox.pending(limit=2)) == appended[2:4]
        assert uids(mailbox.pending()) == appended[2:]


def test_a_message_over_the_size_cap_is_listed_but_not_downloaded(
        dovecot_server: Dovecot) -> None:
    small, large = bounce(1), bounce(2, padding=5000)
    uid_small = dovecot_server.append(small)
    uid_large = dovecot_server.append(large)
    with Mailbox(dovecot_server.options(max_message_bytes=len(small) + 10)) as mailbox:
        items = mailbox.pending()
        assert items == [MailItem(uid_small, small, len(small)),
                         MailItem(uid_large, None, len(large))]
        mailbox.done(uid_large)  # the caller may still set it aside
        assert uids(mailbox.pending()) == [uid_small]
    assert list(dovecot_server.messages("Processed").values()) == [large]


def test_starttls_on_the_plain_imap_port(dovecot_server: Dovecot) -> None:
    message = bounce(1)
    uid = dovecot_server.append(message)
    options = dovecot_server.options(port=dovecot_server.imap_port, security="starttls")
    with Mailbox(options) as mailbox:
        assert mailbox.pending() == [MailItem(uid, message, len(message))]
        mailbox.done(uid)
    assert dovecot_server.messages() == {}


CRASHING_CLIENT = """
import json, os, sys
from digest.mailbox import ImapOptions, Mailbox
mailbox = Mailbox(ImapOptions(**json.loads(sys.argv[1]))).__enter__()
items = mailbox.pending()
mailbox.done(items[0].uid)
print(len(items), flush=True)
os._exit(3)  # dies with the others not done: no LOGOUT, the connection just drops
"""


def test_messages_not_marked_done_come_back_after_a_crash(dovecot_server: Dovecot) -> None:
    appended = [dovecot_server.append(bounce(n)) for n in range(3)]
    options = json.dumps(dataclasses.asdict(dovecot_server.options()))
    crashed = subprocess.run([sys.executable, "-c", CRASHING_CLIENT, options], cwd=REPO,
                             capture_output=True, text=True, timeout=HANG)
    assert (crashed.returncode, crashed.stdout) == (3, "3\n"), crashed.stderr
    with Mailbox(dovecot_server.options()) as mailbox:
        assert uids(mailbox.pending()) == appended[1:]
    assert len(dovecot_server.messages("Processed")) == 1


# --- done: moved to done_folder -----------------------------------------------------------


def test_done_moves_messages_to_a_done_folder_it_creates(dovecot_server: Dovecot) -> None:
    messages = [bounce(n) for n in range(3)]
    appended = [dovecot_server.append(m) for m in messages]
    assert dovecot_server.folders() == {"INBOX"}
    with Mailbox(dovecot_server.options()) as mailbox:
        items = mailbox.pending()
        assert uids(items) == appended
        for item in items:
            mailbox.done(item.uid)
        assert mailbox.pending() == []
    assert dovecot_server.folders() == {"INBOX", "Processed"}
    assert list(dovecot_server.messages("Processed").values()) == messages
    assert dovecot_server.messages() == {}
    with Mailbox(dovecot_server.options()) as mailbox:  # and in a later session
        assert mailbox.pending() == []


def test_done_twice_is_not_an_error(dovecot_server: Dovecot) -> None:
    message = bounce(1)
    uid = dovecot_server.append(message)
    with Mailbox(dovecot_server.options()) as mailbox:
        mailbox.done(uid)
        mailbox.done(uid)
    with Mailbox(dovecot_server.options()) as mailbox:
        mailbox.done(uid)
        assert mailbox.pending() == []
    assert list(dovecot_server.messages("Processed").values()) == [message]


def test_done_into_an_existing_folder_with_a_non_ascii_name(dovecot_server: Dovecot) -> None:
    message = bounce(1)
    uid = dovecot_server.append(message)
    with Mailbox(dovecot_server.options(done_folder="Erledigt-✓")) as mailbox:
        mailbox.done(uid)
    # RFC 3501 section 5.1.3: U+2713 is UTF-16 0x2713, base64 "JxM"
    assert "Erledigt-&JxM-" in dovecot_server.folders()
    assert list(dovecot_server.messages("Erledigt-&JxM-").values()) == [message]
    dovecot_server.append(bounce(2), folder="Done")  # a folder that is there already
    second = dovecot_server.append(bounce(3))
    with Mailbox(dovecot_server.options(done_folder="Done")) as mailbox:
        mailbox.done(second)
    assert len(dovecot_server.messages("Done")) == 2


@pytest.mark.parametrize("capabilities", ["UIDPLUS", ""], ids=["uidplus", "plain-expunge"])
def test_done_without_move_copies_then_expunges(tmp_path: Path,
                                                tmp_path_factory: pytest.TempPathFactory,
                                                capabilities: str) -> None:
    # dovecot offers only what imap_capability lists: here no MOVE (RFC 6851), with or
    # without UIDPLUS (RFC 4315), so the copy-and-expunge way is the one taken.
    extra = f"imap_capability = IMAP4rev1 LITERAL+ {capabilities}\n"
    with start_dovecot(tmp_path, tmp_path_factory.mktemp("run"), extra) as server:
        messages = [bounce(n) for n in range(3)]
        appended = [server.append(m) for m in messages]
        # someone else's message, deleted but not yet expunged: never handed out
        other = server.append(bounce(9), flags="\\Deleted")
        with Mailbox(server.options()) as mailbox:
            assert uids(mailbox.pending()) == appended
            mailbox.done(appended[1])
            mailbox.done(appended[1])
            assert uids(mailbox.pending()) == [appended[0], appended[2]]
        assert list(server.messages("Processed").values()) == [messages[1]]
        left = list(server.messages())
        if capabilities == "UIDPLUS":  # UID EXPUNGE removed ours alone
            assert left == [appended[0], appended[2], other]
        else:  # a plain EXPUNGE takes every \Deleted message with it
            assert left == [appended[0], appended[2]]
        # the session's summary in dovecot's log: a message flagged \Deleted, so no MOVE
        wait_until(lambda: re.search(r"Logged out .*deleted=1 expunged=[12] ",
                                     server.log_file.read_text(encoding="utf-8")),
                   "dovecot's log of the session that copied and expunged")


# --- done: flagged in place ---------------------------------------------------------------


def test_without_done_folder_done_flags_the_message_in_place(dovecot_server: Dovecot) -> None:
    messages = [bounce(n) for n in range(3)]
    appended = [dovecot_server.append(m) for m in messages]
    options = dovecot_server.options(done_folder=None)
    with Mailbox(options) as mailbox:
        mailbox.done(appended[0])
        mailbox.done(appended[0])  # twice: fine
        assert uids(mailbox.pending()) == appended[1:]
    flags = dovecot_server.flags()
    assert flags[appended[0]] == {DONE_KEYWORD, "\\Seen"}
    assert flags[appended[1]] == flags[appended[2]] == set()
    assert list(dovecot_server.messages().values()) == messages  # all still there
    assert dovecot_server.folders() == {"INBOX"}
    with Mailbox(options) as mailbox:
        assert uids(mailbox.pending()) == appended[1:]


def test_done_refuses_what_is_not_a_uid(dovecot_server: Dovecot) -> None:
    dovecot_server.append(bounce(1))
    with Mailbox(dovecot_server.options()) as mailbox:
        for bad in ("1:*", "0", "", "1 2", "x"):
            with pytest.raises(ValueError, match="not an IMAP UID"):
                mailbox.done(bad)
        assert len(mailbox.pending()) == 1


# --- failures: one line naming the server -------------------------------------------------


def test_a_wrong_password_names_the_user_and_server_not_the_password(
        dovecot_server: Dovecot) -> None:
    options = dovecot_server.options(password=WRONG_PASSWORD)
    with pytest.raises(MailboxError) as caught, Mailbox(options):
        pass
    text = str(caught.value)
    assert f"IMAP 127.0.0.1:{dovecot_server.imaps_port}: login refused for user 'bounces'" \
        in text
    assert WRONG_PASSWORD not in text and dovecot_server.password not in text
    assert "\n" not in text


def test_an_untrusted_certificate_is_refused(dovecot_server: Dovecot) -> None:
    for options in (dovecot_server.options(ca_file=None),
                    dovecot_server.options(ca_file=None, port=dovecot_server.imap_port,
                                           security="starttls")):
        with pytest.raises(MailboxError) as caught, Mailbox(options):
            pass
        assert f"IMAP 127.0.0.1:{options.port}: TLS certificate not trusted" in \
            str(caught.value)
        assert isinstance(caught.value.__cause__, ssl.SSLCertVerificationError)


def test_a_closed_port_names_host_and_port() -> None:
    port = free_port()
    options = ImapOptions(host="127.0.0.1", port=port, username="bounces", password="pw")
    with pytest.raises(MailboxError) as caught, Mailbox(options):
        pass
    assert str(caught.value).startswith(f"IMAP 127.0.0.1:{port}: cannot connect: ")


def test_a_missing_folder_is_named(dovecot_server: Dovecot) -> None:
    options = dovecot_server.options(folder="Bounces-Nowhere")
    with pytest.raises(MailboxError) as caught, Mailbox(options):
        pass
    assert f"IMAP 127.0.0.1:{dovecot_server.imaps_port}: folder 'Bounces-Nowhere' missing" in \
        str(caught.value)


def test_a_misconfiguration_is_named(dovecot_server: Dovecot, tmp_path: Path) -> None:
    where = f"IMAP 127.0.0.1:{dovecot_server.imaps_port}"
    cases = {
        f"{where}: ca_file {tmp_path}/missing.pem: cannot load: No such file or directory":
            dovecot_server.options(ca_file=str(tmp_path / "missing.pem")),
        f"{where}: cannot log in as 'b\u00e4d': the user name or password must be ASCII":
            dovecot_server.options(username="b\u00e4d"),
        f"IMAP 127.0.0.1:{dovecot_server.imap_port}: TLS handshake failed: WRONG_VERSION_"
        "NUMBER (a plain-text port? it needs security: starttls)":
            dovecot_server.options(port=dovecot_server.imap_port, security="tls"),
    }
    for expected, options in cases.items():
        with pytest.raises(MailboxError) as caught, Mailbox(options):
            pass
        assert str(caught.value).startswith(expected)


def test_done_folder_equal_to_folder_is_refused(dovecot_server: Dovecot) -> None:
    with pytest.raises(MailboxError, match="done_folder is the folder read"):
        Mailbox(dovecot_server.options(folder="INBOX", done_folder="INBOX"))


# --- a hostile server ---------------------------------------------------------------------


Reply = Callable[[str, str], bytes | None]  # (tag, command line) -> answer, None: default


class ScriptedServer:
    """One TLS connection on 127.0.0.1 answered line by line: `reply` decides the answers it
    wants to, the rest get the plain ones a friendly server would give. Records each command
    line it received."""

    def __init__(self, tls: Path, reply: Reply, greeting: bytes | None,
                 names: tuple[str, ...]) -> None:
        certificates = make_certificates(tls, names)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(certificates.cert, certificates.key)
        self.ca_file = str(certificates.ca)
        self.reply = reply
        self.greeting = greeting  # None: says nothing at all
        self.commands: list[str] = []
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        try:
            connection, _ = self.listener.accept()
            with self.context.wrap_socket(connection, server_side=True) as tls:
                file = tls.makefile("rwb")
                if self.greeting is not None:
                    file.write(self.greeting)
                    file.flush()
                for raw in file:
                    line = raw.decode().rstrip("\r\n")
                    self.commands.append(line)
                    tag, _, command = line.partition(" ")
                    answer = self.reply(tag, command)
                    file.write(answer if answer is not None else self._default(tag, command))
                    file.flush()
                    if command.upper() == "LOGOUT":
                        return
        except OSError:  # the client hung up: its side of the test says why
            return

    @staticmethod
    def _default(tag: str, command: str) -> bytes:
        verb = command.split(" ")[0].upper()
        lines = {"CAPABILITY": "* CAPABILITY IMAP4rev1 MOVE UIDPLUS\r\n",
                 "SELECT": "* 3 EXISTS\r\n* OK [PERMANENTFLAGS (\\Deleted \\Seen \\*)] ok\r\n",
                 "LOGOUT": "* BYE bye\r\n"}.get(verb, "")
        return f"{lines}{tag} OK done\r\n".encode()

    def close(self) -> None:
        self.listener.close()
        self.thread.join(timeout=60)


GREETING = b"* OK [CAPABILITY IMAP4rev1 MOVE UIDPLUS] scripted server ready\r\n"
StartScripted = Callable[..., ScriptedServer]


@pytest.fixture
def scripted(tmp_path: Path) -> Iterator[StartScripted]:
    """Starts scripted servers (`reply`; `greeting`: None for a silent one; `names`: what its
    certificate is for)."""
    servers: list[ScriptedServer] = []

    def start(reply: Reply, greeting: bytes | None = GREETING,
              names: tuple[str, ...] = ("127.0.0.1",)) -> ScriptedServer:
        server = ScriptedServer(tmp_path / f"tls{len(servers)}", reply, greeting, names)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()


def _options(server: ScriptedServer, **overrides: Any) -> ImapOptions:
    return dataclasses.replace(ImapOptions("127.0.0.1", server.port, username="bounces",
                                           password="pw", ca_file=server.ca_file), **overrides)


def _answer(tag: str, *lines: str) -> bytes:
    return "".join(f"{line}\r\n" for line in (*lines, f"{tag} OK done")).encode()


def test_a_literal_over_the_size_cap_ends_the_session(scripted: StartScripted) -> None:
    def reply(tag: str, command: str) -> bytes | None:
        if "SEARCH" in command:
            return _answer(tag, "* SEARCH 1")
        if "RFC822.SIZE" in command:  # claims a small message ...
            return _answer(tag, "* 1 FETCH (UID 1 RFC822.SIZE 100)")
        if "BODY.PEEK[]" in command:  # ... and sends five gigabytes
            return b"* 1 FETCH (UID 1 BODY[] {5000000000}\r\n"
        return None

    server = scripted(reply)
    with Mailbox(_options(server, max_message_bytes=1000)) as mailbox, \
            pytest.raises(MailboxError) as caught:
        mailbox.pending()
    assert f"IMAP 127.0.0.1:{server.port}: reading messages in 'INBOX': connection lost" in \
        str(caught.value)
    assert "5000000000-byte literal, over the 1000-byte cap" in str(caught.value)


def test_an_endless_answer_ends_the_session(scripted: StartScripted) -> None:
    def reply(tag: str, command: str) -> bytes | None:
        if "SEARCH" in command:
            return _answer(tag, "* SEARCH 7")
        if "RFC822.SIZE" in command:
            return _answer(tag, "* 1 FETCH (UID 7 RFC822.SIZE 20)")
        if "BODY.PEEK[]" in command:  # 8 MB of chatter, never the end of the answer
            return b"* 1 FETCH (FLAGS (\\Seen))\r\n" * 300_000
        return None

    server = scripted(reply)
    with Mailbox(_options(server)) as mailbox, pytest.raises(MailboxError) as caught:
        mailbox.pending()
    assert "answer is larger than expected" in str(caught.value)


def test_a_flood_of_uids_is_cut_to_the_limit(scripted: StartScripted) -> None:
    many = " ".join(str(n) for n in range(100_000, 0, -1))  # ~590 kB, newest first

    def reply(tag: str, command: str) -> bytes | None:
        if "SEARCH" in command:
            return _answer(tag, f"* SEARCH {many}")
        return None  # no sizes: nothing to fetch

    server = scripted(reply)
    with Mailbox(_options(server)) as mailbox:
        assert mailbox.pending(limit=3) == []
        assert mailbox.pending(limit=10**9) == []
    fetches = [c.partition(" ")[2] for c in server.commands if "FETCH" in c]
    assert fetches[0] == "UID FETCH 1:3 (UID RFC822.SIZE)"
    # then MAX_LIMIT in all, the oldest, asked for in batches that keep a command line short
    assert fetches[1:] == [f"UID FETCH {n + 1}:{n + 500} (UID RFC822.SIZE)"
                           for n in range(0, MAX_LIMIT, 500)]


def test_scattered_uids_go_in_short_commands(scripted: StartScripted) -> None:
    odd = " ".join(str(n) for n in range(1, 4001, 2))  # 2000 UIDs, no two in a row

    def reply(tag: str, command: str) -> bytes | None:
        return _answer(tag, f"* SEARCH {odd}") if "SEARCH" in command else None

    server = scripted(reply)
    with Mailbox(_options(server)) as mailbox:
        assert mailbox.pending(limit=2000) == []
    lines = [c for c in server.commands if "FETCH" in c]
    assert len(lines) == 4 and max(len(line) for line in lines) < 8000
    assert lines[0].split()[3] == ",".join(str(n) for n in range(1, 1000, 2))


def test_a_folder_that_keeps_no_new_keywords_is_refused_without_done_folder(
        scripted: StartScripted) -> None:
    def reply(tag: str, command: str) -> bytes | None:  # RFC 3501 section 7.1: no \*
        if command.upper().startswith("SELECT"):
            return _answer(tag, "* 0 EXISTS", "* OK [PERMANENTFLAGS (\\Seen \\Deleted)] ok")
        return None

    server = scripted(reply)
    with pytest.raises(MailboxError) as caught, Mailbox(_options(server, done_folder=None)):
        pass
    assert f"IMAP 127.0.0.1:{server.port}: folder 'INBOX' does not keep the keyword " \
        f"{DONE_KEYWORD} (set done_folder)" == str(caught.value)
    server = scripted(reply)
    with Mailbox(_options(server)) as mailbox:  # moving needs no keyword
        assert mailbox.pending() == []


def test_a_garbled_search_answer_is_an_error(scripted: StartScripted) -> None:
    def reply(tag: str, command: str) -> bytes | None:
        return _answer(tag, "* SEARCH 1 2 three") if "SEARCH" in command else None

    server = scripted(reply)
    with Mailbox(_options(server)) as mailbox, \
            pytest.raises(MailboxError, match="searching folder 'INBOX': unexpected answer"):
        mailbox.pending()


def test_a_silent_server_times_out(scripted: StartScripted) -> None:
    server = scripted(lambda tag, command: None, greeting=None)
    with pytest.raises(MailboxError) as caught, Mailbox(_options(server, timeout=0.5)):
        pass
    assert str(caught.value).startswith(f"IMAP 127.0.0.1:{server.port}: cannot connect: ")
    assert "timed out" in str(caught.value)


def test_a_certificate_for_another_host_is_refused(scripted: StartScripted) -> None:
    # signed by the trusted CA, but for another name than the one connected to
    server = scripted(lambda tag, command: None, names=("imap.example.net",))
    with pytest.raises(MailboxError) as caught, Mailbox(_options(server)):
        pass
    assert f"IMAP 127.0.0.1:{server.port}: TLS certificate not trusted" in str(caught.value)
    assert "mismatch" in str(caught.value)
    assert server.commands == []  # not even the password went out


def test_leaving_after_the_server_hung_up_does_not_raise(scripted: StartScripted) -> None:
    def reply(tag: str, command: str) -> bytes | None:
        return b"" if command.upper() == "LOGOUT" else None  # hangs up without a word

    server = scripted(reply)
    with Mailbox(_options(server)) as mailbox:
        assert mailbox.pending() == []
    assert server.commands[-1].endswith("LOGOUT")


# --- the fixture and the layering -----------------------------------------------------------


def test_a_dovecot_that_cannot_start_fails_with_its_log(
        tmp_path: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    if not DOVECOT.is_file():
        pytest.skip(f"{DOVECOT} is missing")
    with pytest.raises(pytest.fail.Exception) as caught, \
            start_dovecot(tmp_path, tmp_path_factory.mktemp("run"), "no_such_setting = 1\n"):
        pass
    assert "dovecot did not start" in str(caught.value)
    assert "no_such_setting" in str(caught.value)  # dovecot's own complaint, from its log


def test_no_other_module_imports_imaplib() -> None:
    package = REPO / "digest"

    def imports_imaplib(node: ast.AST) -> bool:
        if isinstance(node, ast.Import):
            return any(alias.name.split(".")[0] == "imaplib" for alias in node.names)
        return isinstance(node, ast.ImportFrom) and (node.module or "").startswith("imaplib")

    importers = [str(path.relative_to(package)) for path in sorted(package.rglob("*.py"))
                 if any(imports_imaplib(node)
                        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert importers == ["mailbox.py"]


def test_a_server_echoing_the_password_does_not_get_it_printed(scripted: StartScripted) -> None:
    def reply(tag: str, command: str) -> bytes | None:
        if command.upper().startswith("LOGIN"):  # echoes the arguments, password included
            return f"{tag} NO [AUTHENTICATIONFAILED] refused: {command[6:]}\r\n".encode()
        return None

    server = scripted(reply)
    with pytest.raises(MailboxError) as caught, Mailbox(_options(server, password=WRONG_PASSWORD)):
        pass
    assert f"IMAP 127.0.0.1:{server.port}: login refused for user 'bounces': " \
        "[AUTHENTICATIONFAILED] refused: \"bounces\" \"***\"" == str(caught.value)
