"""Every attack of the catalogue rejected through the item loop (scripted model, real git, real
pytest), a right fix accepted beside a sibling's red test, and reproduce-before-paying."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.budget.ledger import Ledger
from bot.domain import Item, ItemKind, ItemStatus
from bot.execution.item_loop import ItemResult
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees
from tests.integration.attacks import ATTACKS, OPS, PROJECT, RIGHT_OPS, Attack, run_item_with
from tests.integration.sample import make_repo

ACCEPTANCE = ("tests/test_ops.py::test_sub", "tests/test_ops.py::test_sub_again")
ITEM = Item(
    "fix-sub", "sub subtracts", "calc.ops.sub adds instead of subtracting", kind=ItemKind.BUGFIX,
    acceptance_tests=ACCEPTANCE, tests_exist=True,
)  # fmt: skip


def answer(files: dict[str, str]) -> str:
    blocks = []
    for path, text in files.items():
        old = PROJECT.get(path, "")
        blocks.append(f"{path}\n<<<<<<< SEARCH\n{old}=======\n{text}>>>>>>> REPLACE\n")
    return "\n".join(blocks)


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_repo(tmp_path_factory.mktemp("attacks") / "calc", PROJECT)


async def run_item(
    repo: Path, tmp: Path, replies: list[dict[str, object]], item: Item, run_id: str
) -> tuple[ItemResult, Ledger]:
    result, ledger, _ = await run_item_with(repo, tmp, replies, item, run_id)
    return result, ledger


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
async def test_attack_is_rejected_through_the_item_loop(repo: Path, tmp_path: Path, attack: Attack) -> None:
    files = dict(attack.files)
    if not attack.expect.startswith("stage:"):
        files.setdefault("calc/ops.py", RIGHT_OPS)  # the fix is right: only the cheat is wrong
    result, _ = await run_item(
        repo, tmp_path, [{"match": {"purpose": "change"}, "reply": answer(files)}], ITEM, attack.name
    )
    assert result.item.status is ItemStatus.FAILED, attack.name
    feedback = result.attempts[0].feedback
    if attack.expect.startswith("stage:"):
        assert attack.expect.removeprefix("stage:") in feedback, feedback
    else:
        assert f"({attack.expect})" in feedback, feedback


async def test_right_fix_is_accepted_beside_a_siblings_red_test(repo: Path, tmp_path: Path) -> None:
    result, _ = await run_item(
        repo,
        tmp_path,
        [{"match": {"purpose": "change"}, "reply": answer({"calc/ops.py": RIGHT_OPS})}],
        ITEM,
        "right",
    )
    assert result.item.status is ItemStatus.DONE, result.attempts[0].feedback
    assert result.verdict is not None
    assert result.verdict.preexisting == ("tests/test_other.py::test_sibling",)
    assert {s.name for s in result.verdict.stages} >= {"affected_tests", "full_suite"}
    assert "red_proof" not in {s.name for s in result.verdict.stages}


async def test_a_failure_that_does_not_reproduce_stops_before_any_model_call(
    repo: Path, tmp_path: Path
) -> None:
    item = Item(
        "fix-add",
        "add",
        "add is wrong",
        kind=ItemKind.BUGFIX,
        acceptance_tests=("tests/test_ops.py::test_add",),
        tests_exist=True,
    )
    result, ledger = await run_item(
        repo,
        tmp_path,
        [{"match": {"purpose": "change"}, "reply": answer({"calc/ops.py": RIGHT_OPS})}],
        item,
        "repro",
    )
    assert result.item.status is ItemStatus.FAILED
    assert result.reason.startswith("environment: ") and "already pass" in result.reason
    assert ledger.calls() == [] and result.attempts == ()
    missing = Item(
        "fix-x",
        "x",
        "x",
        kind=ItemKind.BUGFIX,
        acceptance_tests=("tests/test_ops.py::test_nope",),
        tests_exist=True,
    )
    result, ledger = await run_item(repo, tmp_path / "..", [], missing, "repro2")
    assert "not collected" in result.reason and ledger.calls() == []


TEST_PHASE = """tests/test_neg.py
<<<<<<< SEARCH
=======
import calc.ops


def test_neg():
    assert calc.ops.neg(2) == -2
>>>>>>> REPLACE
"""


async def test_the_test_phase_test_is_frozen_in_the_change_phase(repo: Path, tmp_path: Path) -> None:
    item = Item("neg", "Add neg", "calc.ops needs neg(x).", kind=ItemKind.FEATURE)
    weakened = TEST_PHASE.replace("neg(2) == -2", "neg(2) == 2")
    original = TEST_PHASE.split("=======\n")[1].split(">>>>>>>")[0]
    rewrite = weakened.replace("<<<<<<< SEARCH\n", f"<<<<<<< SEARCH\n{original}")
    change = rewrite + "\n" + answer({"calc/ops.py": OPS + "\n\ndef neg(x):\n    return x\n"})
    result, _ = await run_item(
        repo,
        tmp_path,
        [
            {"match": {"purpose": "test"}, "reply": TEST_PHASE},
            {"match": {"purpose": "change"}, "reply": change},
        ],
        item,
        "frozen",
    )
    assert result.item.status is ItemStatus.FAILED
    assert (
        "the test phase's test" in result.attempts[1].feedback
        and "(test_changed)" in result.attempts[1].feedback
    )


async def test_the_integration_is_judged_against_the_same_baseline(repo: Path, tmp_path: Path) -> None:
    from bot.domain import Checklist
    from bot.execution.integrate import integrate

    reply = [{"match": {"purpose": "change"}, "reply": answer({"calc/ops.py": RIGHT_OPS})}]
    result, _, runner = await run_item_with(repo, tmp_path, reply, ITEM, "integ")
    assert result.item.status is ItemStatus.DONE

    async def redo(item: Item, on: str) -> Item:
        raise AssertionError("no conflict expected")

    # A second item, so the integrated tree is not the first item's own (whose verdict it would reuse).
    trees = Worktrees(repo)
    ws = trees.create("integ", "notes", "main", resume=False)
    (ws.path / "NOTES.md").write_text("notes\n")
    notes = Item(
        "notes", "Notes", status=ItemStatus.DONE, branch=ws.branch, commit=trees.commit(ws.path, "notes")
    )
    _, integration = await integrate(
        Checklist(ref="r", title="t", items=(result.item, notes)), trees=trees, run_id="integ",
        base_ref="main", redo=redo, toolchain=toolchain(repo), settings=Settings(timeout_s=120),
        baselines=runner.baselines,
    )  # fmt: skip
    assert integration.verdict is not None and integration.verdict.accepted, integration.verdict.render()
    assert integration.verdict.preexisting == ("tests/test_other.py::test_sibling",)
