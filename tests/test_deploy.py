"""Static and scripted checks of the production deployment files.

There is no Docker engine where these tests run, so nothing here builds an image or starts a
container. Instead they parse Dockerfile, .dockerignore, docker-compose.yml, .env.example and
deploy/, compare them with what the code reads (goalflow.settings.Settings, pyproject.toml, the
search-attribute keys of workflows.enrollment), and run the two one-shot setup scripts with stub
`temporal` / `temporal-sql-tool` programs that record what the scripts ask of them.
"""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from goalflow.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"
CLOUD_OVERRIDE = ROOT / "deploy" / "compose.cloud.yml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
ENV_EXAMPLE = ROOT / ".env.example"
SETUP_NAMESPACE = ROOT / "deploy" / "temporal" / "setup-namespace.sh"
SETUP_SCHEMA = ROOT / "deploy" / "temporal" / "setup-schema.sh"

APP_SERVICES = ("api", "worker")
REQUIRED_SERVICES = {
    "postgresql",
    "temporal-schema",
    "temporal",
    "temporal-setup",
    "temporal-ui",
    "mailpit",
    *APP_SERVICES,
}
# Temporal server images read their dynamic config path relative to this directory.
TEMPORAL_SERVER_WORKDIR = "/etc/temporal"
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
INTERPOLATION = re.compile(r"^\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::?-(?P<default>[^}]*))?\}$")


# ---------------------------------------------------------------------------------------------
# helpers


def load_yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path} is not a YAML mapping"
    return data


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load_yaml(COMPOSE_FILE)


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    svcs = compose.get("services")
    assert isinstance(svcs, dict) and svcs, "docker-compose.yml has no services"
    return svcs


@pytest.fixture(scope="module")
def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def settings_env_names() -> set[str]:
    """The environment variable names goalflow reads: the aliases of Settings' fields."""
    names = set()
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
        names.add(alias or name.upper())
    return names


def parse_env_file(path: Path, *, include_commented: bool = False) -> dict[str, str]:
    """NAME=value lines of a dotenv file (optionally also `# NAME=value` lines)."""
    pattern = re.compile(r"^(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
    values: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if not include_commented:
                continue
            line = line.lstrip("#").strip()
        match = pattern.match(line)
        if match:
            values[match.group(1)] = match.group(2).strip().strip("\"'")
        elif not raw.lstrip().startswith("#"):
            pytest.fail(f"{path.name}: cannot parse line {raw!r}")
    return values


def service_environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) if "=" in item else (item, "") for item in env)
        return {k: v for k, v in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def env_file_entries(service: dict[str, Any]) -> list[tuple[Path, bool]]:
    entries = service.get("env_file") or []
    if isinstance(entries, str | dict):
        entries = [entries]
    result = []
    for entry in entries:
        if isinstance(entry, str):
            result.append((ROOT / entry, True))
        else:
            result.append((ROOT / entry["path"], bool(entry.get("required", True))))
    return result


def resolve_interpolation(value: str) -> str:
    """`${NAME:-default}` -> default (what compose uses when NAME is not set)."""
    match = INTERPOLATION.match(value)
    if not match:
        assert "${" not in value, f"unsupported interpolation in {value!r}"
        return value
    return match.group("default") or ""


def split_image(image: str) -> tuple[str, str]:
    name, _, tag = image.rpartition(":")
    if not name or "/" in tag:  # no tag at all (a ':' only in a registry port)
        return image, ""
    return name, tag


def published_ports(service: dict[str, Any]) -> list[tuple[str, int, int, str]]:
    """(host_ip, host_port, container_port, protocol) of every published port."""
    result = []
    for entry in service.get("ports") or []:
        if isinstance(entry, dict):
            if entry.get("published") is None:
                continue
            result.append(
                (
                    str(entry.get("host_ip", "")),
                    int(entry["published"]),
                    int(entry["target"]),
                    str(entry.get("protocol", "tcp")),
                )
            )
            continue
        spec, _, proto = str(entry).partition("/")
        parts = spec.rsplit(":", 2)
        if len(parts) == 1:
            continue  # container port only: Docker picks a random host port
        host_ip = parts[0] if len(parts) == 3 else ""
        assert "-" not in parts[-2], f"port ranges are not used here: {entry!r}"
        result.append((host_ip, int(parts[-2]), int(parts[-1]), proto or "tcp"))
    return result


def bind_mounts(service: dict[str, Any]) -> list[tuple[Path, str]]:
    mounts = []
    for volume in service.get("volumes") or []:
        source = volume["source"] if isinstance(volume, dict) else str(volume).split(":")[0]
        target = volume["target"] if isinstance(volume, dict) else str(volume).split(":")[1]
        if source.startswith((".", "/")):
            mounts.append((ROOT / source, target))
    return mounts


def named_volumes(service: dict[str, Any]) -> list[tuple[str, str]]:
    result = []
    for volume in service.get("volumes") or []:
        source = volume.get("source", "") if isinstance(volume, dict) else str(volume)
        if isinstance(volume, str):
            parts = volume.split(":")
            if len(parts) < 2:
                continue
            source, target = parts[0], parts[1]
        else:
            target = volume["target"]
        if source and not source.startswith((".", "/", "~")):
            result.append((source, target))
    return result


def as_argv(value: Any) -> list[str]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else shlex.split(str(value))


def dependencies(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    assert isinstance(deps, dict), "depends_on must use the long form with conditions"
    return {name: spec.get("condition", "") for name, spec in deps.items()}


def one_shot_services(services: dict[str, dict[str, Any]]) -> set[str]:
    return {
        dep
        for svc in services.values()
        for dep, condition in dependencies(svc).items()
        if condition == "service_completed_successfully"
    }


# ---------------------------------------------------------------------------------------------
# Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not pending):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        line = (pending + stripped).strip()
        pending = ""
        if line:
            keyword, _, rest = line.partition(" ")
            instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends in a line continuation"
    return instructions


def dockerfile_args(value: str) -> list[str]:
    value = value.strip()
    if value.startswith("["):
        parsed = json.loads(value)
        assert isinstance(parsed, list)
        return [str(v) for v in parsed]
    return shlex.split(value)


def dockerfile_copies() -> list[tuple[list[str], str]]:
    """(sources, destination) of every COPY/ADD from the build context."""
    copies = []
    for keyword, rest in dockerfile_instructions():
        if keyword not in {"COPY", "ADD"}:
            continue
        args = dockerfile_args(rest)
        flags = [a for a in args if a.startswith("--")]
        if any(f.startswith("--from=") for f in flags):
            continue
        paths = [a for a in args if not a.startswith("--")]
        assert len(paths) >= 2, f"{keyword} {rest}: needs a source and a destination"
        copies.append((paths[:-1], paths[-1]))
    return copies


def dockerignore_patterns() -> list[str]:
    lines = [line.strip() for line in DOCKERIGNORE.read_text().splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def dockerignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore drops PATH (or a directory above it) from the build context."""
    parts = Path(path).parts
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    excluded = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").strip("/")
        if pat.startswith("**/"):
            tail = pat[3:]
            hit = any(fnmatch.fnmatchcase(part, tail) for part in parts) or any(
                fnmatch.fnmatchcase(c, tail) for c in candidates
            )
        else:
            hit = any(fnmatch.fnmatchcase(c, pat) for c in candidates)
        if hit:
            excluded = not negate
    return excluded


def test_dockerfile_copies_only_files_that_exist_and_are_not_dockerignored() -> None:
    patterns = dockerignore_patterns()
    copies = dockerfile_copies()
    assert copies, "the Dockerfile copies nothing from the build context"
    for sources, _dest in copies:
        for source in sources:
            assert not any(ch in source for ch in "*?["), f"use explicit paths, not {source!r}"
            path = ROOT / source
            assert path.exists(), f"Dockerfile copies {source!r}, which is not in the repository"
            assert not dockerignored(source, patterns), f".dockerignore excludes {source!r}"
            if path.is_dir():
                for file in path.rglob("*.py"):
                    if "__pycache__" in file.parts:
                        continue
                    rel = file.relative_to(ROOT).as_posix()
                    assert not dockerignored(rel, patterns), f".dockerignore excludes {rel}"


def test_dockerfile_copies_everything_pyproject_packages(pyproject: dict[str, Any]) -> None:
    """The image is built from the same package definition the tests install."""
    copied = {Path(s).as_posix().strip("/") for sources, _ in dockerfile_copies() for s in sources}
    setuptools_cfg = pyproject["tool"]["setuptools"]
    needed = {"pyproject.toml"}
    needed |= {pkg.split(".")[0] for pkg in setuptools_cfg.get("packages", [])}
    needed |= {f"{module}.py" for module in setuptools_cfg.get("py-modules", [])}
    readme = pyproject["project"].get("readme")
    if isinstance(readme, str):
        needed.add(readme)
    elif isinstance(readme, dict) and "file" in readme:
        needed.add(readme["file"])
    missing = needed - copied
    assert not missing, f"the Dockerfile does not COPY {sorted(missing)}"
    runs = " ".join(rest for keyword, rest in dockerfile_instructions() if keyword == "RUN")
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", runs), "the image must `pip install .`"


def test_dockerfile_base_image_is_pinned_slim_python_311() -> None:
    instructions = dockerfile_instructions()
    args = {}
    for keyword, rest in instructions:
        if keyword == "ARG" and "=" in rest:
            name, _, default = rest.partition("=")
            args[name.strip()] = default.strip()
    stage_names = set()
    bases = []
    for keyword, rest in instructions:
        if keyword != "FROM":
            continue
        words = [w for w in rest.split() if not w.startswith("--")]
        image = re.sub(r"\$\{?(\w+)\}?", lambda m: args.get(m.group(1), m.group(0)), words[0])
        if len(words) >= 3 and words[1].upper() == "AS":
            stage_names.add(words[2])
        if image in stage_names:
            continue
        bases.append(image)
    assert bases, "no FROM"
    for image in bases:
        name, tag = split_image(image)
        assert tag and tag != "latest", f"unpinned base image {image!r}"
        assert name in {"python", "docker.io/library/python"}, image
        assert re.fullmatch(r"3\.11\.\d+-slim(-\w+)?", tag), f"not a pinned slim 3.11: {image!r}"


def test_dockerfile_runs_as_non_root_user() -> None:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (keyword, _) in enumerate(instructions) if keyword == "FROM")
    users = [rest for keyword, rest in instructions[last_from:] if keyword == "USER"]
    assert users, "the final stage never switches away from root"
    user = users[-1].split(":")[0]
    assert user not in {"root", "0"}, f"runs as {users[-1]!r}"


def test_entry_points_are_console_scripts(
    pyproject: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    scripts = pyproject["project"]["scripts"]
    # The package the tests run against is this very pyproject.toml, installed.
    installed = {
        ep.name: ep.value
        for ep in importlib.metadata.entry_points(group="console_scripts")
        if ep.name in scripts
    }
    assert installed == scripts

    named: list[list[str]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword in {"CMD", "ENTRYPOINT"}:
            assert rest.startswith("["), f"{keyword} should use the exec (JSON) form"
            named.append(dockerfile_args(rest))
    assert named, "the Dockerfile names no command"
    for argv in named:
        assert argv[0] in scripts, f"{argv[0]!r} is not a console script of pyproject.toml"
    for name, subcommand in (("api", "api"), ("worker", "worker")):
        argv = as_argv(services[name].get("command"))
        assert argv[:2] == ["goalflow", subcommand] and "goalflow" in scripts, (name, argv)


# ---------------------------------------------------------------------------------------------
# docker-compose.yml


def test_compose_has_every_service(services: dict[str, dict[str, Any]]) -> None:
    missing = REQUIRED_SERVICES - set(services)
    assert not missing, f"missing services: {sorted(missing)}"


def test_every_image_is_pinned(
    services: dict[str, dict[str, Any]], pyproject: dict[str, Any]
) -> None:
    for name, svc in services.items():
        image = svc.get("image")
        assert image, f"{name}: give every service an explicit image"
        assert "${" not in image, f"{name}: image {image!r} must not come from a variable"
        repo, tag = split_image(image)
        assert tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and re.search(r"\d", tag), f"{name}: {image!r} is not a version"
        if "build" in svc:
            assert repo == "goalflow", f"{name}: built image should be goalflow:VERSION"
            assert tag == pyproject["project"]["version"], f"{name}: tag it with the version"
    for override in (CLOUD_OVERRIDE,):
        for name, svc in (load_yaml(override).get("services") or {}).items():
            assert "image" not in svc and "build" not in svc, f"{override.name}: {name}"


def test_schema_tool_matches_server_version(services: dict[str, dict[str, Any]]) -> None:
    server_repo, server_tag = split_image(services["temporal"]["image"])
    assert server_repo == "temporalio/server"
    for job in ("temporal-schema", "temporal-setup"):
        repo, tag = split_image(services[job]["image"])
        assert repo == "temporalio/admin-tools", job
        assert tag == server_tag, f"{job}: admin-tools {tag} must match server {server_tag}"
    assert split_image(services["temporal-ui"]["image"])[0] == "temporalio/ui"
    assert split_image(services["mailpit"]["image"])[0] == "axllent/mailpit"
    assert split_image(services["postgresql"]["image"])[0] == "postgres"


def test_start_order_and_health(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "temporal-schema": {"postgresql": "service_healthy"},
        "temporal": {"temporal-schema": "service_completed_successfully"},
        "temporal-setup": {"temporal": "service_healthy"},
        "api": {"temporal-setup": "service_completed_successfully"},
        "worker": {"temporal-setup": "service_completed_successfully"},
    }
    for name, wanted in expected.items():
        deps = dependencies(services[name])
        for dep, condition in wanted.items():
            assert deps.get(dep) == condition, f"{name} must wait for {dep}: {condition}"
    one_shots = one_shot_services(services)
    assert {"temporal-schema", "temporal-setup"} <= one_shots
    for name, svc in services.items():
        for dep, condition in dependencies(svc).items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            assert condition in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }, f"{name} -> {dep}: give a condition"
            if condition == "service_healthy":
                assert services[dep].get("healthcheck", {}).get("test"), (
                    f"{name} waits for {dep} to be healthy, but {dep} has no healthcheck"
                )
        if name in one_shots:
            assert str(svc.get("restart", "no")) == "no", f"one-shot {name} must not restart"
            assert not svc.get("ports"), f"one-shot {name} publishes ports"
        else:
            assert svc.get("healthcheck", {}).get("test"), f"{name} has no healthcheck"
            assert svc.get("restart") in {"unless-stopped", "always"}, f"{name}: restart policy"


def test_workers_are_scalable(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker, "a fixed container_name prevents --scale worker=N"
    assert not published_ports(worker), "a fixed host port prevents --scale worker=N"
    assert worker.get("deploy", {}).get("replicas", 1) >= 1


def test_host_ports_do_not_collide(services: dict[str, dict[str, Any]]) -> None:
    seen: dict[tuple[int, str], str] = {}
    for name, svc in services.items():
        for _ip, host_port, _target, proto in published_ports(svc):
            key = (host_port, proto)
            assert key not in seen, f"host port {host_port}/{proto}: {seen[key]} and {name}"
            seen[key] = name
    assert seen, "nothing is published at all"


def test_api_listens_where_it_is_published(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    argv = as_argv(api["command"])
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    port = int(argv[argv.index("--port") + 1])
    assert port == 8000
    assert port in {target for _ip, _host, target, _proto in published_ports(api)}
    assert str(port) in " ".join(as_argv(api["healthcheck"]["test"]))


def test_worker_healthcheck_uses_its_metrics_port(services: dict[str, dict[str, Any]]) -> None:
    worker = services["worker"]
    port = service_environment(worker)["GOALFLOW_WORKER_METRICS_PORT"]
    assert port in " ".join(as_argv(worker["healthcheck"]["test"]))


def app_service_env_names(service: dict[str, Any]) -> dict[str, str]:
    """Every variable compose gives the service: env_file entries, then `environment`."""
    names: dict[str, str] = {}
    for path, required in env_file_entries(service):
        if not required:
            # The operator's own overrides: never in the repository (see .dockerignore).
            assert path.name == ".env", f"optional env_file {path} is not checked"
            continue
        assert path.exists(), f"env_file {path} is missing"
        names.update({k: f"{path.name}" for k in parse_env_file(path)})
    names.update({k: "environment" for k in service_environment(service)})
    return names


def test_app_services_get_only_settings_the_code_reads(
    services: dict[str, dict[str, Any]],
) -> None:
    known = settings_env_names()
    assert "TEMPORAL_ADDRESS" in known and "GOALFLOW_SMTP_URL" in known  # sanity
    override = load_yaml(CLOUD_OVERRIDE).get("services") or {}
    for name in APP_SERVICES:
        merged = {**services[name], **(override.get(name) or {})}
        given = app_service_env_names(merged)
        assert given, f"{name} gets no configuration"
        unknown = {k: src for k, src in given.items() if k not in known}
        assert not unknown, f"{name} gets variables goalflow does not read: {unknown}"
        for key in ("env_file", "environment"):
            extra = (override.get(name) or {}).get(key)
            assert not extra or set(app_service_env_names({key: extra})) <= known


def test_env_example_names_match_settings_and_values_parse() -> None:
    known = settings_env_names()
    active = parse_env_file(ENV_EXAMPLE)
    documented = parse_env_file(ENV_EXAMPLE, include_commented=True)
    assert set(documented) <= known, f"not settings: {sorted(set(documented) - known)}"
    assert known <= set(documented), (
        f"settings missing from .env.example: {known - documented.keys()}"
    )
    settings = Settings.model_validate(active)
    assert settings.temporal_address == active["TEMPORAL_ADDRESS"]
    assert not settings.dev_mode


def test_env_example_points_at_the_stack(services: dict[str, dict[str, Any]]) -> None:
    env = parse_env_file(ENV_EXAMPLE)
    host, _, port = env["TEMPORAL_ADDRESS"].rpartition(":")
    assert host == "temporal" and port == "7233"
    assert "7233" in " ".join(as_argv(services["temporal"]["healthcheck"]["test"]))
    smtp_host = re.sub(r"^smtp://([^@]*@)?", "", env["GOALFLOW_SMTP_URL"]).split(":")[0]
    assert smtp_host in services
    # The setup job creates the namespace the apps use, and .env overrides both alike.
    for job, var in (
        ("temporal-setup", "TEMPORAL_NAMESPACE"),
        ("temporal-ui", "TEMPORAL_DEFAULT_NAMESPACE"),
    ):
        raw = service_environment(services[job])[var]
        match = INTERPOLATION.match(raw)
        assert match and match.group("name") == "TEMPORAL_NAMESPACE", f"{job}: {raw!r}"
        assert resolve_interpolation(raw) == env["TEMPORAL_NAMESPACE"]
    setup_address = service_environment(services["temporal-setup"])["TEMPORAL_ADDRESS"]
    assert resolve_interpolation(setup_address) == env["TEMPORAL_ADDRESS"]


def test_only_temporals_database_is_stateful(
    compose: dict[str, Any], services: dict[str, dict[str, Any]]
) -> None:
    declared = set((compose.get("volumes") or {}).keys())
    users = {
        (name, volume, target)
        for name, svc in services.items()
        for volume, target in named_volumes(svc)
    }
    assert users == {("postgresql", "temporal-db", "/var/lib/postgresql/data")}, users
    assert declared == {"temporal-db"}


def test_mounted_files_and_scripts_exist(services: dict[str, dict[str, Any]]) -> None:
    override = load_yaml(CLOUD_OVERRIDE).get("services") or {}
    for name, svc in [*services.items(), *override.items()]:
        mounts = bind_mounts(svc)
        for source, _target in mounts:
            if source.relative_to(ROOT).parts[:2] == ("deploy", "certs"):
                assert (source / ".gitignore").exists(), "deploy/certs must ignore its keys"
                continue
            assert source.exists(), f"{name} mounts {source}, which does not exist"
        argv = as_argv(svc.get("entrypoint")) + as_argv(svc.get("command"))
        for word in argv:
            for source, target in mounts:
                if word.startswith(target.rstrip("/") + "/"):
                    script = source / word[len(target.rstrip("/")) + 1 :]
                    assert script.is_file(), f"{name} runs {word}: {script} is missing"


def test_temporal_dynamic_config_is_mounted_and_valid(
    services: dict[str, dict[str, Any]],
) -> None:
    temporal = services["temporal"]
    env = service_environment(temporal)
    assert env["DB"] == "postgres12" and env["POSTGRES_SEEDS"] == "postgresql"
    path = env["DYNAMIC_CONFIG_FILE_PATH"]
    absolute = path if path.startswith("/") else f"{TEMPORAL_SERVER_WORKDIR}/{path}"
    for source, target in bind_mounts(temporal):
        if absolute.startswith(target.rstrip("/") + "/"):
            config = load_yaml(source / absolute[len(target.rstrip("/")) + 1 :])
            break
    else:
        pytest.fail(f"{absolute} is not mounted into the temporal service")
    # PostgreSQL keeps workflow ids in VARCHAR(255).
    assert config["limit.maxIDLength"][0]["value"] == 255
    assert int(env["NUM_HISTORY_SHARDS"]) >= 4


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
    """What the workflows write (DESIGN section 6), in the CLI's type names."""
    from workflows import enrollment

    keys = (enrollment.CONTACT_ID, enrollment.AUTOMATION_ID, enrollment.STEP, enrollment.GOALS_MET)
    return {
        key.name: "".join(part.capitalize() for part in key.indexed_value_type.name.split("_"))
        for key in keys
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


def test_design_search_attributes_are_the_expected_ones() -> None:
    assert expected_search_attributes() == {
        "GoalflowContactId": "Keyword",
        "GoalflowAutomationId": "Keyword",
        "GoalflowStep": "Keyword",
        "GoalflowGoalsMet": "KeywordList",
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


# ---------------------------------------------------------------------------------------------
# documentation


def test_deploy_doc_covers_the_operations_story() -> None:
    doc = (ROOT / "docs" / "deploy.md").read_text()
    for needle in (
        "--scale worker=",
        "TEMPORAL_API_KEY",
        "TEMPORAL_TLS_CERT",
        "TEMPORAL_TLS_KEY",
        "workflow.patched",
        "github.com/temporalio/helm-charts",
        "NUM_HISTORY_SHARDS",
        "deploy/compose.cloud.yml",
    ):
        assert needle in doc, f"docs/deploy.md does not mention {needle}"
    assert re.search(r"not (been )?(started|run)", doc), "say that the stack was not started here"
