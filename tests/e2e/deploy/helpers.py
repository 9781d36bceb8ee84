"""Paths and parsers shared by the deployment checks."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from goalflow.core.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
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
# Dockerfile and .dockerignore


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


# ---------------------------------------------------------------------------------------------
# pyproject.toml's package discovery

# Packages of the project that the Docker image leaves out: development tools.
DEVELOPMENT_ONLY = {"goalflow_bench"}


def discovered_packages(pyproject: dict[str, Any]) -> list[str]:
    """The packages `[tool.setuptools.packages.find]` finds in the repository, as setuptools does
    with `namespaces = false`: directories with an `__init__.py` (all the way up) whose dotted
    name matches an include pattern and no exclude pattern."""
    find = pyproject["tool"]["setuptools"]["packages"]["find"]
    assert find.get("namespaces") is False, "only regular packages ship"

    def packages(directory: Path, prefix: str) -> list[str]:
        found = []
        for child in sorted(directory.iterdir()):
            if not child.name.startswith(".") and (child / "__init__.py").is_file():
                name = prefix + child.name
                found += [name, *packages(child, name + ".")]
        return found

    return [
        name
        for name in packages(ROOT, "")
        if any(fnmatch.fnmatchcase(name, p) for p in find["include"])
        and not any(fnmatch.fnmatchcase(name, p) for p in find.get("exclude", []))
    ]
