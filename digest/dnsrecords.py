"""The DNS records a sender publishes so that mailbox providers trust its mail (`digest dns`,
issue 20): SPF for the envelope domain, the DKIM public key, DMARC for the From domain, and
what in the configuration keeps them from aligning. A pure step: settings and a public key
in, records and warnings out; it looks nothing up.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr

from digest.config import Settings

TXT_CHUNK = 255  # a TXT record's strings are at most 255 bytes each (RFC 1035 3.3.14)


@dataclass(frozen=True, slots=True)
class Record:
    name: str  # fully qualified, with the trailing dot
    type: str
    value: str
    purpose: str

    def zone_line(self) -> str:
        """The record as a zone-file line: long TXT values cut into quoted strings."""
        chunks = [self.value[i:i + TXT_CHUNK] for i in range(0, len(self.value), TXT_CHUNK)]
        return f"{self.name}\t3600\tIN\t{self.type}\t" + " ".join(f'"{c}"' for c in chunks)


def _organizational(domain: str) -> str:
    """The last two labels: enough to judge relaxed alignment for the usual domains (a
    public-suffix list would be needed for co.uk and the like; the warning says so)."""
    return ".".join(domain.lower().split(".")[-2:])


def records(settings: Settings, *, dkim_domain: str | None,
            dkim_value: str | None) -> tuple[list[Record], list[str]]:
    """The records to publish and the warnings about the configuration."""
    d = settings.delivery
    from_domain = parseaddr(d.from_)[1].rpartition("@")[2].lower()
    envelope = settings.bounces.address or parseaddr(d.from_)[1]
    envelope_domain = envelope.rpartition("@")[2].lower()
    warnings: list[str] = []
    relay = d.smtp.host if d.transport == "smtp" else None
    spf_hosts = "mx" + (f" a:{relay}" if relay and relay not in ("localhost", "127.0.0.1")
                        else "")
    out = [Record(f"{envelope_domain}.", "TXT", f"v=spf1 {spf_hosts} ~all",
                  f"SPF: who may send with envelope sender @{envelope_domain} (if your "
                  "provider gives an include: record, such as include:amazonses.com, use it "
                  "in place of the a: term)")]
    if dkim_value is not None and dkim_domain is not None and d.dkim is not None:
        out.append(Record(f"{d.dkim.selector}._domainkey.{dkim_domain}.", "TXT", dkim_value,
                          "DKIM: the public key every message is signed with"))
        if _organizational(dkim_domain) != _organizational(from_domain):
            warnings.append(f"DKIM signs as {dkim_domain}, which does not align with the From "
                            f"domain {from_domain}: DMARC will not pass on DKIM")
    else:
        warnings.append("DKIM is off (delivery.dkim): Gmail and Yahoo require it of bulk "
                        "senders")
    out.append(Record(
        f"_dmarc.{from_domain}.", "TXT",
        f"v=DMARC1; p=none; rua=mailto:dmarc-reports@{from_domain}; adkim=r; aspf=r",
        "DMARC: start with p=none and read the aggregate reports (make the rua mailbox), "
        "then move to p=quarantine"))
    if _organizational(envelope_domain) != _organizational(from_domain):
        warnings.append(f"the envelope sender's domain {envelope_domain} does not align with "
                        f"the From domain {from_domain}: DMARC will not pass on SPF")
    if settings.email.postal_address is None:
        warnings.append("email.postal_address is not set: CAN-SPAM requires a postal address "
                        "in every message")
    return out, warnings
