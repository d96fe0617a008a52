"""The per-item loop on a real sample project: tests first, escalation on failure, commits, budget."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from bot.budget.ledger import Ledger
from bot.config import parse_config
from bot.domain import Item, ItemKind, ItemStatus, Verdict
from bot.execution.item_loop import ItemRunner
from bot.execution.services import build_router
from bot.routing.presets import policy_for
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees
from tests.conftest import SleepRecorder
from tests.integration.sample import PYTHON_PROJECT, git, make_repo

TEST_ANSWER = """tests/test_sub.py
<<<<<<< SEARCH
=======
import calc.ops


def test_sub():
    assert calc.ops.sub(3, 1) == 2
>>>>>>> REPLACE
"""
RIGHT = """calc/ops.py
<<<<<<< SEARCH
def mul(a, b):
    return a * b
=======
def mul(a, b):
    return a * b


def sub(a, b):
    return a - b
>>>>>>> REPLACE
"""
WRONG = RIGHT.replace("return a - b", "return a + b")
ITEM = Item("add-sub", "Add subtraction", "calc.ops needs sub(a, b).", kind=ItemKind.FEATURE)


def runner(
    tmp_path: Path, local: list[dict[str, object]], premium: list[dict[str, object]], budget: str = ""
) -> tuple[ItemRunner, Ledger, Path]:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "local.json").write_text(json.dumps({"rules": local}))
    (scripts / "premium.json").write_text(json.dumps({"rules": premium}))
    config = parse_config(
        f'[routing]\npreset = "three-tier"\n[budget]\n{budget}\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{scripts}/local.json"\nmodel = "local-m"\n'
        "price = { gpu_usd_per_hour = 0 }\n"
        f'[tiers.premium]\n[[tiers.premium.providers]]\ntype = "scripted"\nscript = "{scripts}/premium.json"\n'
        'model = "prem-m"\nprice = { input_per_mtok = 3, output_per_mtok = 15 }\n'
    )
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=repo, env={}, sleep=SleepRecorder())
    item_runner = ItemRunner(
        router=router, policy=policy_for(config.routing), ledger=ledger, guard=guard, worktrees=Worktrees(repo),
        toolchain=toolchain(repo), settings=Settings(timeout_s=120), run_id="r1", repo="calc",
    )  # fmt: skip
    return item_runner, ledger, repo


async def test_tests_first_then_escalation_then_commit(tmp_path: Path) -> None:
    item_runner, ledger, repo = runner(
        tmp_path,
        local=[
            {"match": {"purpose": "test"}, "reply": TEST_ANSWER},
            {"match": {"purpose": "change"}, "reply": WRONG},
        ],
        premium=[{"match": {"purpose": "change"}, "reply": RIGHT}],
    )
    result = await item_runner.run(ITEM, base_ref="main")
    assert result.reason == "validated"
    assert [(a.phase, a.tier, a.verdict) for a in result.attempts] == [
        ("test", "local", Verdict.PASSED),
        ("change", "local", Verdict.FAILED),
        ("change", "premium", Verdict.PASSED),
    ]
    assert "tests/test_sub.py::test_sub" in result.attempts[1].feedback  # the diagnostics fed back
    item = result.item
    assert item.status is ItemStatus.DONE and item.attempts == 3 and item.cost_usd > 0
    assert item.branch == "milestone-bot/r1/add-sub"
    log = git(repo, "log", "--format=%s", item.branch).splitlines()
    assert log[:2] == ["add-sub: Add subtraction", "add-sub: test first — Add subtraction"]
    assert "return a - b" in git(repo, "show", f"{item.branch}:calc/ops.py")
    assert [c.attempt for c in ledger.calls()] == [0, 1, 2]  # one item, attempts numbered across phases


async def test_unusable_answer_is_fed_back_and_escalated(tmp_path: Path) -> None:
    item_runner, ledger, _ = runner(
        tmp_path,
        local=[
            {"match": {"purpose": "test"}, "reply": TEST_ANSWER},
            {"match": {"purpose": "change"}, "reply": "Sure! I fixed it."},
        ],
        premium=[{"match": {"purpose": "change"}, "reply": RIGHT}],
    )
    result = await item_runner.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.DONE
    assert (
        result.attempts[1].verdict is Verdict.UNPARSABLE and "no edits found" in result.attempts[1].feedback
    )
    assert [c.outcome for c in ledger.calls()] == ["ok", "unparsable", "ok"]


async def test_a_test_that_passes_on_the_base_is_not_accepted(tmp_path: Path) -> None:
    passing = TEST_ANSWER.replace("calc.ops.sub(3, 1) == 2", "calc.ops.add(1, 1) == 2")
    item_runner, _, _ = runner(tmp_path, local=[{"match": {"purpose": "test"}, "reply": passing}],
                               premium=[{"match": {"purpose": "test"}, "reply": passing}])  # fmt: skip
    result = await item_runner.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.FAILED
    assert all(a.phase == "test" and a.verdict is Verdict.FAILED for a in result.attempts)
    assert "passes on the base already" in result.attempts[0].feedback


async def test_budget_exhaustion_ends_the_item(tmp_path: Path) -> None:
    item_runner, ledger, _ = runner(
        tmp_path,
        local=[
            {"match": {"purpose": "test"}, "reply": TEST_ANSWER},
            {"match": {"purpose": "change"}, "reply": WRONG},
        ],
        premium=[{"match": {"purpose": "change"}, "reply": RIGHT}],
        budget="per_item_usd = 0.01",
    )
    result = await item_runner.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.BUDGET_EXCEEDED
    assert result.reason.startswith("budget_exceeded")
    assert [c.tier for c in ledger.calls()] == ["local", "local"]  # premium refused before any call


ASK = "I need to see the module first.\nNEED file: calc/ops.py\nNEED symbol: shout\n"


async def test_the_model_may_ask_for_more_context_within_an_attempt(tmp_path: Path) -> None:
    item_runner, ledger, _ = runner(
        tmp_path,
        local=[
            {"match": {"purpose": "test"}, "reply": TEST_ANSWER},
            {"match": {"purpose": "change"}, "reply": WRONG},
        ],
        premium=[
            {"match": {"purpose": "change"}, "times": 1, "reply": ASK},
            # Only a prompt that carries the served code gets the right answer: the follow-up works.
            {
                "match": {"purpose": "change", "prompt_contains": "you asked for (read-only; request 1)"},
                "reply": RIGHT,
            },
        ],
    )
    result = await item_runner.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.DONE, result.reason
    change_calls = [c for c in ledger.calls() if c.purpose == "change" and c.tier == "premium"]
    assert len(change_calls) == 2 and len({c.attempt for c in change_calls}) == 1  # one attempt, two calls
    premium_attempt = next(a for a in result.attempts if a.tier == "premium")
    assert premium_attempt.cost == sum((c.cost for c in change_calls), Decimal(0)) > 0


async def test_context_requests_are_bounded_per_attempt(tmp_path: Path) -> None:
    item_runner, ledger, _ = runner(
        tmp_path,
        local=[
            {"match": {"purpose": "test"}, "reply": TEST_ANSWER},
            {"match": {"purpose": "change"}, "reply": ASK},  # never stops asking
        ],
        premium=[{"match": {"purpose": "change"}, "reply": RIGHT}],
    )
    result = await item_runner.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.DONE
    local_change = [c for c in ledger.calls() if c.purpose == "change" and c.tier == "local"]
    assert len(local_change) == 3  # the first call and two served requests, then it must answer
    asked = result.attempts[1]
    assert asked.verdict is Verdict.UNPARSABLE and "after 2 requests" in asked.feedback
