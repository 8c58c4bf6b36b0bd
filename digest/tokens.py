"""Signed tokens for reader links (confirm, unsubscribe, preferences, address change): made and
read with itsdangerous, bound to one reader, their address and a purpose, with key rotation;
the only importer of itsdangerous. Knows nothing of HTTP or the store.

A token carries the reader's id and 16 hex digits of a hash of their address key, signed
(HMAC-SHA1 over a key derived per purpose, itsdangerous's default, compared in constant time)
with a timestamp. A token for one purpose is refused for another (the purpose is the salt); a
token for an address the reader has since changed is refused by the caller, who compares
`address_hash` with the reader's. The newest key signs; every key in `previous` is still
accepted, so links already in inboxes keep working while a secret is rotated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from itsdangerous import BadData, SignatureExpired, TimestampSigner, URLSafeTimedSerializer

MAX_TOKEN = 400  # characters; a token we made is about 90


class Purpose(StrEnum):
    CONFIRM = "confirm"  # double opt-in: the link in the confirmation email (expires)
    UNSUBSCRIBE = "unsubscribe"  # List-Unsubscribe and the footer link (never expires)
    PREFERENCES = "preferences"  # the footer's preferences link (never expires)
    CHANGE = "change"  # confirming a new address (expires)


class TokenError(Exception):
    """A token that is not ours, altered, for another purpose, or too old."""

    def __init__(self, message: str, *, expired: bool = False) -> None:
        super().__init__(message)
        self.expired = expired


@dataclass(frozen=True, slots=True)
class Claims:
    """What a valid token says."""

    reader_id: int
    address_hash: str
    extra: str | None = None  # the new address, for Purpose.CHANGE


def address_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class Tokens:
    """Makes and reads the tokens of one newsletter."""

    def __init__(self, secret: bytes, previous: Sequence[bytes] = (), *,
                 clock: Callable[[], datetime] | None = None) -> None:
        """`clock`: the time tokens are stamped with and their age judged by (the app's
        clock; itsdangerous would read time.time())."""
        if not secret:
            raise ValueError("a secret is required to sign reader links")
        # itsdangerous signs with the last key and accepts any of them
        self._keys = [*previous, secret]
        self._serializers: dict[Purpose, URLSafeTimedSerializer] = {}
        self._signer: type[TimestampSigner] = TimestampSigner
        if clock is not None:
            now = clock

            class _ClockSigner(TimestampSigner):
                def get_timestamp(self) -> int:
                    return int(now().timestamp())

            self._signer = _ClockSigner

    def _serializer(self, purpose: Purpose) -> URLSafeTimedSerializer:
        # one per purpose, made once: a send signs two links for every message
        serializer = self._serializers.get(purpose)
        if serializer is None:
            serializer = URLSafeTimedSerializer(self._keys, salt=f"digest reader {purpose.value}",
                                                signer=self._signer)
            self._serializers[purpose] = serializer
        return serializer

    def make(self, purpose: Purpose, reader_id: int, key: str, extra: str | None = None) -> str:
        payload: list[object] = [reader_id, address_hash(key)]
        if extra is not None:
            payload.append(extra)
        token = self._serializer(purpose).dumps(payload)
        return token if isinstance(token, str) else token.decode()

    def read(self, purpose: Purpose, token: str, *, max_age: timedelta | None = None) -> Claims:
        """The claims of a token made for `purpose` (and not older than `max_age`);
        TokenError otherwise."""
        if not token or len(token) > MAX_TOKEN or not token.isascii():
            raise TokenError("this link is not valid (it may have been cut short)")
        try:
            payload = self._serializer(purpose).loads(
                token, max_age=int(max_age.total_seconds()) if max_age else None)
        except SignatureExpired:
            raise TokenError("this link has expired", expired=True) from None
        except BadData:
            raise TokenError("this link is not valid (it may have been cut short)") from None
        if not (isinstance(payload, list) and len(payload) in (2, 3)
                and isinstance(payload[0], int) and not isinstance(payload[0], bool)
                and all(isinstance(p, str) for p in payload[1:])):
            raise TokenError("this link is not valid")
        return Claims(payload[0], payload[1], payload[2] if len(payload) == 3 else None)


class Verp:
    """Signed addresses for what comes back by mail (issue 20): the envelope sender of each
    message (`bounces+b<id>-<mac>@domain`, where DSNs go: VERP) and the List-Unsubscribe
    mailto address (`bounces+u<id>-<mac>@domain`). Each carries the reader's id and a MAC of
    the kind, the id and the reader's address key (HMAC-SHA256 truncated to 65 bits, in
    lower-case base32: mail systems may fold the local part's case), so a forged bounce or
    unsubscribe names nobody, and an address reused after `forget` does not match. A token
    fits in the 64 characters of a local part with room to spare. Rotation as for Tokens:
    the newest key signs, every key verifies."""

    BOUNCE = "b"
    UNSUBSCRIBE = "u"
    _SHAPE = re.compile(r"([bu])([0-9a-z]{1,13})-([a-z2-7]{13})\Z")

    def __init__(self, address: str, secret: bytes, previous: Sequence[bytes] = ()) -> None:
        """`address`: the bounce mailbox (bounces@example.org), whose local part gets the
        `+token`."""
        if not secret:
            raise ValueError("a secret is required to sign bounce addresses")
        local, _, self.domain = address.rpartition("@")
        self.local = local
        self._keys = [hmac.new(k, b"digest verp", "sha256").digest()
                      for k in (secret, *previous)]

    def _mac(self, key: bytes, kind: str, reader_id: int, address_key: str) -> str:
        mac = hmac.digest(key, f"{kind}\0{reader_id}\0{address_key}".encode(), "sha256")
        return base64.b32encode(mac[:10]).decode().lower()[:13]

    def token(self, kind: str, reader_id: int, address_key: str) -> str:
        return (f"{kind}{_base36(reader_id)}-"
                f"{self._mac(self._keys[0], kind, reader_id, address_key)}")

    def address(self, kind: str, reader_id: int, address_key: str) -> str:
        """The signed address of this kind for this reader."""
        return f"{self.local}+{self.token(kind, reader_id, address_key)}@{self.domain}"

    def claims(self, token: str) -> tuple[str, int] | None:
        """The kind and reader id a token names, unverified (None: not one of ours)."""
        match = self._SHAPE.match(token.lower())
        if match is None:
            return None
        return match.group(1), int(match.group(2), 36)

    def verify(self, token: str, address_key: str) -> bool:
        """Whether the token was signed by us for the reader with this address key."""
        match = self._SHAPE.match(token.lower())
        if match is None:
            return False
        kind, reader_id, mac = match.group(1), int(match.group(2), 36), match.group(3)
        return any(hmac.compare_digest(self._mac(k, kind, reader_id, address_key), mac)
                   for k in self._keys)


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if not number:
            return out
