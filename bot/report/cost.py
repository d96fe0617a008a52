"""The cost summary (``milestone-bot cost``, and later the PR's cost table): pure functions."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

from bot.budget.ledger import CallRecord
from bot.models.base import Usage

PremiumPrice = Callable[[Usage], Decimal]


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
    premium_only: Decimal | None  # the same calls' tokens at the premium tier's price
    premium_model: str

    @property
    def savings(self) -> Decimal | None:
        return None if self.premium_only is None else self.premium_only - self.total


def summarize(
    calls: Iterable[CallRecord], *, premium: PremiumPrice | None, premium_model: str = ""
) -> CostSummary:
    groups: dict[tuple[str, str], list[CallRecord]] = {}
    premium_total = Decimal(0)
    for call in calls:
        groups.setdefault((call.tier, call.model), []).append(call)
        if premium is not None and call.outcome != "rate_limited":
            premium_total += premium(call.usage)
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
        for (tier, model), group in sorted(groups.items())
    )
    total = sum((r.cost for r in rows), Decimal(0))
    return CostSummary(rows, total, premium_total if premium is not None else None, premium_model)


def _usd(amount: Decimal) -> str:
    # Sub-cent amounts (cheap tiers, short calls) would all read $0.0000 at cent-level precision.
    places = Decimal("0.0001") if abs(amount) >= Decimal("0.01") or amount == 0 else Decimal("0.000001")
    return f"${amount.quantize(places)}"


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
            f"{r.output_tokens:>9} {_usd(r.cost):>11}"
        )
    calls = sum(r.calls for r in summary.rows)
    lines.append(f"{'total':<10} {'':<36} {calls:>5} {'':>6} {'':>9} {'':>9} {_usd(summary.total):>11}")
    if summary.premium_only is not None and summary.savings is not None:
        lines.append(
            f"premium tier alone ({summary.premium_model}) would have cost {_usd(summary.premium_only)}; "
            f"saved {_usd(summary.savings)}"
        )
    return "\n".join(lines)


def render_json(summary: CostSummary) -> str:
    return json.dumps(
        {
            "rows": [{**r.__dict__, "cost": str(r.cost)} for r in summary.rows],
            "total_usd": str(summary.total),
            "premium_only_usd": None if summary.premium_only is None else str(summary.premium_only),
            "premium_model": summary.premium_model,
            "savings_usd": None if summary.savings is None else str(summary.savings),
        },
        indent=2,
    )
