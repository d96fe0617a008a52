"""The routing presets, one class each, selected by name in config (``routing.preset``).

- single-model: one tier only (``start_tier`` or the first), retried ``attempts_per_tier`` times.
- local-first: the first (local) tier, then straight to the last (premium) tier on failure.
- three-tier: every tier in config order: local -> fast -> premium.
- planner-executor: plans, reviews and triage on the strongest tier; tests and changes start on the
  cheapest and escalate.
- diverge-converge: candidates are drawn until two agree (each passes the other's new tests), up
  to ``diverge_attempts`` on each tier below the top (the first two at once), then one on the top
  tier; a validated candidate without agreement is held back for a later one to corroborate.
  (``held_draws`` and ``top_corroborates`` change that; bench/replay.py measures each rule.)
- adaptive: orders tiers by what the ledger says each costs per validated attempt in this
  repository and task kind (cost / pass rate, the optimal order for a cascade of independent
  tries); with no history it behaves like three-tier.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from decimal import Decimal
from typing import assert_never

from bot.config import Preset, Routing
from bot.domain import Purpose, Verdict
from bot.routing.policy import (
    Attempt,
    Decision,
    EscalationContext,
    EscalationPolicy,
    ShipHeld,
    Stop,
    common_stop,
    next_on_ladder,
)

_STRONG_PURPOSES = (Purpose.PLAN, Purpose.REVIEW, Purpose.TRIAGE)


@dataclass(frozen=True)
class _Base:
    attempts_per_tier: int = 1
    max_attempts: int = 6
    start_tier: str | None = None

    def _from_start(self, tiers: tuple[str, ...]) -> tuple[str, ...]:
        if self.start_tier and self.start_tier in tiers:
            return tiers[tiers.index(self.start_tier) :]
        return tiers

    def _repeat(self, tiers: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(t for t in tiers for _ in range(self.attempts_per_tier))


@dataclass(frozen=True)
class SingleModel(_Base):
    name: str = "single-model"

    def decide(self, ctx: EscalationContext) -> Decision:
        tier = self._from_start(ctx.tiers)[0]
        return common_stop(ctx, max_attempts=self.max_attempts) or next_on_ladder(ctx, self._repeat((tier,)))


@dataclass(frozen=True)
class LocalFirst(_Base):
    name: str = "local-first"

    def decide(self, ctx: EscalationContext) -> Decision:
        tiers = self._from_start(ctx.tiers)
        ladder = (tiers[0], tiers[-1]) if len(tiers) > 1 else tiers
        return common_stop(ctx, max_attempts=self.max_attempts) or next_on_ladder(ctx, self._repeat(ladder))


@dataclass(frozen=True)
class ThreeTier(_Base):
    name: str = "three-tier"

    def decide(self, ctx: EscalationContext) -> Decision:
        ladder = self._repeat(self._from_start(ctx.tiers))
        return common_stop(ctx, max_attempts=self.max_attempts) or next_on_ladder(ctx, ladder)


@dataclass(frozen=True)
class PlannerExecutor(_Base):
    plan_tier: str | None = None
    name: str = "planner-executor"

    def decide(self, ctx: EscalationContext) -> Decision:
        if ctx.purpose in _STRONG_PURPOSES:
            tier = self.plan_tier if self.plan_tier in ctx.tiers else ctx.tiers[-1]
            ladder: tuple[str, ...] = (tier,)
        else:
            ladder = self._from_start(ctx.tiers)
        return common_stop(ctx, max_attempts=self.max_attempts) or next_on_ladder(ctx, self._repeat(ladder))


@dataclass(frozen=True)
class DivergeConverge(_Base):
    """Candidates until two agree (bot/execution/converge.py), corroborated on the cheap tiers.

    The first tier draws ``first_round`` candidates at once (all ``diverge`` by default: on the
    replay, with the first tier free, that is cheaper and surer than drawing two and a third only
    when they disagree; bench/replay.py prints both). A validated candidate ships only when
    another agrees with it; until then the driver holds it back (``Tried.held``) and a second
    candidate is cheapest where the first came from, so while one is held the same tier draws
    again, up to ``diverge`` candidates, one at a time (drawing stops as soon as two agree) before
    the next tier is tried. With nothing held a failed tier escalates as three-tier does: more
    draws there would be more tries, not corroboration. The top tier draws ``attempts_per_tier``;
    what it validates last ships even alone (the driver's last rung), as any preset would ship it.

    Cheaper rules, measured by bench/replay.py ("rules tried") and kept off by default because on
    the replay each ships wrong changes more often than three-tier or costs more than the default:
    ``held_draws`` 1 (one rung at a time), and ``top_corroborates`` off (a lone held candidate ships
    with ``ShipHeld`` when only the top tier could corroborate it)."""

    diverge: int = 3
    first_round: int | None = None
    # Draws a cheap tier makes in all while a candidate is held (None: ``diverge``); 1 is one rung
    # at a time: the next tier's first candidate corroborates, or the ladder goes on.
    held_draws: int | None = None
    # Whether a lone held candidate waits for the top tier (its candidate corroborates or replaces
    # it) or ships instead when the top tier is all that is left: it validated and no validated
    # candidate contradicts it, which is all any other preset asks.
    top_corroborates: bool = True
    name: str = "diverge-converge"

    def decide(self, ctx: EscalationContext) -> Decision:
        tiers = self._from_start(ctx.tiers)
        stop = common_stop(ctx, max_attempts=self.max_attempts + self.diverge)
        if stop:
            return stop
        if not ctx.tried:
            return Attempt(tiers[0], parallel=min(self.first_round or self.diverge, self.diverge))
        current = ctx.tried[-1].tier
        dead = {t.tier for t in ctx.tried if t.verdict is Verdict.ERROR}
        drawn = sum(1 for t in ctx.tried if t.tier == current)
        cheap = current in tiers[:-1]
        held = sum(1 for t in ctx.tried if t.held)
        limit = self.diverge if self.held_draws is None else self.held_draws
        if cheap and current not in dead and drawn < limit and held:
            return Attempt(current)
        # Up the ladder from the current tier: the next one, then the top's own retries, under
        # next_on_ladder's budget and dead-tier rules.
        above = tiers[tiers.index(current) + 1 :] if current in tiers else tiers
        ladder = (*above[:-1], *self._repeat(above[-1:])) if above else self._repeat(tiers[-1:])
        rest = dataclasses.replace(ctx, tried=tuple(t for t in ctx.tried if t.tier in ladder))
        decision = next_on_ladder(rest, ladder)
        top = isinstance(decision, Attempt) and decision.tier == tiers[-1]
        if top and held == 1 and not self.top_corroborates and len(tiers) > 1:
            return ShipHeld("validated, uncontradicted; corroborating it would take the top tier")
        return decision


@dataclass(frozen=True)
class Adaptive(_Base):
    # Attempts of a tier (in this repo and kind) before its own record outweighs the prior.
    prior_weight: int = 4
    prior_pass_rate: Decimal = Decimal("0.5")
    name: str = "adaptive"

    def order(self, ctx: EscalationContext) -> tuple[str, ...]:
        tiers = self._from_start(ctx.tiers)
        if not all(t in ctx.history and ctx.history[t].attempts for t in tiers):
            return tiers  # not enough evidence to reorder: keep the configured cheapest-first order

        def cost_per_pass(tier: str) -> Decimal:
            h = ctx.history[tier]
            rate = (h.passes + self.prior_pass_rate * self.prior_weight) / (h.attempts + self.prior_weight)
            return h.avg_cost / rate

        position = {t: i for i, t in enumerate(tiers)}
        return tuple(sorted(tiers, key=lambda t: (cost_per_pass(t), position[t])))

    def decide(self, ctx: EscalationContext) -> Decision:
        stop = common_stop(ctx, max_attempts=self.max_attempts)
        if stop:
            return stop
        return next_on_ladder(ctx, self._repeat(self.order(ctx)))


def policy_for(routing: Routing, *, preset: Preset | None = None) -> EscalationPolicy:
    name = preset or routing.preset
    a, m, s = routing.attempts_per_tier, routing.max_attempts, routing.start_tier
    if name == "single-model":
        return SingleModel(attempts_per_tier=a, max_attempts=m, start_tier=s)
    if name == "local-first":
        return LocalFirst(attempts_per_tier=a, max_attempts=m, start_tier=s)
    if name == "three-tier":
        return ThreeTier(attempts_per_tier=a, max_attempts=m, start_tier=s)
    if name == "planner-executor":
        return PlannerExecutor(attempts_per_tier=a, max_attempts=m, start_tier=s, plan_tier=routing.plan_tier)
    if name == "diverge-converge":
        return DivergeConverge(
            attempts_per_tier=a, max_attempts=m, start_tier=s, diverge=routing.diverge_attempts
        )
    if name == "adaptive":
        return Adaptive(attempts_per_tier=a, max_attempts=m, start_tier=s)
    assert_never(name)


__all__ = ["Attempt", "Decision", "Stop", "policy_for"]
