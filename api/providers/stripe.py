"""Stripe webhooks (Stripe "Check the webhook signatures"): `Stripe-Signature: t=<unix>,v1=<hex>
[,v1=<hex>...]`, each v1 an HMAC-SHA256 of `"<t>." + raw body` under the endpoint's signing
secret (GOALFLOW_STRIPE_WEBHOOK_SECRET, `whsec_...`, used as is). While a secret is rolled
Stripe sends one v1 per secret: any one matching is enough. The body is an Event
`{"id": "evt_...", "type", "data": {"object"}}`.

`checkout.session.completed` and `invoice.paid` are `payment.succeeded`, `charge.refunded`
`payment.refunded`, `customer.subscription.created|deleted` `subscription.started|cancelled`.
The contact is the object's `client_reference_id` (a Checkout Session's, which Payment Links
take from `?client_reference_id=`: `checkout_link(url)`) or its `metadata.goalflow_contact_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from typing import Any

from api.providers import (
    HookEvent,
    HookRequest,
    Malformed,
    Translation,
    Unauthorized,
    as_dict,
    equal,
    fresh,
    header,
    no_meaning,
    text,
)
from api.providers.money import money_data
from goalflow.core.settings import Settings
from goalflow.core.tracking import Tracker

SIGNATURE = "Stripe-Signature"
TYPES = {
    "checkout.session.completed": "payment.succeeded",
    "invoice.paid": "payment.succeeded",
    "charge.refunded": "payment.refunded",
    "customer.subscription.created": "subscription.started",
    "customer.subscription.deleted": "subscription.cancelled",
}
CONTACT_ID = re.compile(r"^[^\s/\x00-\x1f\x7f]{1,200}$")
NO_CONTACT = "names no contact: no client_reference_id or metadata.goalflow_contact_id"


def _signatures(value: str) -> tuple[str | None, list[str]]:
    timestamp: str | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t":
            timestamp = item
        elif key == "v1" and item:
            signatures.append(item)
    return timestamp, signatures


def _metadata(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def contact_of(obj: dict[str, Any]) -> str | None:
    """`client_reference_id`, else `metadata.goalflow_contact_id` of the object or, for an
    invoice, of its subscription (where Checkout copies a subscription's metadata)."""
    parent = _metadata(obj.get("parent"))
    candidates = [
        obj.get("client_reference_id"),
        _metadata(obj.get("metadata")).get("goalflow_contact_id"),
        _metadata(_metadata(obj.get("subscription_details")).get("metadata")).get(
            "goalflow_contact_id"
        ),
        _metadata(_metadata(parent.get("subscription_details")).get("metadata")).get(
            "goalflow_contact_id"
        ),
    ]
    for candidate in candidates:
        if isinstance(candidate, str) and CONTACT_ID.match(candidate):
            return candidate
    return None


def _product_of(price: Any) -> str | None:
    price = _metadata(price)
    product = price.get("product")
    if isinstance(product, dict):
        product = product.get("id")
    return text(product)


def products_of(obj: dict[str, Any]) -> list[str]:
    """Product ids of a subscription's items or an invoice's lines (older and newer API
    versions: `price.product`, `pricing.price_details.product`)."""
    found: list[str] = []
    for key in ("items", "lines", "line_items"):
        lines = _metadata(obj.get(key)).get("data")
        for line in lines if isinstance(lines, list) else []:
            line = _metadata(line)
            details = _metadata(_metadata(line.get("pricing")).get("price_details"))
            product = _product_of(line.get("price")) or text(details.get("product"))
            if product and product not in found:
                found.append(product)
    return found


def _amount(kind: str, obj: dict[str, Any]) -> Any:
    if kind == "checkout.session.completed":
        return obj.get("amount_total")
    if kind == "invoice.paid":
        return obj.get("amount_paid")
    if kind == "charge.refunded":
        return obj.get("amount_refunded")
    items = _metadata(obj.get("items")).get("data")
    total = 0
    for item in items if isinstance(items, list) else []:
        price = _metadata(_metadata(item).get("price"))
        unit, quantity = price.get("unit_amount"), _metadata(item).get("quantity", 1)
        if isinstance(unit, int) and isinstance(quantity, int):
            total += unit * quantity
    return total


class Stripe:
    name = "stripe"

    def secret(self, settings: Settings) -> str | None:
        return settings.stripe_webhook_secret or None

    def verify(self, request: HookRequest, secret: str) -> None:
        timestamp, given = _signatures(header(request, SIGNATURE))
        if not timestamp or not given:
            raise Unauthorized(f"{SIGNATURE} needs t= and v1=")
        fresh(timestamp, request.now)
        expected = hmac.new(
            secret.encode(), timestamp.encode() + b"." + request.body, hashlib.sha256
        ).hexdigest()
        if not any(equal(each, expected) for each in given):
            raise Unauthorized("bad signature")

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation:
        try:
            body = as_dict(json.loads(request.body), "the body")
        except ValueError as err:
            raise Malformed(f"body is not JSON: {err}") from err
        event_id = text(body.get("id"))
        if event_id is None:
            raise Malformed("the event has no id")
        kind = str(body.get("type"))
        goalflow_type = TYPES.get(kind)
        if goalflow_type is None:
            return Translation.ignore(no_meaning("type", body.get("type")))
        obj = as_dict(as_dict(body.get("data"), "data").get("object"), "data.object")
        contact_id = contact_of(obj)
        if contact_id is None:
            return Translation.ignore(NO_CONTACT)
        data = money_data(
            "stripe",
            _amount(kind, obj),
            obj.get("currency"),
            products_of(obj),
            stripe_event=kind,
            stripe_object=text(obj.get("id")),
        )
        event = HookEvent(f"stripe:{event_id}", goalflow_type, data, contact_id=contact_id)
        return Translation(events=[event])
