"""A special-cased fix through the item loop (scripted model, real git, real pytest): it passes every
test, yet it is rejected with a reason naming the line, the expression and the test, and the next
attempt is shown that reason and gets the right fix accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.domain import Item, ItemKind, ItemStatus
from bot.execution.item_loop import ItemResult
from tests.integration.attacks import OPS, PROJECT, RIGHT_OPS, run_item_with
from tests.integration.sample import make_repo

ACCEPTANCE = ("tests/test_ops.py::test_sub", "tests/test_ops.py::test_sub_again")
ITEM = Item(
    "fix-sub", "sub subtracts", "calc.ops.sub adds instead of subtracting", kind=ItemKind.BUGFIX,
    acceptance_tests=ACCEPTANCE, tests_exist=True,
)  # fmt: skip
# Passes test_sub (sub(3, 1) == 2) and test_sub_again (sub(5, 5) == 0), and the whole suite.
SPECIAL = OPS.replace(
    "def sub(a, b):\n    return a + b",
    "def sub(a, b):\n    if a == 3:\n        return 2\n    if a == b:\n        return 0\n    return a + b",
)


def answer(text: str) -> str:
    return f"calc/ops.py\n<<<<<<< SEARCH\n{OPS}=======\n{text}>>>>>>> REPLACE\n"


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("special") / "calc", PROJECT)


async def run(
    repo: Path, tmp: Path, rules: list[dict[str, object]], run_id: str, item: Item = ITEM
) -> ItemResult:
    result, _, _ = await run_item_with(repo, tmp, rules, item, run_id, attempts=2)
    return result


async def test_a_special_cased_fix_is_rejected_and_the_next_attempt_is_told_why(
    repo: Path, tmp_path: Path
) -> None:
    rules: list[dict[str, object]] = [
        # The second attempt answers right only when shown the special-cased finding.
        {
            "match": {"purpose": "change", "prompt_contains": "special-cased input"},
            "reply": answer(RIGHT_OPS),
        },
        {"match": {"purpose": "change"}, "reply": answer(SPECIAL)},
    ]
    result = await run(repo, tmp_path, rules, "special")
    first = result.attempts[0].feedback
    assert "calc/ops.py: special-cased input at line 6: `a == 3` recognises 3, a value test_sub uses" in first
    assert "(special_cased)" in first
    assert result.item.status is ItemStatus.DONE and len(result.attempts) == 2, first


async def test_a_special_value_the_item_names_is_accepted(repo: Path, tmp_path: Path) -> None:
    """The same comparison, when the item says the value is special, is not refused."""
    item_says = OPS.replace("def sub(a, b):\n    return a + b", "def sub(a, b):\n    return a - b")
    item_says += "\n\ndef is_three(x):\n    return x == 3\n"
    rules: list[dict[str, object]] = [{"match": {"purpose": "change"}, "reply": answer(item_says)}]
    item = Item(
        "fix-sub", "sub subtracts; is_three(3) is true", "calc.ops.sub adds instead of subtracting",
        kind=ItemKind.BUGFIX, acceptance_tests=ACCEPTANCE, tests_exist=True,
    )  # fmt: skip
    result = await run(repo, tmp_path, rules, "named", item)
    assert result.item.status is ItemStatus.DONE, result.attempts[0].feedback
