"""The workflow modules' code compiled once per process, however many workflows execute it.

Temporal's sandbox executes a workflow's module afresh for every workflow instance it creates (a
new workflow, or one evicted from the worker's cache and replayed), so that workflow code cannot
share state between workflows. Executing a module starts with its code object: Python reads the
module's cached bytecode, or, where there is none, compiles its source. There is none when
`PYTHONDONTWRITEBYTECODE` is set over a source tree that was never compiled (an editable install,
a checkout): measured on a contact workflow, compiling its modules was a third of the cost of
creating the instance, paid again for every instance.

A code object is immutable: sharing it between instances shares nothing that the sandbox keeps
apart (each execution still makes new module objects, classes and globals). `install()` puts a
finder first on `sys.meta_path` that, for the `workflows` package only, hands out the source
loader the import system would have used, with its code object kept for the life of the process.
The code a process executes is therefore the code it first loaded: restart a worker to run new
workflow code, as a worker must be restarted anyway (it has already imported every workflow module
to register it).
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from types import CodeType, ModuleType

from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner

PACKAGES = frozenset({"workflows"})

_codes: dict[str, CodeType] = {}


class _CompiledOnceLoader(importlib.machinery.SourceFileLoader):
    """A source file loader whose code object is made once per path and process."""

    def get_code(self, fullname: str) -> CodeType:
        code = _codes.get(self.path)
        if code is None:
            made = super().get_code(fullname)
            if made is None:  # pragma: no cover - a source file always has code
                raise ImportError(f"no code for {fullname}", name=fullname)
            code = _codes.setdefault(self.path, made)  # atomic: the first one made is kept
        return code


class WorkflowCodeFinder(importlib.abc.MetaPathFinder):
    """Finds modules of `PACKAGES` as the finders after it would, loading them compiled once.
    Where each module's file is, is looked up once too (no directory scan per instance)."""

    def __init__(self) -> None:
        self._found: dict[str, tuple[str, list[str] | None]] = {}

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname.partition(".")[0] not in PACKAGES:
            return None
        found = self._found.get(fullname)
        if found is None:
            spec = self._find_elsewhere(fullname, path, target)
            if spec is None or type(spec.loader) is not importlib.machinery.SourceFileLoader:
                return spec
            locations = spec.submodule_search_locations
            found = (spec.loader.path, None if locations is None else list(locations))
            self._found[fullname] = found
        origin, kept = found
        return importlib.util.spec_from_file_location(
            fullname,
            origin,
            loader=_CompiledOnceLoader(fullname, origin),
            submodule_search_locations=None if kept is None else list(kept),
        )

    def _find_elsewhere(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None
    ) -> importlib.machinery.ModuleSpec | None:
        """What the finders after this one find."""
        for finder in sys.meta_path:
            if isinstance(finder, WorkflowCodeFinder):
                continue
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find is not None else None
            if spec is not None:
                return spec
        return None


def install() -> None:
    """Put the finder first on `sys.meta_path`, once per process."""
    if not any(isinstance(finder, WorkflowCodeFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, WorkflowCodeFinder())


def sandboxed_runner() -> SandboxedWorkflowRunner:
    """The workflow runner of goalflow's workers: Temporal's sandbox, with the finder installed."""
    install()
    return SandboxedWorkflowRunner()


def compiled_paths() -> list[str]:
    """The source files whose code objects are kept (for tests and diagnostics)."""
    return sorted(_codes)
