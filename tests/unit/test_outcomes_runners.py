"""Per-test outcomes of cargo, go and node's runner, parsed from their real output (fixtures captured
from real runs; see tests/fixtures/runners/README.md for the commands and versions)."""

from __future__ import annotations

from pathlib import Path

from bot.validation.detect import _parser_for
from bot.validation.outcomes import judge
from bot.validation.runners import cargo_cases, go_cases, node_cases

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "runners"


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def test_cargo_libtest_lines_per_target() -> None:
    cases, problem = cargo_cases(read("cargo-test-1.95.txt"), 101)
    assert problem == ""
    assert {c.id: c.outcome for c in cases} == {
        "src/lib.rs::tests::it_adds": "passed",
        "src/lib.rs::tests::slow": "skipped",
        "src/lib.rs::tests::it_subs": "failed",
        "tests/api.rs::adds_from_outside": "passed",
        # a doc-test's id keeps its item, not its line (which moves with every edit above it)
        "doc-tests calc::src/lib.rs - add": "passed",
        "doc-tests calc::src/lib.rs - sub": "failed",
    }
    failed = {c.id: c for c in cases}["src/lib.rs::tests::it_subs"]
    assert (failed.file, failed.line) == ("src/lib.rs", 30)
    assert "assertion `left == right` failed" in failed.message


def test_cargo_test_binary_that_exits_early_is_not_trusted() -> None:
    cases, problem = cargo_cases(read("cargo-test-exit-1.95.txt"), 101)
    assert "src/lib.rs: said it runs 4 test(s), reported 0" in problem
    assert "tests/api.rs::adds_from_outside" in {c.id for c in cases}
    # the same truncation with exit code 0 (only that target ran) is just as untrustworthy
    only = read("cargo-test-exit-1.95.txt").split("     Running tests/api.rs")[0]
    assert cargo_cases(only, 0)[1].startswith("src/lib.rs: said it runs 4 test(s)")


def test_cargo_exit_code_and_outcomes_must_agree() -> None:
    text = read("cargo-test-1.95.txt")
    assert cargo_cases(text, 0)[1] == "exit code 0 while the runner reported 2 failure(s)"
    build_error = "error[E0308]: mismatched types\n --> src/lib.rs:2:5\nerror: could not compile `calc`\n"
    cases, problem = cargo_cases(build_error, 101)
    assert cases == [] and "exit code 101 while no test failed" in problem


def test_go_test_json_events_per_test_and_subtest() -> None:
    cases, problem = go_cases(read("go-test-json-1.19.txt"), 2)
    outcomes = {c.id: c.outcome for c in cases}
    assert outcomes == {
        "example.com/calc/sub::TestTwice": "passed",
        "example.com/calc::TestAdd": "passed",
        "example.com/calc::TestSub": "failed",
        "example.com/calc::TestSkipped": "skipped",
        "example.com/calc::TestTable": "failed",
        "example.com/calc::TestTable/small": "passed",
        "example.com/calc::TestTable/wrong": "failed",
    }
    assert problem == ""
    sub = {c.id: c for c in cases}["example.com/calc::TestSub"]
    assert (sub.file, sub.line, sub.message) == ("calc_test.go", 13, "Sub(3, 1) = 4, want 2")


def test_go_package_that_does_not_build_is_not_a_pass() -> None:
    # the broken package has no test events at all; with every test passing the exit code says so
    passing = "\n".join(
        line for line in read("go-test-json-1.19.txt").splitlines() if 'example.com/calc"' not in line
    )
    cases, problem = go_cases(passing, 2)
    assert [c.outcome for c in cases] == ["passed"]
    assert "exit code 2 while no test failed" in problem


def test_node_junit_report_suites_skips_and_todos() -> None:
    cases, problem = node_cases(read("node-20.20-junit.xml"), 1)
    assert problem == ""
    assert {c.id: c.outcome for c in cases} == {
        "adds": "passed",
        "subs": "failed",
        "skipped": "skipped",
        "todo one": "skipped",  # a failing todo test does not fail the run
        "table > small": "passed",
        "table > wrong": "failed",
        "adds more": "passed",
    }
    assert node_cases(None, 0)[1].startswith("no JUnit report")
    assert "truncated" in node_cases(read("node-20.20-junit.xml")[:500], 1)[1]


def test_judged_per_test_against_the_base_like_pytest() -> None:
    base = {c.id: c.outcome for c in cargo_cases(read("cargo-test-1.95.txt"), 101)[0]}
    now = {**base, "src/lib.rs::tests::it_subs": "passed", "src/lib.rs::tests::it_adds": "failed"}
    judgement = judge(now, base, expected=base)
    assert judgement.problems == (("src/lib.rs::tests::it_adds", "failed; it passed on the base"),)
    assert "doc-tests calc::src/lib.rs - sub" in judgement.preexisting


def test_configured_commands_get_the_per_test_parser_only_when_it_applies() -> None:
    assert _parser_for(["cargo", "test"]) == "cargo_test"
    assert _parser_for(["go", "test", "-json", "./..."]) == "go_test"
    assert _parser_for(["go", "test", "./..."]) == "go"  # no events: exit code only
    assert _parser_for(["node", "--test", "test/"]) == "node_test"
    assert _parser_for(["node", "--test", "--test-reporter=spec"]) == "plain"
