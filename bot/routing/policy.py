"""Escalation: which tier the next attempt of a task uses, or whether to stop.

Escalation reacts to validation results, unlike fallback (router.py), which reacts to transport
failures. A policy is a pure function of a frozen context, so each preset's decisions are tested
without providers, money or time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from bot.budget.ledger import TierHistory
from bot.domain import Purpose, TaskSize, Verdict


@dataclass(frozen=True)
class Tried:
    tier: str
    verdict: Verdict
    cost: Decimal = Decimal(0)
    reason: str = ""  # a transport error's message (validation feedback is the phase's own)
    # Validated but held back for want of agreement (diverge-converge): seen as failed, so the
    # policy goes on, and as held, so it draws a candidate that may corroborate it.
    held: bool = False
    # Speculative and adopted: the attempt whose validation it started during, whose diagnostics
    # it therefore could not see (bot/routing/speculative.py).
    raced: int | None = None


@dataclass(frozen=True)
class EscalationContext:
    purpose: Purpose
    tiers: tuple[str, ...]  # configured order, cheapest first
    tried: tuple[Tried, ...] = ()  # every attempt so far, oldest first
    size: TaskSize = TaskSize.MEDIUM
    kind: str = ""
    spent: Decimal = Decimal(0)
    remaining: Decimal | None = None  # the least left under any budget limit; None: unlimited
    history: Mapping[str, TierHistory] = field(default_factory=dict)  # this repo and kind, per tier

    @property
    def attempt(self) -> int:
        return len(self.tried)

    @property
    def last_verdict(self) -> Verdict:
        return self.tried[-1].verdict if self.tried else Verdict.NONE

    @property
    def last_cost(self) -> Decimal:
        return self.tried[-1].cost if self.tried else Decimal(0)


@dataclass(frozen=True)
class Attempt:
    tier: str
    parallel: int = 1  # diverge-converge: several attempts at once, keep one that validates


@dataclass(frozen=True)
class Stop:
    reason: str


@dataclass(frozen=True)
class ShipHeld:
    """Draw no more: ship the one validated candidate held back for want of agreement
    (diverge-converge, when corroborating it would cost more than the policy allows). With no
    held candidate, or several that disagree, the driver treats it as ``Stop``."""

    reason: str


Decision = Attempt | Stop | ShipHeld


class EscalationPolicy(Protocol):
    @property
    def name(self) -> str: ...

    def decide(self, ctx: EscalationContext) -> Decision: ...


def common_stop(ctx: EscalationContext, *, max_attempts: int) -> Stop | None:
    """Reasons every preset stops for: done, out of attempts, or out of money."""
    if ctx.last_verdict is Verdict.PASSED:
        return Stop("validated")
    if ctx.attempt >= max_attempts:
        return Stop(f"gave up after {ctx.attempt} attempts")
    if ctx.remaining is not None and ctx.remaining <= 0:
        return Stop("budget spent")
    return None


def next_on_ladder(ctx: EscalationContext, ladder: tuple[str, ...]) -> Decision:
    """Walk ``ladder`` (tier names, repeated for retries) one rung per attempt.

    A tier whose providers all failed (verdict ERROR) is not tried again on this task. The next
    rung is skipped to a cheaper one when history says it costs more than the money left.
    """
    dead = {t.tier for t in ctx.tried if t.verdict is Verdict.ERROR}
    used: dict[str, int] = {}
    for t in ctx.tried:
        used[t.tier] = used.get(t.tier, 0) + 1
    for tier in ladder:
        if tier in dead:
            continue
        if used.get(tier, 0) > 0:
            used[tier] -= 1
            continue
        expected = ctx.history[tier].avg_cost if tier in ctx.history else None
        if ctx.remaining is not None and expected is not None and expected > ctx.remaining:
            return Stop(f"budget: tier {tier} usually costs ${expected:.4f}, ${ctx.remaining:.4f} left")
        return Attempt(tier)
    return Stop("every tier on the ladder was tried")
