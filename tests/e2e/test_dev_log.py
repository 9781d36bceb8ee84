"""What `goalflow dev` shows a new user: its URLs first, then one line per thing that happened,
not the SMTP sink's conversation with every message (issue 12, fix 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.stack import free_port

SENDS_ONE_EMAIL = {
    "name": "hello",
    "steps": [{"id": "hello", "type": "send_email", "subject": "Hello", "html": "<p>Hi</p>"}],
}


def test_dev_log_starts_with_the_urls_and_leaves_out_the_sinks_chatter(tmp_path: Path) -> None:
    ports = {name: free_port() for name in ("api", "temporal", "ui", "smtp")}
    command = [sys.executable, "-m", "goalflow.cli", "dev", "--data-dir", str(tmp_path / "data")]
    for name, flag in (("api", "--port"), ("temporal", "--temporal-port"), ("ui", "--ui-port")):
        command += [flag, str(ports[name])]
    command += ["--smtp-port", str(ports["smtp"])]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "GOALFLOW_"))}
    log = tmp_path / "dev.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{ports['api']}", timeout=15) as http:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            assert http.put("/v1/automations/hello", json=SENDS_ONE_EMAIL).status_code == 201
            contact = {"id": "ada", "email": "ada@example.com"}
            enrolled = http.post("/v1/automations/hello/enrollments", json={"contact": contact})
            assert enrolled.status_code == 201
            while not http.get("/v1/dev/outbox").json()["messages"]:
                assert time.monotonic() < deadline + 30, log.read_text()
                time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert lines[0] == "goalflow dev is running", lines[:5]
    assert any(f"http://127.0.0.1:{ports['api']}" in line for line in lines[1:8])
    # The email went through the sink; aiosmtpd's INFO lines about it did not reach the log.
    assert not [line for line in lines if "mail.log" in line], lines
    assert any("enrollment step_completed" in line for line in lines), lines
