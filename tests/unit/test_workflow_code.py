"""The workflow modules' code is compiled once per process; each execution stays its own."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from goalflow.core import workflow_code
from goalflow.core.workflow_code import WorkflowCodeFinder


def _execute(finder: WorkflowCodeFinder, name: str) -> ModuleType:
    """`name` executed into a new module object, as the sandbox does for each workflow."""
    spec = finder.find_spec(name, None)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_executions_share_code_but_nothing_else() -> None:
    finder = WorkflowCodeFinder()
    first = _execute(finder, "workflows.pause")
    second = _execute(finder, "workflows.pause")
    # Each execution makes its own module, classes and globals (what the sandbox keeps apart)...
    assert first is not second
    assert first.Pause is not second.Pause
    assert first.__dict__ is not second.__dict__
    # ...from one code object, compiled once.
    assert first.Pause.__init__.__code__ is second.Pause.__init__.__code__
    assert any(path.endswith("pause.py") for path in workflow_code.compiled_paths())


def test_the_second_lookup_finds_the_same_file_without_the_other_finders() -> None:
    finder = WorkflowCodeFinder()
    found = finder.find_spec("workflows.visibility", None)
    assert found is not None
    again = finder.find_spec("workflows.visibility", None)
    assert again is not None and again is not found
    assert again.origin == found.origin
    assert again.loader is not None and type(again.loader) is type(found.loader)
    assert again.submodule_search_locations is None


def test_a_package_keeps_its_search_locations() -> None:
    finder = WorkflowCodeFinder()
    for _ in range(2):
        spec = finder.find_spec("workflows", None)
        assert spec is not None
        assert spec.submodule_search_locations
        assert spec.origin is not None and spec.origin.endswith("__init__.py")


def test_other_packages_are_left_to_the_import_system() -> None:
    finder = WorkflowCodeFinder()
    assert finder.find_spec("json", None) is None
    assert finder.find_spec("activities.email", None) is None
    assert finder.find_spec("workflowsish", None) is None


def test_install_puts_one_finder_first() -> None:
    workflow_code.install()
    workflow_code.install()
    finders = [f for f in sys.meta_path if isinstance(f, WorkflowCodeFinder)]
    assert len(finders) == 1
    assert sys.meta_path[0] is finders[0]
