"""diverge-converge in the per-item loop on a real project: three changes validate, the one whose
own tests cannot tell it is wrong arrives first, and the commit holds the change the others'
tests agree on — put back in the worktree, since the last one judged is what it held."""

from __future__ import annotations

import json
from pathlib import Path

from bot.budget.ledger import Ledger
from bot.config import parse_config
from bot.domain import ItemStatus, Verdict
from bot.execution.item_loop import ItemRunner
from bot.execution.services import build_router
from bot.routing.presets import policy_for
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees
from tests.conftest import SleepRecorder
from tests.integration.sample import PYTHON_PROJECT, git, make_repo
from tests.integration.test_item_loop import ITEM, RIGHT, TEST_ANSWER


def with_test(change: str, path: str, asserts: str) -> str:
    return (
        change
        + f"\n{path}\n<<<<<<< SEARCH\n=======\nimport calc.ops\n\n\ndef test_more():\n{asserts}>>>>>>> REPLACE\n"
    )


ABS = RIGHT.replace("return a - b", "return abs(a - b)")  # passes the item's test: |3 - 1| == 2
RIGHT_B = with_test(RIGHT, "tests/test_sub_neg.py", "    assert calc.ops.sub(2, 5) == -3\n")
RIGHT_C = with_test(
    RIGHT.replace("    return a - b", "    result = a\n    result -= b\n    return result"),
    "tests/test_sub_more.py",
    "    assert calc.ops.sub(10, 4) == 6\n    assert calc.ops.sub(0, 1) == -1\n",
)


async def test_the_change_the_siblings_tests_agree_on_is_committed(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    local = [
        {"match": {"purpose": "test"}, "reply": TEST_ANSWER},
        *({"match": {"purpose": "change"}, "reply": r, "times": 1} for r in (ABS, RIGHT_B, RIGHT_C)),
    ]
    (tmp_path / "local.json").write_text(json.dumps({"rules": local}))
    config = parse_config(
        '[routing]\npreset = "diverge-converge"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp_path}/local.json"\nmodel = "m"\n'
        "price = { gpu_usd_per_hour = 0 }\n"
    )  # fmt: skip
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=repo, env={}, sleep=SleepRecorder())
    item_runner = ItemRunner(
        router=router, policy=policy_for(config.routing), ledger=ledger, guard=guard, worktrees=Worktrees(repo),
        toolchain=toolchain(repo), settings=Settings(timeout_s=120), run_id="r1", repo="calc",
    )  # fmt: skip
    result = await item_runner.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.DONE, result.reason
    change = [a for a in result.attempts if a.phase == "change"]
    assert [a.verdict for a in change] == [Verdict.PASSED] * 3  # all three fooled the validator
    branch = result.item.branch
    assert branch is not None
    ops = git(repo, "show", f"{branch}:calc/ops.py")
    assert "return a - b" in ops and "abs(" not in ops and "result -= b" not in ops  # the smaller right one
    assert "sub(2, 5) == -3" in git(repo, "show", f"{branch}:tests/test_sub_neg.py")
    assert "test_sub_more.py" not in git(repo, "ls-tree", "-r", "--name-only", branch)
