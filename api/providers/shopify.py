"""Shopify webhooks (Shopify "Deliver webhooks through HTTPS", verify the webhook):
`X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256 of the raw body under the app's client
secret (GOALFLOW_SHOPIFY_SECRET); the topic is `X-Shopify-Topic`, the body the order.

`orders/create` is `order.placed`, `orders/fulfilled` `order.fulfilled`, `orders/cancelled`
`order.cancelled`, one per order and topic (a redelivery is a duplicate). The contact is a
`goalflow_contact_id` cart attribute (`note_attributes`, or `attributes`), else the signed
token that `checkout_link(url)` put in the store URL's `goalflow` parameter, which Shopify
keeps in the order's `landing_site`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from urllib.parse import parse_qs, urlsplit

from api.providers import (
    HookEvent,
    HookRequest,
    Malformed,
    Translation,
    Unauthorized,
    as_dict,
    equal,
    header,
    no_meaning,
    text,
)
from api.providers.money import minor_units, money_data
from api.providers.stripe import CONTACT_ID
from goalflow.core.settings import Settings
from goalflow.core.tracking import Tracker

SIGNATURE = "X-Shopify-Hmac-Sha256"
TOPIC = "X-Shopify-Topic"
TYPES = {
    "orders/create": "order.placed",
    "orders/fulfilled": "order.fulfilled",
    "orders/cancelled": "order.cancelled",
}
# The query parameter `checkout_link(url)` adds for stores (Stripe's links take the contact id
# in `client_reference_id`).
TOKEN_PARAMETER = "goalflow"
NO_CONTACT = (
    "names no contact: no goalflow_contact_id attribute and no goalflow token in landing_site"
)


def signature_of(body: bytes, secret: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), body, hashlib.sha256).digest()).decode()


def _attribute(order: dict[str, Any]) -> str | None:
    for key in ("note_attributes", "attributes"):
        entries = order.get(key)
        if isinstance(entries, dict):  # some payloads give attributes as an object
            entries = [{"name": k, "value": v} for k, v in entries.items()]
        for entry in entries if isinstance(entries, list) else []:
            if isinstance(entry, dict) and entry.get("name") == "goalflow_contact_id":
                value = entry.get("value")
                if isinstance(value, str) and CONTACT_ID.match(value):
                    return value
    return None


def _landing_token(order: dict[str, Any]) -> str | None:
    landing = text(order.get("landing_site"))
    if landing is None:
        return None
    return parse_qs(urlsplit(landing).query).get(TOKEN_PARAMETER, [None])[0]


def _products(order: dict[str, Any]) -> list[str]:
    found: list[str] = []
    lines = order.get("line_items")
    for line in lines if isinstance(lines, list) else []:
        product = line.get("product_id") if isinstance(line, dict) else None
        valid = isinstance(product, int | str) and not isinstance(product, bool) and product != ""
        if valid and str(product) not in found:
            found.append(str(product))
    return found


class Shopify:
    name = "shopify"

    def secret(self, settings: Settings) -> str | None:
        return settings.shopify_secret or None

    def verify(self, request: HookRequest, secret: str) -> None:
        if not equal(header(request, SIGNATURE), signature_of(request.body, secret)):
            raise Unauthorized("bad signature")

    def translate(self, request: HookRequest, tracker: Tracker) -> Translation:
        topic = request.headers.get(TOPIC)
        goalflow_type = TYPES.get(topic or "")
        try:
            order = as_dict(json.loads(request.body), "the body")
        except ValueError as err:
            raise Malformed(f"body is not JSON: {err}") from err
        if goalflow_type is None:
            return Translation.ignore(no_meaning(TOPIC, topic))
        order_id = order.get("id")
        if not isinstance(order_id, int | str) or isinstance(order_id, bool) or order_id == "":
            raise Malformed("the order has no id")
        contact_id = _attribute(order)
        if contact_id is None:
            target = tracker.verify("booking", _landing_token(order))
            contact_id = target.contact_id if target is not None else None
        if contact_id is None:
            return Translation.ignore(NO_CONTACT)
        currency = text(order.get("currency"))
        data = money_data(
            "shopify",
            minor_units(order.get("total_price"), currency),
            currency,
            _products(order),
            order_id=str(order_id),
            order_name=text(order.get("name")),
        )
        event = HookEvent(f"shopify:{order_id}:{topic}", goalflow_type, data, contact_id=contact_id)
        return Translation(events=[event])
