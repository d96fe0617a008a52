"""planner-executor on a real sample project: the strong tier plans once, and the plan reaches the
prompts of the cheap executors that write the test and the change."""

from __future__ import annotations

import json
from pathlib import Path

from bot.budget.ledger import Ledger
from bot.config import parse_config
from bot.domain import ItemStatus, Verdict
from bot.execution.item_loop import ItemRunner
from bot.execution.item_plan import parse_plan
from bot.execution.services import build_router
from bot.models.scripted import ScriptedProvider
from bot.routing.presets import policy_for
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees
from tests.conftest import SleepRecorder
from tests.integration.sample import PYTHON_PROJECT, make_repo
from tests.integration.test_item_loop import ITEM, RIGHT, TEST_ANSWER

PLAN = """FILES:
- calc/ops.py
APPROACH:
Add sub(a, b) next to mul, returning a - b (marker PLAN-7f3).
TEST:
tests/test_sub.py asserting calc.ops.sub(3, 1) == 2.
"""


# The executors answer right only prompts that carry the plan; an unscripted call fails loudly.
WITH_PLAN: list[dict[str, object]] = [
    {"match": {"purpose": "test", "prompt_contains": "PLAN-7f3"}, "reply": TEST_ANSWER},
    {"match": {"purpose": "change", "prompt_contains": "PLAN-7f3"}, "reply": RIGHT},
]


def runner(
    tmp_path: Path, premium: list[dict[str, object]], local: list[dict[str, object]] = WITH_PLAN
) -> tuple[ItemRunner, Ledger, dict[str, ScriptedProvider]]:
    # A second call with the same tmp_path is the same run resumed: same repository and ledger.
    repo = tmp_path / "calc"
    if not repo.exists():
        make_repo(repo, PYTHON_PROJECT)
    (tmp_path / "local.json").write_text(json.dumps({"rules": local}))
    (tmp_path / "premium.json").write_text(json.dumps({"rules": premium}))
    config = parse_config(
        '[routing]\npreset = "planner-executor"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp_path}/local.json"\nmodel = "local-m"\n'
        "price = { gpu_usd_per_hour = 0 }\n"
        f'[tiers.premium]\n[[tiers.premium.providers]]\ntype = "scripted"\nscript = "{tmp_path}/premium.json"\n'
        'model = "prem-m"\nprice = { input_per_mtok = 3, output_per_mtok = 15 }\n'
    )  # fmt: skip
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=repo, env={}, sleep=SleepRecorder())
    providers = {tier: router.providers(tier)[0].provider for tier in ("local", "premium")}
    item_runner = ItemRunner(
        router=router, policy=policy_for(config.routing), ledger=ledger, guard=guard, worktrees=Worktrees(repo),
        toolchain=toolchain(repo), settings=Settings(timeout_s=120), run_id="r1", repo="calc",
    )  # fmt: skip
    return item_runner, ledger, {k: v for k, v in providers.items() if isinstance(v, ScriptedProvider)}


async def test_the_plan_reaches_the_executors_prompts(tmp_path: Path) -> None:
    item_runner, ledger, providers = runner(tmp_path, premium=[{"match": {"purpose": "plan"}, "reply": PLAN}])
    result = await item_runner.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.DONE, result.reason
    assert [(a.phase, a.tier, a.verdict) for a in result.attempts] == [
        ("plan", "premium", Verdict.PASSED),
        ("test", "local", Verdict.PASSED),
        ("change", "local", Verdict.PASSED),
    ]
    # The planner saw the item and its code; every executor prompt carried the plan, fenced.
    (plan_request,) = providers["premium"].requests
    assert "Add subtraction" in plan_request.prompt_text and "def mul" in plan_request.prompt_text
    for request in providers["local"].requests:
        assert "Add sub(a, b) next to mul" in request.prompt_text and "<untrusted" in request.prompt_text
        assert "- calc/ops.py" in request.prompt_text
    plan_call = next(c for c in ledger.calls() if c.purpose == "plan")
    assert plan_call.tier == "premium" and plan_call.cost > 0  # the plan is paid for like any call
    assert result.item.cost_usd == plan_call.cost


async def test_without_a_usable_plan_the_item_goes_on_without_one(tmp_path: Path) -> None:
    premium = [
        {"match": {"purpose": "plan"}, "reply": "Just add it."},
        {"match": {"purpose": "test"}, "reply": TEST_ANSWER},
        {"match": {"purpose": "change"}, "reply": RIGHT},
    ]
    lost = [*WITH_PLAN, {"reply": "Without a plan I cannot."}]
    item_runner, _, providers = runner(tmp_path, premium=premium, local=lost)
    result = await item_runner.run(ITEM, base_ref="main")
    # No plan: the local executor's answers are unusable, so the test and the change escalate to
    # premium, and the item still gets done.
    assert result.item.status is ItemStatus.DONE, result.reason
    assert [(a.phase, a.tier, a.verdict) for a in result.attempts] == [
        ("plan", "premium", Verdict.UNPARSABLE),
        ("test", "local", Verdict.UNPARSABLE),
        ("test", "premium", Verdict.PASSED),
        ("change", "local", Verdict.UNPARSABLE),
        ("change", "premium", Verdict.PASSED),
    ]
    assert not any("Approach:" in r.prompt_text for r in providers["local"].requests)


async def test_a_resumed_run_reuses_the_plan_and_pays_for_it_once(tmp_path: Path) -> None:
    # The first run plans, then gets no usable test from anyone, so the item fails after paying
    # for its plan (as a run killed after planning would leave it); nothing is validated.
    premium = [{"match": {"purpose": "plan"}, "reply": PLAN}, {"reply": "No edits from me."}]
    first, ledger, _ = runner(tmp_path, premium=premium, local=[{"reply": "Nor from me."}])
    result = await first.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.FAILED
    assert [c.purpose for c in ledger.calls()].count("plan") == 1
    ledger.close()

    # The same run resumed (same run id, repository and ledger): the planner is given nothing to
    # answer (an unscripted plan call would fail loudly); the executors still get the first plan.
    second, ledger, providers = runner(tmp_path, premium=[], local=WITH_PLAN)
    result = await second.run(ITEM, base_ref="main")
    assert result.item.status is ItemStatus.DONE, result.reason
    assert [a.phase for a in result.attempts] == ["test", "change"]  # no plan attempt, no plan cost
    assert not providers["premium"].requests
    assert all("Add sub(a, b) next to mul" in r.prompt_text for r in providers["local"].requests)
    assert [c.purpose for c in ledger.calls()].count("plan") == 1  # paid for once, over both runs


def test_parse_plan_needs_all_three_parts() -> None:
    plan = parse_plan(PLAN)
    assert plan is not None and plan.files == ("calc/ops.py",) and "sub(3, 1)" in plan.test
    assert parse_plan("FILES:\n- a.py\nAPPROACH:\nx\n") is None
    assert parse_plan("files: a.py\napproach: do x\ntest: check y") == parse_plan(
        "FILES:\n- a.py\nAPPROACH:\ndo x\nTEST:\ncheck y"
    )
