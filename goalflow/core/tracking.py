"""Signed tracking tokens: what a tracked link, open pixel or unsubscribe link points at.

A token is the compact JSON of a `TrackedTarget`, signed with HMAC-SHA256 under
`GOALFLOW_SECRET` (itsdangerous). Each kind of link has its own salt, so an open token is not a
valid click token. Tokens carry everything the resulting event needs (contact, automation,
step, link), so the tracking endpoints keep no state of their own. They do not expire: a link
in an email read a year later still works.

`GOALFLOW_SECRET` may list several secrets, comma-separated: the first signs, all verify, so a
rotation (put the new secret first, keep the old ones after it) never breaks a link already in an
inbox. Everything goalflow signs goes through `serializer()` / `signer()` here so that it rotates
the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from enum import StrEnum
from typing import Literal
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from itsdangerous import BadData, Signer, URLSafeSerializer
from pydantic import BaseModel, ConfigDict, Field, ValidationError

# Longer than any token we issue (a URL of 2,000 characters fits); anything beyond is not ours.
MAX_TOKEN_LENGTH = 4096


Secrets = str | Sequence[str]


def secret_list(secrets: Secrets) -> list[str]:
    """The secrets of a `GOALFLOW_SECRET` value (comma-separated) or list, signing one first.
    Blanks are dropped; none left is an error, never a token signed with an empty key."""
    items = secrets.split(",") if isinstance(secrets, str) else list(secrets)
    found = [s.strip() for s in items if s.strip()]
    if not found:
        raise ValueError("GOALFLOW_SECRET must not be empty")
    return found


def _keys(secrets: Secrets) -> list[str]:
    # itsdangerous signs with the last key and verifies with all: ours signs with the first.
    return list(reversed(secret_list(secrets)))


def serializer(secrets: Secrets, salt: str) -> URLSafeSerializer:
    """A URL-safe signed-JSON serializer (HMAC-SHA256): the first secret signs, all verify."""
    return URLSafeSerializer(
        _keys(secrets), salt=salt, signer_kwargs={"digest_method": hashlib.sha256}
    )


def signer(secrets: Secrets, salt: str) -> Signer:
    """A signer of plain strings (HMAC-SHA256): the first secret signs, all verify."""
    return Signer(_keys(secrets), salt=salt, digest_method=hashlib.sha256)


class TrackingKind(StrEnum):
    """The path segment under /t/ of each kind of link."""

    CLICK = "c"
    OPEN = "o"
    UNSUBSCRIBE = "u"


# Tokens that never appear in a /t/ URL: the one carried in provider metadata headers of an
# email (so that provider webhooks can name the contact), and the one `booking_link(url)` adds to
# a booking URL. Each has its own salt, like the kinds above.
TokenPurpose = Literal["attribution", "booking"]


class TrackedTarget(BaseModel):
    """What a token says. One-letter aliases keep the tokens (and the links) short."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)

    contact_id: str = Field(alias="c", min_length=1)
    automation_id: str | None = Field(None, alias="a")
    enrollment_id: str | None = Field(None, alias="e")
    step_id: str | None = Field(None, alias="s")
    channel: Literal["email", "sms"] | None = Field(None, alias="ch")
    # A click goes either to `url` (an email link) or to trigger link `link_id`, looked up at
    # click time so that changing the link's URL changes where old emails lead.
    url: str | None = Field(None, alias="u")
    link_id: str | None = Field(None, alias="l")


class Tracker:
    """Issues and reads tracking tokens and builds the public URLs that carry them."""

    def __init__(self, secrets: Secrets, public_url: str) -> None:
        self.public_url = public_url.rstrip("/")
        self._serializers = {
            kind: serializer(secrets, salt=f"goalflow.tracking.{kind.name.lower()}")
            for kind in TrackingKind
        }
        self._purposes = {
            purpose: serializer(secrets, salt=f"goalflow.{purpose}")
            for purpose in ("attribution", "booking")
        }

    def token(self, kind: TrackingKind, target: TrackedTarget) -> str:
        payload = target.model_dump(by_alias=True, exclude_none=True)
        token: str = self._serializers[kind].dumps(payload)
        return token

    def read(self, kind: TrackingKind, token: str) -> TrackedTarget | None:
        """The target of a genuine token of this kind; None for anything else (forged,
        truncated, signed with another key, of another kind, or not a token at all)."""
        if len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            # The signature is checked before the payload is decoded.
            payload = self._serializers[kind].loads(token)
            return TrackedTarget.model_validate(payload)
        except (BadData, ValidationError, ValueError, TypeError):
            return None

    def sign(self, purpose: TokenPurpose, target: TrackedTarget) -> str:
        token: str = self._purposes[purpose].dumps(
            target.model_dump(by_alias=True, exclude_none=True)
        )
        return token

    def verify(self, purpose: TokenPurpose, token: object) -> TrackedTarget | None:
        """As `read`, for the tokens of `sign`."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH:
            return None
        try:
            return TrackedTarget.model_validate(self._purposes[purpose].loads(token))
        except (BadData, ValidationError, ValueError, TypeError):
            return None

    def booking_url(self, url: str, contact_id: str) -> str:
        """`url` with the contact's signed booking token, where the booking tool hands it back
        in its webhooks: `utm_content` for Calendly, `metadata[goalflow]` otherwise (Cal.com).
        Only the contact id is signed: the token stays short enough for a UTM parameter."""
        token = self.sign("booking", TrackedTarget(contact_id=contact_id))
        parts = urlsplit(str(url))
        host = (parts.hostname or "").lower()
        calendly = host == "calendly.com" or host.endswith(".calendly.com")
        key = "utm_content" if calendly else "metadata[goalflow]"
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != key]
        return urlunsplit(parts._replace(query=urlencode([*query, (key, token)])))

    def checkout_url(self, url: str, contact_id: str) -> str:
        """`url` naming the contact where the shop hands it back in its webhooks: a Stripe
        Payment Link takes the contact id as `client_reference_id` (Stripe allows no signed
        token there: letters, digits, `-` and `_` only); any other URL (a Shopify store) gets
        the signed booking-purpose token in `goalflow`, kept in the order's `landing_site`."""
        parts = urlsplit(str(url))
        host = (parts.hostname or "").lower()
        if host == "buy.stripe.com" or host.endswith(".buy.stripe.com"):
            key, value = "client_reference_id", contact_id
        else:
            key, value = "goalflow", self.sign("booking", TrackedTarget(contact_id=contact_id))
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != key]
        return urlunsplit(parts._replace(query=urlencode([*query, (key, value)])))

    def url(self, kind: TrackingKind, target: TrackedTarget) -> str:
        return f"{self.public_url}/t/{kind.value}/{self.token(kind, target)}"

    def is_tracking_url(self, url: str) -> bool:
        """A link that already points at our tracking endpoints (never wrapped twice)."""
        return url.startswith(f"{self.public_url}/t/")


# The metadata key under which emails carry their signed attribution token (provider webhooks).
ATTRIBUTION_KEY = "goalflow"


def message_id_for(key: str, domain: str) -> str:
    """A Message-ID that is the same on every attempt of one send (R10) and still readable:
    `<enr.AUTOMATION.CONTACT.N.STEP.VISIT@domain>`. The key's parts are percent-encoded (dots
    too) and joined with dots, so that any contact id gives a valid, distinct dot-atom."""
    local = quote(key, safe=":").replace(".", "%2E").replace(":", ".")
    return f"<{local}@{domain}>"


def target_of_message_id(message_id: str) -> TrackedTarget | None:
    """The send a Message-ID of `message_id_for` names (contact, automation, enrollment,
    step); None for any other Message-ID. Automation and step ids hold no `:` or `.` and the
    enrollment number and visit are digits, so the contact id is what lies between them."""
    local = message_id.strip().removeprefix("<").removesuffix(">").rpartition("@")[0]
    parts = local.split(".")
    if len(parts) < 6 or parts[0] != "enr" or not (parts[-1].isdigit() and parts[-3].isdigit()):
        return None
    automation_id, step_id = unquote(parts[1]), unquote(parts[-2])
    contact_id = unquote(":".join(parts[2:-3]))
    if not contact_id:
        return None
    return TrackedTarget(
        contact_id=contact_id,
        automation_id=automation_id,
        enrollment_id=f"enr:{automation_id}:{contact_id}:{parts[-3]}",
        step_id=step_id,
        channel="email",
    )
