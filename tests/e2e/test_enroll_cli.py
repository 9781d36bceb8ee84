"""`goalflow enroll` against a running API: progress and final counts (acceptance 2 of issue 5)."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sys
from pathlib import Path

import httpx

from goalflow.cli.enroll_file import Job, Progress, Row, Summary
from tests.support.helpers import new_id
from tests.support.stack import Stack

GOALFLOW = Path(sys.executable).parent / "goalflow"
WAITING = {"name": "cli", "steps": [{"id": "w", "type": "wait", "duration": "P1D"}]}
JOB = {"job_id": "j1", "total": 2, "existing": 0, "rejected": []}


async def goalflow(*args: str, within: float = 450) -> tuple[int, str, str]:
    """Run the CLI without blocking the event loop that serves the stack's API."""
    process = await asyncio.create_subprocess_exec(
        str(GOALFLOW), *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await asyncio.wait_for(process.communicate(), within)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def publish(stack: Stack) -> str:
    automation = new_id("cli")
    answer = await stack.http.put(f"/v1/automations/{automation}", json=WAITING)
    assert answer.status_code == 201, answer.text
    return automation


async def test_enroll_a_csv_of_1000_rows(stack: Stack, tmp_path: Path) -> None:
    automation = await publish(stack)
    run = new_id("r")
    path = tmp_path / "contacts.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "email", "first_name", "tags", "plan"])
        for i in range(1000):
            contact = f"{run}-{i}"
            if i == 100:
                contact = "has space"  # invalid id
            elif i == 500:
                contact = ""  # no id
            writer.writerow([contact, f"{contact}@example.com", f"N{i}", "a;b", "pro"])
    # Already enrolled before: counted as existing.
    first = {"contact": {"id": f"{run}-7"}}
    answer = await stack.http.post(f"/v1/automations/{automation}/enrollments", json=first)
    assert answer.status_code == 201

    code, out, err = await goalflow("enroll", automation, str(path), "--api", stack.url)

    assert code == 0, out + err
    progress = [int(m.group(1)) for m in re.finditer(r"^progress (\d+)/1000 ", out, re.MULTILINE)]
    assert len(progress) >= 2, out
    assert progress == sorted(progress) and progress[-1] == 1000
    summary = "done: 1000/1000 rows · created 997 · existing 1 · rejected 2"
    assert summary in out
    # Rejected rows are reported with their line in the file (header = line 1).
    assert "line 102: id: must be 1 to 200 characters with no spaces" in out
    assert "line 502: id: Field required" in out

    # The fields and tags of a row reached the contact.
    contact = (await stack.http.get(f"/v1/contacts/{run}-3")).json()
    assert contact["tags"] == ["a", "b"] and contact["fields"] == {"plan": "pro"}


async def test_enroll_jsonl_reports_bad_lines(stack: Stack, tmp_path: Path) -> None:
    automation = await publish(stack)
    run = new_id("j")
    path = tmp_path / "contacts.jsonl"
    lines = [json.dumps({"id": f"{run}-{i}", "email": f"{run}-{i}@example.com"}) for i in range(5)]
    lines[2:2] = ["", "{not json"]
    path.write_text("\n".join(lines) + "\n")

    code, out, err = await goalflow("enroll", automation, str(path), "--api", stack.url)

    assert code == 0, out + err
    assert "done: 6/6 rows · created 5 · existing 0 · rejected 1" in out
    assert re.search(r"line 4: invalid JSON", out), out


async def test_enroll_explains_what_went_wrong(stack: Stack, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("id\nc1\n")
    code, _, err = await goalflow("enroll", "never-published", str(path), "--api", stack.url)
    assert code == 1
    assert "404" in err and "never-published" in err
    wrong = tmp_path / "contacts.txt"
    wrong.write_text("c1\n")
    code, _, err = await goalflow("enroll", "a", str(wrong), "--api", stack.url)
    assert code == 1 and "expected a .csv or .jsonl file" in err


def test_progress_polls_through_a_worker_restart() -> None:
    """While no worker answers (503), the command keeps polling; the job goes on meanwhile."""
    answers = iter(
        [
            httpx.Response(503, json={"detail": "no worker answered"}),
            httpx.Response(503, json={"detail": "no worker answered"}),
            httpx.Response(200, json={**JOB, "status": "running", "done": 1, "created": 1}),
            httpx.Response(200, json={**JOB, "status": "completed", "done": 2, "created": 2}),
        ]
    )

    def api(request: httpx.Request) -> httpx.Response:
        if request.method == "POST":
            return httpx.Response(202, json={"job_id": "j1"})
        return next(answers)

    rows = [Row(line=2, contact={"id": "a"}), Row(line=3, contact={"id": "b"})]
    summary = Summary(total=2)
    out = io.StringIO()
    with httpx.Client(transport=httpx.MockTransport(api), base_url="http://api") as http:
        Job(http, "auto", None, rows).run(summary, Progress(2, out), 0, lambda _: None)
    assert (summary.done, summary.created, summary.failed) == (2, 2, [])
    assert out.getvalue().splitlines()[-1].startswith("progress 2/2 (100%)")
