"""Preview an automation for one contact (docs/api.md, "Preview"): nothing sent, no workflow."""

from __future__ import annotations

from fastapi import APIRouter

from api import preview as previews
from api.deps import KnownAutomationId, ServiceDep, SettingsDep
from api.preview import PreviewIn, PreviewOut

router = APIRouter(tags=["preview"])


@router.post(
    "/automations/{automation_id}/preview",
    response_model=PreviewOut,
    response_model_exclude_unset=False,
    responses={404: {"description": "unknown automation"}},
)
async def preview_automation(
    goalflow: ServiceDep, settings: SettingsDep, automation_id: KnownAutomationId, body: PreviewIn
) -> PreviewOut:
    """The enrollment the contact would go through if enrolled at `start` and the events were
    accepted at their offsets, simulated to its end or to `horizon` by the same interpreter as
    a real enrollment (R18 in docs/automations.md). No side effect."""
    return await previews.preview(goalflow, settings, automation_id, body)
