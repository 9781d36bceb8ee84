"""`goalflow dev` as a user runs it: a real process tree, stopped and started on one data dir."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path

import httpx
import pytest

from tests.support.stack import free_port

DEFINITION = {
    "name": "restart",
    "steps": [
        {"id": "w", "type": "wait", "duration": "P1D"},
        {
            "id": "g",
            "type": "goal",
            "any_of": [{"event": "custom", "name": "buy"}],
            "on_met": {"action": "end"},
        },
    ],
}


def dev_command(data_dir: Path, ports: dict[str, int]) -> list[str]:
    """`goalflow dev` on the given data dir and ports, as a user types it."""
    return [
        sys.executable,
        "-m",
        "goalflow.cli",
        "dev",
        "--data-dir",
        str(data_dir),
        "--port",
        str(ports["api"]),
        "--temporal-port",
        str(ports["temporal"]),
        "--ui-port",
        str(ports["ui"]),
        "--smtp-port",
        str(ports["smtp"]),
    ]


@contextmanager
def goalflow_dev(data_dir: Path, ports: dict[str, int]) -> Iterator[tuple[httpx.Client, str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEMPORAL_", "GOALFLOW_"))}
    command = dev_command(data_dir, ports)
    log = data_dir.parent / f"dev-{time.monotonic_ns()}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        base = f"http://127.0.0.1:{ports['api']}"
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=base, timeout=15) as http:
            while True:
                try:
                    if http.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, log.read_text()
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
            yield http, log.read_text()
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            raise
    assert process.returncode == 0, log.read_text()
    assert "stopped" in log.read_text()


def new_ports() -> dict[str, int]:
    return {name: free_port() for name in ("api", "temporal", "ui", "smtp")}


@pytest.fixture
def ports() -> dict[str, int]:
    return new_ports()


def test_dev_prints_urls_and_keeps_state_across_restarts(
    tmp_path: Path, ports: dict[str, int]
) -> None:
    data_dir = tmp_path / "data"
    with goalflow_dev(data_dir, ports) as (http, printed):
        assert f"http://127.0.0.1:{ports['api']}" in printed
        assert f"http://127.0.0.1:{ports['ui']}" in printed
        assert http.put("/v1/automations/restart", json=DEFINITION).status_code == 201
        v2 = {**DEFINITION, "name": "restart v2"}
        assert http.put("/v1/automations/restart", json=v2).json()["version"] == 2
        enrolled = http.post(
            "/v1/automations/restart/enrollments", json={"contact": {"id": "ada"}, "version": 1}
        ).json()
        enrollment_id = enrolled["enrollment_id"]
        assert http.get(f"/v1/enrollments/{enrollment_id}").json()["waiting"]["kind"] == "timer"
        ui = httpx.get(f"http://127.0.0.1:{ports['ui']}/", timeout=10)
        assert ui.status_code == 200

    database = data_dir / "temporal.db"
    assert database.exists()
    # Write-ahead log, every commit synced (goalflow.cli.dev.SQLITE_PRAGMAS): journal_mode is
    # kept in the file itself.
    with closing(sqlite3.connect(database)) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)

    # Started again on other ports: ours, free when chosen, are in the range the system hands
    # out to outgoing connections, and one of them may be taken by now. The state is the data
    # dir's, whatever the ports.
    with goalflow_dev(data_dir, new_ports()) as (http, _):
        assert http.get("/v1/automations/restart?version=1").json()["name"] == "restart"
        assert http.get("/v1/automations/restart").json()["version"] == 2
        view = http.get(f"/v1/enrollments/{enrollment_id}").json()
        assert view["status"] == "active"
        assert view["current_step"] == "w"
        accepted = http.post(
            "/v1/events", json={"contact_id": "ada", "type": "custom", "data": {"name": "buy"}}
        )
        assert accepted.status_code == 202
        deadline = time.monotonic() + 30
        while (view := http.get(f"/v1/enrollments/{enrollment_id}").json())["status"] == "active":
            assert time.monotonic() < deadline, view
            time.sleep(0.1)
        assert view["outcome"] == "goal_met"
        # The enrollment is searchable by contact id, as in the Temporal UI.
        deadline = time.monotonic() + 10  # visibility may lag by a second
        while True:
            listed = http.get("/v1/enrollments", params={"contact_id": "ada"}).json()
            if enrollment_id in [e["enrollment_id"] for e in listed["enrollments"]]:
                break
            assert time.monotonic() < deadline, listed
            time.sleep(0.2)


def test_dev_says_clearly_when_a_port_is_taken(tmp_path: Path, ports: dict[str, int]) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", ports["api"]))
        busy.listen()
        result = subprocess.run(
            dev_command(tmp_path, ports),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode != 0
    assert f"port {ports['api']}" in result.stderr + result.stdout
    assert "--port" in result.stderr + result.stdout
