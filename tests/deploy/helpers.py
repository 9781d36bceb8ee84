"""Paths and parsers shared by the deployment checks."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from goalflow.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
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
