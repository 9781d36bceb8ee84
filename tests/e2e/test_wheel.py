"""The Docker image's path without Docker: the files the Dockerfile copies, `pip wheel`ed (a real,
non-editable build of pyproject.toml), installed into a fresh virtual environment, and run from a
directory outside the source tree: every module of the wheel imports, and `goalflow api` and
`goalflow worker` come up against the session's Temporal dev server and run an enrollment.

To stay fast and offline, the fresh environment sees the test environment's third-party packages
through a directory of links (a `.pth` entry), with this project's own entries (the editable
install, its metadata) left out; the wheel is installed with `--no-deps`."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import uuid
import zipfile
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from goalflow.cli.commands import BENCH_MISSING
from tests.e2e.deploy.helpers import ROOT, dockerfile_copies, dockerignore_patterns, dockerignored
from tests.support.helpers import assert_eventually
from tests.support.stack import free_port

# What the test environment holds of this project: never visible in the fresh one.
OWN_TOP_LEVEL = {"goalflow", "goalflow_bench", "workflows", "activities", "api", "worker.py"}


@dataclass
class Installed:
    context: Path  # the Docker build context: what the Dockerfile copies
    sources: set[str]  # its files that belong in the package, before the build added any
    wheel: Path
    python: Path  # the fresh environment's interpreter
    site: Path  # its site-packages, where the wheel went
    elsewhere: Path  # a working directory outside the source tree

    @property
    def goalflow(self) -> Path:
        return self.python.parent / "goalflow"

    def env(self, **extra: str) -> dict[str, str]:
        drop = {"PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME", "PYTHONSTARTUP"}
        env = {k: v for k, v in os.environ.items() if k not in drop}
        env["PATH"] = f"{self.python.parent}{os.pathsep}{env.get('PATH', '')}"
        return {**env, **extra}


def build_context(dest: Path) -> None:
    """Copy what the Dockerfile COPYs, minus what .dockerignore drops, as `docker build` would."""
    patterns = dockerignore_patterns()
    for sources, _destination in dockerfile_copies():
        for source in sources:
            path = ROOT / source
            if path.is_file():
                shutil.copy2(path, dest / source)
                continue
            for file in sorted(path.rglob("*")):
                rel = file.relative_to(ROOT).as_posix()
                if file.is_file() and not dockerignored(rel, patterns):
                    (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(file, dest / rel)


def link_third_party(overlay: Path) -> None:
    """Links to every entry of the test environment's site-packages but this project's own."""
    overlay.mkdir()
    paths = sysconfig.get_paths()
    for site in dict.fromkeys((Path(paths["purelib"]), Path(paths["platlib"]))):
        for entry in site.iterdir():
            name = entry.name
            own = (
                name in OWN_TOP_LEVEL
                or name.startswith(("__editable__", "goalflow-", "goalflow.egg"))
                or name.endswith(".pth")
            )
            if not own and not (overlay / name).exists():
                (overlay / name).symlink_to(entry)


def run(*args: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, f"{args}: {done.stdout}\n{done.stderr}"
    return done


def source_files(context: Path) -> set[str]:
    """Every file of the build context that belongs in the package: modules and data alike."""
    kept = set()
    for file in context.rglob("*"):
        rel = file.relative_to(context).as_posix()
        if file.is_file() and rel not in {"pyproject.toml", "README.md"}:
            kept.add(rel)
    return kept


def install(tmp: Path) -> Installed:
    context = tmp / "context"
    context.mkdir()
    build_context(context)
    sources = source_files(context)
    dist = tmp / "dist"
    run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", dist, context, cwd=tmp)
    [wheel] = dist.glob("goalflow-*.whl")
    run(sys.executable, "-m", "venv", "--without-pip", tmp / "venv", cwd=tmp)
    python = tmp / "venv" / "bin" / "python"
    site = Path(
        run(
            python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])", cwd=tmp
        ).stdout.strip()
    )
    link_third_party(tmp / "third-party")
    (site / "third-party.pth").write_text(f"{tmp / 'third-party'}\n")
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--no-index", wheel, cwd=tmp)
    elsewhere = tmp / "elsewhere"
    elsewhere.mkdir()
    return Installed(context, sources, wheel, python, site.resolve(), elsewhere)


@pytest.fixture(scope="module")
async def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    return await asyncio.to_thread(install, tmp_path_factory.mktemp("wheel"))


def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    return {name for name in names if not name.split("/")[0].endswith(".dist-info")}


def test_the_wheel_holds_every_module_and_data_file(installed: Installed) -> None:
    shipped = wheel_files(installed.wheel)
    assert installed.sources - shipped == set(), "left out of the wheel"
    assert shipped - installed.sources == set(), "in the wheel from nowhere"
    assert "api/ui/templates/base.html" in shipped and "api/ui/static/dashboard.css" in shipped


def wheel_modules(wheel: Path) -> list[str]:
    modules = []
    for name in sorted(wheel_files(wheel)):
        if name.endswith(".py"):
            parts = name[: -len(".py")].split("/")
            modules.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


IMPORT_ALL = """
import importlib, json, os, sys
modules = json.loads(sys.argv[1])
files = {name: importlib.import_module(name).__file__ for name in modules}
print(json.dumps({"files": files, "path": [os.path.abspath(p) for p in sys.path]}))
"""


def test_every_module_of_the_wheel_imports_outside_the_source_tree(installed: Installed) -> None:
    modules = wheel_modules(installed.wheel)
    layout = {
        "api.main",
        "api.providers",
        "worker",
        "goalflow.cli",
        "goalflow.cli.__main__",
        "goalflow.core.settings",
        "goalflow.service.contacts",
        "goalflow.client",
        "activities.triggers",
        "workflows.enrollment",
    }
    assert layout <= set(modules)
    done = subprocess.run(
        [str(installed.python), "-c", IMPORT_ALL, json.dumps(modules)],
        cwd=installed.elsewhere,
        env=installed.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout.splitlines()[-1])
    for name, file in seen["files"].items():
        assert Path(file).resolve().is_relative_to(installed.site), (name, file)
    assert not any(Path(p).resolve().is_relative_to(ROOT) for p in seen["path"]), seen["path"]


@contextmanager
def process(
    installed: Installed, args: list[str], env: dict[str, str], log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(installed.goalflow), *args],
            cwd=installed.elsewhere,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    # The wheel's API answers the first enrollment once the worker it just started has run its
    # first workflow tasks (the sandbox loads the workflow modules then): seconds on a quiet
    # machine, 20 s seen on a loaded one. The client waits for the answer as the probes do.
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


async def test_goalflow_api_and_worker_of_the_wheel_come_up(
    installed: Installed, dev_env: WorkflowEnvironment, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = installed.env(
        TEMPORAL_ADDRESS=dev_env.client.service_client.config.target_host,
        GOALFLOW_TASK_QUEUE=f"wheel-{uuid.uuid4()}",
        GOALFLOW_PUBLIC_URL=url,
        GOALFLOW_DATA_DIR=str(tmp_path),
        GOALFLOW_LOG_FORMAT="json",
    )
    api_log, worker_log = tmp_path / "api.log", tmp_path / "worker.log"
    with (
        process(installed, ["worker"], env, worker_log) as worker,
        process(installed, ["api", "--port", str(port)], env, api_log) as api,
    ):

        async def probe(path: str) -> int:
            assert api.poll() is None, api_log.read_text()
            assert worker.poll() is None, worker_log.read_text()
            try:
                return (await http.get(url + path)).status_code
            except httpx.TransportError:
                return 0

        await assert_eventually(lambda: probe("/healthz"), lambda s: s == 200, within=60)
        await assert_eventually(lambda: probe("/readyz"), lambda s: s == 200, within=60)
        # The dashboard's templates and static files came with the wheel.
        page = await http.get(f"{url}/ui/")
        assert page.status_code == 200 and "<html" in page.text.lower(), page.text[:300]
        assert (await http.get(f"{url}/ui/static/dashboard.css")).status_code == 200
        # The worker polls: an enrollment runs to its end. Ids of this test's own: a contact's
        # workflow id is the namespace's, whatever the task queue, and the session's server
        # holds contacts of other tests' stacks (the README's `ada` among them) whose workers
        # are gone by now: an update to one of those would wait forever.
        automation = {"name": "wheel", "steps": [{"id": "t", "type": "add_tag", "tag": "x"}]}
        automation_id, contact_id = f"wheel-{uuid.uuid4().hex[:8]}", f"ada-{uuid.uuid4().hex[:8]}"
        put = await http.put(f"{url}/v1/automations/{automation_id}", json=automation)
        assert put.status_code in (200, 201), put.text
        enrolled = await http.post(
            f"{url}/v1/automations/{automation_id}/enrollments",
            json={"contact": {"id": contact_id}},
        )
        assert enrolled.status_code == 201, enrolled.text
        enrollment = f"{url}/v1/enrollments/{enrolled.json()['enrollment_id']}"
        await assert_eventually(
            lambda: http.get(enrollment),
            lambda answer: answer.json().get("status") == "completed",
            within=60,
        )
        assert "worker polling" in worker_log.read_text()
        for proc in (api, worker):
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(worker.wait, 30) == 0, worker_log.read_text()
        # uvicorn stops cleanly, then re-raises the signal it caught.
        assert await asyncio.to_thread(api.wait, 30) in (0, -signal.SIGTERM), api_log.read_text()
        assert "Application shutdown complete" in api_log.read_text()


def test_goalflow_bench_in_the_image_says_how_to_install_it(installed: Installed) -> None:
    """The image leaves the benchmarks out: the command says so instead of a traceback."""
    done = subprocess.run(
        [str(installed.goalflow), "bench", "throughput"],
        cwd=installed.elsewhere,
        env=installed.env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert BENCH_MISSING in " ".join(done.stderr.split()), done.stderr
    assert "Traceback" not in done.stderr
