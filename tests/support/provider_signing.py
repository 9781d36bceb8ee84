"""Shared by the tests/test_hooks_*.py files: a stack with every provider's secret set, and each
provider's way of signing a request, done here with test secrets as the provider does it."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlencode

import pytest
import stripe
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from temporalio.testing import WorkflowEnvironment

from api.providers.twilio import signature_of
from goalflow.core.smtp_sink import read_messages
from tests.support.helpers import new_id
from tests.support.messaging import enroll, messages_for, publish, until
from tests.support.stack import Stack, open_stack

SENDGRID_KEY = ec.generate_private_key(ec.SECP256R1())
SENDGRID_PUBLIC_KEY = base64.b64encode(
    SENDGRID_KEY.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
).decode()
MAILGUN_KEY = "key-mailgun-test-signing-key"
POSTMARK_AUTH = "goalflow:postmark-test-password"
TWILIO_TOKEN = "twilio-test-auth-token"
CALENDLY_KEY = "calendly-test-signing-key"
CALCOM_SECRET = "calcom-test-secret"
STRIPE_SECRET = "whsec_stripe-test-secret"
SHOPIFY_SECRET = "shopify-test-client-secret"
HIGHLEVEL_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
HIGHLEVEL_PUBLIC_KEY = (
    HIGHLEVEL_KEY.public_key()
    .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    .decode()
)

SECRETS = {
    "GOALFLOW_SENDGRID_PUBLIC_KEY": SENDGRID_PUBLIC_KEY,
    "GOALFLOW_MAILGUN_SIGNING_KEY": MAILGUN_KEY,
    "GOALFLOW_POSTMARK_WEBHOOK_AUTH": POSTMARK_AUTH,
    "GOALFLOW_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
    "GOALFLOW_CALENDLY_SIGNING_KEY": CALENDLY_KEY,
    "GOALFLOW_CALCOM_SECRET": CALCOM_SECRET,
    "GOALFLOW_STRIPE_WEBHOOK_SECRET": STRIPE_SECRET,
    "GOALFLOW_SHOPIFY_SECRET": SHOPIFY_SECRET,
    "GOALFLOW_HIGHLEVEL_PUBLIC_KEY": HIGHLEVEL_PUBLIC_KEY,
}


# For the whole session, like `stack`: workflows that outlive a test (the catalog, contacts) run
# on the queue of the worker that started them, which must stay up.
@pytest.fixture(scope="session")
async def hook_stack(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with open_stack(dev_env, tmp_path_factory.mktemp("hooks"), **SECRETS) as opened:
        yield opened


# --- signing as each provider does ------------------------------------------------------------


def sendgrid_headers(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SENDGRID_KEY.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {
        "content-type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


def mailgun_signature(timestamp: int | None = None, key: str = MAILGUN_KEY) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    token = new_id("t") + "0" * 30
    digest = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return {"timestamp": stamp, "token": token, "signature": digest}


def postmark_headers(auth: str = POSTMARK_AUTH) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "Authorization": "Basic " + base64.b64encode(auth.encode()).decode(),
    }


def twilio_request(
    stack: Stack, form: dict[str, str], token: str = TWILIO_TOKEN
) -> tuple[bytes, dict[str, str]]:
    url = f"{stack.settings.public_url}/v1/hooks/twilio"
    return urlencode(form).encode(), {
        "content-type": "application/x-www-form-urlencoded",
        "X-Twilio-Signature": signature_of(url, list(form.items()), token),
    }


def calendly_headers(
    body: bytes, timestamp: int | None = None, key: str = CALENDLY_KEY
) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(key.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {
        "content-type": "application/json",
        "Calendly-Webhook-Signature": f"t={stamp},v1={digest}",
    }


def calcom_headers(body: bytes, secret: str = CALCOM_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"content-type": "application/json", "X-Cal-Signature-256": digest}


def stripe_headers(
    body: bytes, timestamp: int | None = None, secret: str = STRIPE_SECRET
) -> dict[str, str]:
    """Signed by the official `stripe` package's own helper, not by a signer of ours."""
    header = stripe.WebhookSignature.generate_signature_header(
        body.decode(), secret, timestamp=timestamp
    )
    return {"content-type": "application/json", "Stripe-Signature": header}


def shopify_headers(body: bytes, topic: str, secret: str = SHOPIFY_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "content-type": "application/json",
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Topic": topic,
        "X-Shopify-Shop-Domain": "goalflow-test.myshopify.com",
    }


def highlevel_headers(body: bytes, key: rsa.RSAPrivateKey = HIGHLEVEL_KEY) -> dict[str, str]:
    signature = key.sign(body, padding.PKCS1v15(), hashes.SHA256())
    return {
        "content-type": "application/json",
        "x-wh-signature": base64.b64encode(signature).decode(),
    }


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


# --- enrollments listening for one event --------------------------------------------------------


def listening(
    criterion: dict[str, Any], first_step: dict[str, Any] | None = None
) -> dict[str, Any]:
    """An automation: optionally a first step, then a one-day wait, then goal `got` on
    `criterion` and goal `sentinel` on a custom event. A test posts hooks, then the sentinel:
    once it is met, any event posted before it has been applied too."""
    steps: list[dict[str, Any]] = [first_step] if first_step else []
    steps += [
        {"id": "wait", "type": "wait", "duration": "P1D"},
        {"id": "got", "type": "goal", "any_of": [criterion]},
        {"id": "sentinel", "type": "goal", "any_of": [{"event": "custom", "name": "sentinel"}]},
    ]
    return {"name": "listening", "steps": steps}


HELLO = {
    "id": "hello",
    "type": "send_email",
    "subject": "Hello",
    "html": '<a href="https://example.com/x">x</a>',
}


async def emailed(stack: Stack, criterion: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """Enroll a new contact in `listening(criterion)` after the `hello` email; the contact id,
    the enrollment id and the email as the SMTP sink received it (with its headers)."""
    automation = await publish(stack, listening(criterion, HELLO))
    contact = new_id()
    enrollment_id = await enroll(
        stack, automation, {"id": contact, "email": f"{contact}@example.com"}
    )
    await messages_for(stack, contact, 1)
    [sent] = [m for m in read_messages(stack.outbox_dir) if m.get("contact_id") == contact]
    await until(stack, enrollment_id, lambda v: (v["waiting"] or {}).get("kind") == "timer")
    return contact, enrollment_id, sent


def goal_met(step: str) -> Any:
    def check(view: dict[str, Any]) -> bool:
        return any(g["step_id"] == step and g["met"] for g in view["goals"])

    return check


async def sentinel_then_goals(stack: Stack, contact: str, enrollment_id: str) -> list[str]:
    """Post the sentinel event; once it met its goal, the goals met by anything, in order."""
    answer = await stack.http.post(
        "/v1/events",
        json={"contact_id": contact, "type": "custom", "data": {"name": "sentinel"}},
    )
    assert answer.status_code == 202, answer.text
    view = await until(stack, enrollment_id, goal_met("sentinel"))
    return [e["step_id"] for e in view["timeline"] if e["kind"] == "goal_met"]


def met_event(view: dict[str, Any], step: str) -> str:
    [goal] = [g for g in view["goals"] if g["step_id"] == step]
    assert goal["met"], view["goals"]
    return str(goal["event_id"])
