"""The evidence stage through the item loop (scripted model, real git, real pytest with the tracer):
a partial fix that keeps the old code for inputs no test runs, and a right fix with a break slipped
in elsewhere, both pass every test the project has; each is rejected with a reason naming the line
and the next attempt, shown that reason, gets the right fix accepted. A guard that keeps the old
code for the inputs other tests run is accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import Item, ItemKind, ItemStatus
from tests.integration.attacks import OPS, PROJECT, RIGHT_OPS, run_item_with
from tests.integration.sample import make_repo

ACCEPTANCE = ("tests/test_ops.py::test_sub", "tests/test_ops.py::test_sub_again")
ITEM = Item(
    "fix-sub", "sub subtracts", "calc.ops.sub adds instead of subtracting", kind=ItemKind.BUGFIX,
    acceptance_tests=ACCEPTANCE, tests_exist=True,
)  # fmt: skip
OLD_SUB = "def sub(a, b):\n    return a + b"
# sub(3, 1) and sub(5, 5) take the new branch; a < b keeps adding, and no test tries it.
PARTIAL = OPS.replace(OLD_SUB, "def sub(a, b):\n    return a - b if a >= b else a + b")
# The right fix, and div floors: test_div (6 / 3) and test_div_by_zero still pass.
BREAK_ELSEWHERE = RIGHT_OPS.replace("    return a / b", "    return a // b")
SEQ = "def first(xs):\n    return xs[0]\n"
SEQ_TESTS = (
    "from calc.seq import first\n\n\ndef test_first():\n    assert first([3, 4]) == 3\n\n\n"
    "def test_first_of_nothing():\n    assert first([]) is None\n"
)


def answer(old: str, new: str, path: str = "calc/ops.py") -> str:
    return f"{path}\n<<<<<<< SEARCH\n{old}=======\n{new}>>>>>>> REPLACE\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = {**PROJECT, "calc/seq.py": SEQ, "tests/test_seq.py": SEQ_TESTS}
    return make_repo(tmp_path_factory.mktemp("evidence") / "calc", files)


async def test_a_partial_fix_keeping_the_old_code_is_rejected_and_the_next_attempt_told_why(
    repo: Path, tmp_path: Path
) -> None:
    rules: list[dict[str, object]] = [
        {"match": {"purpose": "change", "prompt_contains": "keeps the old"}, "reply": answer(OPS, RIGHT_OPS)},
        {"match": {"purpose": "change"}, "reply": answer(OPS, PARTIAL)},
    ]
    result, _, _ = await run_item_with(repo, tmp_path, rules, ITEM, "partial", attempts=2)
    first = result.attempts[0].feedback
    assert "stage evidence failed" in first, first
    assert "calc/ops.py:6" in first and "keeps the old `a + b` for inputs where `not (a >= b)`" in first
    assert result.item.status is ItemStatus.DONE and len(result.attempts) == 2, first


async def test_a_break_slipped_in_elsewhere_is_rejected_as_a_change_the_item_does_not_need(
    repo: Path, tmp_path: Path
) -> None:
    rules: list[dict[str, object]] = [
        {"match": {"purpose": "change", "prompt_contains": "none of the item's tests"},
         "reply": answer(OPS, RIGHT_OPS)},
        {"match": {"purpose": "change"}, "reply": answer(OPS, BREAK_ELSEWHERE)},
    ]  # fmt: skip
    result, _, _ = await run_item_with(repo, tmp_path, rules, ITEM, "elsewhere", attempts=2)
    first = result.attempts[0].feedback
    assert "calc/ops.py:13: changes `div`, which none of the item's tests" in first, first
    assert "tests/test_ops.py::test_sub" in first
    assert result.item.status is ItemStatus.DONE and len(result.attempts) == 2, first


async def test_a_guard_keeping_the_old_code_for_inputs_other_tests_run_is_accepted(
    repo: Path, tmp_path: Path
) -> None:
    item = Item(
        "first-of-nothing", "first of an empty list is None", "calc.seq.first raises IndexError on []",
        kind=ItemKind.BUGFIX, acceptance_tests=("tests/test_seq.py::test_first_of_nothing",), tests_exist=True,
    )  # fmt: skip
    guard = "def first(xs):\n    return xs[0] if xs else None\n"
    rules: list[dict[str, object]] = [
        {"match": {"purpose": "change"}, "reply": answer(SEQ, guard, "calc/seq.py")}
    ]
    result, _, _ = await run_item_with(repo, tmp_path, rules, item, "guard")
    verdict = result.attempts[0]
    assert result.item.status is ItemStatus.DONE, verdict.feedback
