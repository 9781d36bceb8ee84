"""The Dockerfile and .dockerignore: what is copied, the base image, the user, the entry points."""

from __future__ import annotations

import fnmatch
import importlib.metadata
import json
import re
import shlex
from pathlib import Path
from typing import Any

from tests.deploy.helpers import (
    DOCKERFILE,
    DOCKERIGNORE,
    ROOT,
    as_argv,
    split_image,
)

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
