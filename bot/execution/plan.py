"""Planning a milestone or an issue into a checklist through the router (purpose ``plan``)."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

from bot.config import Config
from bot.domain import Checklist
from bot.execution.services import build_router, open_ledger
from bot.planning.planner import IssueText, PlanSource, plan
from bot.routing.presets import policy_for


async def plan_source(
    repo: Path,
    source: PlanSource,
    *,
    config: Config,
    run_id: str,
    env: Mapping[str, str] | None = None,
    budget_usd: Decimal | None = None,
) -> Checklist:
    """Plan a milestone or an issue through the router (purpose ``plan``)."""
    ledger = open_ledger(config, root=repo)
    router, _guard = build_router(config, ledger=ledger, root=repo, env=env)
    try:
        return await plan(
            source,
            router=router,
            policy=policy_for(config.routing),
            ledger=ledger,
            run_id=run_id,
            budget_usd=budget_usd,
        )
    finally:
        ledger.close()


async def plan_issue(
    repo: Path, text: str, *, config: Config, run_id: str, env: Mapping[str, str] | None = None
) -> Checklist:
    """Plan one issue (first line: its title; the rest: its body) through the router."""
    title, _, body = text.strip().partition("\n")
    source = PlanSource(
        ref="issue#local", title=title.strip("# ").strip() or "Issue", issues=(IssueText(0, title, body),)
    )
    return await plan_source(repo, source, config=config, run_id=run_id, env=env)
