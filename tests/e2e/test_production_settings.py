"""GOALFLOW_ENV=production: `goalflow api` and `goalflow worker` refuse placeholder settings.

The refusal is checked on real processes: started with the values `.env.example` ships, each
exits non-zero with a message naming what to fix; started with proper values, the API answers
`/healthz` and the worker polls its task queue.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from goalflow.core.production import PLACEHOLDER_SECRETS, production_problems
from goalflow.core.settings import Settings
from tests.e2e.deploy.helpers import ENV_EXAMPLE, parse_env_file
from tests.support.drills_harness import Processes, goalflow_command, polling
from tests.support.helpers import assert_eventually, new_id
from tests.support.stack import free_port

SECRET = "s3cr3t-" + "x" * 40
WEBHOOK_SECRET = "whsec_dGhpcy1pcy1hLXRlc3Qtc2VjcmV0LW9mLTMyLWJ5dGVz"
PROPER = {
    "GOALFLOW_ENV": "production",
    "GOALFLOW_SECRET": SECRET,
    "GOALFLOW_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "GOALFLOW_PUBLIC_URL": "https://goalflow.example.com",
    "GOALFLOW_API_KEYS": "key-one,key-two",
}


def env_example() -> dict[str, str]:
    """The app settings of `.env.example`, as the compose stack gives them to api and worker."""
    return {k: v for k, v in parse_env_file(ENV_EXAMPLE).items() if k.startswith("GOALFLOW_")}


# --- the list of placeholders keeps up with what goalflow ships --------------------------------


def test_every_shipped_secret_is_a_known_placeholder() -> None:
    defaults = Settings.model_fields
    shipped = {
        defaults["secret"].default,
        defaults["webhook_secret"].default,
        env_example()["GOALFLOW_SECRET"],
        env_example()["GOALFLOW_WEBHOOK_SECRET"],
    }
    assert shipped <= PLACEHOLDER_SECRETS, shipped - PLACEHOLDER_SECRETS


# --- which settings are refused ------------------------------------------------------------------


def test_development_never_refuses() -> None:
    assert Settings().env == "development"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"GOALFLOW_SECRET": ""}, "GOALFLOW_SECRET is empty"),
        ({"GOALFLOW_SECRET": "goalflow-dev-secret-change-me"}, "GOALFLOW_SECRET is a placeholder"),
        ({"GOALFLOW_SECRET": f"{SECRET},change-me-to-a-long-random-string"}, "placeholder"),
        ({"GOALFLOW_SECRET": "short-secret"}, "GOALFLOW_SECRET has 12 characters"),
        (
            {"GOALFLOW_WEBHOOK_SECRET": "whsec_Y2hhbmdlLW1lLWNoYW5nZS1tZS1jaGFuZ2UtbWU="},
            "GOALFLOW_WEBHOOK_SECRET is a placeholder",
        ),
        ({"GOALFLOW_PUBLIC_URL": "http://localhost:8000"}, "GOALFLOW_PUBLIC_URL is"),
        ({"GOALFLOW_DEV": "true"}, "GOALFLOW_DEV is on"),
        ({"GOALFLOW_API_KEYS": " , "}, "GOALFLOW_API_KEYS is empty"),
    ],
)
def test_each_unfit_setting_is_named(change: dict[str, str], expected: str) -> None:
    settings = Settings.model_validate({**PROPER, **change})
    problems = production_problems(settings, "api")
    assert len(problems) == 1 and expected in problems[0], problems


def test_proper_settings_pass_and_the_worker_needs_no_api_keys() -> None:
    assert production_problems(Settings.model_validate(PROPER), "api") == []
    no_keys = Settings.model_validate({**PROPER, "GOALFLOW_API_KEYS": ""})
    assert production_problems(no_keys, "worker") == []
    assert production_problems(no_keys, "api") != []


# --- the real processes --------------------------------------------------------------------------


def run_refused(command: list[str], env: dict[str, str], tmp_path: Path) -> str:
    """Start `command` with only `env` as goalflow's settings; it must exit non-zero quickly."""
    import os

    base = {k: v for k, v in os.environ.items() if not k.startswith(("GOALFLOW_", "TEMPORAL_"))}
    # An address nothing listens on: a process that got past the check would fail differently.
    env = {**base, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", **env}
    done = subprocess.run(
        command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0, done
    return done.stderr


@pytest.mark.parametrize("role", ["api", "worker"])
def test_production_with_the_shipped_placeholders_exits_with_a_clear_message(
    role: str, tmp_path: Path
) -> None:
    settings = {**env_example(), "GOALFLOW_ENV": "production"}
    args = ["api", "--host", "127.0.0.1", "--port", str(free_port())] if role == "api" else [role]
    stderr = run_refused(goalflow_command(*args), settings, tmp_path)
    assert f"goalflow {role}: GOALFLOW_ENV=production" in stderr, stderr
    for name in ("GOALFLOW_SECRET", "GOALFLOW_WEBHOOK_SECRET", "GOALFLOW_PUBLIC_URL"):
        assert f"{name} is" in stderr, stderr
    assert ("GOALFLOW_API_KEYS is empty" in stderr) == (role == "api"), stderr
    assert "docs/deploy.md" in stderr
    assert "Traceback" not in stderr, stderr


def test_production_api_with_proper_settings_starts(tmp_path: Path) -> None:
    import asyncio

    port = free_port()
    processes = Processes(tmp_path)
    api = processes.api(port, {**PROPER, "TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"})
    try:

        async def health() -> int:
            if api.popen.poll() is not None:
                raise AssertionError(f"the API exited:\n{api.output()}")
            try:
                async with httpx.AsyncClient(timeout=2) as http:
                    return (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code
            except httpx.TransportError:
                return 0

        asyncio.run(assert_eventually(health, lambda code: code == 200, within=60, interval=0.2))
    finally:
        processes.stop_all()


async def test_production_worker_with_proper_settings_polls(
    dev_env: WorkflowEnvironment, tmp_path: Path
) -> None:
    client = dev_env.client
    queue = new_id("production-worker")
    processes = Processes(tmp_path)
    settings = {
        **PROPER,
        "GOALFLOW_API_KEYS": "",  # the worker serves no HTTP: it needs none
        "TEMPORAL_ADDRESS": client.service_client.config.target_host,
        "TEMPORAL_NAMESPACE": client.namespace,
        "GOALFLOW_TASK_QUEUE": queue,
    }
    worker = processes.worker(settings)
    try:
        await polling(client, queue, worker)
    finally:
        processes.stop_all()
