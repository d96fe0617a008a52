"""bench/context.py's own rules: it finds the shared folder from a worktree, counts a bug only when
the failure is the bug's (real pytest runs on a tiny project), and locates a real bug's chunk."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.context import SWE_FILE, Bug, _enclosing, default_shared, verify

PASSING = "def double(x):\n    return 2 * x\n"
BUGGY = "def double(x):\n    return 3 * x\n"
TESTS = (
    "from lib import double\n\n\ndef test_double():\n    assert double(2) == 4\n\n\n"
    "def test_flaky_elsewhere():\n    assert open('flag').read() == 'ok'\n"
)


def test_the_shared_folder_is_found_beside_an_ancestor(tmp_path: Path) -> None:
    repo = tmp_path / "work" / "wt" / "s12"
    repo.mkdir(parents=True)
    assert default_shared(repo) == tmp_path / "work" / "wt" / "shared"  # none: the parent's, to name it
    (tmp_path / "work" / "shared" / SWE_FILE).parent.mkdir(parents=True)
    (tmp_path / "work" / "shared" / SWE_FILE).write_text("{}\n")
    assert default_shared(repo) == tmp_path / "work" / "shared"


def test_a_bug_counts_only_when_its_failing_tests_pass_without_it_and_fail_with_it(tmp_path: Path) -> None:
    (tmp_path / "lib.py").write_text(PASSING)
    (tmp_path / "test_lib.py").write_text(TESTS)
    (tmp_path / "flag").write_text("ok")
    (tmp_path / "other.py").write_text("")
    own = Bug(
        "p", "lib.py", "double", 1, "off by one", "FAILED test_lib.py::test_double - assert 6 == 4\n", BUGGY
    )
    # Its log blames a test the bug does not break (it passes with the bug alone): a flaky failure.
    flaky = Bug("p", "lib.py", "double", 1, "drop", "FAILED test_lib.py::test_flaky_elsewhere - x\n", PASSING)
    no_ids = Bug("p", "lib.py", "double", 1, "drop", "1 failed\n", BUGGY)
    # A test that fails on the clean tree too (the flag is broken) is not this bug's failure.
    broken = Bug("p", "other.py", "f", 1, "x", "FAILED test_lib.py::test_broken_flag - x\n", "")
    (tmp_path / "test_lib.py").write_text(TESTS + "\n\ndef test_broken_flag():\n    assert False\n")
    assert verify([own, flaky, no_ids, broken], tmp_path, sys.executable) == [True, False, False, False]
    assert (tmp_path / "lib.py").read_text() == PASSING  # the bug is taken out again


def test_a_real_bugs_chunk_is_the_innermost_function_or_the_module() -> None:
    text = "X = 1\n\n\ndef outer():\n    def inner():\n        return 2\n    return inner\n"
    assert _enclosing(text, 6) == "inner"
    assert _enclosing(text, 7) == "outer"
    assert _enclosing(text, 1) == "<module>"
