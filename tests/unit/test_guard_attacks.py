"""The guard alone, one case per attack kind of the catalogue (pure and fast); the item-loop test
runs the same catalogue end to end."""

from __future__ import annotations

import pytest

from bot.validation import parsers
from bot.validation.guard import check_change, is_protected
from bot.validation.outcomes import judge, printed_failures, report_problem
from bot.validation.parsers import junit_report
from bot.validation.special_cases import acceptance_values, special_cases
from tests.integration.attacks import ATTACKS, PROJECT, RIGHT_OPS, Attack

STATIC = [a for a in ATTACKS if not a.expect.startswith("stage:")]


@pytest.mark.parametrize("attack", STATIC, ids=[a.name for a in STATIC])
def test_each_static_attack_is_found(attack: Attack) -> None:
    files = {p: (PROJECT.get(p), text) for p, text in attack.files.items()}
    findings = check_change(files, collected=frozenset({"calc/test.py", "tests/test_ops.py"}))
    # The change read against the item's acceptance tests (test_sub, test_sub_again).
    acceptance = ("tests/test_ops.py::test_sub", "tests/test_ops.py::test_sub_again")
    values = acceptance_values({"tests/test_ops.py": PROJECT["tests/test_ops.py"]}, acceptance)
    findings += special_cases(files, values, is_test=["calc/test.py", "tests/test_ops.py"])
    assert attack.expect in [f.kind for f in findings], findings


def test_the_right_fix_alone_has_no_finding() -> None:
    assert check_change({"calc/ops.py": (PROJECT["calc/ops.py"], RIGHT_OPS)}) == []


def test_formatting_of_an_existing_test_does_not_count_and_changes_name_their_lines() -> None:
    before = PROJECT["tests/test_ops.py"]
    reformatted = before.replace("assert sub(3, 1) == 2", "assert sub(3,1)==2").replace("\n\n\n", "\n\n\n\n")
    assert check_change({"tests/test_ops.py": (before, reformatted)}) == []
    changed = before.replace("sub(3, 1) == 2", "sub(3, 1) == 4")
    [finding] = check_change({"tests/test_ops.py": (before, changed)})
    assert finding.kind == "test_changed" and "lines 15" in finding.detail


def test_appending_a_new_test_is_allowed_but_not_shadowing_or_a_fixture() -> None:
    before = PROJECT["tests/test_ops.py"]
    assert check_change({"tests/test_ops.py": (before, before + "\n\ndef test_new():\n    assert 1\n")}) == []
    shadow = before + "\n\ndef test_sub():\n    assert True\n"
    assert check_change({"tests/test_ops.py": (before, shadow)}) != []
    fixture = before + "\n\n@pytest.fixture\ndef test_thing():\n    return 1\n"
    assert [f.kind for f in check_change({"tests/test_ops.py": (before, fixture)})] == ["test_changed"]


def test_frozen_tests_and_allowances() -> None:
    frozen = {"tests/test_neg.py": "def test_neg():\n    assert neg(2) == -2\n"}
    edited = {"tests/test_neg.py": (None, "def test_neg():\n    assert neg(2) == 2\n")}
    assert [f.kind for f in check_change(edited, frozen=frozen)] == ["test_changed"]
    assert check_change({"tests/test_neg.py": (None, frozen["tests/test_neg.py"])}, frozen=frozen) == []
    before = PROJECT["tests/test_ops.py"]
    edit = {"tests/test_ops.py": (before, before.replace("== 2", "== 4"))}
    assert check_change(edit, allow=frozenset({"test_changed"})) == []  # an item may allow it
    assert check_change(edit, allowed=("calc/*", "tests/test_ops.py")) == []  # named: on purpose
    assert [f.kind for f in check_change(edit, allowed=("calc/*", "tests/*"))] == ["test_changed"]
    conftest = {"conftest.py": (None, "x = 1\n")}
    assert [f.kind for f in check_change(conftest, allow=frozenset({"protected"}))] == ["protected"]


def test_protected_names() -> None:
    for path in (
        ".github/milestone-bot.toml",
        "docs/CODEOWNERS",
        "a/b/conftest.py",
        "x.pth",
        "usercustomize.py",
    ):
        assert is_protected(path), path
    assert not is_protected("calc/ops.py")
    cfg = "[metadata]\nname = x\n[tool:pytest]\naddopts = -q\n"
    assert [f.kind for f in check_change({"setup.cfg": (cfg, cfg.replace("-q", "-q -k not_sub"))})] == [
        "protected"
    ]
    assert check_change({"setup.cfg": (cfg, cfg.replace("name = x", "name = y"))}) == []


CASES = (parsers.TestCase("t::a", "passed"), parsers.TestCase("t::b", "failed"))


def test_report_problems() -> None:
    assert "no complete JUnit report" in report_problem(0, "", None)
    assert "exit code 0 while the report holds 1" in report_problem(0, "", CASES)
    assert "exit code 1 while the report holds no failure" in report_problem(1, "", CASES[:1])
    assert "exit code 3" in report_problem(3, "", CASES[:1])
    assert "printed 2" in report_problem(1, "2 failed, 1 passed in 0.10s\n", CASES)
    assert report_problem(1, "==== 1 failed, 1 passed in 0.10s ====\n", CASES) == ""
    assert printed_failures("1 failed, 2 passed, 1 error in 3.2s") == 2
    assert junit_report("<testsuites><testsuite><testcase name='a'") is None  # truncated
    assert junit_report("<html/>") is None


def test_judge_per_test() -> None:
    base = {"t::a": "passed", "t::b": "failed", "t::c": "passed"}
    now = {"t::a": "passed", "t::b": "failed", "t::d": "failed"}
    j = judge(now, base, expected=base, acceptance=("t::e",))
    assert dict(j.problems) == {
        "t::c": "disappeared (not collected or deselected); it passed on the base",
        "t::d": "failed (a new test)",
        "t::e": "acceptance test not collected (missing or deselected)",
    }
    assert j.preexisting == ("t::b",)
    j = judge({"t::a": "skipped", "t::b": "passed"}, base, expected=["t::a"], acceptance=("t::b",))
    assert dict(j.problems) == {"t::a": "skipped; it passed on the base"}
    assert judge({"t::b[1]": "skipped"}, base, acceptance=("t::b",)).problems == (
        ("t::b[1]", "acceptance test skipped; it must run and pass"),
    )
