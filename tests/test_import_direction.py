"""Imports run one way: launchers -> api, activities, worker -> foundation -> workflows -> nothing
of ours. Read with `ast` (nothing is imported), lazy imports inside functions included.

- `workflows/` is the deterministic core the worker sandboxes: it imports nothing of ours
  outside `workflows/`.
- The foundation (`goalflow/` but its launchers: settings, the Temporal connection, tracking,
  logging, ...) imports only itself and `workflows/`.
- `api/` and `activities/` import neither each other, nor `worker`, nor a launcher.
- Launchers (`goalflow/cli.py`, `dev.py`, `enroll_file.py`, and `goalflow_bench/`, the
  benchmarks) may import anything.
- The benchmarks stay out of the runtime's import graph: nothing imports `goalflow_bench` but
  `goalflow/cli.py`, and that only inside the `goalflow bench` command (the Docker image leaves
  the package out).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OURS = {"api", "activities", "workflows", "goalflow", "goalflow_bench", "worker", "tests"}
# goalflow.client sits with them: the public client for integrations reuses the API's send path.
LAUNCHERS = (
    "goalflow.cli",
    "goalflow.cli.dev",
    "goalflow.cli.enroll_file",
    "goalflow.client",
)


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


def is_launcher(module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in LAUNCHERS)


def layer(module: str) -> str:
    top = module.split(".")[0]
    if top == "goalflow_bench":
        return "launcher"
    if top == "goalflow":
        return "launcher" if is_launcher(module) else "foundation"
    return top


# What each layer may import among our own top-level packages and layers.
ALLOWED = {
    "workflows": {"workflows"},
    "foundation": {"foundation", "workflows"},
    "api": {"api", "foundation", "workflows"},
    "activities": {"activities", "foundation", "workflows"},
    "worker": {"activities", "foundation", "workflows"},
}


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
    lazy = "def f():\n    from api.service import GoalflowService\n"
    assert violations("workflows.enrollment", lazy) == [
        "workflows.enrollment (workflows) imports api.service (api)"
    ]
    assert violations("goalflow.core.settings", "import goalflow.cli.dev\n") == [
        "goalflow.core.settings (foundation) imports goalflow.cli.dev (launcher)"
    ]
    assert violations("api.main", "from activities.email import EmailActivities\n") != []
    assert violations("goalflow.cli.dev", "from api.main import create_app\n") == []
    assert violations("api.main", "from goalflow.core.settings import Settings\n") == []


def test_every_production_file_has_a_layer() -> None:
    layers = {layer(module_name(path)) for path in production_files()}
    assert layers <= {*ALLOWED, "launcher"}
    assert {"workflows", "foundation", "api", "activities", "worker", "launcher"} <= layers


BENCH = "goalflow_bench"


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
            if module != "goalflow.cli.commands" or id(node) in top_level:
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
    assert bench_imports("goalflow.cli.commands", cli) == []
    assert any(name.startswith(BENCH) for name in imported(cli)), "goalflow bench runs them"
    assert bench_imports("api.main", "from goalflow_bench.main import run_benchmark\n") != []
    assert bench_imports("goalflow.cli.commands", "import goalflow_bench.main\n") != []
