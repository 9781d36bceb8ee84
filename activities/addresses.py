"""Email addresses as SMTP needs them.

A domain with non-ASCII characters (an IDN, `clínica.es`) goes out in its ASCII form
(`xn--clnica-4va.es`), in the envelope and in the headers: every server accepts that. A
local part with non-ASCII characters (`josé@…`) has no ASCII form; it needs a server that
offers SMTPUTF8 (RFC 6531), which aiosmtplib asks for when an envelope address is not ASCII.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.headerregistry import Address
from email.utils import parseaddr

import idna


@dataclass(frozen=True)
class SmtpAddress:
    local_part: str
    domain: str  # always ASCII (IDNA A-labels)

    @property
    def envelope(self) -> str:
        return f"{self.local_part}@{self.domain}"

    @property
    def needs_smtputf8(self) -> bool:
        return not self.local_part.isascii()

    def header(self, display_name: str = "") -> Address:
        return Address(display_name=display_name, username=self.local_part, domain=self.domain)


def smtp_address(address: str) -> SmtpAddress:
    """The address as sent; ValueError (saying why) when it cannot be sent at all. The syntax
    was checked where the address came in (email-validator, in the API); this only converts:
    a non-ASCII domain to IDNA A-labels (IDNA 2008 with UTS #46 mapping, as email-validator)."""
    local_part, at, domain = address.strip().rpartition("@")
    if not at or not local_part or not domain:
        raise ValueError(f"{address!r} is not an email address")
    if not domain.isascii():
        try:
            domain = idna.encode(domain, uts46=True).decode("ascii")
        except idna.IDNAError as err:
            raise ValueError(f"the domain of {address!r} has no ASCII form: {err}") from err
    return SmtpAddress(local_part=local_part, domain=domain)


def header_address(value: str) -> tuple[str, SmtpAddress]:
    """A `From` as written in a step or setting (`Name <a@b>` or `a@b`): its display name and
    address."""
    name, address = parseaddr(value)
    if not address:
        raise ValueError(f"no address in From: {value!r}")
    return name, smtp_address(address)
