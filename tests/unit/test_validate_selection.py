"""Affected test ids (not only files) run first, and the full suite reuses what earlier stages ran."""

from __future__ import annotations

from pathlib import Path

from bot.validation.parsers import TestCase as Case
from bot.validation.pipeline import CheckRun
from bot.validation.reuse import merged, skip_args
from bot.validation.selection import changed_names, reached_tests, select
from bot.workspace.proc import ProcResult

MODULE = "def add(a, b):\n    return a + b\n\n\nclass Box:\n    def get(self):\n        return 1\n"
TESTS = (
    "import calc\nfrom calc import add\n\n\ndef test_add():\n    assert add(1, 2) == 3\n\n\n"
    "def test_other():\n    assert calc.mul(2, 2) == 4\n\n\n"
    "class TestBox:\n    def test_get(self):\n        assert calc.Box().get() == 1\n"
)


def test_changed_names_are_the_definitions_whose_text_differs() -> None:
    assert changed_names(MODULE, MODULE.replace("a + b", "a - b")) == {"add"}
    assert changed_names(MODULE, MODULE.replace("return 1", "return 2")) == {"Box", "get"}
    # a comment or blank line between definitions is no change; reformatting one selects it
    assert changed_names(MODULE, MODULE + "\n# note\n") == frozenset()
    assert changed_names(MODULE, MODULE.replace("(a, b)", "(a,  b)")) == {"add"}
    # module-level code cannot be pinned to a name
    assert changed_names(MODULE, MODULE + "X = 1\n") is None
    assert changed_names(None, MODULE) is None and changed_names(MODULE, "def (") is None


def test_reached_tests_a_changed_name_are_selected_by_node_id() -> None:
    path = "tests/test_calc.py"
    assert reached_tests(path, TESTS, frozenset({"add"})) == [f"{path}::test_add"]
    assert reached_tests(path, TESTS, frozenset({"get"})) == [f"{path}::TestBox"]
    # nothing mentions it, or a helper does: the whole file
    assert reached_tests(path, TESTS, frozenset({"nothing"})) == [path]
    helper = TESTS + "\n\ndef make():\n    return calc.Box()\n"
    assert reached_tests(path, helper, frozenset({"Box"})) == [path]


def test_select_falls_back_to_whole_files_when_the_change_has_no_names(tmp_path: Path) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests/test_calc.py").write_text(TESTS)
    files = {"calc.py": (MODULE, MODULE.replace("a + b", "a - b"))}
    assert select(tmp_path, ["tests/test_calc.py"], files) == ["tests/test_calc.py::test_add"]
    files = {"calc.py": (MODULE, MODULE + "X = 1\n")}
    assert select(tmp_path, ["tests/test_calc.py"], files) == ["tests/test_calc.py"]
    # only a comment changed: nothing can behave differently, nothing runs first
    files = {"calc.py": (MODULE, MODULE + "\n# note\n")}
    assert select(tmp_path, ["tests/test_calc.py"], files) == []


def _run(*cases: tuple[str, str], problem: str = "", returncode: int = 0) -> CheckRun:
    result = ProcResult(("pytest",), returncode, "", 0.1)
    return CheckRun(result, (), tuple(Case(i, o) for i, o in cases), problem)  # type: ignore[arg-type]


def test_skip_args_leave_out_files_and_ids_but_never_overreach() -> None:
    affected = _run(("t/test_a.py::test_x", "passed"), ("t/test_a.py::test_y", "passed"))
    new = _run(("t/test_new.py::test_n", "passed"))
    known = {"t/test_a.py::test_x", "t/test_a.py::test_xy", "t/test_a.py::test_y", "t/test_a.py::test_y[1]"}
    earlier = [("t/test_a.py::test_x", affected), ("t/test_a.py::test_y", affected), ("t/test_new.py", new)]
    # test_x is a prefix of test_xy: pytest's --deselect would drop test_xy too, so test_x runs again
    assert skip_args(earlier, known) == ["--deselect=t/test_a.py::test_y", "--ignore=t/test_new.py"]
    # an untrustworthy earlier run is not reused
    broken = _run(("t/test_b.py::test_z", "passed"), problem="no complete JUnit report")
    assert skip_args([("t/test_b.py", broken)], known) == []


def test_merged_outcomes_are_one_per_test_id_the_worse_kept() -> None:
    affected = _run(("t/test_a.py::test_x", "passed"), ("t/test_a.py::test_y", "failed"))
    suite = _run(("t/test_a.py::test_x", "failed"), ("t/test_b.py::test_z", "passed"))
    run = merged([("t/test_a.py::test_x", affected), ("t/test_a.py::test_y", affected)], suite)
    assert run.outcomes == {
        "t/test_a.py::test_x": "failed",
        "t/test_a.py::test_y": "failed",
        "t/test_b.py::test_z": "passed",
    }
    assert [c.id for c in run.cases].count("t/test_a.py::test_x") == 1
    # everything ran earlier: the suite had nothing left (pytest's exit code 5), which is no problem
    empty = _run(problem="exit code 5", returncode=5)
    assert merged([("t/test_a.py", affected)], empty).problem == ""


def test_imports_are_found_as_text_at_any_depth() -> None:
    from bot.validation.affected import _imports

    source = (
        "import os, sys as system\nfrom a.b import (c,\n    d as e,  # note\n    f)\n"
        "from .rel import q\n\n\ndef test_x():\n    import deep.mod\n    from p import q, r\n"
    )
    assert _imports(source) == {"os", "sys", "a.b", "a.b.c", "a.b.d", "a.b.f", "deep.mod", "p", "p.q", "p.r"}
