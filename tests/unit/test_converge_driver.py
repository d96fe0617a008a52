"""diverge-converge through the real driver, router and ledger: a change ships only on agreement;
a validated candidate without it is held and corroborated on its own (cheap) tier before the
next; the top tier's candidate ships alone only when no draw is left."""

from __future__ import annotations

import dataclasses
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


def driver(
    tmp_path: Path, local: list[str], fast: str | list[str], premium: str | list[str], **rule: object
) -> tuple[Driver, Ledger]:
    """Each tier answers its replies in order, once each (a plain string: that reply every time);
    ``rule``: DivergeConverge fields to change (bot/routing/presets.py)."""

    def rules(replies: str | list[str]) -> list[dict[str, object]]:
        return [{"reply": replies}] if isinstance(replies, str) else [{"reply": r, "times": 1} for r in replies]

    text = '[routing]\npreset = "diverge-converge"\n'
    for tier, replies in {"local": local, "fast": fast, "premium": premium}.items():
        (tmp_path / f"{tier}.json").write_text(json.dumps({"rules": rules(replies)}))
        text += (
            f'[tiers.{tier}]\n[[tiers.{tier}.providers]]\ntype = "scripted"\nscript = "{tmp_path}/{tier}.json"\n'
            f'model = "{tier}-m"\nprice = {{ input_per_mtok = 1, output_per_mtok = 1 }}\n'
        )
    config = parse_config(text)
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=tmp_path, env={}, sleep=SleepRecorder())
    policy = dataclasses.replace(policy_for(config.routing), **rule)  # type: ignore[type-var]
    return Driver(router=router, policy=policy, ledger=ledger, guard=guard), ledger


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


async def sure(completion: Completion, scope: CallScope) -> Verdict:
    """A validator that rejects what starts with "bad" (its own tests fail) and passes the rest."""
    return Verdict.FAILED if completion.text.startswith("bad") else Verdict.PASSED


def tiers_called(ledger: Ledger) -> list[str]:
    return [c.tier for c in ledger.calls()]


async def test_agreement_found_on_a_cheap_tier_ships_without_premium(tmp_path: Path) -> None:
    d, ledger = driver(tmp_path, ["wrong-1", "right-a", "wrong-2"], fast=["wrong-3", "right-b"], premium="x")
    outcome = await d.run(Task("r", "i"), make_request=request, validate=fooled, converge=cross_check)
    # The round validated three that did not agree: they are held, and fast draws again while they
    # are, until its second candidate agrees with the round's right one, which ships (the first of
    # equal size), not the first that arrived. Premium is never paid for.
    assert outcome.verdict is Verdict.PASSED and outcome.shipped is not None
    assert outcome.shipped.text == "right-a"
    assert [(t.tier, t.verdict, t.held) for t in outcome.tried] == [
        ("local", Verdict.FAILED, True), ("local", Verdict.FAILED, True), ("local", Verdict.FAILED, True),
        ("fast", Verdict.FAILED, True), ("fast", Verdict.PASSED, False),
    ]  # fmt: skip
    assert tiers_called(ledger) == ["local"] * 3 + ["fast"] * 2


async def test_a_lone_validated_candidate_is_corroborated_on_its_own_tier(tmp_path: Path) -> None:
    # Nothing validates on local; fast's first validates alone and is held; fast's second agrees.
    d, ledger = driver(tmp_path, ["bad-1", "bad-2", "bad-3"], fast=["right-a", "right-b"], premium="x")
    outcome = await d.run(Task("r", "i"), make_request=request, validate=sure, converge=cross_check)
    assert outcome.shipped is not None and outcome.shipped.text == "right-a"
    assert tiers_called(ledger) == ["local"] * 3 + ["fast"] * 2


async def test_a_wrong_lone_candidate_is_not_shipped_when_its_tier_cannot_corroborate_it(
    tmp_path: Path,
) -> None:
    # Fast's first validates (the validator is fooled) and is held; fast's other two fail their own
    # tests, so nothing corroborates it there: premium is drawn, disagrees, and on the ladder's last
    # rung its own validated candidate ships, as three-tier would ship it, not the held wrong one.
    d, ledger = driver(tmp_path, ["bad-1", "bad-2", "bad-3"], fast=["wrong-1", "bad-4", "bad-5"],
                       premium="right-a")  # fmt: skip
    outcome = await d.run(Task("r", "i"), make_request=request, validate=sure, converge=cross_check)
    assert outcome.shipped is not None and outcome.shipped.text == "right-a"
    assert tiers_called(ledger) == ["local"] * 3 + ["fast"] * 3 + ["premium"]


async def test_with_nothing_held_a_failed_tier_escalates_after_one_draw(tmp_path: Path) -> None:
    # Without a validated candidate to corroborate, more draws on fast would be more tries, not
    # evidence: the ladder goes on as three-tier's does.
    d, ledger = driver(tmp_path, ["bad-1", "bad-2", "bad-3"], fast=["bad-4", "right-a"], premium="right-b")
    outcome = await d.run(Task("r", "i"), make_request=request, validate=sure, converge=cross_check)
    assert outcome.shipped is not None and outcome.shipped.text == "right-b"
    assert tiers_called(ledger) == ["local"] * 3 + ["fast", "premium"]


async def test_two_that_agree_in_the_round_ship_without_escalating(tmp_path: Path) -> None:
    d, ledger = driver(tmp_path, ["wrong-1", "right-a", "right-a"], fast="x", premium="x")
    outcome = await d.run(Task("r", "i"), make_request=request, validate=fooled, converge=cross_check)
    assert outcome.shipped is not None and outcome.shipped.text == "right-a"
    assert {c.tier for c in ledger.calls()} == {"local"}


async def test_without_converge_the_first_that_validates_ships(tmp_path: Path) -> None:
    d, _ = driver(tmp_path, ["wrong-1", "right-a", "wrong-2"], fast="x", premium="x")
    outcome = await d.run(Task("r", "i"), make_request=request, validate=fooled)
    assert outcome.shipped is not None and outcome.shipped.text == "wrong-1"


async def test_a_lone_candidate_ships_instead_of_paying_the_top_tier_when_the_rule_says_so(tmp_path: Path) -> None:
    # Local's round: one validates alone (the others fail their own tests); fast's three draws fail,
    # so nothing corroborates it. With top_corroborates off it ships rather than paying premium,
    # recorded as validated; as shipped, premium is drawn.
    replies = (["bad-1", "right-a", "bad-2"], ["bad-3", "bad-4", "bad-5"], "right-b")
    (tmp_path / "lone").mkdir()
    d, ledger = driver(tmp_path / "lone", *replies, top_corroborates=False)
    outcome = await d.run(Task("r", "i"), make_request=request, validate=sure, converge=cross_check)
    assert outcome.verdict is Verdict.PASSED and outcome.shipped is not None
    assert outcome.shipped.text == "right-a" and "top tier" in outcome.reason
    assert tiers_called(ledger) == ["local"] * 3 + ["fast"] * 3
    assert [(t.verdict, t.held) for t in outcome.tried if t.tier == "local"] == [
        (Verdict.FAILED, False), (Verdict.PASSED, False), (Verdict.FAILED, False),
    ]  # fmt: skip
    (tmp_path / "as-shipped").mkdir()
    d, ledger = driver(tmp_path / "as-shipped", *replies)
    outcome = await d.run(Task("r", "i"), make_request=request, validate=sure, converge=cross_check)
    assert tiers_called(ledger)[-1] == "premium"


async def test_disagreement_still_escalates_when_lone_candidates_may_ship(tmp_path: Path) -> None:
    # Two validate in the round and fail each other's tests: not a lone candidate, so no rule ships
    # either; fast's draws fail, premium settles it and the wrong one is never chosen.
    d, ledger = driver(tmp_path, ["wrong-1", "right-a", "bad-1"], ["bad-2", "bad-3", "bad-4"], "right-b",
                       top_corroborates=False)  # fmt: skip
    outcome = await d.run(Task("r", "i"), make_request=request, validate=sure, converge=cross_check)
    assert outcome.shipped is not None and outcome.shipped.text in {"right-a", "right-b"}
    assert tiers_called(ledger)[-1] == "premium"


async def test_the_next_tier_corroborates_a_held_one_in_one_rung(tmp_path: Path) -> None:
    # One rung at a time: local's lone right candidate is held, fast's first agrees: it ships, and
    # neither a second fast draw nor premium is paid for.
    d, ledger = driver(tmp_path, ["bad-1", "right-a", "bad-2"], ["right-b", "x"], "x", held_draws=1)
    outcome = await d.run(Task("r", "i"), make_request=request, validate=sure, converge=cross_check)
    assert outcome.shipped is not None and outcome.shipped.text == "right-a"
    assert tiers_called(ledger) == ["local"] * 3 + ["fast"]
