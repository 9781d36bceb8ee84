"""The README walkthrough, run as pasted: the curl lines are read from README.md and sent to a
real stack (dev server, worker, app, SMTP sink)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import httpx

from tests.support.helpers import assert_eventually
from tests.support.stack import Stack, own_stack

# The README's automation is triggered by every contact created: on the shared stack it would
# email the contacts of every test after this one.
stack = own_stack("walkthrough")

ROOT = Path(__file__).resolve().parents[2]
README_HOST = "http://127.0.0.1:8000"


def walkthrough_requests() -> list[dict[str, Any]]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash walkthrough\n(.*?)```", text, re.DOTALL)
    assert block, "README.md has no ```bash walkthrough block"
    requests = []
    for line in block.group(1).splitlines():
        if not line.startswith("curl "):
            continue
        args = shlex.split(line)[1:]
        request: dict[str, Any] = {"method": "GET", "headers": {}, "content": None}
        it = iter(args)
        for arg in it:
            if arg == "-s":
                continue
            if arg == "-X":
                request["method"] = next(it)
            elif arg == "-H":
                name, value = next(it).split(":", 1)
                request["headers"][name.strip()] = value.strip()
            elif arg == "-d":
                data = next(it)
                request["content"] = (
                    (ROOT / data[1:]).read_bytes() if data.startswith("@") else data.encode()
                )
                if request["method"] == "GET":
                    request["method"] = "POST"
            else:
                assert arg.startswith(README_HOST), f"unexpected curl argument {arg!r}"
                request["path"] = arg[len(README_HOST) :]
        requests.append(request)
    return requests


async def test_readme_walkthrough_as_pasted(stack: Stack) -> None:
    requests = walkthrough_requests()
    assert [r["method"] for r in requests] == [
        *("PUT", "PUT", "POST", "GET", "POST", "GET", "GET"),
        *("PUT", "PUT", "GET"),  # the triggered example
    ]
    answers: list[httpx.Response] = []
    for request in requests[:5]:
        answers.append(
            await stack.http.request(
                request["method"],
                request["path"],
                headers=request["headers"],
                content=request["content"],
            )
        )
    link, published, enrolled, first_look, event = answers
    assert link.status_code == 200, link.text
    assert published.status_code in (200, 201), published.text
    assert published.json()["warnings"] == []  # the trigger link exists
    assert enrolled.status_code in (200, 201), enrolled.text
    assert first_look.status_code == 200
    assert first_look.json()["status"] == "active"
    assert event.status_code == 202, event.text

    watch_path = requests[5]["path"]

    async def watch() -> dict[str, Any]:
        answer: dict[str, Any] = (await stack.http.get(watch_path)).json()
        return answer

    final = await assert_eventually(watch, lambda v: v["status"] != "active", within=60)
    assert final["status"] == "completed"
    goal = next(g for g in final["goals"] if g["step_id"] == "confirmed")
    assert goal["met"] is True
    kinds = [(e["kind"], e["step_id"]) for e in final["timeline"]]
    assert ("goal_met", "confirmed") in kinds
    assert ("moved", "confirmed") in kinds
    completed = [e["step_id"] for e in final["timeline"] if e["kind"] == "step_completed"]
    assert "nudge" not in completed and "reminder" not in completed
    assert completed[-1] == "confirm-mail"

    outbox = (await stack.http.get(requests[6]["path"])).json()["messages"]
    subjects = [m["subject"] for m in outbox]
    assert "Hi Ada" in subjects
    assert "See you soon" in subjects
    welcome = next(m for m in outbox if m["subject"] == "Hi Ada")
    assert any("/t/c/" in link for link in welcome["links"]), json.dumps(welcome)

    # 5. The triggered example: the profile save enrolls Grace (R14).
    triggered = [
        await stack.http.request(r["method"], r["path"], headers=r["headers"], content=r["content"])
        for r in requests[7:]
    ]
    signup, saved, grace = triggered
    assert signup.status_code in (200, 201), signup.text
    assert signup.json()["state"] == "active"
    assert saved.status_code == 201, saved.text
    assert grace.status_code == 200, grace.text
    entered = grace.json()["timeline"][0]
    assert entered["kind"] == "entered"
    assert entered["detail"]["trigger_id"] == "signed-up"
    assert grace.json()["context"]["email"] == "grace@example.com"
    greeted = await assert_eventually(
        lambda: stack.http.get("/v1/dev/outbox", params={"contact_id": "grace"}),
        lambda r: any(m["subject"] == "Welcome Grace" for m in r.json()["messages"]),
    )
    assert greeted.status_code == 200
