"""Email addresses of readers: checking one (email-validator), the key two addresses compare by,
and the one-way hash an erased reader leaves behind; the only importer of email_validator.

Decides nothing about who is mailed (digest.readers does) and stores nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_ADDRESS = 254  # RFC 5321 4.5.3.1.3, path less its angle brackets


@dataclass(frozen=True, slots=True)
class Address:
    """A checked address: as written (trimmed), and its key."""

    written: str
    key: str


def address_key(address: str) -> str:
    """How two addresses compare (issue 18): the local part as written, the domain in lower
    case. `Ana@Example.org` and `ana@example.org` are two mailboxes to RFC 5321 (the local part
    is the receiving host's business), `Ana@example.org` and `Ana@EXAMPLE.ORG` one."""
    local, at, domain = address.strip().rpartition("@")
    return f"{local}@{domain.lower()}" if at else address.strip()


def check_address(value: str) -> Address:
    """The address checked by email-validator's rules (syntax, a domain with a dot that is not
    reserved, no quoted local part or IP literal; no DNS lookup), trimmed; ValueError saying
    what is wrong otherwise."""
    from email_validator import EmailNotValidError, validate_email

    written = value.strip()
    if not written:
        raise ValueError("an email address is required")
    if len(written) > MAX_ADDRESS:
        raise ValueError(f"not an email address: longer than {MAX_ADDRESS} characters")
    if not written.isprintable():
        raise ValueError("not an email address: it contains control characters")
    try:
        checked = validate_email(written, check_deliverability=False)
    except EmailNotValidError as e:
        raise ValueError(f"not an email address: {written!r}: {e}") from None
    return Address(written, f"{checked.local_part}@{checked.domain.lower()}")


def forget_hash(key: str) -> str:
    """What an erased reader leaves: SHA-256 of the whole address in lower case, so that no
    spelling of it is mailed again. One-way: the address cannot be read back from it."""
    return hashlib.sha256(b"digest forgotten reader\0" + key.lower().encode()).hexdigest()
