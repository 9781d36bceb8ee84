"""The API's own documentation: `/docs` (Swagger UI) and `/redoc`, and the parts of the OpenAPI
spec that FastAPI cannot infer.

The pages load their scripts and styles from this server, out of the `fastapi-offline` package
(FastAPI's self-hosting recipe), so they work without a network and name no other host.

The spec types the body of `PUT /v1/automations/{id}` with the definition model: the route takes
it as plain JSON so that `parse_automation` can check it against the trigger links and answer
with warnings. Every route that takes a body declares the 413 the body guard answers, and every
error answer declared by a route gets the JSON body it has.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel

from workflows.definition import Automation

ASSETS_URL = "/docs-assets"
AUTOMATION_PATH = "/v1/automations/{automation_id}"
_BODY_METHODS = ("post", "put", "patch", "delete")


class ErrorOut(BaseModel):
    """An error other than a 422: what went wrong, in words."""

    detail: str


AUTOMATION_EXAMPLE: dict[str, Any] = {
    "name": "Appointment follow-up",
    "settings": {"allow_reentry": False, "timezone": "UTC"},
    "steps": [
        {
            "id": "welcome",
            "type": "send_email",
            "subject": "Hi {{ contact.first_name }}",
            "html": "<p>Book a call: <a href=\"{{ trigger_link('book-call') }}\">book</a></p>",
        },
        {"id": "wait-1", "type": "wait", "duration": "P2D"},
        {
            "id": "confirmed",
            "type": "goal",
            "name": "Appointment Confirmed Goal",
            "any_of": [{"event": "appointment.status_changed", "status": ["confirmed"]}],
            "on_met": {"action": "goto", "step": "see-you"},
            "if_unmet": {"action": "wait", "timeout": "P14D", "on_timeout": "end"},
        },
        {"id": "reminder", "type": "send_email", "subject": "Reminder", "html": "<p>Book?</p>"},
        {"id": "see-you", "type": "send_email", "subject": "See you soon", "html": "<p>:)</p>"},
    ],
}


def install(app: FastAPI) -> None:
    """Serve /docs and /redoc from local assets (create the app with `docs_url=None,
    redoc_url=None`) and complete its OpenAPI spec."""
    assets = StaticFiles(directory=str(files("fastapi_offline") / "static"))
    app.mount(ASSETS_URL, assets, name="docs-assets")
    openapi_url = app.openapi_url or "/openapi.json"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon.png",
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=f"{app.title} API",
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=f"{ASSETS_URL}/favicon.png",
            with_google_fonts=False,
        )

    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = completed(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def completed(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with the automation body typed, 413 declared wherever a body is taken, and
    every error answer a route declares (`responses={404: {"description": ...}}`) given its
    JSON body, `{"detail": ...}`."""
    schemas = spec.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("ErrorOut", ErrorOut.model_json_schema())
    definition = Automation.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}"
    )
    for name, schema in {**definition.pop("$defs", {}), "Automation": definition}.items():
        if schemas.setdefault(name, schema) != schema:
            raise RuntimeError(f"two different schemas are named {name!r} in the OpenAPI spec")
    publish = spec["paths"][AUTOMATION_PATH]["put"]
    publish["requestBody"]["content"]["application/json"] = {
        "schema": {"$ref": "#/components/schemas/Automation"},
        "example": AUTOMATION_EXAMPLE,
    }
    error_body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for operations in spec["paths"].values():
        for method, operation in operations.items():
            responses = operation["responses"]
            if method in _BODY_METHODS:
                responses.setdefault(
                    "413", {"description": "request body larger than GOALFLOW_MAX_BODY_BYTES"}
                )
            for code, response in responses.items():
                if code.startswith(("4", "5")) and "application/json" not in response.get(
                    "content", {}
                ):
                    response["content"] = {**response.get("content", {}), **error_body}
    return spec
