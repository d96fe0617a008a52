"""cargo, go and node's runner judged per test id against the base, like pytest (issue 11, point 3).

Each needs its toolchain on the machine and skips, saying so, without it. The parsers themselves are
tested on captured output in tests/unit/test_outcomes_runners.py, which needs no toolchain.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bot.execution.run import validate_working_tree
from bot.validation.detect import detect
from bot.validation.validate import EXIT_CODE_ONLY
from tests.integration.sample import NODE_PROJECT, RUST_PROJECT, make_repo, write

BROKEN_RUST_TEST = (
    "    #[test]\n    fn it_is_broken_on_the_base() {\n        assert_eq!(add(1, 1), 3);\n    }\n"
)


def suite(verdict: object) -> object:
    return {s.name: s for s in verdict.stages}["full_suite"]  # type: ignore[attr-defined]


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed on this machine")
async def test_cargo_is_judged_per_test_and_a_failure_of_the_base_does_not_count(tmp_path: Path) -> None:
    lib = RUST_PROJECT["src/lib.rs"].replace(
        "    #[test]\n    fn it_adds", BROKEN_RUST_TEST + "\n    #[test]\n    fn it_adds"
    )
    repo = make_repo(tmp_path / "rcalc", {**RUST_PROJECT, "src/lib.rs": lib})
    assert detect(repo).test is not None and detect(repo).test.parser == "cargo_test"  # type: ignore[union-attr]
    right = lib.replace("pub fn add", "pub fn sub(a: i64, b: i64) -> i64 {\n    a - b\n}\n\npub fn add")
    write(repo, "src/lib.rs", right)
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    assert "src/lib.rs::tests::it_is_broken_on_the_base" in verdict.preexisting
    assert EXIT_CODE_ONLY not in verdict.render()
    write(repo, "src/lib.rs", right.replace("a + b", "a * b"))  # add breaks: it_adds regresses
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert not verdict.accepted
    assert "src/lib.rs::tests::it_adds: failed; it passed on the base" in verdict.feedback()
    assert "it_is_broken_on_the_base" not in verdict.feedback()


GO_PROJECT = {
    "go.mod": "module example.com/calc\n\ngo 1.19\n",
    "calc.go": "package calc\n\nfunc Add(a, b int) int { return a + b }\n",
    "calc_test.go": 'package calc\n\nimport "testing"\n\nfunc TestAdd(t *testing.T) {\n\tif Add(2, 3) != 5 {\n'
    '\t\tt.Fatal("add")\n\t}\n}\n\nfunc TestBrokenOnTheBase(t *testing.T) {\n\tif Add(1, 1) != 3 {\n'
    '\t\tt.Fatal("broken")\n\t}\n}\n',
}


@pytest.mark.skipif(shutil.which("go") is None, reason="go is not installed on this machine")
async def test_go_test_json_is_judged_per_test(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "gcalc", GO_PROJECT)
    assert detect(repo).test is not None and detect(repo).test.parser == "go_test"  # type: ignore[union-attr]
    write(repo, "calc.go", GO_PROJECT["calc.go"] + "\nfunc Sub(a, b int) int { return a - b }\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    assert "example.com/calc::TestBrokenOnTheBase" in verdict.preexisting
    write(repo, "calc.go", GO_PROJECT["calc.go"].replace("a + b", "a - b"))
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert not verdict.accepted
    assert "example.com/calc::TestAdd: failed; it passed on the base" in verdict.feedback()


def _node_has_junit() -> bool:
    if shutil.which("node") is None:
        return False
    probe = ["node", "-p", "typeof require('node:test/reporters').junit"]
    return subprocess.run(probe, capture_output=True, text=True, check=False).stdout.strip() == "function"


@pytest.mark.skipif(
    not _node_has_junit(), reason="node with the test runner's junit reporter is not installed"
)
async def test_node_test_runner_is_judged_per_test(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "ncalc", NODE_PROJECT)
    assert detect(repo).test is not None and detect(repo).test.parser == "node_test"  # type: ignore[union-attr]
    write(repo, "add.js", "exports.add = (a, b) => a * b;\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert not verdict.accepted
    assert "adds: failed; it passed on the base" in verdict.feedback()
    assert EXIT_CODE_ONLY not in verdict.render()


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed on this machine")
async def test_a_runner_without_per_test_results_says_exit_code_only(tmp_path: Path) -> None:
    # A test script that is more than `node --test` is run through npm and judged by its exit code.
    package = '{"name": "calc", "private": true, "scripts": {"test": "node --test && echo done"}}\n'
    repo = make_repo(tmp_path / "ncalc", {**NODE_PROJECT, "package.json": package})
    write(repo, "add.js", "exports.add = (a, b) => a + b; // same\n")
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    assert EXIT_CODE_ONLY in suite(verdict).note  # type: ignore[attr-defined]
