"""Imports run one way, a rule per package. Read with `ast` (nothing is imported), lazy imports
inside functions included.

| package | may import, of ours |
|---|---|
| `workflows/` (the deterministic code the worker sandboxes) | nothing outside itself |
| `goalflow/core/` (the foundation) | `workflows/` |
| `activities/` (side effects, in the worker) | the foundation, `workflows/` |
| `goalflow/service/` (what goalflow does, without HTTP) | the foundation, `workflows/` |
| `api/` (HTTP) | the service layer, the foundation, `workflows/`; never `activities/` |
| `worker.py` (what runs in the worker) | `activities/`, the foundation, `workflows/` |
| `goalflow/client.py` (for integrations, via Temporal) | the service, foundation, `workflows/` |
| launchers (`goalflow/cli/`) and the benchmarks (`goalflow_bench/`) | anything |

The service layer stays out of `activities/`: an activity runs a side effect for a workflow,
while the service asks workflows for things; neither needs the other. The benchmarks stay out
of the runtime's import graph: nothing imports `goalflow_bench` but the `goalflow bench`
command, inside its function (the Docker image leaves the package out).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
OURS = {"api", "activities", "workflows", "goalflow", "goalflow_bench", "worker", "tests"}

# The package (by module name prefix) each layer is; the longest prefix wins.
LAYERS = {
    "workflows": "workflows",
    "goalflow": "core",  # goalflow/__init__.py: the version only
    "goalflow.core": "core",
    "activities": "activities",
    "goalflow.service": "service",
    "api": "api",
    "worker": "worker",
    "goalflow.client": "client",
    "goalflow.cli": "launcher",
    "goalflow_bench": "launcher",
}

# What each layer may import among our own layers (a launcher may import anything).
ALLOWED = {
    "workflows": {"workflows"},
    "core": {"core", "workflows"},
    "activities": {"activities", "core", "workflows"},
    "service": {"service", "core", "workflows"},
    "api": {"api", "service", "core", "workflows"},
    "worker": {"activities", "core", "workflows"},
    "client": {"service", "core", "workflows"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(source: str) -> list[str]:
    """Every absolute module named by an import statement, at any depth."""
    names: list[str] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
    return names


def layer(module: str) -> str | None:
    """The layer of one of our modules; None for a module of a package with no rule."""
    found = [prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")]
    return LAYERS[max(found, key=len)] if found else None


def violations(module: str, source: str) -> list[str]:
    mine = layer(module)
    if mine not in ALLOWED:
        return []
    found = []
    for name in imported(source):
        if name.split(".")[0] not in OURS:
            continue
        theirs = layer(name)
        if theirs not in ALLOWED[mine]:
            found.append(f"{module} ({mine}) imports {name} ({theirs})")
    return found


def production_files() -> list[Path]:
    files = [ROOT / "worker.py"]
    for package in ("api", "activities", "workflows", "goalflow", "goalflow_bench"):
        files += sorted((ROOT / package).rglob("*.py"))
    return files


def test_imports_run_one_way() -> None:
    found = [
        problem
        for path in production_files()
        for problem in violations(module_name(path), path.read_text())
    ]
    assert found == []


def test_the_check_sees_a_wrong_way_import() -> None:
    lazy = "def f():\n    from goalflow.service.contacts import GoalflowService\n"
    assert violations("workflows.enrollment", lazy) == [
        "workflows.enrollment (workflows) imports goalflow.service.contacts (service)"
    ]
    assert violations("goalflow.core.settings", "import goalflow.cli.dev\n") == [
        "goalflow.core.settings (core) imports goalflow.cli.dev (launcher)"
    ]
    assert violations("goalflow.core.settings", "import goalflow.service.errors\n") != []
    assert violations("api.main", "from activities.email import EmailActivities\n") != []
    assert violations("api.main", "from worker import build_worker\n") != []
    assert violations("activities.email", "from goalflow.service import metrics\n") != []
    assert violations("activities.email", "from api.schemas import EventIn\n") != []
    assert violations("goalflow.service.bulk", "from api.schemas import ContactIn\n") != []
    assert violations("goalflow.service.bulk", "from activities.sms import sms_provider\n") != []
    assert violations("goalflow.client", "from api.schemas import EventIn\n") != []
    assert violations("worker", "from api.main import create_app\n") != []
    assert violations("goalflow.cli.dev", "from api.main import create_app\n") == []
    assert violations("api.main", "from goalflow.core.settings import Settings\n") == []
    assert violations("api.main", "from goalflow.service.errors import NotFound\n") == []
    assert violations("goalflow.client", "from goalflow.service.contacts import X\n") == []


def test_every_production_file_has_a_layer() -> None:
    layers = {layer(module_name(path)) for path in production_files()}
    assert layers <= {*ALLOWED, "launcher"}
    assert {*ALLOWED, "launcher"} <= layers


def test_the_client_imports_no_web_framework() -> None:
    """Services that send events through Temporal do not load FastAPI (nor Starlette) with it."""
    probe = (
        "import sys, goalflow.client\n"
        "print(sorted(m for m in ('fastapi', 'starlette', 'uvicorn', 'api') if m in sys.modules))"
    )
    found = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert found.stdout.strip() == "[]"
    # The probe can fail: an API module does load FastAPI.
    probe_api = "import sys, api.errors\nprint('fastapi' in sys.modules)"
    control = subprocess.run(
        [sys.executable, "-c", probe_api], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert control.stdout.strip() == "True"


BENCH = "goalflow_bench"
BENCH_COMMAND = "goalflow.cli.commands"


def bench_imports(module: str, source: str) -> list[str]:
    """Imports of the benchmarks from outside them: only the CLI's, inside a function."""
    if module == BENCH or module.startswith(BENCH + "."):
        return []
    tree = ast.parse(source)
    top_level = {id(node) for node in tree.body if isinstance(node, ast.Import | ast.ImportFrom)}
    found = []
    for node in ast.walk(tree):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            if name.split(".")[0] != BENCH:
                continue
            if module != BENCH_COMMAND or id(node) in top_level:
                found.append(f"{module} imports {name}")
    return found


def test_the_benchmarks_stay_out_of_the_runtime() -> None:
    found = [
        problem
        for path in production_files()
        for problem in bench_imports(module_name(path), path.read_text())
    ]
    assert found == []
    cli = (ROOT / "goalflow" / "cli" / "commands.py").read_text()
    assert bench_imports(BENCH_COMMAND, cli) == []
    assert any(name.startswith(BENCH) for name in imported(cli)), "goalflow bench runs them"
    assert bench_imports("api.main", "from goalflow_bench.main import run_benchmark\n") != []
    assert bench_imports("goalflow.cli.dev", "from goalflow_bench.main import x\n") != []
    assert bench_imports(BENCH_COMMAND, "import goalflow_bench.main\n") != []
