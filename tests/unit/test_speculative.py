"""Speculative escalation through the real driver, router, guard and ledger, with scripted
providers that take real (short) time: the next tier starts while an attempt is validated; it is
adopted when the attempt fails, cancelled with its spend recorded when the attempt validates, and
no more are started once cancelled ones have cost the cap."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from pathlib import Path

from bot.budget.ledger import Ledger, Scope
from bot.config import parse_config
from bot.domain import CallScope, Verdict
from bot.execution.services import build_router
from bot.models.base import ChatRequest, Completion, Message
from bot.routing.driver import Driver, Task
from bot.routing.presets import policy_for
from bot.routing.speculative import SpeculationBudget, speculation_for
from tests.conftest import SleepRecorder

VALIDATION_S = 0.3  # how long judging an answer takes (a test suite, in miniature)


def setup(
    tmp_path: Path, local_reply: str, *, premium_delay: float, cap: str
) -> tuple[Driver, Ledger, SpeculationBudget]:
    (tmp_path / "local.json").write_text(json.dumps({"rules": [{"reply": local_reply}]}))
    premium = {
        "reply": "right",
        "delay_s": premium_delay,
        "usage": {"input_tokens": 100, "output_tokens": 100},
    }
    (tmp_path / "premium.json").write_text(json.dumps({"rules": [premium]}))
    config = parse_config(
        f'[routing]\npreset = "three-tier"\nspeculative = true\nspeculative_cap_usd = {cap}\n[budget]\nper_run_usd = 5\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp_path}/local.json"\n'
        'model = "l"\nprice = { gpu_usd_per_hour = 0 }\n'
        f'[tiers.premium]\n[[tiers.premium.providers]]\ntype = "scripted"\nscript = "{tmp_path}/premium.json"\n'
        'model = "p"\nprice = { input_per_mtok = 3, output_per_mtok = 15 }\n'
    )  # fmt: skip
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=tmp_path, env={}, sleep=SleepRecorder())
    budget = speculation_for(config.routing)
    assert budget is not None and budget.cap == Decimal(cap)
    driver = Driver(
        router=router, policy=policy_for(config.routing), ledger=ledger, guard=guard, speculation=budget
    )
    return driver, ledger, budget


def request(scope: CallScope) -> ChatRequest:
    return ChatRequest((Message("user", scope.item_id),), scope, 1000)


async def judge(completion: Completion, scope: CallScope) -> Verdict:
    await asyncio.sleep(VALIDATION_S)
    return Verdict.PASSED if completion.text == "right" else Verdict.FAILED


async def test_next_tier_runs_during_validation_and_is_adopted_on_failure(tmp_path: Path) -> None:
    driver, ledger, budget = setup(tmp_path, "wrong", premium_delay=0.2, cap="1")
    outcome = await driver.run(Task("r", "i"), make_request=request, validate=judge)
    assert (
        outcome.verdict is Verdict.PASSED and outcome.shipped is not None and outcome.shipped.text == "right"
    )
    assert [(t.tier, t.verdict) for t in outcome.tried] == [
        ("local", Verdict.FAILED),
        ("premium", Verdict.PASSED),
    ]
    assert (budget.started, budget.adopted, budget.cancelled, budget.lost) == (1, 1, 0, Decimal(0))
    # The adopted attempt is marked with the attempt it raced (whose diagnostics it never saw).
    assert [t.raced for t in outcome.tried] == [None, 0]
    # The premium call had been running through the local attempt's validation.
    assert budget.saved_s >= VALIDATION_S * 0.9
    assert [(c.tier, c.outcome) for c in ledger.calls()] == [("local", "ok"), ("premium", "ok")]


async def test_loser_is_cancelled_in_flight_and_its_spend_counted(tmp_path: Path) -> None:
    driver, ledger, budget = setup(tmp_path, "right", premium_delay=5.0, cap="1")
    outcome = await driver.run(Task("r", "i"), make_request=request, validate=judge)
    assert (
        outcome.verdict is Verdict.PASSED and outcome.shipped is not None and outcome.shipped.text == "right"
    )
    calls = {c.attempt: c for c in ledger.calls()}
    loser = calls[1]
    assert (loser.tier, loser.outcome) == ("premium", "cancelled")
    # Cancelled after the validation, long before its 5 s answer: recorded at its worst case
    # (the prompt's bytes plus max_tokens at the premium price), not dropped.
    assert VALIDATION_S * 0.9 <= loser.latency_s < 4.5  # well before the 5 s answer, even on a loaded machine
    assert loser.cost > Decimal("0.015") and ledger.spent(Scope("r", "i", 1)) == loser.cost
    assert [(t.tier, t.verdict, t.cost) for t in outcome.tried] == [
        ("local", Verdict.PASSED, Decimal(0)),
        ("premium", Verdict.NONE, loser.cost),
    ]
    assert outcome.cost == loser.cost == budget.lost and budget.cancelled == 1
    assert ledger.history(repo="", kind="bugfix")["local"].attempts == 1  # losers are no tier history
    assert "premium" not in ledger.history(repo="", kind="bugfix")


async def test_no_speculation_once_the_losers_cost_the_cap(tmp_path: Path) -> None:
    driver, ledger, budget = setup(tmp_path, "right", premium_delay=5.0, cap="0.01")
    for item in ("a", "b", "c"):
        outcome = await driver.run(Task("r", item), make_request=request, validate=judge)
        assert outcome.verdict is Verdict.PASSED
    # The first loser cost more than the cap: items b and c ran without a speculative attempt.
    assert budget.started == 1 and budget.cancelled == 1 and budget.lost > budget.cap
    assert [c.item_id for c in ledger.calls() if c.tier == "premium"] == ["a"]


def test_speculation_is_off_unless_configured() -> None:
    from bot.config import Routing

    assert speculation_for(Routing()) is None
    assert speculation_for(Routing(speculative=True)) == SpeculationBudget(Decimal("0.50"))
