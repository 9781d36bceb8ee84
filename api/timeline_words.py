"""An enrollment's timeline said in words, one sentence per entry, for the dashboard: "Email
sent to ana@example.com", "Goal 'Appointment Confirmed' met by appointment.status_changed",
"Waiting until 2026-05-02 09:00:00 UTC". The entry's raw detail stays one click away on the page.

Reads only what the timeline holds (workflows/timeline.py), the steps of the enrollment's version
(for names and types) and the contact's current profile (for where a message went); a detail it
does not know gives the entry's kind in words and nothing more."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from api.i18n import Translate
from workflows.definition import SendEmailStep, SendSmsStep, Step, WaitStep, WebhookStep
from workflows.messages import ContactView, TimelineEntry


class TimelineWords:
    def __init__(
        self,
        t: Translate,
        steps: dict[str, Step],
        contact: ContactView | None,
        when: Callable[[datetime | str | None], str],
    ) -> None:
        self.t = t
        self.steps = steps
        self.contact = contact
        self.when = when

    def name(self, step_id: object) -> str:
        step = self.steps.get(str(step_id))
        return (step.name if step is not None else None) or str(step_id)

    def sentence(self, entry: TimelineEntry) -> str:
        t, detail = self.t, entry.detail
        step = self.name(entry.step_id)
        match entry.kind:
            case "entered":
                version = detail.get("version", "?")
                if detail.get("trigger_id"):
                    return t("tl.entered_trigger", version=version, trigger=detail["trigger_id"])
                return t("tl.entered", version=version)
            case "step_started":
                if detail.get("visit"):
                    return t("tl.started_again", step=step, visit=detail["visit"])
                return t("tl.started", step=step)
            case "step_completed":
                return self._completed(entry.step_id, step, detail)
            case "waiting":
                return self._waiting(detail)
            case "goal_met":
                said = t("tl.goal_met", goal=step, event=detail.get("event_type", "?"))
                if detail.get("lookback"):
                    said += " " + t("tl.goal_met_lookback")
                if detail.get("moves") is False:
                    said += " " + t("tl.goal_met_no_move")
                return said
            case "moved":
                return t("tl.moved", source=self.name(detail.get("from")), goal=step)
            case "goal_unmet":
                if detail.get("action") == "continue":
                    return t("tl.unmet_continue", goal=step)
                return t("tl.unmet_end", goal=step)
            case "timed_out":
                if detail.get("on_timeout") == "continue":
                    return t("tl.timed_out_continue", goal=step)
                return t("tl.timed_out_end", goal=step)
            case "ended":
                status = detail.get("status")
                status_words = t(f"status.{status}") if status in _STATUSES else str(status)
                if detail.get("outcome"):
                    return t("tl.ended_outcome", status=status_words, outcome=detail["outcome"])
                return t("tl.ended", status=status_words)
        return entry.kind

    def _completed(self, step_id: str | None, step: str, detail: dict[str, Any]) -> str:
        t = self.t
        kind = self.steps.get(str(step_id))
        if detail.get("result") == "failed":
            return t("tl.failed", step=step, error=detail.get("error", "?"))
        if detail.get("met"):
            action = detail.get("on_met")
            key = {"goto": "tl.goal_passed_goto", "end": "tl.goal_passed_end"}.get(
                str(action), "tl.goal_passed_next"
            )
            return t(key, goal=step)
        if "branch" in detail:
            key = "tl.branch_then" if detail["branch"] == "then" else "tl.branch_else"
            return t(key, step=step, next=self.name(detail.get("next")))
        skipped = detail.get("skipped")
        if skipped == "unsubscribed":
            return t("tl.skipped_unsubscribed", step=step)
        if skipped == "moved":
            return t("tl.skipped_moved", step=step)
        if skipped:
            return t("tl.skipped", step=step, reason=skipped)
        if isinstance(kind, SendEmailStep) or (kind is None and "message_id" in detail):
            to = self.contact.email if self.contact else None
            return t("tl.email_sent_to", to=to) if to else t("tl.email_sent")
        if isinstance(kind, SendSmsStep):
            to = self.contact.phone if self.contact else None
            return t("tl.sms_sent_to", to=to) if to else t("tl.sms_sent")
        if isinstance(kind, WebhookStep) or "status_code" in detail:
            return t("tl.webhook", status=detail.get("status_code", "?"))
        if isinstance(kind, WaitStep):
            return t("tl.wait_cut_short" if detail.get("cut_short") else "tl.wait_over", step=step)
        return t("tl.done", step=step)

    def _waiting(self, detail: dict[str, Any]) -> str:
        t = self.t
        until = detail.get("until")
        if detail.get("send_window"):
            return t("tl.waiting_send_window", until=self.when(until))
        if detail.get("goal"):
            goal = self.name(detail["goal"])
            if until:
                return t("tl.waiting_goal_until", goal=goal, until=self.when(until))
            return t("tl.waiting_goal", goal=goal)
        return t("tl.waiting_until", until=self.when(until))


_STATUSES = {"active", "completed", "exited", "cancelled", "failed"}
