"""DKIM through the whole send (issue 20): `delivery.dkim` signs every message a real SMTP
server (aiosmtpd) receives, and dkimpy, the reference implementation, verifies each against
the very record `digest dns` tells the operator to publish (a stub DNS answers with it). A key
that cannot be used is a configuration error naming where it came from."""

from __future__ import annotations

import json
from pathlib import Path

import dkim
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from conftest import DEMO_EDITION, SmtpServer
from digest.cli import main


def write_key(path: Path, kind: str, bits: int = 2048) -> Path:
    key = (ed25519.Ed25519PrivateKey.generate() if kind == "ed25519"
           else rsa.generate_private_key(public_exponent=65537, key_size=bits))
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    return path


def configure(demo: Path, server: SmtpServer, dkim_settings: dict[str, object]) -> Path:
    config = yaml.safe_load(demo.read_text())
    config["delivery"] = {"from": "The Brief <brief@example.org>", "transport": "smtp",
                          "smtp": {"host": "127.0.0.1", "port": server.port,
                                   "security": "none"},
                          "dkim": dkim_settings}
    config["bounces"] = {"address": "bounces@example.org", "secret": "s" * 40}
    demo.write_text(yaml.safe_dump(config))
    return demo


def dns_records(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert main(["--config", str(config), "dns", "--format", "json"]) == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


@pytest.mark.parametrize("kind", ["rsa", "ed25519"])
def test_every_message_verifies_against_the_record_digest_dns_prints(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str],
        kind: str) -> None:
    key = write_key(demo.parent / "dkim.pem", kind)
    config = configure(demo, smtp_server, {"selector": "brief2026", "key_file": str(key)})
    found = dns_records(config, capsys)
    records = {r["name"]: r for r in found["records"]}  # type: ignore[attr-defined]
    dkim_record = records["brief2026._domainkey.example.org."]
    assert dkim_record["value"].startswith(f"v=DKIM1; k={kind}; p=")
    assert records["example.org."]["value"].startswith("v=spf1 ")
    assert records["_dmarc.example.org."]["value"].startswith("v=DMARC1; p=none")
    assert main(["--config", str(config), "send", "--verbose", "--edition", DEMO_EDITION]) == 0
    asked: list[bytes] = []

    def stub_dns(name: bytes, timeout: int = 5) -> bytes:
        asked.append(name)
        return dkim_record["value"].encode() if name == b"brief2026._domainkey.example.org." \
            else b""

    envelopes = smtp_server.handler.envelopes
    assert len(envelopes) == 3
    for envelope in envelopes:
        raw = envelope.original_content or b""
        assert raw.startswith(b"DKIM-Signature: v=1; a=" + (b"rsa" if kind == "rsa"
                                                               else b"ed25519") + b"-sha256")
        assert dkim.verify(raw, dnsfunc=stub_dns)
        tampered = raw.replace(b"Subject: ", b"Subject: Re: ", 1)
        assert not dkim.verify(tampered, dnsfunc=stub_dns)
    assert set(asked) == {b"brief2026._domainkey.example.org."}


def test_dns_warns_about_what_keeps_the_records_from_aligning(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    key = write_key(demo.parent / "dkim.pem", "ed25519")
    config = configure(demo, smtp_server, {"selector": "s1", "key_file": str(key),
                                           "domain": "mailer.example.net"})
    data = yaml.safe_load(config.read_text())
    del data["email"]["postal_address"]
    config.write_text(yaml.safe_dump(data))
    warnings = dns_records(config, capsys)["warnings"]
    assert any("does not align with the From domain example.org" in w
               for w in warnings)  # type: ignore[union-attr]
    assert any("postal_address" in w for w in warnings)  # type: ignore[union-attr]
    capsys.readouterr()
    assert main(["--config", str(config), "dns"]) == 0
    out = capsys.readouterr().out
    assert 's1._domainkey.mailer.example.net.\t3600\tIN\tTXT\t"v=DKIM1; k=ed25519; p=' in out


def test_a_key_that_cannot_be_used_is_a_configuration_error(
        demo: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]) -> None:
    weak = write_key(demo.parent / "weak.pem", "rsa", bits=1024)
    config = configure(demo, smtp_server, {"selector": "s1", "key_file": str(weak)})
    for command in (["config", "check"], ["send", "--verbose", "--edition", DEMO_EDITION], ["dns"]):
        capsys.readouterr()
        assert main(["--config", str(config), *command]) == 2, command
        error = capsys.readouterr().err
        assert "weak.pem" in error and "2048" in error
        assert "PRIVATE KEY" not in error
    assert smtp_server.handler.envelopes == []
    config_data = yaml.safe_load(config.read_text())
    config_data["delivery"]["dkim"] = {"selector": "s1", "key": "${DIGEST_DKIM_KEY}"}
    config.write_text(yaml.safe_dump(config_data))
    capsys.readouterr()
    assert main(["--config", str(config), "config", "check"]) == 2
    assert "DIGEST_DKIM_KEY is not set" in capsys.readouterr().err
