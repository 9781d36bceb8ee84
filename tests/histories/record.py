"""Record the workflow histories replayed by tests/unit/test_replay.py.

    python -m tests.histories.record                         # every scenario
    python -m tests.histories.record email --suffix local    # enrollment_email_local.json, ...

Run it when a deliberate, `workflow.patched`-guarded change should be pinned by new histories.
Record the changed scenarios under a new suffix: the files recorded by older code stay, so their
histories keep being replayed too.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from goalflow.core.settings import Settings
from goalflow.core.sms_recipients import phone_workflow_id
from goalflow.core.smtp_sink import SmtpSink
from goalflow.core.validation import parse_automation
from tests.support.helpers import WorkflowDriver, running_engine, temporal_test_server
from tests.support.stack import free_port
from workflows.contact import ContactWorkflowV2
from workflows.definition import Holdout
from workflows.events import ContactEvent, TriggerMatch
from workflows.experiments import is_held_out
from workflows.messages import EventBatch, ProfileSave, contact_workflow_id

HERE = Path(__file__).parent

BUY = [{"event": "custom", "name": "buy"}]

SCENARIOS: dict[str, dict[str, Any]] = {
    "early_goal": {
        "name": "early goal",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P2D"},
            {"id": "skipped", "type": "add_tag", "tag": "never"},
            {"id": "g", "type": "goal", "any_of": BUY},
            {"id": "after", "type": "add_tag", "tag": "done"},
        ],
    },
    "if_unmet_wait_timeout": {
        "name": "wait then time out",
        "steps": [
            {
                "id": "g",
                "type": "goal",
                "any_of": BUY,
                "if_unmet": {"action": "wait", "timeout": "P14D", "on_timeout": "end"},
            }
        ],
    },
    "goto": {
        "name": "goto",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P1D"},
            {"id": "g", "type": "goal", "any_of": BUY, "on_met": {"action": "goto", "step": "t"}},
            {"id": "skipped", "type": "add_tag", "tag": "never"},
            {"id": "t", "type": "add_tag", "tag": "target"},
        ],
    },
    "email": {
        "name": "email, goal, email",
        "steps": [
            {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hello</p>"},
            {"id": "w", "type": "wait", "duration": "P1D"},
            {"id": "g", "type": "goal", "any_of": BUY, "if_unmet": {"action": "wait"}},
            {"id": "thanks", "type": "send_email", "subject": "Thanks", "html": "<p>Thanks</p>"},
        ],
    },
    "event_batch": {
        "name": "goal met by an event of a batch",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P1D"},
            {"id": "g", "type": "goal", "any_of": BUY, "if_unmet": {"action": "wait"}},
            {"id": "after", "type": "add_tag", "tag": "done"},
        ],
    },
    # The window is set at record time to open hours after the server's clock (see _record).
    "send_window": {
        "name": "send held by the send window",
        "steps": [
            {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hello</p>"},
        ],
    },
    "send_window_goal": {
        "name": "goal met while a send is held",
        "steps": [
            {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hello</p>"},
            {"id": "g", "type": "goal", "any_of": BUY},
            {"id": "after", "type": "add_tag", "tag": "done"},
        ],
    },
    # Enrolled by a trigger on the contact's first profile save; an add_tag step asks the
    # worker's trigger copy (a local activity); a later event matches the trigger again and is
    # refused (the contact is in the automation already).
    "triggered": {
        "name": "triggered",
        "triggers": [{"id": "new", "event": "contact.created"}, {"id": "again", "event": "custom"}],
        "steps": [
            {"id": "tag", "type": "add_tag", "tag": "welcomed"},
            {"id": "w", "type": "wait", "duration": "P1D"},
            {"id": "g", "type": "goal", "any_of": BUY, "if_unmet": {"action": "wait"}},
        ],
    },
    # The webhook's URL is set at record time to a local server that answers 500 twice.
    "webhook_retry": {
        "name": "webhook retried by the enrollment",
        "steps": [
            {"id": "notify", "type": "webhook", "url": "http://127.0.0.1/hook"},
            {"id": "after", "type": "add_tag", "tag": "done"},
        ],
    },
    # An event accepted before the enrollment meets the goal through its lookback (see _record).
    "lookback": {
        "name": "goal met by an event looked back on",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P1D"},
            {
                "id": "g",
                "type": "goal",
                "any_of": [{"event": "custom", "name": "buy", "lookback": "PT1H"}],
            },
            {"id": "after", "type": "add_tag", "tag": "done"},
        ],
    },
    # R21: a sequence goal with min_count and within, its attempts carried across
    # continue-as-new (forced after two events, see _record), met by the last event needed.
    "compound": {
        "name": "a compound goal met in order",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P1D"},
            {
                "id": "g",
                "type": "goal",
                "sequence": [
                    {"event": "custom", "name": "look"},
                    {"event": "custom", "name": "buy", "min_count": 2},
                ],
                "within": "PT6H",
                "if_unmet": {"action": "wait"},
            },
            {"id": "after", "type": "add_tag", "tag": "done"},
        ],
    },
    "sms": {
        "name": "an SMS recorded in the phone directory",
        "steps": [
            {"id": "text", "type": "send_sms", "body": "Hi"},
            {"id": "after", "type": "add_tag", "tag": "texted"},
        ],
    },
    # A contact at its 500 tags (workflows/limits.py): the add_tag step fails, and a tag event
    # from outside is accepted but not kept (patches enrollment-bounds-contact,
    # contact-bounds-profile).
    "bounded": {
        "name": "a contact at its bounds",
        "steps": [
            {"id": "over", "type": "add_tag", "tag": "one-too-many"},
            {"id": "w", "type": "wait", "duration": "P1D"},
            {"id": "g", "type": "goal", "any_of": BUY, "if_unmet": {"action": "wait"}},
        ],
    },
    # A split step: the recorded contact takes whichever path its id hashes to.
    "split": {
        "name": "split",
        "steps": [
            {
                "id": "ab",
                "type": "split",
                "paths": [
                    {"id": "a", "weight": 50, "next": "w-a"},
                    {"id": "b", "weight": 50, "next": "w-b"},
                ],
            },
            {"id": "w-a", "type": "wait", "duration": "P1D"},
            {"id": "end-a", "type": "end"},
            {"id": "w-b", "type": "wait", "duration": "P1D"},
        ],
    },
    # A held-out enrollment (the contact is chosen so that it is): no step runs, a goal met
    # during its window is recorded, and it ends as holdout.
    "holdout": {
        "name": "holdout",
        "settings": {"holdout": {"percent": 50, "window": "P3D"}},
        "steps": [
            {"id": "hello", "type": "send_email", "subject": "Hi", "html": "<p>Hello</p>"},
            {"id": "g", "type": "goal", "any_of": BUY, "jump_from": "anywhere"},
        ],
    },
    "cancel": {
        "name": "cancel",
        "steps": [
            {"id": "w", "type": "wait", "duration": "P30D"},
            {"id": "never", "type": "add_tag", "tag": "never"},
        ],
    },
}


SMS_TO = "+15550100"


async def _record_triggered(engine: WorkflowDriver, name: str, definition: dict[str, Any]) -> str:
    """Drive the contact workflow as the API does for triggers; the enrollment's id."""
    contact = f"replay-{name}"
    automation, _ = parse_automation(definition)
    match = TriggerMatch(
        automation_id=name,
        version=1,
        trigger_id="",
        definition=automation,
        search_attributes=engine.search_attributes,
    )
    await engine.client.execute_update_with_start_workflow(
        ContactWorkflowV2.save_profile,
        ProfileSave(
            id=f"{name}-save", email=f"{contact}@example.com", triggers={"contact.created": [match]}
        ),
        start_workflow_operation=engine.contact_start(contact),
    )
    enrollment_id = f"enr:{name}:{contact}:1"
    await engine.until(enrollment_id, lambda v: v.waiting is not None)
    buy = ContactEvent(
        id=f"{name}-buy",
        contact_id=contact,
        type="custom",
        data={"name": "buy"},
        triggers=[match.model_copy(update={"trigger_id": "again"})],
    )
    await engine.client.execute_update_with_start_workflow(
        ContactWorkflowV2.accept_event, buy, start_workflow_operation=engine.contact_start(contact)
    )
    return enrollment_id


async def _record(engine: WorkflowDriver, name: str, definition: dict[str, Any]) -> dict[str, str]:
    contact = f"replay-{name}"
    if name == "holdout":
        holdout = Holdout.model_validate(definition["settings"]["holdout"])
        contact = next(
            c for c in (f"replay-{name}-{n}" for n in range(1000)) if is_held_out(name, c, holdout)
        )
    if name == "triggered":
        enrollment_id = await _record_triggered(engine, name, definition)
        await engine.result(enrollment_id)
        enrollment = await engine.client.get_workflow_handle(enrollment_id).fetch_history()
        contact_history = await engine.client.get_workflow_handle(
            contact_workflow_id(contact)
        ).fetch_history()
        return {
            f"enrollment_{name}": enrollment.to_json(),
            f"contact_{name}": contact_history.to_json(),
        }
    if name.startswith("send_window"):
        now = await engine.env.get_current_time()
        opens = (now + timedelta(hours=3)).strftime("%H:00")
        closes = (now + timedelta(hours=4)).strftime("%H:00")
        days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
        window = {"days": days, "start": opens, "end": closes}
        definition = {**definition, "settings": {"send_window": window}}
    if name == "webhook_retry":
        definition = {
            **definition,
            "steps": [
                {**definition["steps"][0], "url": _failing_twice()},
                *definition["steps"][1:],
            ],
        }
    if name == "lookback":
        await engine.send(contact, "custom", {"name": "buy"}, id=f"{name}-buy")
    tags = [f"t{n:03d}" for n in range(500)] if name == "bounded" else []
    enrolled = await engine.enroll(
        definition,
        contact,
        automation_id=name.replace("_", "-"),
        contact={"email": f"{contact}@example.com", "phone": SMS_TO, "tags": tags},
        enrollment_continue_as_new_after=2 if name == "compound" else None,
    )
    if name == "compound":
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        for n, what in enumerate(["buy", "look", "buy", "buy"]):
            await engine.send(contact, "custom", {"name": what}, id=f"{name}-{n}")
    if name == "bounded":
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        await engine.send(contact, "contact.tag_added", {"tag": "outside"}, id=f"{name}-tag")
        await engine.send(contact, "custom", {"name": "buy"}, id=f"{name}-buy")
    if name in ("early_goal", "goto", "email", "holdout"):
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        await engine.send(contact, "custom", {"name": "buy"}, id=f"{name}-buy")
    if name == "event_batch":
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        events = [
            ContactEvent(id=f"{name}-{n}", contact_id=contact, type="custom", data={"name": what})
            for n, what in enumerate(["look", "buy", "buy"])
        ]
        await engine.client.execute_update_with_start_workflow(
            ContactWorkflowV2.accept_events,
            EventBatch(events=events),
            start_workflow_operation=engine.contact_start(contact),
        )
    if name == "send_window_goal":
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        await engine.send(contact, "custom", {"name": "buy"}, id=f"{name}-buy")
    if name == "cancel":
        await engine.until(enrolled.enrollment_id, lambda v: v.waiting is not None)
        await engine.client.get_workflow_handle(enrolled.enrollment_id).cancel()
    await engine.result(enrolled.enrollment_id)
    enrollment = await engine.client.get_workflow_handle(enrolled.enrollment_id).fetch_history()
    contact_history = await engine.client.get_workflow_handle(
        contact_workflow_id(contact)
    ).fetch_history()
    histories = {
        f"enrollment_{name}": enrollment.to_json(),
        f"contact_{name}": contact_history.to_json(),
    }
    if name == "sms":
        # The SMS activity recorded the recipient in the phone directory.
        secret = Settings().secret
        phone = phone_workflow_id(secret, engine.task_queue, SMS_TO)
        histories[f"phone_{name}"] = (
            await engine.client.get_workflow_handle(phone).fetch_history()
        ).to_json()
    return histories


def _failing_twice() -> str:
    """The URL of a local HTTP server (a daemon thread) that answers 500 twice, then 204."""
    answered: list[None] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", 0)))
            answered.append(None)
            self.send_response(500 if len(answered) <= 2 else 204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}/hook"


async def main(names: list[str], suffix: str) -> None:
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=pydantic_data_converter,
        test_server_existing_path=temporal_test_server(),
    )
    with tempfile.TemporaryDirectory() as outbox:
        sink = SmtpSink(Path(outbox), "127.0.0.1", free_port())
        sink.start()
        settings = Settings.model_validate(
            {"GOALFLOW_SMTP_URL": f"smtp://127.0.0.1:{sink.port}", "GOALFLOW_DATA_DIR": outbox}
        )
        try:
            async with env, running_engine(env, settings=settings) as engine:
                for name in names:
                    histories = await _record(engine, name, SCENARIOS[name])
                    for file, history in histories.items():
                        path = HERE / f"{file}{'_' + suffix if suffix else ''}.json"
                        path.write_text(json.dumps(json.loads(history), indent=1) + "\n")
                        print("wrote", path.relative_to(HERE.parent.parent))
        finally:
            sink.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenarios", nargs="*", choices=[[], *SCENARIOS], default=[])
    parser.add_argument("--suffix", default="", help="appended to the file names")
    args = parser.parse_args()
    asyncio.run(main(args.scenarios or list(SCENARIOS), args.suffix))
