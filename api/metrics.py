"""Prometheus metrics of the API and the one log line per request.

`/metrics` (open, like /healthz) serves the process's prometheus-client registry. Requests are
labelled by route template (`/v1/enrollments/{enrollment_id}`, never the raw path: bounded label
values, and no ids or tracking tokens in metrics or logs). What the worker counts (goals met,
enrollments started, bulk rows) is on the worker's own port; see docs/operations.md.
"""

from __future__ import annotations

import re
import time

import structlog
from fastapi import FastAPI
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter(
    "goalflow_http_requests",
    "HTTP requests answered, by route template and status",
    ["method", "route", "status"],
)
LATENCY = Histogram(
    "goalflow_http_request_duration_seconds",
    "time to answer an HTTP request, by route template",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
TRACKING = Counter(
    "goalflow_tracking_requests",
    "genuine tracking link requests (/t/...), by kind; result: recorded (an event) or repeat "
    "(the same link within a minute: answered, not recorded)",
    ["kind", "result"],
)

UNMATCHED = "<unmatched>"
log = structlog.get_logger("goalflow.api")


class RequestObserver:
    """Counts, times and logs every HTTP request (outermost, so a 413 is seen too)."""

    def __init__(self, app: ASGIApp, fastapi: FastAPI) -> None:
        self.app = app
        self.fastapi = fastapi
        self.templates: list[tuple[re.Pattern[str], str]] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def observe(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, observe)
        finally:
            elapsed = time.perf_counter() - started
            method = scope["method"]
            route = self._template(scope)
            REQUESTS.labels(method, route, str(status)).inc()
            LATENCY.labels(method, route).observe(elapsed)
            log.info(
                "request",
                method=method,
                route=route,
                status=status,
                duration_ms=round(elapsed * 1000, 2),
            )

    def _template(self, scope: Scope) -> str:
        """The path template that served the request. Matched against the OpenAPI paths, which
        are the full templates whatever way the routers were included."""
        if self.templates is None:
            paths = list(self.fastapi.openapi().get("paths", {}))
            # Static segments win over parameters (`/v1/schema/automation` before `{id}`).
            paths.sort(key=lambda path: (path.count("{"), path))
            self.templates = [(compile_path(path)[0], path) for path in paths]
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        for pattern, template in self.templates:
            if pattern.match(path):
                return template
        # The dashboard's pages are not in the OpenAPI spec: one label for all of them.
        return "/ui/*" if path == "/ui" or path.startswith("/ui/") else UNMATCHED


async def metrics_endpoint(request: Request) -> Response:
    """Prometheus text: API requests and goalflow counters."""
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    app.add_api_route(
        "/metrics", metrics_endpoint, methods=["GET"], tags=["health"], response_class=Response
    )
    app.add_middleware(RequestObserver, fastapi=app)
