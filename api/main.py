"""The FastAPI app: wiring only. Routes are in `api/routes/`; what they do, in
`goalflow/service/`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from temporalio.client import Client

from api import docs, errors, metrics, request_errors
from api.deps import require_api_key
from api.middleware import BodyGuard, PageHeaders
from api.recent_links import RecentLinks
from api.routes import (
    automations,
    contacts,
    drafts,
    dry_runs,
    enrollments,
    events,
    experiments,
    explain,
    health,
    hooks,
    jobs,
    migrations,
    policies,
    preview,
    stats,
    tracking,
    trigger_links,
    ui,
)
from api.routes import dev as dev_routes
from goalflow import __version__
from goalflow.core.production import require_production_ready
from goalflow.core.settings import Settings, get_settings
from goalflow.core.temporal import lazy_client
from goalflow.core.tracing import instrument_app
from goalflow.service.contacts import GoalflowService


def create_app(settings: Settings | None = None, client: Client | None = None) -> FastAPI:
    settings = settings or get_settings()
    require_production_ready(settings, "api")

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # One client per process; lazy, so the API starts (and /readyz says 503) while
        # Temporal is still coming up.
        temporal = client or await lazy_client(settings)
        goalflow = GoalflowService(
            temporal,
            settings.task_queue,
            report_outcomes=bool(settings.reporting_webhook_url),
            answer_wait=settings.answer_wait_seconds,
        )
        app.state.goalflow = goalflow
        # The trigger set is refreshed in the background, so no request waits for it.
        refreshing = asyncio.create_task(goalflow.triggers.run())
        try:
            yield
        finally:
            refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await refreshing

    app = FastAPI(
        title="goalflow",
        version=__version__,
        description="Durable marketing/CRM automations with goal events, on Temporal.",
        lifespan=lifespan,
        # Served by api/docs.py from local assets, not from a CDN.
        docs_url=None,
        redoc_url=None,
        # No "did you mean the path with(out) a trailing slash" redirect: Starlette builds its
        # absolute Location from the request's Host header, before any key is checked, which
        # made every route an open redirect to a forged host. Such a path is a 404.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.recent_links = RecentLinks()
    instrument_app(app, settings)

    app.add_middleware(BodyGuard, max_body_bytes=settings.max_body_bytes)
    # Framing and Content Security Policy headers of the dashboard and the unsubscribe pages.
    app.add_middleware(PageHeaders)
    errors.install(app)

    app.include_router(health.router)
    v1 = [Depends(require_api_key)]
    for module in (
        automations,
        drafts,
        enrollments,
        events,
        contacts,
        trigger_links,
        jobs,
        stats,
        experiments,
        policies,
        preview,
        explain,
        dry_runs,
        migrations,
    ):
        app.include_router(module.router, prefix="/v1", dependencies=v1)
    if settings.dev_mode:
        app.include_router(dev_routes.router, prefix="/v1", dependencies=v1)
    # Open: the signed token is the credential (docs/email.md).
    tracking.install(app)
    # The dashboard: HTML pages with their own login (a session cookie, not bearer keys).
    ui.install(app)
    # Open too: each provider's own signature is the credential (docs/integrations.md).
    app.include_router(hooks.router)
    metrics.install(app)
    request_errors.install(app)
    docs.install(app)
    return app
