"""Provider webhooks in: `POST /v1/hooks/{provider}` (docs/integrations.md).

Not behind API keys: each provider authenticates its requests its own way (a signature, or basic
auth for Postmark), checked before anything is read from the body; a request that fails is a 401
and nothing is recorded. A provider whose secret is not configured does not exist (404).
Translated events go through the same path as `POST /v1/events/batch` (one update per contact),
the provider's event id becoming the goalflow event id: a provider's retry is a duplicate.
"""

from __future__ import annotations

from typing import Annotated, Any

import structlog
from fastapi import APIRouter, HTTPException, Path, Request, status
from fastapi.responses import Response

from api.attribution import attribute, set_tags
from api.deps import ServiceDep, SettingsDep
from api.hook_setup import provider_off
from api.providers import HookEvent, HookRequest, Malformed, Provider, Unauthorized
from api.providers.cal_com import CalCom
from api.providers.calendly import Calendly
from api.providers.highlevel import HighLevel
from api.providers.mailgun import Mailgun
from api.providers.postmark import Postmark
from api.providers.sendgrid import SendGrid
from api.providers.shopify import Shopify
from api.providers.stripe import Stripe
from api.providers.twilio import Twilio
from api.routes.tracking import TrackerDep
from api.schemas import HookAccepted, IgnoredEvent
from goalflow.core.settings import Settings
from goalflow.service.contacts import GoalflowService
from goalflow.service.events import contact_event, receipts_or_raise, send_by_contact

router = APIRouter(prefix="/v1/hooks", tags=["hooks"])
log = structlog.get_logger("goalflow.hooks")

PROVIDERS: dict[str, Provider] = {
    p.name: p
    for p in (
        SendGrid(),
        Mailgun(),
        Postmark(),
        Twilio(),
        Calendly(),
        CalCom(),
        Stripe(),
        Shopify(),
        HighLevel(),
    )
}
# Contacts of one request whose updates are in flight at once.
CONTACTS_IN_FLIGHT = 16
# What Twilio's messaging webhook expects back: TwiML, here saying nothing in reply.
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "description": "the provider's own payload, as it sends it (JSON, or form fields for "
        "Twilio)",
        "content": {
            "application/json": {"schema": {}},
            "application/x-www-form-urlencoded": {
                "schema": {"type": "object", "additionalProperties": {"type": "string"}}
            },
        },
    }
}


def public_url(settings: Settings, request: Request) -> str:
    """The URL the provider was given: Twilio signs it, and behind a proxy the URL this process
    sees differs."""
    url = settings.public_url.rstrip("/") + request.url.path
    return f"{url}?{request.url.query}" if request.url.query else url


@router.post(
    "/{provider}",
    response_model=HookAccepted,
    openapi_extra=BODY,
    responses={
        400: {"description": "a verified request whose body is not the provider's format"},
        401: {"description": "missing or bad signature, or a stale timestamp: nothing recorded"},
        404: {"description": "unknown provider, or its secret is not configured"},
    },
)
async def receive(
    provider: Annotated[
        str,
        Path(
            description="sendgrid, mailgun, postmark, twilio, calendly, cal_com, stripe, "
            "shopify or highlevel",
            json_schema_extra={"enum": list(PROVIDERS)},
        ),
    ],
    request: Request,
    goalflow: ServiceDep,
    settings: SettingsDep,
    tracker: TrackerDep,
) -> Any:
    """A provider's webhook. Answers `accepted` (new goalflow events), `duplicates` (events
    seen before: a provider's retry) and `ignored` (provider events with no goalflow meaning,
    or that name no contact goalflow knows), each of those in `ignored_events` with its
    position in the request and the reason."""
    handler = PROVIDERS.get(provider)
    secret = handler.secret(settings) if handler is not None else None
    if handler is None or secret is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=provider_off(provider, handler, PROVIDERS, settings)
        )
    hook = HookRequest(
        body=await request.body(),
        headers=request.headers,
        public_url=public_url(settings, request),
    )
    try:
        handler.verify(hook, secret)
        translation = handler.translate(hook, tracker)
    except Unauthorized as err:
        log.warning("hook refused", provider=provider, reason=str(err))
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, detail=str(err)) from err
    except Malformed as err:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(err)) from err

    events = translation.events
    ignored = translation.ignored + await attribute(goalflow, settings.secret, events)
    ignored.sort(key=lambda i: i.index)
    for each in ignored:
        log.info("hook event ignored", provider=provider, index=each.index, reason=each.reason)
    named = [e for e in events if e.contact_id and e.tags is None]
    accepted, duplicates = await _accept(goalflow, named)
    changed, unchanged = await set_tags(goalflow, [e for e in events if e.tags is not None])
    accepted, duplicates = accepted + changed, duplicates + unchanged
    answer = HookAccepted(
        accepted=accepted,
        duplicates=duplicates,
        ignored=len(ignored),
        ignored_events=[IgnoredEvent(index=i.index, reason=i.reason) for i in ignored],
    )
    if provider == "twilio" and request.headers.get("user-agent", "").startswith("TwilioProxy"):
        return Response(EMPTY_TWIML, media_type="text/xml")
    return answer


async def _accept(goalflow: GoalflowService, events: list[HookEvent]) -> tuple[int, int]:
    """(accepted, duplicates): each contact's events in one update, in the provider's order.
    An error is the answer (a 503 the provider retries: the same ids make that safe)."""
    batch = []
    for e in events:
        assert e.contact_id is not None  # the caller keeps only the events that name a contact
        batch.append(
            contact_event(
                e.contact_id, e.type, e.data, event_id=e.event_id, occurred_at=e.occurred_at
            )
        )
    results = await send_by_contact(goalflow.send_events, batch, in_flight=CONTACTS_IN_FLIGHT)
    duplicates = sum(r.duplicate for r in receipts_or_raise(results))
    return len(events) - duplicates, duplicates
