"""SmtpTransport verifies certificates: a real aiosmtpd server on 127.0.0.1 speaking implicit TLS
or STARTTLS, with certificates made at test time by the `openssl` CLI (a private CA, a server
certificate for 127.0.0.1 signed by it, and one issued for another host name)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope, Session

from conftest import Recorder, SmtpServer, free_port
from digest.errors import DeliveryError
from digest.models import UNSUBSCRIBE_PLACEHOLDER, Rendered
from digest.send import Letter, Outgoing, SmtpOptions, SmtpTransport

OPENSSL = shutil.which("openssl")

pytestmark = pytest.mark.skipif(
    OPENSSL is None, reason="the openssl command is needed to make test certificates")

SENDER = "The Weekly Brief <brief@example.org>"
RECIPIENT = "ana@example.org"
PASSWORD = "hunter2-Zq8vX-never-print-me"
UNTRUSTED = "certificate not trusted"


@dataclass(frozen=True)
class Certs:
    ca: Path  # the private CA's certificate (PEM), for SmtpOptions.ca_file
    server: tuple[Path, Path]  # (certificate, key) for IP:127.0.0.1 and DNS:localhost
    other_host: tuple[Path, Path]  # (certificate, key) for DNS:other.example only


def _openssl(*args: str | Path) -> None:
    assert OPENSSL is not None
    done = subprocess.run([OPENSSL, *map(str, args)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 0, f"openssl {args[0]} failed:\n{done.stderr}"


_EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


def _server_cert(directory: Path, name: str, serial: int, ca: Path, ca_key: Path,
                 san: str) -> tuple[Path, Path]:
    """A leaf certificate for `san`, signed by the CA."""
    key, csr, cert = (directory / f"{name}.{ext}" for ext in ("key", "csr", "pem"))
    extensions = directory / f"{name}.ext"
    extensions.write_text(
        f"subjectAltName = {san}\n"
        "basicConstraints = critical, CA:FALSE\n"
        "keyUsage = critical, digitalSignature\n"
        "extendedKeyUsage = serverAuth\n"
        "subjectKeyIdentifier = hash\n"
        "authorityKeyIdentifier = keyid\n", encoding="ascii")
    _openssl("req", "-new", *_EC_KEY, "-keyout", key, "-out", csr, "-subj", f"/CN={name}")
    _openssl("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-set_serial",
             str(serial), "-days", "2", "-sha256", "-extfile",
             extensions, "-out", cert)
    return cert, key


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> Certs:
    """A private CA (self-signed, CA:TRUE) and two server certificates it signed."""
    directory = tmp_path_factory.mktemp("tls")
    ca, ca_key = directory / "ca.pem", directory / "ca.key"
    _openssl("req", "-x509", *_EC_KEY, "-keyout", ca_key, "-out", ca, "-days", "2",
             "-sha256", "-subj", "/CN=digest test CA",
             "-addext", "basicConstraints = critical, CA:TRUE",
             "-addext", "keyUsage = critical, keyCertSign, cRLSign")
    return Certs(
        ca=ca,
        server=_server_cert(directory, "server", 2, ca, ca_key, "IP:127.0.0.1, DNS:localhost"),
        other_host=_server_cert(directory, "other", 3, ca, ca_key, "DNS:other.example"))


@pytest.fixture(autouse=True)
def system_trust_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """"System CAs" means OpenSSL's defaults, not a bundle some environment variable names."""
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@dataclass
class TlsRecorder(Recorder):
    """A Recorder that also notes, for each accepted message, the TLS version of the
    connection it came over (None: plain text)."""

    tls_versions: list[str | None] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Session, envelope: Envelope) -> str:
        ssl_object = server.transport.get_extra_info("ssl_object")
        self.tls_versions.append(ssl_object.version() if ssl_object is not None else None)
        return await super().handle_DATA(server, session, envelope)


def _server_context(cert: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*cert)
    return context


StartServer = Callable[..., SmtpServer]


@pytest.fixture
def tls_server(certs: Certs) -> Iterator[StartServer]:
    """Starts aiosmtpd servers: mode "tls" (implicit TLS on the whole connection) or
    "starttls" (plain text until STARTTLS, which is required before MAIL); all are stopped at
    teardown."""
    controllers: list[Controller] = []

    def start(mode: str, cert: tuple[Path, Path] | None = None) -> SmtpServer:
        context = _server_context(cert or certs.server)
        handler = TlsRecorder()
        port = free_port()
        if mode == "tls":
            controller = Controller(handler, hostname="127.0.0.1", port=port,
                                    ssl_context=context)
        else:
            assert mode == "starttls", mode
            controller = Controller(handler, hostname="127.0.0.1", port=port,
                                    tls_context=context, require_starttls=True)
        controller.start()
        controllers.append(controller)
        return SmtpServer(controller, handler, port)

    yield start
    for controller in controllers:
        controller.stop()


def _message(recipient: str = RECIPIENT) -> Outgoing:
    rendered = Rendered("The Weekly Brief: TLS check",
                        f'<p>Hello.</p><p><a href="{UNSUBSCRIBE_PLACEHOLDER}">Leave</a></p>',
                        f"Hello.\n\nLeave: {UNSUBSCRIBE_PLACEHOLDER}\n")
    return Letter(rendered, sender=SENDER, edition="2026-11-30",
                  list_id="The Weekly Brief <the-weekly-brief.example.org>"
                  ).for_recipient(recipient)


def _recorder(server: SmtpServer) -> TlsRecorder:
    assert isinstance(server.handler, TlsRecorder)
    return server.handler


def _send_refused(options: SmtpOptions) -> DeliveryError:
    """Sends one message, which must be refused; returns the error."""
    with SmtpTransport(options) as transport, pytest.raises(DeliveryError) as caught:
        transport.send(_message())
    return caught.value


def _assert_untrusted(error: DeliveryError) -> None:
    assert UNTRUSTED in str(error)
    assert error.permanent is True
    assert error.connection is True
    assert isinstance(error.__cause__, ssl.SSLCertVerificationError)


# --- implicit TLS (security: tls) -----------------------------------------------------------


def test_implicit_tls_with_the_private_ca_delivers(tls_server: StartServer,
                                                  certs: Certs) -> None:
    server = tls_server("tls")
    message = _message()
    with SmtpTransport(server.options(security="tls", ca_file=str(certs.ca))) as transport:
        transport.send(message)
    handler = _recorder(server)
    (envelope,) = handler.envelopes
    assert envelope.rcpt_tos == [RECIPIENT]
    assert envelope.mail_from == "brief@example.org"
    assert isinstance(envelope.content, bytes)
    assert message.message_id.encode() in envelope.content
    assert handler.tls_versions[0] in ("TLSv1.2", "TLSv1.3")


def test_implicit_tls_without_ca_file_is_refused_as_untrusted(tls_server: StartServer) -> None:
    server = tls_server("tls")
    error = _send_refused(server.options(security="tls"))
    _assert_untrusted(error)
    assert f"SMTP 127.0.0.1:{server.port}" in str(error)
    handler = _recorder(server)
    assert handler.envelopes == []
    assert handler.ehlos == []  # not a single SMTP command got through


# --- STARTTLS ---------------------------------------------------------------------------------


def test_starttls_with_the_private_ca_delivers_over_tls(tls_server: StartServer,
                                                        certs: Certs) -> None:
    server = tls_server("starttls")  # require_starttls: MAIL over plain text gets 530
    message = _message()
    options = server.options(security="starttls", ca_file=str(certs.ca))
    with SmtpTransport(options) as transport:
        transport.send(message)
    handler = _recorder(server)
    (envelope,) = handler.envelopes
    assert envelope.rcpt_tos == [RECIPIENT]
    assert isinstance(envelope.content, bytes)
    assert message.message_id.encode() in envelope.content
    (session,) = handler.data_sessions
    assert session.ssl is not None  # aiosmtpd sets it once STARTTLS's handshake is done
    assert handler.tls_versions[0] in ("TLSv1.2", "TLSv1.3")


def test_starttls_without_ca_file_is_refused_as_untrusted(tls_server: StartServer) -> None:
    server = tls_server("starttls")
    error = _send_refused(server.options(security="starttls"))
    _assert_untrusted(error)
    handler = _recorder(server)
    assert handler.envelopes == []
    assert len(handler.ehlos) == 1  # the plain-text EHLO before STARTTLS, nothing after it


# --- host names and secrets -------------------------------------------------------------------


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_certificate_for_another_host_name_is_refused(tls_server: StartServer, certs: Certs,
                                                      security: str) -> None:
    # signed by the trusted CA, but its only name is DNS:other.example, not 127.0.0.1
    server = tls_server(security, certs.other_host)
    error = _send_refused(server.options(security=security, ca_file=str(certs.ca)))
    _assert_untrusted(error)
    assert "mismatch" in str(error).lower()  # OpenSSL: "Hostname mismatch, ..."
    assert _recorder(server).envelopes == []


@pytest.mark.parametrize("security", ["tls", "starttls"])
def test_tls_failure_does_not_reveal_the_password(tls_server: StartServer,
                                                  security: str) -> None:
    server = tls_server(security)
    options = server.options(security=security, username="brief", password=PASSWORD)
    error = _send_refused(options)
    _assert_untrusted(error)  # it failed at TLS time, before any login
    assert PASSWORD not in str(error)
    assert PASSWORD not in repr(error)
    assert PASSWORD not in str(error.__cause__)
    assert _recorder(server).envelopes == []
