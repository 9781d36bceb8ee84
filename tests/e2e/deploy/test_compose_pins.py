"""What the compose stack's first `up` depends on: one build per image, Temporal on the version
the tests run against, enough PostgreSQL connections, shell scripts with LF endings."""

from __future__ import annotations

import re
import subprocess
from collections import defaultdict
from typing import Any

import pytest

from goalflow.cli.binaries import temporal_cli
from tests.e2e.deploy.helpers import ROOT, as_argv, service_environment, split_image

# Temporal server roles that the `temporalio/server` image starts when SERVICES is not set.
TEMPORAL_ROLES = ("frontend", "history", "matching", "worker")
# Pool sizes of the server's embedded config template when SQL_MAX_CONNS / SQL_VIS_MAX_CONNS are
# not set (common/config/config_template_embedded.yaml in temporalio/temporal).
DEFAULT_SQL_MAX_CONNS = 20
DEFAULT_SQL_VIS_MAX_CONNS = 10
# Connections besides Temporal's pools: PostgreSQL's reserved superuser slots (3), the schema
# job, an operator's psql session.
OTHER_CONNECTIONS = 10


def _version(tag: str) -> tuple[int, ...]:
    match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", tag)
    assert match, f"not a MAJOR.MINOR.PATCH version: {tag!r}"
    return tuple(int(part) for part in match.groups())


@pytest.fixture(scope="module")
def dev_server_versions() -> dict[str, tuple[int, ...]]:
    """The versions `temporal --version` reports, e.g. `temporal version 1.9.1 (Server 1.32.0,
    UI 2.54.1)`: the dev server every test runs on."""
    out = subprocess.run(
        [temporal_cli(), "--version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    match = re.search(r"Server (\d+\.\d+\.\d+), UI (\d+\.\d+\.\d+)", out)
    assert match, f"unexpected `temporal --version` output: {out!r}"
    return {"server": _version(match.group(1)), "ui": _version(match.group(2))}


def test_no_image_is_built_by_two_services(services: dict[str, dict[str, Any]]) -> None:
    builders: dict[str, list[str]] = defaultdict(list)
    for name, svc in services.items():
        if "build" in svc:
            builders[svc.get("image") or f"<{name}>"].append(name)
    twice = {image: names for image, names in builders.items() if len(names) > 1}
    assert not twice, f"an image tag built by several services collides under Bake: {twice}"
    assert builders, "some service should build goalflow's image"


def test_services_that_run_a_built_image_never_pull_it(
    services: dict[str, dict[str, Any]],
) -> None:
    built = {svc["image"]: name for name, svc in services.items() if "build" in svc}
    for name, svc in services.items():
        if "build" not in svc and svc.get("image") in built:
            assert svc.get("pull_policy") == "never", (
                f"{name} runs {svc['image']}, built by {built[svc['image']]}: "
                "set pull_policy: never so Compose does not look for it in a registry"
            )


def test_temporal_runs_the_minor_version_the_tests_run_on(
    services: dict[str, dict[str, Any]], dev_server_versions: dict[str, tuple[int, ...]]
) -> None:
    dev = dev_server_versions["server"]
    for name in ("temporal", "temporal-schema", "temporal-setup"):
        pinned = _version(split_image(services[name]["image"])[1])
        assert pinned[:2] == dev[:2], (
            f"{name} runs Temporal {'.'.join(map(str, pinned))}, the tests run on the dev "
            f"server {'.'.join(map(str, dev))}: pin the same minor (its latest patch)"
        )


def test_temporal_ui_is_at_least_the_dev_servers(
    services: dict[str, dict[str, Any]], dev_server_versions: dict[str, tuple[int, ...]]
) -> None:
    pinned = _version(split_image(services["temporal-ui"]["image"])[1])
    assert pinned >= dev_server_versions["ui"], (
        f"temporal-ui {pinned} is older than the UI of the dev server {dev_server_versions['ui']}"
    )


def test_postgres_accepts_every_connection_temporal_opens(
    services: dict[str, dict[str, Any]],
) -> None:
    argv = as_argv(services["postgresql"].get("command"))
    settings = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "-c"]
    given = dict(setting.split("=", 1) for setting in settings)
    max_connections = int(given.get("max_connections", 100))  # PostgreSQL's default
    env = service_environment(services["temporal"])
    per_role = int(env.get("SQL_MAX_CONNS", DEFAULT_SQL_MAX_CONNS)) + int(
        env.get("SQL_VIS_MAX_CONNS", DEFAULT_SQL_VIS_MAX_CONNS)
    )
    needed = len(TEMPORAL_ROLES) * per_role + OTHER_CONNECTIONS
    assert max_connections >= needed, (
        f"max_connections={max_connections}: Temporal's {len(TEMPORAL_ROLES)} roles open up to "
        f"{per_role} each, {needed} with the others"
    )
    doc = (ROOT / "docs" / "deploy.md").read_text()
    assert f"max_connections={max_connections}" in doc, "docs/deploy.md: give the figure"


def test_shell_scripts_are_checked_out_with_lf_endings() -> None:
    scripts = sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("deploy/**/*.sh"))
    assert scripts
    out = subprocess.run(
        ["git", "check-attr", "eol", "--", *scripts],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wrong = [line for line in out.splitlines() if not line.endswith(": eol: lf")]
    assert not wrong, f".gitattributes must give shell scripts LF endings: {wrong}"
    for script in scripts:
        assert b"\r\n" not in (ROOT / script).read_bytes(), f"{script} has CRLF line endings"
