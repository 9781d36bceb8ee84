"""Stripe and Shopify webhooks over HTTP against a real stack: payloads shaped as each documents
them, signed its way with test secrets (Stripe's by the official `stripe` package's own helper).

Stripe: https://docs.stripe.com/webhooks#verify-events (Stripe-Signature, several v1 while a
secret rolls, 5 minute tolerance), https://docs.stripe.com/api/events/object (the Event),
https://docs.stripe.com/api/checkout/sessions/object (client_reference_id, amount_total),
https://docs.stripe.com/api/subscriptions/object (items.data[].price.product).
Shopify: https://shopify.dev/docs/apps/build/webhooks/subscribe/https (X-Shopify-Hmac-Sha256,
X-Shopify-Topic), https://shopify.dev/docs/api/webhooks?reference=toml#list-orders-create (the
order: total_price as a decimal string, line_items[].product_id, note_attributes, landing_site).
"""

from __future__ import annotations

import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import stripe

from api.providers import HookRequest, Unauthorized
from api.providers.stripe import Stripe
from tests.support.helpers import assert_eventually, new_id
from tests.support.messaging import enroll, messages_for, publish, until
from tests.support.provider_signing import (
    STRIPE_SECRET,
    dumps,
    goal_met,
    hook_stack,
    listening,
    met_event,
    sentinel_then_goals,
    shopify_headers,
    stripe_headers,
)
from tests.support.stack import Stack

__all__ = ["hook_stack"]


def stripe_event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    """An Event as Stripe posts it (https://docs.stripe.com/api/events/object)."""
    return {
        "id": "evt_" + uuid.uuid4().hex[:24],
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def checkout_session(contact: str | None, amount: int, currency: str = "usd") -> dict[str, Any]:
    return {
        "id": "cs_test_" + uuid.uuid4().hex,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "client_reference_id": contact,
        "currency": currency,
        "customer": "cus_" + uuid.uuid4().hex[:14],
        "customer_details": {"email": "buyer@example.com"},
        "metadata": {},
        "mode": "payment",
        "payment_status": "paid",
        "status": "complete",
    }


def subscription(contact: str, product: str, unit_amount: int) -> dict[str, Any]:
    return {
        "id": "sub_" + uuid.uuid4().hex[:24],
        "object": "subscription",
        "currency": "usd",
        "customer": "cus_" + uuid.uuid4().hex[:14],
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_" + uuid.uuid4().hex[:14],
                    "object": "subscription_item",
                    "price": {
                        "id": "price_" + uuid.uuid4().hex[:14],
                        "object": "price",
                        "currency": "usd",
                        "product": product,
                        "recurring": {"interval": "month", "interval_count": 1},
                        "unit_amount": unit_amount,
                    },
                    "quantity": 2,
                }
            ],
        },
        "metadata": {"goalflow_contact_id": contact},
        "status": "active",
    }


def shopify_order(**fields: Any) -> dict[str, Any]:
    """An order as Shopify's orders/create webhook sends it (trimmed to the documented fields
    goalflow reads and a few around them)."""
    order_id = int(uuid.uuid4().int % 10**18)
    return {
        "id": order_id,
        "admin_graphql_api_id": f"gid://shopify/Order/{order_id}",
        "name": "#9999",
        "email": "jon@example.com",
        "currency": "USD",
        "total_price": "403.00",
        "subtotal_price": "393.00",
        "financial_status": "paid",
        "landing_site": "/?utm_source=newsletter",
        "note_attributes": [],
        "line_items": [
            {
                "id": 866550311766439020,
                "product_id": 632910392,
                "variant_id": 808950810,
                "title": "IPod Nano - 8GB",
                "quantity": 1,
                "price": "199.00",
            }
        ],
        **fields,
    }


async def stripe_post(stack: Stack, payload: dict[str, Any]) -> Any:
    body = dumps(payload)
    return await stack.http.post("/v1/hooks/stripe", content=body, headers=stripe_headers(body))


async def listening_contact(stack: Stack, criterion: dict[str, Any]) -> tuple[str, str]:
    automation = await publish(stack, listening(criterion))
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact})
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    return contact, enrollment_id


async def enrolled_in(stack: Stack, contact: str, automation_id: str) -> None:
    async def probe() -> list[str]:
        answer = await stack.http.get(f"/v1/contacts/{contact}")
        if answer.status_code != 200:
            return []
        return [e["automation_id"] for e in answer.json()["active_enrollments"]]

    await assert_eventually(probe, lambda ids: automation_id in ids)


def test_the_official_stripe_helper_and_goalflow_agree_on_signatures() -> None:
    body = b'{"id": "evt_1", "type": "invoice.paid"}'
    now = time.time()
    signed = stripe.WebhookSignature.generate_signature_header(body.decode(), STRIPE_SECRET)
    stripe.WebhookSignature.verify_header(body, signed, STRIPE_SECRET, tolerance=300)
    Stripe().verify(HookRequest(body, {"Stripe-Signature": signed}, "", now), STRIPE_SECRET)
    # While a secret rolls Stripe sends a v1 per secret: one that matches is enough.
    other = stripe.WebhookSignature.generate_signature_header(body.decode(), "whsec_old")
    rolled = f"{signed},{other.split(',')[1]}"
    stripe.WebhookSignature.verify_header(body, rolled, STRIPE_SECRET, tolerance=300)
    Stripe().verify(HookRequest(body, {"Stripe-Signature": rolled}, "", now), STRIPE_SECRET)
    stale = stripe.WebhookSignature.generate_signature_header(
        body.decode(), STRIPE_SECRET, timestamp=int(now) - 301
    )
    for refused in (other, stale, signed.replace("v1=", "v0="), "t=1", ""):
        try:
            stripe.WebhookSignature.verify_header(body, refused, STRIPE_SECRET, tolerance=300)
        except stripe.SignatureVerificationError:
            pass
        else:
            raise AssertionError(f"stripe accepted {refused!r}")
        try:
            Stripe().verify(
                HookRequest(body, {"Stripe-Signature": refused}, "", now), STRIPE_SECRET
            )
        except Unauthorized:
            continue
        raise AssertionError(f"goalflow accepted {refused!r}")


async def test_a_stripe_checkout_meets_the_goal_and_a_retry_is_a_duplicate(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    criterion = {"event": "payment.succeeded", "amount_at_least": 2000, "currency": "USD"}
    contact, enrollment_id = await listening_contact(stack, criterion)
    small = stripe_event("checkout.session.completed", checkout_session(contact, 1999))
    euros = stripe_event("checkout.session.completed", checkout_session(contact, 5000, "eur"))
    paid = stripe_event("checkout.session.completed", checkout_session(contact, 2000))
    for event in (small, euros, paid):
        answer = await stripe_post(stack, event)
        assert answer.json() == {"accepted": 1, "duplicates": 0, "ignored": 0, "ignored_events": []}
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"stripe:{paid['id']}"
    retry = await stripe_post(stack, paid)
    assert retry.json()["duplicates"] == 1 and retry.json()["accepted"] == 0
    nobody = stripe_event("checkout.session.completed", checkout_session(None, 2000))
    unknown = stripe_event("customer.created", {"id": "cus_1", "object": "customer"})
    for event, reason in (
        (nobody, "names no contact: no client_reference_id or metadata.goalflow_contact_id"),
        (unknown, "type 'customer.created' has no goalflow meaning"),
    ):
        answer = await stripe_post(stack, event)
        assert answer.json() == {
            "accepted": 0,
            "duplicates": 0,
            "ignored": 1,
            "ignored_events": [{"index": 0, "reason": reason}],
        }


async def test_a_stripe_subscription_starts_an_automation_by_its_product(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    product = "prod_" + uuid.uuid4().hex[:14]
    automation = await publish(
        stack,
        {
            "name": "new subscribers",
            "triggers": [
                {"event": "subscription.started", "product": product, "amount_at_least": 3000}
            ],
            "steps": [{"id": "wait", "type": "wait", "duration": "P1D"}],
        },
    )
    contact = new_id()
    # 2 x 1500: the subscription's amount is its items' prices times their quantities.
    event = stripe_event("customer.subscription.created", subscription(contact, product, 1500))
    answer = await stripe_post(stack, event)
    assert answer.json()["accepted"] == 1, answer.text
    await enrolled_in(stack, contact, automation)
    # A cancellation meets a goal on the same product.
    ended = await publish(stack, listening({"event": "subscription.cancelled", "product": product}))
    enrollment_id = await enroll(stack, ended, {"id": contact})
    cancel = stripe_event("customer.subscription.deleted", subscription(contact, product, 1500))
    assert (await stripe_post(stack, cancel)).json()["accepted"] == 1
    await until(stack, enrollment_id, goal_met("got"))


async def test_stripe_refuses_forged_stale_and_missing_signatures(hook_stack: Stack) -> None:
    stack = hook_stack
    contact, enrollment_id = await listening_contact(stack, {"event": "payment.succeeded"})
    body = dumps(stripe_event("checkout.session.completed", checkout_session(contact, 100)))
    stale = stripe_headers(body, timestamp=int(time.time()) - 6 * 60)
    for headers in (
        stripe_headers(body, secret="whsec_someone-else"),
        stale,
        stripe_headers(b"{}"),
        {"content-type": "application/json"},
        {"Stripe-Signature": "t=" + str(int(time.time()))},
    ):
        answer = await stack.http.post("/v1/hooks/stripe", content=body, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
    assert await sentinel_then_goals(stack, contact, enrollment_id) == ["sentinel"]


async def checkout_linked(stack: Stack, criterion: dict[str, Any], url: str) -> tuple[str, str]:
    """Enroll a contact after an email holding `checkout_link(url)`; follow its tracked link
    as the contact would: the enrollment and the store URL reached."""
    email = {
        "id": "offer",
        "type": "send_email",
        "subject": "Our offer",
        "html": f"<a href=\"{{{{ checkout_link('{url}') }}}}\">Buy</a>",
    }
    automation = await publish(stack, listening(criterion, email))
    contact = new_id()
    enrollment_id = await enroll(stack, automation, {"id": contact, "email": f"{contact}@ex.com"})
    [sent] = await messages_for(stack, contact, 1)
    click = await stack.http.get(sent["links"][0], follow_redirects=False)
    assert click.status_code == 302, click.text
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    return enrollment_id, click.headers["location"]


async def test_a_shopify_order_meets_goals_by_attribute_and_by_checkout_link(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    criterion = {"event": "order.placed", "product": "632910392", "amount_at_least": 40300}
    contact, enrollment_id = await listening_contact(stack, criterion)
    attribute = [{"name": "goalflow_contact_id", "value": contact}]
    cheap = shopify_order(note_attributes=attribute, total_price="403.99", line_items=[])
    order = shopify_order(note_attributes=attribute)
    for each in (cheap, order):
        body = dumps(each)
        answer = await stack.http.post(
            "/v1/hooks/shopify", content=body, headers=shopify_headers(body, "orders/create")
        )
        assert answer.json()["accepted"] == 1, answer.text
    view = await until(stack, enrollment_id, goal_met("got"))
    assert met_event(view, "got") == f"shopify:{order['id']}:orders/create"
    body = dumps(order)
    retry = await stack.http.post(
        "/v1/hooks/shopify", content=body, headers=shopify_headers(body, "orders/create")
    )
    assert retry.json()["duplicates"] == 1

    # No attribute: the token checkout_link put in the landing page's URL names the contact.
    enrollment_id, url = await checkout_linked(
        stack, {"event": "order.fulfilled"}, "https://shop.example.com/products/ipod?ref=mail"
    )
    landing = urlsplit(url)
    assert landing.netloc == "shop.example.com" and "goalflow=" in landing.query
    fulfilled = shopify_order(landing_site=f"{landing.path}?{landing.query}")
    body = dumps(fulfilled)
    answer = await stack.http.post(
        "/v1/hooks/shopify", content=body, headers=shopify_headers(body, "orders/fulfilled")
    )
    assert answer.json()["accepted"] == 1, answer.text
    await until(stack, enrollment_id, goal_met("got"))


async def test_shopify_refuses_forged_signatures_and_ignores_what_names_nobody(
    hook_stack: Stack,
) -> None:
    stack = hook_stack
    contact, enrollment_id = await listening_contact(stack, {"event": "order.cancelled"})
    order = shopify_order(note_attributes=[{"name": "goalflow_contact_id", "value": contact}])
    body = dumps(order)
    for headers in (
        shopify_headers(body, "orders/cancelled", secret="someone-else"),
        shopify_headers(b"{}", "orders/cancelled"),
        {"content-type": "application/json", "X-Shopify-Topic": "orders/cancelled"},
    ):
        answer = await stack.http.post("/v1/hooks/shopify", content=body, headers=headers)
        assert answer.status_code == 401, (headers, answer.text)
    assert await sentinel_then_goals(stack, contact, enrollment_id) == ["sentinel"]
    stranger = dumps(shopify_order())
    for payload, topic, reason in (
        (
            stranger,
            "orders/create",
            "names no contact: no goalflow_contact_id attribute and no goalflow token in "
            "landing_site",
        ),
        (body, "orders/paid", "X-Shopify-Topic 'orders/paid' has no goalflow meaning"),
    ):
        answer = await stack.http.post(
            "/v1/hooks/shopify", content=payload, headers=shopify_headers(payload, topic)
        )
        assert answer.json()["ignored_events"] == [{"index": 0, "reason": reason}], answer.text
