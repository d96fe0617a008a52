"""diverge-converge through the real driver, router and ledger: a round ships only on agreement;
candidates that validated without it are kept and a later tier's candidate must agree with one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from bot.budget.ledger import Ledger
from bot.config import parse_config
from bot.domain import CallScope, Verdict
from bot.execution.converge import Candidate, CrossCheck, decide
from bot.execution.services import build_router
from bot.models.base import ChatRequest, Completion, Message
from bot.routing.driver import Driver, Task
from bot.routing.presets import policy_for
from tests.conftest import SleepRecorder


def driver(tmp_path: Path, local: list[str], fast: str, premium: str) -> tuple[Driver, Ledger]:
    rules = {
        "local": [{"reply": r, "times": 1} for r in local],
        "fast": [{"reply": fast}],
        "premium": [{"reply": premium}],
    }
    text = '[routing]\npreset = "diverge-converge"\n'
    for tier, tier_rules in rules.items():
        (tmp_path / f"{tier}.json").write_text(json.dumps({"rules": tier_rules}))
        text += (
            f'[tiers.{tier}]\n[[tiers.{tier}.providers]]\ntype = "scripted"\nscript = "{tmp_path}/{tier}.json"\n'
            f'model = "{tier}-m"\nprice = {{ input_per_mtok = 1, output_per_mtok = 1 }}\n'
        )
    config = parse_config(text)
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=tmp_path, env={}, sleep=SleepRecorder())
    return Driver(router=router, policy=policy_for(config.routing), ledger=ledger, guard=guard), ledger


def request(scope: CallScope) -> ChatRequest:
    return ChatRequest((Message("user", scope.item_id),), scope, 100)


async def fooled(completion: Completion, scope: CallScope) -> Verdict:
    return Verdict.PASSED  # the validator lets every answer through: only the cross-check can tell


async def cross_check(candidates: Sequence[tuple[CallScope, Completion]]) -> int | None:
    """Stands in for running each one's tests on the others' code: right answers pass each
    other's tests; a wrong answer passes only tests written with the same mistake."""
    texts = [c.text for _, c in candidates]
    names = [str(i) for i in range(len(texts))]
    checks = [
        CrossCheck(names[i], names[j], texts[i] == texts[j] or (texts[i].startswith("right") and texts[j].startswith("right")))
        for i in range(len(texts)) for j in range(len(texts)) if i != j
    ]  # fmt: skip
    choice = decide([Candidate(n, {}, ()) for n in names], checks)
    return None if choice.chosen is None else names.index(choice.chosen)


async def test_a_lone_right_candidate_waits_for_a_later_one_to_agree(tmp_path: Path) -> None:
    d, ledger = driver(tmp_path, ["wrong-1", "right-a", "wrong-2"], fast="wrong-3", premium="right-b")
    outcome = await d.run(Task("r", "i"), make_request=request, validate=fooled, converge=cross_check)
    # The round validated three that did not agree; fast's disagreed too; premium's agrees with
    # the round's right one, which ships (the first of equal size), not the first that arrived.
    assert outcome.verdict is Verdict.PASSED and outcome.shipped is not None
    assert outcome.shipped.text == "right-a"
    assert [(t.tier, t.verdict) for t in outcome.tried] == [
        ("local", Verdict.FAILED), ("local", Verdict.FAILED), ("local", Verdict.FAILED),
        ("fast", Verdict.FAILED), ("premium", Verdict.PASSED),
    ]  # fmt: skip
    assert len(ledger.calls()) == 5


async def test_no_agreement_by_the_end_of_the_ladder_ships_nothing(tmp_path: Path) -> None:
    d, _ = driver(tmp_path, ["wrong-1", "right-a", "wrong-2"], fast="wrong-3", premium="wrong-4")
    outcome = await d.run(Task("r", "i"), make_request=request, validate=fooled, converge=cross_check)
    assert outcome.shipped is None and "5 validated without agreement, none shipped" in outcome.reason


async def test_two_that_agree_in_the_round_ship_without_escalating(tmp_path: Path) -> None:
    d, ledger = driver(tmp_path, ["wrong-1", "right-a", "right-a"], fast="x", premium="x")
    outcome = await d.run(Task("r", "i"), make_request=request, validate=fooled, converge=cross_check)
    assert outcome.shipped is not None and outcome.shipped.text == "right-a"
    assert {c.tier for c in ledger.calls()} == {"local"}


async def test_without_converge_the_first_that_validates_ships(tmp_path: Path) -> None:
    d, _ = driver(tmp_path, ["wrong-1", "right-a", "wrong-2"], fast="x", premium="x")
    outcome = await d.run(Task("r", "i"), make_request=request, validate=fooled)
    assert outcome.shipped is not None and outcome.shipped.text == "wrong-1"
