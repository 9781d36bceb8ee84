"""The one-shot setup jobs, run against stub `temporal` / `temporal-sql-tool` programs that
record what the scripts ask of them.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.deploy.helpers import (
    SETUP_NAMESPACE,
    SETUP_SCHEMA,
    resolve_interpolation,
    service_environment,
)

# ---------------------------------------------------------------------------------------------
# the one-shot jobs, run against recording stubs

STUB_TEMPORAL = r"""
import json, os, sys

state_path = os.environ["STUB_STATE"]
with open(state_path) as f:
    state = json.load(f)
args = sys.argv[1:]
state["calls"].append(args)
flags = {}
i = 0
while i < len(args):
    if args[i].startswith("--") and i + 1 < len(args):
        flags[args[i][2:]] = args[i + 1]
        i += 2
    else:
        i += 1
code = 0
command = " ".join(args[: len(args) - 2 * len(flags)])
if "address" not in flags:
    code = 64
elif command == "operator cluster health":
    if state["health_failures"] > 0:
        state["health_failures"] -= 1
        code = 1
    else:
        print("SERVING")
elif command == "operator namespace describe":
    code = 0 if flags["namespace"] in state["namespaces"] else 1
elif command == "operator namespace create":
    ns = flags["namespace"]
    if ns in state["namespaces"]:
        code = 1
    else:
        state["namespaces"][ns] = {"retention": flags.get("retention"), "attributes": {}}
elif command == "operator search-attribute list":
    ns = state["namespaces"].get(flags["namespace"])
    if ns is None:
        code = 1
    else:
        print("            Name                Type")
        print("  WorkflowId                Keyword")
        print("  StartTime                 Datetime")
        for name, kind in ns["attributes"].items():
            if state["enum_style"]:
                kind = "INDEXED_VALUE_TYPE_" + "".join(
                    "_" + c if c.isupper() and j else c for j, c in enumerate(kind)
                ).upper()
            print(f"  {name}    {kind}")
elif command == "operator search-attribute create":
    ns = state["namespaces"].get(flags["namespace"])
    if ns is None or flags["name"] in ns["attributes"]:
        code = 1
    else:
        ns["attributes"][flags["name"]] = flags["type"]
else:
    code = 65
with open(state_path, "w") as f:
    json.dump(state, f)
sys.exit(code)
"""

STUB_SQL_TOOL = r"""
import json, os, sys

state_path = os.environ["STUB_STATE"]
with open(state_path) as f:
    state = json.load(f)
state["calls"].append(sys.argv[1:])
code = 0
if "create" in sys.argv[1:] and state["create_failures"] > 0:
    state["create_failures"] -= 1
    code = 1
with open(state_path, "w") as f:
    json.dump(state, f)
sys.exit(code)
"""


def write_stub(directory: Path, name: str, body: str) -> None:
    path = directory / name
    path.write_text(f"#!{sys.executable}\n{body}")
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def run_script(
    script: Path, env: dict[str, str], state_path: Path, bin_dir: Path
) -> subprocess.CompletedProcess[str]:
    shell = shutil.which("sh")
    if shell is None:
        pytest.skip("no POSIX sh here")
    full_env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
        "STUB_STATE": str(state_path),
        "SETUP_SLEEP_SECONDS": "0",
        "SETUP_MAX_ATTEMPTS": "5",
        **env,
    }
    return subprocess.run(
        [shell, str(script)], env=full_env, capture_output=True, text=True, timeout=120
    )


def job_env(services: dict[str, dict[str, Any]], name: str) -> dict[str, str]:
    return {k: resolve_interpolation(v) for k, v in service_environment(services[name]).items()}


def expected_search_attributes() -> dict[str, str]:
    """What the workflows write (docs/temporal-ui.md), in the CLI's type names."""
    from workflows.search_attributes import SEARCH_ATTRIBUTES

    return {
        key.name: "".join(part.capitalize() for part in key.indexed_value_type.name.split("_"))
        for key in SEARCH_ATTRIBUTES
    }


@pytest.fixture
def temporal_stub(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_stub(bin_dir, "temporal", STUB_TEMPORAL)
    state = tmp_path / "state.json"
    state.write_text(
        json.dumps({"calls": [], "namespaces": {}, "health_failures": 0, "enum_style": False})
    )
    yield bin_dir, state


def update_state(state_path: Path, **changes: Any) -> dict[str, Any]:
    state: dict[str, Any] = json.loads(state_path.read_text())
    state.update(changes)
    state_path.write_text(json.dumps(state))
    return state


def test_search_attributes_are_the_expected_ones() -> None:
    assert expected_search_attributes() == {
        "GoalflowContactId": "Keyword",
        "GoalflowAutomationId": "Keyword",
        "GoalflowStep": "Keyword",
        "GoalflowGoalsMet": "KeywordList",
        "GoalflowVersion": "Int",
        "GoalflowReached": "KeywordList",
    }


@pytest.mark.parametrize("enum_style", [False, True])
def test_setup_job_creates_namespace_and_search_attributes_idempotently(
    services: dict[str, dict[str, Any]], temporal_stub: tuple[Path, Path], enum_style: bool
) -> None:
    bin_dir, state_path = temporal_stub
    update_state(state_path, health_failures=2, enum_style=enum_style)
    env = job_env(services, "temporal-setup")
    namespace = env["TEMPORAL_NAMESPACE"]

    first = run_script(SETUP_NAMESPACE, env, state_path, bin_dir)
    assert first.returncode == 0, first.stdout + first.stderr
    state = json.loads(state_path.read_text())
    assert set(state["namespaces"]) == {namespace}
    assert state["namespaces"][namespace]["retention"] == env["NAMESPACE_RETENTION"]
    assert state["namespaces"][namespace]["attributes"] == expected_search_attributes()
    for call in state["calls"]:
        assert call[call.index("--address") + 1] == env["TEMPORAL_ADDRESS"], call
        if "search-attribute" in call or "namespace" in call[:2]:
            assert call[call.index("--namespace") + 1] == namespace, call

    # Second `docker compose up`: nothing is created again and the job still succeeds.
    update_state(state_path, calls=[])
    second = run_script(SETUP_NAMESPACE, env, state_path, bin_dir)
    assert second.returncode == 0, second.stdout + second.stderr
    state = json.loads(state_path.read_text())
    assert not [c for c in state["calls"] if "create" in c], state["calls"]
    assert state["namespaces"][namespace]["attributes"] == expected_search_attributes()


def test_setup_job_refuses_a_search_attribute_of_another_type(
    services: dict[str, dict[str, Any]], temporal_stub: tuple[Path, Path]
) -> None:
    bin_dir, state_path = temporal_stub
    env = job_env(services, "temporal-setup")
    namespace = env["TEMPORAL_NAMESPACE"]
    update_state(
        state_path,
        namespaces={namespace: {"retention": "1d", "attributes": {"GoalflowStep": "Text"}}},
    )
    result = run_script(SETUP_NAMESPACE, env, state_path, bin_dir)
    assert result.returncode != 0
    assert "GoalflowStep" in result.stdout + result.stderr


def test_setup_job_gives_up_when_temporal_never_answers(
    services: dict[str, dict[str, Any]], temporal_stub: tuple[Path, Path]
) -> None:
    bin_dir, state_path = temporal_stub
    update_state(state_path, health_failures=1000)
    result = run_script(SETUP_NAMESPACE, job_env(services, "temporal-setup"), state_path, bin_dir)
    assert result.returncode != 0
    assert json.loads(state_path.read_text())["namespaces"] == {}


def test_schema_job_creates_and_migrates_both_databases(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_stub(bin_dir, "temporal-sql-tool", STUB_SQL_TOOL)
    state_path = tmp_path / "state.json"
    state_path.write_text(json.dumps({"calls": [], "create_failures": 2}))
    env = job_env(services, "temporal-schema")
    result = run_script(SETUP_SCHEMA, env, state_path, bin_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = json.loads(state_path.read_text())["calls"]

    server_env = job_env(services, "temporal")
    databases = {
        server_env.get("DBNAME", "temporal"): "temporal",
        server_env.get("VISIBILITY_DBNAME", "temporal_visibility"): "visibility",
    }
    steps: dict[str, list[str]] = {db: [] for db in databases}
    for call in calls:
        assert call[call.index("--plugin") + 1] == server_env["DB"]
        assert call[call.index("--ep") + 1] == server_env["POSTGRES_SEEDS"]
        assert call[call.index("-u") + 1] == server_env["POSTGRES_USER"]
        db = call[call.index("--db") + 1]
        command = call[call.index("--db") + 2]
        if command == "update-schema":
            directory = call[call.index("-d") + 1]
            assert directory == f"/etc/temporal/schema/postgresql/v12/{databases[db]}/versioned"
        steps[db].append(command)
    for db, done in steps.items():
        # Two failed attempts of the first `create` are retried.
        assert [c for c in done if c != "create"] == ["setup-schema", "update-schema"], db
        assert done[-2:] == ["setup-schema", "update-schema"] and done[0] == "create", db
    assert env["SQL_PASSWORD"] == server_env["POSTGRES_PWD"]
