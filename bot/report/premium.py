"""Which tier the "premium alone" estimate compares with, or why there is none."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from bot.budget.ledger import CallRecord
from bot.budget.pricing import call_cost
from bot.config import Config, GpuPrice
from bot.models.base import Usage
from bot.report.cost import CostSummary, PremiumPrice, summarize


def premium_reference(config: Config) -> tuple[PremiumPrice | None, str, str]:
    """(price of a call at the premium tier, its model, why there is no comparison). The premium
    tier is the last one; a comparison needs it to be distinct from where the run starts."""
    names = config.tier_names
    premium_tier = names[-1]
    premium = config.tiers[premium_tier].providers[0]
    if len(names) < 2:
        return None, premium.model, f"one tier only ({premium_tier}), nothing to compare with"
    start = config.routing.start_tier or names[0]
    if start == premium_tier:
        return None, premium.model, f"the run starts at the premium tier ({premium_tier})"
    first = config.tiers[start].providers[0]
    if first.model == premium.model and type(first) is type(premium):
        return None, premium.model, f"tier {start} serves the same model as {premium_tier}"
    if isinstance(premium.price, GpuPrice):
        return None, premium.model, f"the premium tier ({premium_tier}) is priced by GPU time, not per call"

    def at_premium(usage: Usage) -> Decimal:
        return call_cost(premium, usage, latency_s=0.0)

    return at_premium, premium.model, ""


def cost_summary(
    config: Config, calls: Iterable[CallRecord], *, acceptance: Decimal | None = None
) -> CostSummary:
    price, model, omitted = premium_reference(config)
    return summarize(
        calls,
        premium=price,
        premium_model=model,
        tier_order=config.tier_names,
        acceptance=acceptance,
        omitted=omitted,
    )
