"""Pre-flight: before anything is spent or any worktree made, can every tier the run may use serve?

Per provider: its key variable is set and not empty, its price is known, a script file exists, and
(online) its endpoint answers and serves the configured model. A tier serves when at least one of its
providers passes. A tier that cannot serve stops the run with the fix named — unless the config marks
it ``optional``; then the run goes on without it and the report says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from bot.config import Config, ProviderConfig, ScriptedProvider
from bot.errors import BotError, ConfigIssue, PreflightError, PricingError

# Lists the models an endpoint serves (an adapter's ``models()``), or None when the provider type
# has no such call (the endpoint is then not checked).
ListModels = Callable[[ProviderConfig], Awaitable[list[str]] | None]


@dataclass(frozen=True)
class Problem:
    tier: str
    provider: str
    problem: str
    fix: str

    def render(self) -> str:
        return f"tier {self.tier}: provider {self.provider}: {self.problem} — {self.fix}"


def provider_problems(cfg: ProviderConfig, *, tier: str, env: Mapping[str, str], root: Path) -> list[Problem]:
    """What can be known without the network."""
    from bot.budget.pricing import check_price

    out: list[Problem] = []
    name = cfg.display_name
    if isinstance(cfg, ScriptedProvider):
        script = Path(cfg.script) if Path(cfg.script).is_absolute() else root / cfg.script
        if not script.is_file():
            out.append(Problem(tier, name, f"script {script} not found", "create it or fix `script`"))
        return out
    key_env = cfg.api_key_env
    if key_env and not env.get(key_env, "").strip():
        state = "is empty" if key_env in env else "is not set"
        out.append(Problem(tier, name, f"environment variable {key_env} {state}",
                           f"export {key_env}=<your key> (in a workflow: a repository secret)"))  # fmt: skip
    try:
        check_price(cfg)
    except PricingError as exc:
        out.append(Problem(tier, name, str(exc), "set price_ref, or an explicit price = { ... }"))
    return out


async def endpoint_problems(
    cfg: ProviderConfig, *, tier: str, list_models: ListModels, timeout_s: float
) -> list[Problem]:
    """Does the endpoint answer, and does it serve the model? (no completion, so nothing is spent)"""
    pending = list_models(cfg)
    if pending is None:
        return []
    name = cfg.display_name
    url = getattr(cfg, "base_url", None) or "the default endpoint"
    try:
        async with asyncio.timeout(timeout_s):
            served = await pending
    except TimeoutError:
        return [
            Problem(
                tier, name, f"{url} did not answer within {timeout_s:g}s", "start the server or fix base_url"
            )
        ]
    except BotError as exc:
        return [Problem(tier, name, f"{url}: {exc}", "check base_url, the key and that the server runs")]
    if served and cfg.model not in served:
        listed = ", ".join(served[:8]) + (" ..." if len(served) > 8 else "")
        return [Problem(tier, name, f"{url} does not serve model {cfg.model!r} (it serves: {listed})",
                        "set model to one it serves, or load the model on the server")]  # fmt: skip
    return []


async def check(
    config: Config,
    *,
    env: Mapping[str, str],
    root: Path,
    list_models: ListModels | None = None,
    timeout_s: float = 10.0,
) -> dict[str, list[Problem]]:
    """Tier -> the problems of its providers; only tiers where no provider can serve are listed."""
    failing: dict[str, list[Problem]] = {}
    for tier_name, tier in config.tiers.items():
        problems: list[Problem] = []
        serving = 0
        for cfg in tier.providers:
            found = provider_problems(cfg, tier=tier_name, env=env, root=root)
            if not found and list_models is not None:
                found = await endpoint_problems(
                    cfg, tier=tier_name, list_models=list_models, timeout_s=timeout_s
                )
            problems += found
            serving += not found
        if not serving:
            failing[tier_name] = problems
    return failing


def apply(config: Config, failing: Mapping[str, list[Problem]]) -> tuple[Config, tuple[str, ...]]:
    """The config the run may use, and a remark per skipped tier; raises ``PreflightError`` naming
    every problem when a tier that is not optional cannot serve (or no tier is left)."""
    if not failing:
        return config, ()
    blocking = [t for t in failing if not config.tiers[t].optional]
    kept = {n: t for n, t in config.tiers.items() if n not in failing}
    if blocking or not kept:
        issues = [ConfigIssue("pre-flight", f"tiers.{p.tier}", f"provider {p.provider}: {p.problem}", p.fix)
                  for t in (blocking or list(failing)) for p in failing[t]]  # fmt: skip
        names = ", ".join(blocking or list(failing))
        issues.append(
            ConfigIssue(
                "pre-flight",
                "",
                f"tier {names} cannot serve: nothing was spent or created",
                "fix the above, or mark the tier `optional = true` to run without it",
            )
        )
        raise PreflightError(issues)
    routing = config.routing.model_copy(
        update={
            "start_tier": None if config.routing.start_tier in failing else config.routing.start_tier,
            "plan_tier": None if config.routing.plan_tier in failing else config.routing.plan_tier,
        }
    )
    remarks = tuple(
        f"tier {t} skipped for this run (pre-flight: {'; '.join(p.problem for p in failing[t])})"
        for t in failing
    )
    return config.model_copy(update={"tiers": kept, "routing": routing}), remarks
