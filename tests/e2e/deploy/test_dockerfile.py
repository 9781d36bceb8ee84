"""The Dockerfile and .dockerignore: what is copied, the base image, the user, the entry points."""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path
from typing import Any

from tests.e2e.deploy.helpers import (
    DEVELOPMENT_ONLY,
    ROOT,
    as_argv,
    discovered_packages,
    dockerfile_args,
    dockerfile_copies,
    dockerfile_instructions,
    dockerignore_patterns,
    dockerignored,
    split_image,
)

# ---------------------------------------------------------------------------------------------
# Dockerfile


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
    """The image is built from the same package definition the tests install: every top-level
    package that pyproject.toml's discovery finds, but the development tools."""
    copied = {Path(s).as_posix().strip("/") for sources, _ in dockerfile_copies() for s in sources}
    setuptools_cfg = pyproject["tool"]["setuptools"]
    assert "packages" not in setuptools_cfg or "find" in setuptools_cfg["packages"], (
        "list no packages by hand: [tool.setuptools.packages.find] finds them"
    )
    top_level = {name.split(".")[0] for name in discovered_packages(pyproject)}
    assert {"goalflow", "workflows", "activities", "api"} <= top_level
    assert top_level >= DEVELOPMENT_ONLY, "the benchmarks ship with a checkout's install"
    needed = {"pyproject.toml"} | (top_level - DEVELOPMENT_ONLY)
    needed |= {f"{module}.py" for module in setuptools_cfg.get("py-modules", [])}
    readme = pyproject["project"].get("readme")
    if isinstance(readme, str):
        needed.add(readme)
    elif isinstance(readme, dict) and "file" in readme:
        needed.add(readme["file"])
    missing = needed - copied
    assert not missing, f"the Dockerfile does not COPY {sorted(missing)}"
    assert not copied & DEVELOPMENT_ONLY, "the image leaves the development tools out"
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
