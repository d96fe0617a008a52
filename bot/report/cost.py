"""The cost summary (``milestone-bot cost``, the run report's and the PR's cost table): pure functions.

The "premium tier alone" figure is an estimate from a stated model, never a re-pricing of every
call: failed cheap calls, context requests and retries are the cost of routing, not work a premium
model would have repeated. The model: one premium attempt per item and phase (writing the test,
making the change), each the size of that phase's mean attempt in this run, divided by the premium
tier's measured acceptance rate when one is known. It is left out when there is no distinct premium
tier to compare with, and a saving is only claimed when it is positive.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from bot.budget.ledger import CallRecord
from bot.models.base import Usage
from bot.report.money import decimal_str, usd

PremiumPrice = Callable[[Usage], Decimal]

_WORK = ("test", "change", "plan", "review", "triage")
ESTIMATE_BASIS = "one premium attempt per item and phase, each the size of this run's mean attempt"


@dataclass(frozen=True)
class Row:
    tier: str
    model: str
    calls: int
    failed: int
    input_tokens: int
    output_tokens: int
    cost: Decimal


@dataclass(frozen=True)
class CostSummary:
    rows: tuple[Row, ...]
    total: Decimal
    premium_only: Decimal | None  # the estimate (see the module's docstring); None: not comparable
    premium_model: str
    basis: str = ""  # how premium_only was estimated, in words
    omitted: str = ""  # why there is no estimate, when there is none

    @property
    def savings(self) -> Decimal | None:
        """What routing saved against the estimate; None unless it is a real (positive) saving."""
        if self.premium_only is None or self.premium_only <= self.total:
            return None
        return self.premium_only - self.total


def _estimate(
    calls: Sequence[CallRecord], premium: PremiumPrice, acceptance: Decimal | None
) -> Decimal | None:
    phases: dict[tuple[str, str], list[CallRecord]] = {}
    for call in calls:
        if call.outcome == "rate_limited" or call.purpose not in _WORK:
            continue
        phases.setdefault((call.item_id, call.purpose), []).append(call)
    if not phases:
        return None
    total = Decimal(0)
    for group in phases.values():
        attempts = len({c.attempt for c in group}) or 1
        mean = Usage(
            input_tokens=sum(c.usage.input_tokens for c in group) // attempts,
            output_tokens=sum(c.usage.output_tokens for c in group) // attempts,
        )
        total += premium(mean)
    if acceptance is not None and Decimal(0) < acceptance < 1:
        total /= acceptance
    return total


def summarize(
    calls: Iterable[CallRecord],
    *,
    premium: PremiumPrice | None,
    premium_model: str = "",
    tier_order: Sequence[str] = (),
    acceptance: Decimal | None = None,
    omitted: str = "",
) -> CostSummary:
    """Rows per tier and model (in ``tier_order``, cheap first), the total, and the estimate.
    ``premium`` None means there is nothing to compare with; ``omitted`` says why."""
    listed = list(calls)
    groups: dict[tuple[str, str], list[CallRecord]] = {}
    for call in listed:
        groups.setdefault((call.tier, call.model), []).append(call)
    rank = {name: n for n, name in enumerate(tier_order)}
    order = sorted(groups.items(), key=lambda kv: (rank.get(kv[0][0], len(rank)), kv[0]))
    rows = tuple(
        Row(
            tier=tier,
            model=model,
            calls=len(group),
            failed=sum(1 for c in group if c.outcome != "ok"),
            input_tokens=sum(c.usage.input_tokens for c in group),
            output_tokens=sum(c.usage.output_tokens for c in group),
            cost=sum((c.cost for c in group), Decimal(0)),
        )
        for (tier, model), group in order
    )
    total = sum((r.cost for r in rows), Decimal(0))
    estimate = _estimate(listed, premium, acceptance) if premium is not None else None
    basis = ESTIMATE_BASIS
    if acceptance is not None and Decimal(0) < acceptance < 1:
        basis += f", over the premium tier's measured acceptance rate ({acceptance:.0%})"
    if premium is not None and estimate is None:
        omitted = omitted or "no item work to compare"
    return CostSummary(rows, total, estimate, premium_model, basis if estimate is not None else "", omitted)


def savings_line(summary: CostSummary) -> str:
    """The one sentence about the premium comparison, the same in every report; '' when there is none."""
    if summary.premium_only is None:
        return f"No premium-alone estimate: {summary.omitted}." if summary.omitted else ""
    estimate = (
        f"Estimate, premium tier alone ({summary.premium_model}): about {usd(summary.premium_only)}"
        f" ({summary.basis})"
    )
    if summary.savings is not None:
        return f"{estimate}; this run cost {usd(summary.total)}, about {usd(summary.savings)} less."
    return f"{estimate}; this run cost {usd(summary.total)}: no saving on this run."


def render_text(summary: CostSummary) -> str:
    if not summary.rows:
        return "no model calls recorded"
    header = (
        f"{'tier':<10} {'model':<36} {'calls':>5} {'failed':>6} {'in tok':>9} {'out tok':>9} {'cost':>11}"
    )
    lines = [header, "-" * len(header)]
    for r in summary.rows:
        lines.append(
            f"{r.tier:<10} {r.model[:36]:<36} {r.calls:>5} {r.failed:>6} {r.input_tokens:>9} "
            f"{r.output_tokens:>9} {usd(r.cost):>11}"
        )
    calls = sum(r.calls for r in summary.rows)
    lines.append(f"{'total':<10} {'':<36} {calls:>5} {'':>6} {'':>9} {'':>9} {usd(summary.total):>11}")
    line = savings_line(summary)
    if line:
        lines.append(line)
    return "\n".join(lines)


def to_data(summary: CostSummary) -> dict[str, object]:
    """The summary as JSON-ready data; amounts are decimal strings without exponents."""
    return {
        "rows": [{**r.__dict__, "cost": decimal_str(r.cost)} for r in summary.rows],
        "total_usd": decimal_str(summary.total),
        "premium_only_usd": None if summary.premium_only is None else decimal_str(summary.premium_only),
        "premium_model": summary.premium_model,
        "premium_only_basis": summary.basis,
        "premium_only_omitted": summary.omitted,
        "savings_usd": None if summary.savings is None else decimal_str(summary.savings),
    }


def render_json(summary: CostSummary) -> str:
    return json.dumps(to_data(summary), indent=2)
