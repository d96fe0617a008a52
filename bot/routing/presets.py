"""The routing presets, one class each, selected by name in config (``routing.preset``).

- single-model: one tier only (``start_tier`` or the first), retried ``attempts_per_tier`` times.
- local-first: the first (local) tier, then straight to the last (premium) tier on failure.
- three-tier: every tier in config order: local -> fast -> premium.
- planner-executor: plans, reviews and triage on the strongest tier; tests and changes start on the
  cheapest and escalate.
- diverge-converge: several cheap attempts at once on the first tier (its providers take turns),
  keep one that validates; then escalate one attempt per tier.
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
from bot.domain import Purpose
from bot.routing.policy import (
    Attempt,
    Decision,
    EscalationContext,
    EscalationPolicy,
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
    diverge: int = 3
    name: str = "diverge-converge"

    def decide(self, ctx: EscalationContext) -> Decision:
        tiers = self._from_start(ctx.tiers)
        stop = common_stop(ctx, max_attempts=self.max_attempts + self.diverge)
        if stop:
            return stop
        if not ctx.tried:
            return Attempt(tiers[0], parallel=self.diverge)
        # The diverge round counts as one rung of the first tier.
        rest = dataclasses.replace(ctx, tried=tuple(t for t in ctx.tried if t.tier != tiers[0]))
        return next_on_ladder(rest, self._repeat(tiers[1:]))


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
