"""DKIM-sign outgoing messages (RFC 6376; RSA-SHA256, and Ed25519-SHA256 per RFC 8463): the only
importer of cryptography's signing primitives; it never changes, stores or sends a message.

`DkimSigner.sign` returns the DKIM-Signature header field to put in front of a message that
send.Letter built (CRLF lines, header block, blank line, body). Everything that does not depend
on the message is prepared once in the constructor: a send loop signs every reader's message
(each one differs), so a signature costs the private-key operation plus one SHA-256 pass over
the body and a few hundred bytes of header work. dkimpy, the reference implementation, is what
the tests verify against; it is not used here because its RSA is pure Python (about 10x slower).

Canonicalization is c=relaxed/simple: relaxed headers survive the refolding relays do, and the
simple body is exactly what send.Letter wrote. There is never an l= tag (a body length limit
lets anyone append content under a valid signature, RFC 6376 8.2).
"""

from __future__ import annotations

import base64
import hashlib
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, TypeAlias, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa, utils

MIN_RSA_BITS = 2048  # RFC 8301 section 3.2: signers SHOULD use at least 2048 bits

# What we sign, in this order; a name is listed in h= only as often as the message has it
# (RFC 6376 5.4: From MUST be signed; the list follows 5.4.1's recommendations plus the
# headers RFC 8058 and the feedback loops rely on).
DEFAULT_HEADERS: tuple[str, ...] = (
    "from", "sender", "reply-to", "to", "cc", "subject", "date", "message-id",
    "in-reply-to", "references", "list-id", "list-unsubscribe", "list-unsubscribe-post",
    "feedback-id", "mime-version", "content-type", "content-transfer-encoding",
    "auto-submitted")

# Listed once more than present (RFC 6376 8.15), so a verifier fails a message to which one
# was added after signing: a second From or Subject shown instead of ours, or a one-click
# unsubscribe link that is not ours (RFC 8058 section 4 requires both List-Unsubscribe fields
# to be signed). An absent one is listed once: its absence is signed too.
OVERSIGNED: frozenset[str] = frozenset(
    {"from", "subject", "list-unsubscribe", "list-unsubscribe-post"})

LINE_LIMIT = 78  # RFC 5322 2.1.1: lines SHOULD be at most 78 characters


class DkimError(ValueError):
    """A DKIM key, setting or message we cannot sign with: one line naming where it came
    from (a config key, a file, an environment variable), never the key itself."""


PrivateKey: TypeAlias = rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey


@dataclass(frozen=True, slots=True)
class DkimKey:
    """A private key fit for DKIM: RSA of at least 2048 bits, or Ed25519."""

    algorithm: Literal["rsa", "ed25519"]
    private_key: PrivateKey = field(repr=False)

    def __post_init__(self) -> None:
        if _algorithm_of(self.private_key, "given to DkimKey") != self.algorithm:
            raise DkimError(f"DKIM key given to DkimKey: not an {self.algorithm} key")

    def dns_value(self) -> str:
        """The TXT record to publish at <selector>._domainkey.<domain> (RFC 6376 3.6.1): the
        SubjectPublicKeyInfo for RSA, the raw 32-byte key for Ed25519 (RFC 8463 4.2). An RSA
        value is longer than one 255-byte DNS string; DNS tools split it, verifiers join it."""
        public = self.private_key.public_key()
        if isinstance(public, ed25519.Ed25519PublicKey):
            raw = public.public_bytes(serialization.Encoding.Raw,
                                      serialization.PublicFormat.Raw)
        else:
            raw = public.public_bytes(serialization.Encoding.DER,
                                      serialization.PublicFormat.SubjectPublicKeyInfo)
        return f"v=DKIM1; k={self.algorithm}; p={base64.b64encode(raw).decode()}"


def load_key(pem: bytes, *, source: str) -> DkimKey:
    """PEM private key (PKCS#8 "PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY"; Ed25519 PKCS#8).
    Refuses what is not PEM, unreadable or encrypted (a daemon has nobody to ask for the
    passphrase), RSA under 2048 bits, and other key types (EC P-256 etc.: DKIM has no
    algorithm for them). `source` says where the key came from, e.g. "dkim.key_file
    /etc/digest/dkim.pem" or "environment DIGEST_DKIM_KEY"; errors name it, never the key."""
    if b"-----BEGIN " not in pem:
        raise DkimError(f"DKIM key {source}: not a PEM private key "
                        "(expected a -----BEGIN PRIVATE KEY----- block)")
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except TypeError as e:  # cryptography: "Password was not given but private key is encrypted"
        raise DkimError(f"DKIM key {source}: the private key is encrypted; "
                        "give it without a passphrase") from e
    except (ValueError, UnsupportedAlgorithm) as e:
        # cryptography's messages name ASN.1 positions, not key bytes; ours names neither
        what = ("a public key, not the private key" if b"PUBLIC KEY-----" in pem
                and b"PRIVATE KEY-----" not in pem else "not a readable PEM private key")
        raise DkimError(f"DKIM key {source}: {what} (expected PKCS#8 'PRIVATE KEY' "
                        "or PKCS#1 'RSA PRIVATE KEY')") from e
    algorithm = _algorithm_of(key, source)  # refuses the key types DKIM has no use for
    return DkimKey(algorithm, cast(PrivateKey, key))


def _algorithm_of(key: object, source: str) -> Literal["rsa", "ed25519"]:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise DkimError(f"DKIM key {source}: RSA key of {key.key_size} bits; DKIM needs "
                            f"at least {MIN_RSA_BITS} (RFC 8301)")
        return "rsa"
    kind = (f"EC {key.curve.name}" if isinstance(key, ec.EllipticCurvePrivateKey)
            else type(key).__name__.removesuffix("PrivateKey"))
    raise DkimError(f"DKIM key {source}: key type {kind}; DKIM signs with RSA "
                    f"({MIN_RSA_BITS} bits or more) or Ed25519 (RFC 8463)")


# RFC 6376 3.5 (d=, s=) takes RFC 5321's sub-domain: letter-or-digit, hyphens inside.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DOMAIN = re.compile(rf"{_LABEL}(?:\.{_LABEL})+")
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")
_FIELD_NAME = re.compile(r"[!-9;-~]+")  # RFC 5322 3.6.8: printable ASCII but ":"


def _check_domain(domain: str) -> str:
    name = domain.removesuffix(".")
    if not name.isascii():
        raise DkimError(f"DKIM domain {domain!r}: not ASCII; give its xn-- (A-label) form")
    if len(name) > 253 or not _DOMAIN.fullmatch(name):
        raise DkimError(f"DKIM domain {domain!r}: not a DNS name (dot-separated labels of "
                        "letters, digits and inner hyphens, at most 63 characters each)")
    return name.lower()


def _check_selector(selector: str, domain: str) -> str:
    if not _SELECTOR.fullmatch(selector):
        raise DkimError(f"DKIM selector {selector!r}: not a DNS label or dotted labels "
                        "(letters, digits and inner hyphens, at most 63 characters each)")
    record = f"{selector}._domainkey.{domain}"
    if len(record) > 253:
        raise DkimError(f"DKIM selector {selector!r}: {record} is longer than a DNS name "
                        "may be (253 characters)")
    return selector.lower()


def _check_headers(headers: Sequence[str]) -> tuple[str, ...]:
    if isinstance(headers, str):  # a lone string would be signed letter by letter
        raise DkimError(f"DKIM headers {headers!r}: give a list of header names")
    names: list[str] = []
    for header in headers:
        if not _FIELD_NAME.fullmatch(header):
            raise DkimError(f"DKIM header {header!r}: not a header field name")
        if header.lower() not in names:
            names.append(header.lower())
    if "from" not in names:
        raise DkimError("DKIM headers: 'from' must be among them (RFC 6376 5.4)")
    return tuple(names)


_FIELD_START = re.compile(rb"\r\n(?![ \t])")  # a CRLF not followed by WSP ends a field
_WSP_RUN = re.compile(rb"[ \t]+")


def _relaxed(name: bytes, value: bytes) -> bytes:
    """RFC 6376 3.4.2 for one field: `name` already lower-cased and stripped; the value
    unfolded, each run of WSP one space, none at either end. No CRLF added."""
    value = value.replace(b"\r\n", b"")
    if b"\t" in value or b"  " in value:  # most values have single spaces only
        value = _WSP_RUN.sub(b" ", value)
    return name + b":" + value.strip(b" \t")


class DkimSigner:
    """Signs messages for one domain and selector with one key."""

    def __init__(self, key: DkimKey, *, domain: str, selector: str,
                 headers: Sequence[str] = DEFAULT_HEADERS,
                 clock: Callable[[], datetime] | None = None) -> None:
        self.domain = _check_domain(domain)
        self.selector = _check_selector(selector, self.domain)
        self.headers = _check_headers(headers)
        self.key = key
        self._clock = clock
        self._names = tuple(name.encode() for name in self.headers)
        self._wanted = frozenset(self._names)
        self._algorithm = "rsa-sha256" if key.algorithm == "rsa" else "ed25519-sha256"
        self._sign_digest = _digest_signer(key.private_key)
        # v, a, c, d, s and h= folded, by how often each header occurs (one or two shapes
        # per edition: with or without List-Unsubscribe-Post); t=, bh=, b= follow per message
        self._folded: dict[tuple[int, ...], tuple[tuple[str, ...], str]] = {}

    def sign(self, message: bytes) -> bytes:
        """The DKIM-Signature header field (folded lines of at most 78 characters, CRLF,
        ending in CRLF) to put in front of `message`.

        `message` has CRLF line ends throughout, as send.Letter makes it (the simple body
        canonicalization hashes the bytes as given, and an MTA that rewrote a bare LF would
        break the signature). A line may pass 78 characters only where a domain or selector
        is itself that long."""
        end = message.find(b"\r\n\r\n")
        if end >= 0:
            head, start = message[:end], end + 4
        elif message.endswith(b"\r\n"):  # a header block and no body
            head, start = message[:-2], len(message)
        else:
            raise DkimError("DKIM: the message has no header block ending in CRLF")
        found: dict[bytes, list[bytes]] = {}
        for raw in _FIELD_START.split(head):
            name, colon, value = raw.partition(b":")
            name = name.rstrip(b" \t").lower()
            if colon and name in self._wanted:
                found.setdefault(name, []).append(value)
        if b"from" not in found:
            raise DkimError("DKIM: the message has no From header field (RFC 6376 5.4)")
        signed: list[bytes] = []
        counts: list[int] = []
        for name in self._names:
            values = found.get(name)
            if values is None:
                counts.append(0)
                continue
            counts.append(len(values))
            # several instances: the last one first (RFC 6376 5.4.2), as verifiers pick them
            for value in reversed(values):
                signed.append(_relaxed(name, value))
        shape = tuple(counts)
        folded = self._folded.get(shape) or self._fold(shape)
        lines = list(folded[0])
        line = _place(lines, folded[1], " ", f"t={self._now()};")
        line = _place(lines, line, " ", f"bh={_body_hash(message, start)};")
        line = _place(lines, line, " ", "b=", room=8)  # keep a little of b= beside it
        lines.append(line)
        unsigned = "\r\n".join(lines).encode()
        # The header as verifiers rebuild it: b= empty, relaxed, no trailing CRLF (3.7)
        signed.append(_relaxed(b"dkim-signature", unsigned[len("DKIM-Signature:"):]))
        digest = hashlib.sha256(b"\r\n".join(signed)).digest()
        signature = base64.b64encode(self._sign_digest(digest)).decode()
        first = LINE_LIMIT - len(line)
        tail = [signature[i:i + LINE_LIMIT - 1]
                for i in range(first, len(signature), LINE_LIMIT - 1)]
        return b"".join((unsigned, signature[:first].encode(),
                         *(b"\r\n " + chunk.encode() for chunk in tail), b"\r\n"))

    def _fold(self, shape: tuple[int, ...]) -> tuple[tuple[str, ...], str]:
        """The header's first tags folded, up to h= for messages with these header counts:
        each name as often as it occurs, an over-signed one once more."""
        h_tag = [name for name, count in zip(self.headers, shape, strict=True)
                 for _ in range(count + (name in OVERSIGNED))]
        lines: list[str] = []
        line = "DKIM-Signature:"
        for tag in ("v=1;", f"a={self._algorithm};", "c=relaxed/simple;", f"d={self.domain};",
                    f"s={self.selector};"):
            line = _place(lines, line, " ", tag)
        for n, name in enumerate(h_tag, 1):  # FWS may follow h='s colons: folded there
            line = _place(lines, line, " " if n == 1 else "",
                          ("h=" if n == 1 else "") + name + (":" if n < len(h_tag) else ";"))
        folded = (tuple(lines), line)
        if len(self._folded) >= 64:  # only odd messages make new shapes: keep it bounded
            self._folded.clear()
        self._folded[shape] = folded  # another thread may make the same: no harm
        return folded

    def _now(self) -> int:
        return int(self._clock().timestamp()) if self._clock else int(time.time())


def _place(lines: list[str], line: str, sep: str, atom: str, room: int = 0) -> str:
    """`atom` added to the current `line`, or begun on a new one (CRLF SP, folding white
    space) when it would pass the limit; finished lines go to `lines`."""
    if len(line) + len(sep) + len(atom) + room <= LINE_LIMIT:
        return line + sep + atom
    lines.append(line)
    return " " + atom


def _body_hash(message: bytes, start: int) -> str:
    """bh= for the simple body (RFC 6376 3.4.3): the body from `start` with the empty lines at
    its end removed and a CRLF ending the last line (an empty body is one CRLF). Hashed in
    place: a 50 KB copy per message is not free."""
    end = len(message)
    while message.endswith(b"\r\n\r\n", start, end):  # a trailing empty line
        end -= 2
    hasher = hashlib.sha256(memoryview(message)[start:end])
    if not message.endswith(b"\r\n", start, end):
        hasher.update(b"\r\n")
    return base64.b64encode(hasher.digest()).decode()


def _digest_signer(key: PrivateKey) -> Callable[[bytes], bytes]:
    """How a SHA-256 digest of the canonical headers becomes b=: RSASSA-PKCS1-v1_5 over it
    (RFC 6376 3.3.2), or PureEdDSA over the digest itself (RFC 8463 section 3)."""
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign
    pkcs1, prehashed = padding.PKCS1v15(), utils.Prehashed(hashes.SHA256())

    def sign_rsa(digest: bytes) -> bytes:
        return key.sign(digest, pkcs1, prehashed)

    return sign_rsa
