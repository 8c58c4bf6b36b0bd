"""Tests for digest.dkimsign: messages built by send.Letter, signed with keys made here, and
verified by dkimpy (the reference implementation), which shares no code with the signer. The
DNS lookup is the one thing faked: a stub answers with the TXT record DkimKey.dns_value() gives.
"""

from __future__ import annotations

import ast
import base64
import re
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime

import dkim  # type: ignore[import-untyped]
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import REPO
from digest.dkimsign import (
    DEFAULT_HEADERS,
    OVERSIGNED,
    DkimError,
    DkimKey,
    DkimSigner,
    PrivateKey,
    load_key,
)
from digest.models import PREFERENCES_PLACEHOLDER, UNSUBSCRIBE_PLACEHOLDER, Rendered
from digest.send import Letter

SENDER = "The Weekly Brief <brief@example.org>"
LIST_ID = "The Weekly Brief <the-weekly-brief.example.org>"
DOMAIN = "example.org"
SELECTOR = "brief2025"
SIGNED_AT = datetime(2025, 6, 2, 7, 0, tzinfo=UTC)  # in the past: dkimpy refuses a future t=
DATE = "Mon, 30 Nov 2026 07:00:00 +0000"
# A long https link: List-Unsubscribe is folded over two lines
UNSUBSCRIBE = "https://news.example.org/u/" + "Zm9yLXRlc3RzLW9ubHk" * 4


def clock() -> datetime:
    return SIGNED_AT


# --- keys -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys() -> dict[str, PrivateKey]:
    return {"rsa2048": rsa.generate_private_key(public_exponent=65537, key_size=2048),
            "rsa4096": rsa.generate_private_key(public_exponent=65537, key_size=4096),
            "ed25519": ed25519.Ed25519PrivateKey.generate()}


def pem(key: object, form: serialization.PrivateFormat,
        encryption: serialization.KeySerializationEncryption | None = None) -> bytes:
    assert isinstance(key, rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey
                      | ec.EllipticCurvePrivateKey)
    return key.private_bytes(serialization.Encoding.PEM, form,
                             encryption or serialization.NoEncryption())


PKCS8 = serialization.PrivateFormat.PKCS8
PKCS1 = serialization.PrivateFormat.TraditionalOpenSSL  # "RSA PRIVATE KEY"
KEY_FILES = [("rsa2048", PKCS1), ("rsa2048", PKCS8), ("rsa4096", PKCS1), ("rsa4096", PKCS8),
             ("ed25519", PKCS8)]


def signer_for(keys: dict[str, PrivateKey], name: str, *, domain: str = DOMAIN,
               selector: str = SELECTOR) -> DkimSigner:
    key = load_key(pem(keys[name], PKCS8), source=f"test key {name}")
    return DkimSigner(key, domain=domain, selector=selector, clock=clock)


# --- messages -------------------------------------------------------------------------------


RENDERED = Rendered(
    subject="The Weekly Brief: Côte d’Ivoire votes, Zürich’s trams, and a very long subject "
            "line that folds",
    html="<html><body><h1>The Weekly Brief</h1>"
         + "".join(f"<p>Story {n}: turnout in the invented town of Brightwater rose — "
                   f"<a href=\"https://news.example.net/{n}\">read more</a></p>\n"
                   for n in range(200))
         + f'<p><a href="{UNSUBSCRIBE_PLACEHOLDER}">Unsubscribe</a> · '
           f'<a href="{PREFERENCES_PLACEHOLDER}">Preferences</a></p></body></html>',
    text="THE WEEKLY BRIEF\n\n"
         + "".join(f"Story {n}: turnout in the invented town of Brightwater rose\n"
                   f"https://news.example.net/{n}\n\n" for n in range(200))
         + f"Unsubscribe: {UNSUBSCRIBE_PLACEHOLDER}\n")


def letter(rendered: Rendered = RENDERED) -> Letter:
    return Letter(rendered, sender=SENDER, edition="2026-11-30", list_id=LIST_ID)


def message(recipient: str = "ana@example.org", unsubscribe: str | None = UNSUBSCRIBE) -> bytes:
    return letter().for_recipient(recipient, date=DATE, unsubscribe=unsubscribe).data


def dns_for(key: DkimKey, domain: str = DOMAIN,
            selector: str = SELECTOR) -> Callable[..., bytes | None]:
    """dkimpy's DNS lookup, answering for one selector only (as a real zone would)."""
    record = key.dns_value().encode()

    def lookup(name: bytes, timeout: int = 5) -> bytes | None:
        return record if name == f"{selector}._domainkey.{domain}.".encode() else None

    return lookup


def verifies(signed: bytes, signer: DkimSigner) -> bool:
    return bool(dkim.verify(signed, dnsfunc=dns_for(signer.key, signer.domain,
                                                    signer.selector)))


def tags(header: bytes) -> dict[str, str]:
    """The tags of a DKIM-Signature header (RFC 6376 3.2), whitespace removed from values."""
    name, _, value = header.decode().partition(":")
    assert name == "DKIM-Signature"
    pairs = [t.strip().partition("=") for t in value.split(";") if t.strip()]
    return {k.strip(): re.sub(r"\s+", "", v) for k, _, v in pairs}


def header_names(data: bytes) -> list[str]:
    head = data.split(b"\r\n\r\n", 1)[0].decode()
    return [line.partition(":")[0].lower() for line in head.split("\r\n")
            if line and line[0] not in " \t"]


# --- signing and verifying ------------------------------------------------------------------


@pytest.mark.parametrize(("name", "form"), KEY_FILES,
                         ids=[f"{n}-{'pkcs1' if f is PKCS1 else 'pkcs8'}" for n, f in KEY_FILES])
def test_dkimpy_verifies_what_we_sign(keys: dict[str, PrivateKey], name: str,
                                      form: serialization.PrivateFormat) -> None:
    key = load_key(pem(keys[name], form), source=f"test key {name}")
    assert key.algorithm == name.removesuffix("2048").removesuffix("4096")
    signer = DkimSigner(key, domain=DOMAIN, selector=SELECTOR, clock=clock)
    data = message()
    signature = signer.sign(data)
    assert verifies(signature + data, signer)
    found = tags(signature)
    assert found["a"] == ("ed25519-sha256" if name == "ed25519" else "rsa-sha256")
    assert (found["v"], found["c"], found["d"], found["s"]) == (
        "1", "relaxed/simple", DOMAIN, SELECTOR)
    assert found["t"] == str(int(SIGNED_AT.timestamp()))
    assert "l" not in found and "x" not in found  # no body length limit, ever
    # the key in DNS is what verifies it: another key of the same kind does not
    other = load_key(pem(rsa.generate_private_key(public_exponent=65537, key_size=2048)
                         if key.algorithm == "rsa" else ed25519.Ed25519PrivateKey.generate(),
                         PKCS8), source="other")
    assert not dkim.verify(signature + data, dnsfunc=dns_for(other))


def test_every_reader_gets_a_signature_of_their_own(keys: dict[str, PrivateKey]) -> None:
    signer = signer_for(keys, "ed25519")
    readers = ["ana@example.org", "Ben Okafor <ben@example.com>", "Zoë Brandt <zoe@example.net>",
               "jürgen@example.org"]  # the last one's header is raw UTF-8 (RFC 6532)
    signed = []
    for n, reader in enumerate(readers):
        data = message(reader, unsubscribe=f"{UNSUBSCRIBE}{n}")
        signed.append(signer.sign(data) + data)
    assert all(verifies(s, signer) for s in signed)
    assert len({tags(s.split(b"\r\n\r\n")[0].split(b"\r\nSubject:")[0])["b"]
                for s in signed}) == len(readers)
    # a signature is this message's only: Ana's on Ben's message fails
    ana_signature = signed[0][:signed[0].index(b"Subject:")]
    ben_message = signed[1][signed[1].index(b"Subject:"):]
    assert not verifies(ana_signature + ben_message, signer)


def test_the_default_clock_signs_with_the_current_time(keys: dict[str, PrivateKey]) -> None:
    # dkimpy refuses a t= in its future: the signer's clock and dkimpy's agree (also under
    # faketime, which moves both)
    key = load_key(pem(keys["ed25519"], PKCS8), source="test")
    signer = DkimSigner(key, domain=DOMAIN, selector=SELECTOR)
    data = message()
    signature = signer.sign(data)
    assert tags(signature)["t"].isdigit()
    assert verifies(signature + data, signer)


# --- what the signature covers --------------------------------------------------------------


@pytest.fixture(scope="module", params=["rsa2048", "ed25519"])
def signed(request: pytest.FixtureRequest, keys: dict[str, PrivateKey]) -> tuple[
        DkimSigner, bytes, bytes]:
    signer = signer_for(keys, request.param)
    data = message()
    return signer, signer.sign(data), data


def test_a_header_we_do_not_sign_may_be_added(signed: tuple[DkimSigner, bytes, bytes]) -> None:
    # The control for the tampering tests below: relays add Received and the like, and the
    # signature must survive that; those tests fail for what they change, not for any change.
    signer, signature, data = signed
    assert verifies(signature + data, signer)
    received = b"Received: from relay.example.net by mx.example.com; " + DATE.encode() + b"\r\n"
    assert verifies(received + signature + b"X-Spam-Score: 0.1\r\n" + data, signer)


def test_a_changed_body_byte_fails(signed: tuple[DkimSigner, bytes, bytes]) -> None:
    signer, signature, data = signed
    at = data.index(b"Brightwater", data.index(b"\r\n\r\n"))
    assert not verifies(signature + data[:at] + b"b" + data[at + 1:], signer)
    # appending to the body fails too (no l= tag)
    assert not verifies(signature + data + b"P.S. an added line\r\n", signer)


def test_a_changed_subject_fails(signed: tuple[DkimSigner, bytes, bytes]) -> None:
    signer, signature, data = signed
    assert data.count(b"Subject: The Weekly Brief:") == 1
    assert not verifies(signature + data.replace(b"Subject: The Weekly Brief:",
                                                 b"Subject: The Weekly Grief:"), signer)
    added = b"Subject: Your account is locked\r\n"
    assert not verifies(signature + added + data, signer)  # over-signed


def test_an_added_from_fails(signed: tuple[DkimSigner, bytes, bytes]) -> None:
    signer, signature, data = signed
    mallory = b"From: Mallory <mallory@example.net>\r\n"
    assert not verifies(signature + mallory + data, signer)  # above ours
    end = data.index(b"\r\n\r\n") + 2
    assert not verifies(signature + data[:end] + mallory + data[end:], signer)  # below ours
    # over-signed: listed once more than present, so any added one is seen (dkimpy adds an
    # extra "from" of its own when verifying; other verifiers need ours)
    assert tags(signature)["h"].split(":").count("from") == 2


def test_an_added_list_unsubscribe_fails(signed: tuple[DkimSigner, bytes, bytes]) -> None:
    signer, signature, data = signed
    added = b"List-Unsubscribe: <https://unsubscribe.example.net/steal>\r\n"
    assert not verifies(signature + added + data, signer)
    names = tags(signature)["h"].split(":")
    assert names.count("list-unsubscribe") == 2 and names.count("list-unsubscribe-post") == 2


def test_a_removed_list_unsubscribe_post_fails(signed: tuple[DkimSigner, bytes, bytes]) -> None:
    signer, signature, data = signed
    post = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    assert data.count(post) == 1
    assert not verifies(signature + data.replace(post, b""), signer)


def test_one_click_cannot_be_added_to_a_mailto_only_message(
        keys: dict[str, PrivateKey]) -> None:
    # Without an https link there is no List-Unsubscribe-Post; its absence is signed
    signer = signer_for(keys, "ed25519")
    data = message(unsubscribe=None)
    assert b"List-Unsubscribe-Post" not in data
    signature = signer.sign(data)
    assert verifies(signature + data, signer)
    assert tags(signature)["h"].split(":").count("list-unsubscribe-post") == 1
    post = b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n"
    end = data.index(b"\r\n\r\n") + 2
    assert not verifies(signature + data[:end] + post + data[end:], signer)


def test_h_lists_the_headers_present_and_over_signs_four(
        signed: tuple[DkimSigner, bytes, bytes]) -> None:
    _, signature, data = signed
    present = header_names(data)
    listed = tags(signature)["h"].split(":")
    expected = [name for name in DEFAULT_HEADERS
                for _ in range(present.count(name) + (name in OVERSIGNED))]
    assert listed == expected
    assert {"from", "to", "subject", "date", "message-id", "list-id", "list-unsubscribe",
            "list-unsubscribe-post", "mime-version", "content-type"} <= set(listed)
    assert "x-digest-edition" not in listed  # not in the list: not signed


def test_repeated_headers_are_signed_bottom_up(keys: dict[str, PrivateKey]) -> None:
    # RFC 6376 5.4.2: the last instance is the first one signed; swapping them breaks it
    signer = signer_for(keys, "ed25519")
    data = message()
    first, second = b"To: ana@example.org\r\n", b"To: ben@example.org\r\n"
    assert data.count(first) == 1
    twice = data.replace(first, first + second)
    signature = signer.sign(twice)
    assert tags(signature)["h"].split(":").count("to") == 2
    assert verifies(signature + twice, signer)
    assert not verifies(signature + data.replace(first, second + first), signer)


def test_relaxed_header_canonicalization_matches_dkimpy(keys: dict[str, PrivateKey]) -> None:
    # Odd but legal spacing: tabs, runs of spaces, trailing space, folding with a tab,
    # upper-case names. dkimpy canonicalizes on its own, so a verified signature means both
    # read the headers alike; and a relay's refolding does no harm. (dkimpy refuses the
    # obsolete space before a colon, RFC 5322 4.5, so it is not tried here.)
    signer = signer_for(keys, "rsa2048")
    data = (b"FROM:  The Weekly Brief \t <brief@example.org>  \r\n"
            b"to:ana@example.org\r\n"
            b"Subject: A  subject\r\n\t folded   with a tab \r\n"
            b"Date: " + DATE.encode() + b"\r\n"
            b"MIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"\r\n"
            b"A body line.\r\n")
    signature = signer.sign(data)
    assert verifies(signature + data, signer)
    refolded = data.replace(b"Subject: A  subject\r\n\t folded   with a tab \r\n",
                            b"Subject: A subject folded\r\n with a tab\r\n")
    assert verifies(signature + refolded, signer)
    reworded = data.replace(b"folded   with", b"folded w1th")
    assert not verifies(signature + reworded, signer)


# --- body hash: the same as dkimpy's --------------------------------------------------------


def dkimpy_signature(data: bytes, keys: dict[str, PrivateKey]) -> bytes:
    result = dkim.sign(data, SELECTOR.encode(), DOMAIN.encode(), pem(keys["rsa2048"], PKCS1),
                       canonicalize=(b"relaxed", b"simple"))
    assert isinstance(result, bytes)
    return result


def test_body_hash_equals_dkimpys_for_a_letter(keys: dict[str, PrivateKey]) -> None:
    data = message()
    ours = tags(signer_for(keys, "rsa2048").sign(data))
    theirs = tags(dkimpy_signature(data, keys))
    assert theirs["c"] == "relaxed/simple"
    assert ours["bh"] == theirs["bh"]
    assert ours["bh"] == tags(signer_for(keys, "ed25519").sign(data))["bh"]


HEAD = b"From: brief@example.org\r\nTo: ana@example.org\r\nSubject: edge\r\n"


@pytest.mark.parametrize("body", [
    b"", b"\r\n", b"\r\n\r\n\r\n", b"one line\r\n", b"one line\r\n\r\n\r\n",
    b"no final line end", b"no final line end\r\n\r\n", b"\r\nafter an empty line\r\n",
    b"trailing space  \r\n \r\n", b"a\r\n\r\nb\r\n\r\n"],
    ids=["empty", "one-crlf", "crlfs", "line", "blank-lines", "no-crlf", "no-crlf-blank",
         "leading-blank", "spaces", "inner-blank"])
def test_body_hash_equals_dkimpys_at_the_edges(keys: dict[str, PrivateKey], body: bytes) -> None:
    data = HEAD + b"\r\n" + body
    signer = signer_for(keys, "ed25519")
    signature = signer.sign(data)
    assert tags(signature)["bh"] == tags(dkimpy_signature(data, keys))["bh"]
    assert verifies(signature + data, signer)


def test_a_message_with_headers_only(keys: dict[str, PrivateKey]) -> None:
    signer = signer_for(keys, "ed25519")
    signature = signer.sign(HEAD)
    empty = base64.b64encode(__import__("hashlib").sha256(b"\r\n").digest()).decode()
    assert tags(signature)["bh"] == empty  # an empty body hashes as one CRLF (3.4.3)
    assert verifies(signature + HEAD, signer)


def test_what_cannot_be_signed(keys: dict[str, PrivateKey]) -> None:
    signer = signer_for(keys, "ed25519")
    with pytest.raises(DkimError, match="no From header"):
        signer.sign(b"To: ana@example.org\r\nSubject: who sent this?\r\n\r\nbody\r\n")
    with pytest.raises(DkimError, match="no header block"):
        signer.sign(b"From: brief@example.org")


# --- folding --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["rsa2048", "rsa4096", "ed25519"])
@pytest.mark.parametrize(("domain", "selector"), [
    (DOMAIN, SELECTOR), ("newsletters.mail.brightwater-weekly.example.org", "brief-2025-06.eu"),
    ("a.example", "s")])
def test_every_line_is_at_most_78_characters(keys: dict[str, PrivateKey], name: str,
                                             domain: str, selector: str) -> None:
    signer = signer_for(keys, name, domain=domain, selector=selector)
    data = message()
    signature = signer.sign(data)
    assert signature.startswith(b"DKIM-Signature: ") and signature.endswith(b"\r\n")
    lines = signature[:-2].split(b"\r\n")
    assert len(lines) > 2  # it is folded
    assert all(len(line) <= 78 for line in lines), [len(line) for line in lines]
    assert all(line[:1] == b" " and line.strip() for line in lines[1:])  # continuations
    assert all(line == line.rstrip() for line in lines)  # nothing hangs at a line's end
    assert b"\n" not in signature.replace(b"\r\n", b"") and signature.isascii()
    assert verifies(signature + data, signer)


# --- keys -----------------------------------------------------------------------------------


def test_dns_values(keys: dict[str, PrivateKey]) -> None:
    rsa_key = load_key(pem(keys["rsa2048"], PKCS1), source="test")
    value = rsa_key.dns_value()
    assert value.startswith("v=DKIM1; k=rsa; p=")
    public = serialization.load_der_public_key(base64.b64decode(value.split("p=")[1]))
    ours = keys["rsa2048"].public_key()
    assert isinstance(public, rsa.RSAPublicKey) and isinstance(ours, rsa.RSAPublicKey)
    assert public.public_numbers() == ours.public_numbers()
    ed_key = load_key(pem(keys["ed25519"], PKCS8), source="test")
    value = ed_key.dns_value()
    assert value.startswith("v=DKIM1; k=ed25519; p=")
    raw = base64.b64decode(value.split("p=")[1])
    assert len(raw) == 32  # RFC 8463 4.2: the bare key, not a SubjectPublicKeyInfo
    assert raw == keys["ed25519"].public_key().public_bytes(serialization.Encoding.Raw,
                                                            serialization.PublicFormat.Raw)
    assert "PRIVATE" not in repr(ed_key) and "private_key" not in repr(ed_key)


def key_material(pem_bytes: bytes) -> list[str]:
    """Pieces of a PEM's base64 body: none may show up in an error message."""
    body = "".join(line for line in pem_bytes.decode().splitlines() if ":" not in line
                   and not line.startswith("-----"))
    return [body[i:i + 12] for i in range(0, len(body) - 12, 12)]


def refusal(pem_bytes: bytes, source: str) -> str:
    with pytest.raises(DkimError) as caught:
        load_key(pem_bytes, source=source)
    text = str(caught.value)
    assert "\n" not in text
    assert text.startswith(f"DKIM key {source}: ")
    if b"-----BEGIN" in pem_bytes:
        assert not any(piece in text for piece in key_material(pem_bytes))
    return text


def test_a_short_rsa_key_is_refused() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    for form in (PKCS1, PKCS8):
        text = refusal(pem(weak, form), "dkim.key_file /etc/digest/dkim.pem")
        assert "1024" in text and "2048" in text
    with pytest.raises(DkimError, match="2048"):
        DkimKey("rsa", weak)


def test_garbage_is_refused() -> None:
    assert "not a PEM" in refusal(b"not a key at all", "environment DIGEST_DKIM_KEY")
    broken = (b"-----BEGIN PRIVATE KEY-----\nTm90IGEgcmVhbCBrZXksIGp1c3QgdGVzdCB0ZXh0Lg==\n"
              b"-----END PRIVATE KEY-----\n")
    assert "not a readable PEM private key" in refusal(broken, "environment DIGEST_DKIM_KEY")


def test_an_ec_key_is_refused() -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    text = refusal(pem(p256, PKCS8), "dkim.key_file ec.pem")
    assert "EC secp256r1" in text and "Ed25519" in text


def test_an_encrypted_key_is_refused(keys: dict[str, PrivateKey]) -> None:
    locked = serialization.BestAvailableEncryption(b"correct horse battery staple")
    for name, form in (("rsa2048", PKCS8), ("rsa2048", PKCS1), ("ed25519", PKCS8)):
        text = refusal(pem(keys[name], form, locked), "dkim.key_file locked.pem")
        assert "encrypted" in text
        assert "correct horse" not in text


def test_a_public_key_is_refused(keys: dict[str, PrivateKey]) -> None:
    public = keys["rsa2048"].public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert "a public key" in refusal(public, "dkim.key_file dkim.pub")


def test_a_key_and_its_algorithm_must_agree(keys: dict[str, PrivateKey]) -> None:
    with pytest.raises(DkimError, match="not an rsa key"):
        DkimKey("rsa", keys["ed25519"])


# --- signer settings ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ed_key(keys: dict[str, PrivateKey]) -> DkimKey:
    return load_key(pem(keys["ed25519"], PKCS8), source="test")


@pytest.mark.parametrize("domain", [
    "example", "exa mple.org", "-news.example.org", "news-.example.org", "news..example.org",
    "bücher.example", "", "a" * 64 + ".example.org", ("a" * 60 + ".") * 5 + "org",
    "news_letter.example.org", "example.org;s=evil"])
def test_a_bad_domain_is_refused_by_name(ed_key: DkimKey, domain: str) -> None:
    with pytest.raises(DkimError) as caught:
        DkimSigner(ed_key, domain=domain, selector=SELECTOR)
    assert str(caught.value).startswith(f"DKIM domain {domain!r}: ")


@pytest.mark.parametrize("selector", [
    "", "sel ector", "sel;ector", "-sel", "sel_2025", "s.", "x" * 64, "über"])
def test_a_bad_selector_is_refused_by_name(ed_key: DkimKey, selector: str) -> None:
    with pytest.raises(DkimError) as caught:
        DkimSigner(ed_key, domain=DOMAIN, selector=selector)
    assert str(caught.value).startswith(f"DKIM selector {selector!r}: ")


def test_a_selector_too_long_for_its_domain_is_refused(ed_key: DkimKey) -> None:
    domain = ("a" * 60 + ".") * 3 + "example.org"  # 194 characters: a fine domain
    DkimSigner(ed_key, domain=domain, selector="s")
    with pytest.raises(DkimError, match="longer than a DNS name"):
        DkimSigner(ed_key, domain=domain, selector="b" * 50)


def test_good_names_are_kept_in_lower_case(ed_key: DkimKey) -> None:
    signer = DkimSigner(ed_key, domain="News.Example.ORG.", selector="Brief-2025.EU")
    assert (signer.domain, signer.selector) == ("news.example.org", "brief-2025.eu")


def test_header_lists(ed_key: DkimKey) -> None:
    with pytest.raises(DkimError, match="'from' must be among them"):
        DkimSigner(ed_key, domain=DOMAIN, selector=SELECTOR, headers=["to", "subject"])
    with pytest.raises(DkimError, match="'sub ject'"):
        DkimSigner(ed_key, domain=DOMAIN, selector=SELECTOR, headers=["from", "sub ject"])
    with pytest.raises(DkimError, match="a list of header names"):
        DkimSigner(ed_key, domain=DOMAIN, selector=SELECTOR, headers="from")
    signer = DkimSigner(ed_key, domain=DOMAIN, selector=SELECTOR, clock=clock,
                        headers=["From", "Subject", "from", "X-Digest-Edition"])
    assert signer.headers == ("from", "subject", "x-digest-edition")
    data = message()
    signature = signer.sign(data)
    assert tags(signature)["h"] == "from:from:subject:subject:x-digest-edition"
    assert verifies(signature + data, signer)


# --- layering -------------------------------------------------------------------------------


def test_signing_does_not_load_dkimpy() -> None:
    code = ("import sys, digest.dkimsign; "
            "print(sorted(m for m in ('dkim', 'nacl', 'dns') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=120, cwd=REPO).stdout
    assert out.strip() == "[]"


def test_no_other_module_handles_private_keys() -> None:
    """The module's first docstring line says it is the only importer of cryptography's
    signing primitives (private keys); the rest of the package may verify, not sign."""
    package = REPO / "digest"
    private = re.compile(r"PrivateKey|load_(pem|der)_private_key|generate_private_key")

    def handles_private_keys(node: ast.AST) -> bool:
        if isinstance(node, ast.ImportFrom):
            return any(private.search(alias.name) for alias in node.names)
        return isinstance(node, ast.Attribute) and private.search(node.attr) is not None

    offenders = [str(path.relative_to(REPO)) for path in sorted(package.rglob("*.py"))
                 if path.name != "dkimsign.py"
                 and any(handles_private_keys(node)
                         for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))]
    assert offenders == []
    assert private.search((package / "dkimsign.py").read_text(encoding="utf-8"))
