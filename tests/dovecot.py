"""A private Dovecot IMAP server for the tests (Debian's dovecot-imapd on 127.0.0.1, with a
throw-away CA), so the IMAP adapter is tested against a real server; never used outside the
tests, and never touches the system's dovecot (its own config, ports, folders and log).

`dovecot_server` is the pytest fixture (one server per test module, emptied for each test);
`start_dovecot` the context manager behind it, for a server of one's own (other settings, say).
Both skip, saying why, when /usr/sbin/dovecot is missing.
"""

from __future__ import annotations

import contextlib
import grp
import imaplib
import ipaddress
import os
import pwd
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import free_port
from digest.mailbox import ImapOptions

DOVECOT = Path("/usr/sbin/dovecot")
USERNAME = "bounces"
PASSWORD = "secret-imap-pass"
START_WITHIN = 20.0  # seconds: a start that takes longer is a hang, and fails with the log
STOP_WITHIN = 20.0


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the private CA (PEM): ImapOptions.ca_file
    cert: Path  # the server's certificate (PEM), for 127.0.0.1 and localhost, signed by the CA
    key: Path  # its private key (PEM, unencrypted)


def make_certificates(directory: Path,
                      names: tuple[str, ...] = ("localhost", "127.0.0.1")) -> Certificates:
    """A throw-away CA and a server certificate it signed for `names` (host names and IP
    addresses), valid from a day before now (the test's clock, faked or not: the client checks
    against the same one) for a week."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "digest test IMAP CA")])
    ca = (x509.CertificateBuilder()
          .subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=7))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False,
                                       key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, key_cert_sign=True, crl_sign=True,
                                       encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=7))
            .add_extension(x509.SubjectAlternativeName([_general_name(n) for n in names]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    paths = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                            serialization.PrivateFormat.PKCS8,
                                            serialization.NoEncryption()))
    paths.key.chmod(0o600)
    return paths


def _general_name(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


@dataclass(frozen=True)
class Dovecot:
    """A running private dovecot: where it listens, whom it lets in, and helpers that reach its
    mailbox through IMAP itself (so what a test sees is what the server holds)."""

    host: str
    imaps_port: int  # implicit TLS
    imap_port: int  # plain IMAP that requires STARTTLS before login
    ca_file: str  # the CA that signed the server's certificate
    username: str
    password: str
    log_file: Path
    started_in: float  # seconds from spawning dovecot to both ports accepting connections

    def options(self, **overrides: Any) -> ImapOptions:
        """ImapOptions for this server: implicit TLS, the test CA trusted; `overrides` win."""
        values: dict[str, Any] = {"host": self.host, "port": self.imaps_port,
                                  "security": "tls", "username": self.username,
                                  "password": self.password, "ca_file": self.ca_file,
                                  "timeout": 30.0}
        values.update(overrides)
        return ImapOptions(**values)

    @contextlib.contextmanager
    def session(self) -> Iterator[imaplib.IMAP4_SSL]:
        """A logged-in imaplib session over implicit TLS (the test's own client, not digest's)."""
        context = ssl.create_default_context(cafile=self.ca_file)
        imap = imaplib.IMAP4_SSL(self.host, self.imaps_port, ssl_context=context, timeout=30)
        try:
            imap.login(self.username, self.password)
            yield imap
        finally:
            with contextlib.suppress(imaplib.IMAP4.error, OSError):
                imap.logout()

    def append(self, message: bytes, folder: str = "INBOX", flags: str = "") -> str:
        """Put `message` (bytes, CRLF line ends as IMAP stores them) into `folder` (created if
        missing) with IMAP APPEND; returns its UID (the server's APPENDUID, RFC 4315)."""
        with self.session() as imap:
            if folder != "INBOX":
                imap.create(_quoted(folder))  # NO [ALREADYEXISTS] when it is there: fine
            typ, data = imap.append(_quoted(folder), f"({flags})" if flags else None, None,
                                    message)
            assert typ == "OK", data
            found = re.search(rb"\[APPENDUID \d+ (\d+)\]", data[0])
            assert found, data
            return found.group(1).decode()

    def messages(self, folder: str = "INBOX") -> dict[str, bytes]:
        """Every message in `folder` by UID, oldest first, read without setting \\Seen."""
        with self.session() as imap:
            _examine(imap, folder)
            typ, data = imap.uid("FETCH", "1:*", "(BODY.PEEK[])")
            assert typ == "OK", data
            found: dict[str, bytes] = {}
            for i, part in enumerate(data):
                if isinstance(part, tuple):
                    after = data[i + 1] if i + 1 < len(data) else b""
                    tail = after if isinstance(after, bytes) else b""
                    uid = re.search(rb"UID (\d+)", part[0] + tail)
                    assert uid, part[0]
                    found[uid.group(1).decode()] = part[1]
            return dict(sorted(found.items(), key=lambda item: int(item[0])))

    def flags(self, folder: str = "INBOX") -> dict[str, set[str]]:
        """The flags and keywords of every message in `folder`, by UID."""
        with self.session() as imap:
            _examine(imap, folder)
            typ, data = imap.uid("FETCH", "1:*", "(FLAGS)")
            assert typ == "OK", data
            found: dict[str, set[str]] = {}
            for line in data:
                if isinstance(line, bytes):
                    parsed = re.search(rb"UID (\d+)", line), re.search(rb"FLAGS \(([^)]*)\)",
                                                                        line)
                    if parsed[0] and parsed[1]:
                        found[parsed[0].group(1).decode()] = set(
                            parsed[1].group(1).decode().split())
            return found

    def empty(self) -> None:
        """Delete every folder but INBOX and every message in INBOX (a test's leftovers)."""
        with self.session() as imap:
            for name in sorted(self.folders() - {"INBOX"}, key=len, reverse=True):
                typ, data = imap.delete(_quoted(name))  # children before their parent
                assert typ == "OK", (name, data)
            typ, data = imap.select("INBOX")
            assert typ == "OK", data
            typ, data = imap.uid("SEARCH", "ALL")
            if typ == "OK" and data[0]:
                imap.uid("STORE", "1:*", "+FLAGS.SILENT", "(\\Deleted)")
                imap.expunge()
        assert self.folders() == {"INBOX"} and self.messages() == {}, "could not empty it"

    def folders(self) -> set[str]:
        """The names of the folders the user has (as LIST shows them, quotes removed)."""
        with self.session() as imap:
            typ, data = imap.list()
            assert typ == "OK", data
            return {line.decode().rsplit(" ", 1)[-1].strip('"') for line in data
                    if isinstance(line, bytes)}


def _quoted(name: str) -> str:
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _examine(imap: imaplib.IMAP4, folder: str) -> None:
    typ, data = imap.select(_quoted(folder), readonly=True)
    assert typ == "OK", (folder, data)


@dataclass(frozen=True)
class _Users:
    internal_user: str  # default_internal_user: dovecot's own unprivileged processes
    login_user: str  # default_login_user: the pre-login (network-facing) processes
    internal_group: str
    mail_uid: int  # whom the mail processes run as
    mail_gid: int
    root: bool


def _users() -> _Users:
    """Who dovecot's processes run as. Not root: everything as the current user (dovecot
    cannot switch users then). Root: Debian's "dovecot" and "dovenull", and the mail as
    "nobody", since dovecot refuses mail access as UID 0."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        return _Users(me.pw_name, me.pw_name, grp.getgrgid(os.getegid()).gr_name,
                      os.geteuid(), os.getegid(), root=False)
    try:
        nobody = pwd.getpwnam("nobody")
        pwd.getpwnam("dovecot")
        pwd.getpwnam("dovenull")
    except KeyError as e:
        pytest.skip(f"running as root, dovecot needs the users dovecot, dovenull and nobody: {e}")
    return _Users("dovecot", "dovenull", "dovecot", nobody.pw_uid, nobody.pw_gid, root=True)


def _config(directory: Path, run_dir: Path, certificates: Certificates, users: _Users,
            imaps_port: int, imap_port: int, extra: str) -> str:
    """dovecot.conf (2.3 syntax, after https://doc.dovecot.org/2.3/configuration_manual/):
    IMAP only, TLS required on both listeners, one user from a passwd-file."""
    home = directory / "home"
    if users.root:
        # pytest's temporary folders are readable by root alone, so the mail processes (as
        # "nobody") could not reach a home below them; "/./" makes dovecot chroot into
        # <home> first, as root, then drop to nobody (the mail_chroot feature).
        mail_home = f"{home}/./%u"
        privileges = (f"valid_chroot_dirs = {home}\n"
                      # reads the passwd-file below, which "dovecot" cannot reach either
                      "service auth {\n  user = root\n}\n")
        no_chroot = ""
    else:
        mail_home = f"{home}/%u"
        # An unprivileged dovecot cannot chroot its login and anvil processes.
        privileges = "".join(f"service {name} {{\n  chroot =\n}}\n"
                             for name in ("imap-login", "imap-urlauth-login"))
        no_chroot = "  chroot =\n"
    return f"""\
base_dir = {run_dir}
state_dir = {directory / "state"}
log_path = {directory / "dovecot.log"}
listen = 127.0.0.1
protocols = imap
ssl = required
ssl_cert = <{certificates.cert}
ssl_key = <{certificates.key}
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = yes
auth_mechanisms = plain
# A refused login answers at once and does not slow the next ones (the tests refuse some on
# purpose); documented under "Authentication penalty support".
auth_failure_delay = 0
default_internal_user = {users.internal_user}
default_internal_group = {users.internal_group}
default_login_user = {users.login_user}
first_valid_uid = {users.mail_uid}
last_valid_uid = 0
mail_location = maildir:~/Maildir
passdb {{
  driver = passwd-file
  args = {directory / "passwd"}
}}
userdb {{
  driver = static
  args = uid={users.mail_uid} gid={users.mail_gid} home={mail_home}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
{no_chroot}}}
{privileges}{extra}"""


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _two_ports() -> tuple[int, int]:
    first = free_port()
    second = free_port()
    while second == first:
        second = free_port()
    return first, second


def _log(directory: Path) -> str:
    parts = []
    for name in ("dovecot.log", "dovecot.out"):
        path = directory / name
        if path.exists():
            parts.append(path.read_text(encoding="utf-8", errors="replace"))
    return "\n".join(parts) or "(dovecot wrote no log)"


@contextlib.contextmanager
def start_dovecot(directory: Path, run_dir: Path, extra_config: str = "") -> Iterator[Dovecot]:
    """Run a private dovecot with its config, mail, state and log in `directory` and its
    sockets in `run_dir` (keep that path short: UNIX socket paths stop at 108 bytes); stopped
    (terminated, then killed) on exit. `extra_config`: more dovecot.conf lines (a setting
    given twice, the later wins)."""
    if not DOVECOT.is_file():
        pytest.skip(f"{DOVECOT} is missing (apt-get install dovecot-imapd)")
    users = _users()
    certificates = make_certificates(directory / "tls")
    # The passwd-file format: user:{SCHEME}password (doc.dovecot.org, "Passwd-file").
    (directory / "passwd").write_text(f"{USERNAME}:{{PLAIN}}{PASSWORD}\n", encoding="ascii")
    home = directory / "home"
    # made here, not by dovecot: its mail process changes into the home before creating it
    (home / USERNAME).mkdir(parents=True, exist_ok=True)
    for path in (home, home / USERNAME):
        os.chown(path, users.mail_uid, users.mail_gid)
        path.chmod(0o700)
    for attempt in range(3):  # another process may take a free port before dovecot binds it
        imaps_port, imap_port = _two_ports()
        config = directory / "dovecot.conf"
        config.write_text(_config(directory, run_dir, certificates, users, imaps_port,
                                  imap_port, extra_config), encoding="utf-8")
        spawned = time.monotonic()
        with (directory / "dovecot.out").open("wb") as out:
            # its own session: the kill at teardown reaches its children, and nothing else
            process = subprocess.Popen([str(DOVECOT), "-F", "-c", str(config)], stdout=out,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                       start_new_session=True)
        if _listening(process, imaps_port, imap_port, spawned + START_WITHIN):
            started_in = time.monotonic() - spawned
            break
        _stop(process)
        log = _log(directory)
        if "Address already in use" in log and attempt < 2:
            continue
        pytest.fail(f"dovecot did not start within {START_WITHIN:g} s "
                    f"(exit code {process.returncode}); its log:\n{log}", pytrace=False)
    try:
        yield Dovecot("127.0.0.1", imaps_port, imap_port, str(certificates.ca), USERNAME,
                      PASSWORD, directory / "dovecot.log", started_in)
    finally:
        _stop(process)


def _listening(process: subprocess.Popen[bytes], imaps_port: int, imap_port: int,
               deadline: float) -> bool:
    """Poll until both ports accept connections (True), dovecot exits or the deadline passes
    (False); dovecot is stopped if the wait itself is interrupted."""
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if _accepts(imaps_port) and _accepts(imap_port):
                return True
            time.sleep(0.02)  # polling for the listeners, bounded by the deadline
        return False
    except BaseException:
        _stop(process)
        raise


def _stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM (dovecot's master stops its children), then SIGKILL to its whole session (the
    process group it leads) if it has not gone within STOP_WITHIN seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_WITHIN)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(STOP_WITHIN)


_RUNNING: dict[str, Dovecot] = {}  # one server per test module, by the module's node id


@pytest.fixture
def dovecot_server(request: pytest.FixtureRequest,
                   tmp_path_factory: pytest.TempPathFactory) -> Dovecot:
    """A dovecot whose mailbox is empty (INBOX only, no message) at the start of each test.
    One server serves a whole test module, started by its first test and stopped after its
    last (dovecot starts in a tenth of a second but takes a second to stop once it served a
    login: a server per test would cost that second every time); each test finds it emptied
    through IMAP, and the emptying is checked."""
    module = request.node.getparent(pytest.Module)
    key = module.nodeid if module is not None else ""
    server = _RUNNING.get(key)
    if server is None:
        stack = contextlib.ExitStack()
        server = stack.enter_context(start_dovecot(tmp_path_factory.mktemp("dovecot"),
                                                   tmp_path_factory.mktemp("dovecot-run")))
        _RUNNING[key] = server

        def stop() -> None:
            del _RUNNING[key]
            stack.close()

        (module or request.session).addfinalizer(stop)
    server.empty()
    return server
