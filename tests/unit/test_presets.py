"""Each preset's escalation decisions, from frozen contexts: no providers, money or time."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from bot.budget.ledger import TierHistory
from bot.config import Routing
from bot.domain import Purpose, Verdict
from bot.routing.policy import Attempt, EscalationContext, ShipHeld, Stop, Tried
from bot.routing.presets import Adaptive, DivergeConverge, policy_for

TIERS = ("local", "fast", "premium")
F, P, E = Verdict.FAILED, Verdict.PASSED, Verdict.ERROR


def ctx(*tried: tuple[str, Verdict], purpose: Purpose = Purpose.CHANGE, remaining: Decimal | None = None,
        history: dict[str, TierHistory] | None = None) -> EscalationContext:  # fmt: skip
    return EscalationContext(
        purpose=purpose, tiers=TIERS, tried=tuple(Tried(t, v, Decimal("0.1")) for t, v in tried),
        remaining=remaining, history=history or {},
    )  # fmt: skip


def walk(preset: str, verdicts: list[Verdict], **routing: object) -> list[str]:
    """The tiers a preset tries when every attempt gets the next verdict from ``verdicts``."""
    policy = policy_for(Routing(preset=preset, **routing))  # type: ignore[arg-type]
    tried: list[tuple[str, Verdict]] = []
    path: list[str] = []
    for verdict in verdicts:
        decision = policy.decide(ctx(*tried))
        if isinstance(decision, Stop):
            break
        path.append(f"{decision.tier}x{decision.parallel}" if decision.parallel > 1 else decision.tier)
        tried.extend([(decision.tier, verdict)] * decision.parallel)
    return path


@pytest.mark.parametrize(
    ("preset", "expected"),
    [
        ("single-model", ["local"]),
        ("local-first", ["local", "premium"]),
        ("three-tier", ["local", "fast", "premium"]),
        ("planner-executor", ["local", "fast", "premium"]),
        ("diverge-converge", ["localx3", "fast", "premium"]),
        ("adaptive", ["local", "fast", "premium"]),  # no history yet: configured order
    ],
)
def test_each_preset_escalates_on_failure(preset: str, expected: list[str]) -> None:
    assert walk(preset, [F] * 10) == expected


@pytest.mark.parametrize(
    "preset", ["single-model", "local-first", "three-tier", "planner-executor", "adaptive"]
)
def test_every_preset_stops_when_validated(preset: str) -> None:
    policy = policy_for(Routing(preset=preset))
    assert policy.decide(ctx(("local", P))) == Stop("validated")


def test_attempts_per_tier_retries_before_escalating() -> None:
    assert walk("three-tier", [F] * 10, attempts_per_tier=2) == [
        "local",
        "local",
        "fast",
        "fast",
        "premium",
        "premium",
    ]


def test_max_attempts_caps_the_ladder() -> None:
    assert walk("three-tier", [F] * 10, attempts_per_tier=3, max_attempts=4) == ["local"] * 3 + ["fast"]


def test_start_tier_skips_cheaper_tiers() -> None:
    assert walk("three-tier", [F] * 10, start_tier="fast") == ["fast", "premium"]


def test_tier_that_errored_is_not_retried() -> None:
    policy = policy_for(Routing(preset="three-tier", attempts_per_tier=2))
    assert policy.decide(ctx(("local", E))) == Attempt("fast")


def test_planner_executor_plans_on_the_strongest_tier() -> None:
    policy = policy_for(Routing(preset="planner-executor"))
    assert policy.decide(ctx(purpose=Purpose.PLAN)) == Attempt("premium")
    assert policy.decide(ctx(purpose=Purpose.REVIEW)) == Attempt("premium")
    assert policy.decide(ctx(purpose=Purpose.CHANGE)) == Attempt("local")
    assert policy_for(Routing(preset="planner-executor", plan_tier="fast")).decide(
        ctx(purpose=Purpose.PLAN)
    ) == Attempt("fast")


def test_stop_when_budget_is_spent_or_next_tier_too_dear() -> None:
    policy = policy_for(Routing(preset="three-tier"))
    assert policy.decide(ctx(("local", F), remaining=Decimal(0))) == Stop("budget spent")
    dear = {"fast": TierHistory(attempts=4, passes=2, cost=Decimal("2.0"))}
    decision = policy.decide(ctx(("local", F), remaining=Decimal("0.3"), history=dear))
    assert isinstance(decision, Stop) and "tier fast usually costs $0.5000" in decision.reason


def test_adaptive_orders_tiers_by_cost_per_validated_attempt() -> None:
    history = {
        "local": TierHistory(attempts=40, passes=4, cost=Decimal("8.0")),  # $0.20 an attempt, rarely passes
        "fast": TierHistory(attempts=40, passes=24, cost=Decimal("1.2")),  # $0.03, passes 60%
        "premium": TierHistory(attempts=40, passes=30, cost=Decimal("20")),  # $0.50, passes 75%
    }
    # $/pass with the prior: fast 0.03/0.59 < premium 0.50/0.73 < local 0.20/0.14
    assert Adaptive().order(ctx(history=history)) == ("fast", "premium", "local")
    free_local = {**history, "local": TierHistory(attempts=40, passes=4, cost=Decimal(0))}
    assert Adaptive().order(ctx(history=free_local)) == ("local", "fast", "premium")
    assert walk("adaptive", [F] * 3) == ["local", "fast", "premium"]


def test_policies_are_pure() -> None:
    policy = policy_for(Routing(preset="adaptive"))
    c = ctx(("local", F))
    assert policy.decide(c) == policy.decide(c)


def test_diverge_converge_corroborates_a_held_candidate_on_its_own_tier() -> None:
    policy = policy_for(Routing(preset="diverge-converge"))
    held = Tried("fast", F, Decimal("0.1"), held=True)
    nothing = ctx(("local", F), ("local", F), ("local", F))
    # A validated fast candidate held for want of agreement: fast draws again, up to three.
    assert policy.decide(dataclasses.replace(nothing, tried=(*nothing.tried, held))) == Attempt("fast")
    three = (*nothing.tried, held, Tried("fast", F), Tried("fast", F))
    assert policy.decide(dataclasses.replace(nothing, tried=three)) == Attempt("premium")
    # Nothing held: one draw per tier after the first round, as three-tier.
    assert policy.decide(dataclasses.replace(nothing, tried=(*nothing.tried, Tried("fast", F)))) == Attempt(
        "premium"
    )
    # The first round can be two, a third drawn only while one is held.
    two = dataclasses.replace(policy, first_round=2)
    assert two.decide(ctx()) == Attempt("local", parallel=2)
    one_held = (Tried("local", F, held=True), Tried("local", F))
    assert two.decide(dataclasses.replace(nothing, tried=one_held)) == Attempt("local")
    assert two.decide(ctx(("local", F), ("local", F))) == Attempt("fast")


def test_diverge_converge_may_ship_a_lone_held_candidate_instead_of_paying_the_top_tier() -> None:
    policy = policy_for(Routing(preset="diverge-converge"))
    assert isinstance(policy, DivergeConverge)
    lone = dataclasses.replace(policy, top_corroborates=False)
    round_ = (Tried("local", F), Tried("local", F), Tried("local", F))
    held = (*round_, Tried("fast", F, held=True), Tried("fast", F), Tried("fast", F))
    # Fast is spent and only the top tier could corroborate: as shipped, premium is drawn; with
    # top_corroborates off, the lone held candidate ships.
    assert policy.decide(ctx_of(held)) == Attempt("premium")
    decision = lone.decide(ctx_of(held))
    assert isinstance(decision, ShipHeld) and "top tier" in decision.reason
    # Two held disagree: that is evidence one is wrong, and the top tier still settles it.
    two = (*round_, Tried("fast", F, held=True), Tried("fast", F, held=True), Tried("fast", F))
    assert lone.decide(ctx_of(two)) == Attempt("premium")
    # While a cheaper draw is left, it corroborates first.
    assert lone.decide(ctx_of((*round_, Tried("fast", F, held=True)))) == Attempt("fast")
    # One rung at a time: a cheap tier draws once while one is held, then the ladder goes on.
    rung = dataclasses.replace(policy, held_draws=1)
    local_held = (Tried("local", F, held=True), Tried("local", F), Tried("local", F))
    assert rung.decide(ctx_of(local_held)) == Attempt("fast")
    assert rung.decide(ctx_of((*local_held, Tried("fast", F)))) == Attempt("premium")
    assert policy.decide(ctx_of((*local_held, Tried("fast", F)))) == Attempt("fast")


def ctx_of(tried: tuple[Tried, ...]) -> EscalationContext:
    return EscalationContext(purpose=Purpose.CHANGE, tiers=TIERS, tried=tried)
