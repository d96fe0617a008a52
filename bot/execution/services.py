"""What a run needs built from the config: its providers, router, budget guard and ledger, and
the cost summary against the premium tier. Shared by the CLI, the event handler and the fan-out jobs."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import CallRecord, Ledger
from bot.config import AnthropicProvider as AnthropicConfig
from bot.config import Config, ProviderConfig
from bot.config import GroqProvider as GroqConfig
from bot.config import OpenAICompatProvider as OpenAIConfig
from bot.config import ScriptedProvider as ScriptedConfig
from bot.errors import ConfigError, ConfigIssue
from bot.models.base import Provider
from bot.models.scripted import ScriptedProvider
from bot.report.cost import CostSummary
from bot.routing.breaker import CircuitBreaker
from bot.routing.quota import DAY, QuotaTracker
from bot.routing.router import Router, Sleep, Slot, TierSlots
from bot.workspace.sandbox import SandboxPolicy, policy_from

log = logging.getLogger(__name__)


def build_provider(cfg: ProviderConfig, *, env: Mapping[str, str], root: Path) -> tuple[Provider, str | None]:
    """The provider for ``cfg``, and why it cannot serve (a missing API key), if so."""
    name = cfg.display_name
    if isinstance(cfg, ScriptedConfig):
        script = Path(cfg.script)
        return ScriptedProvider(
            script if script.is_absolute() else root / script, model=cfg.model, name=name
        ), None
    key = env.get(cfg.api_key_env) if cfg.api_key_env else None
    missing = f"environment variable {cfg.api_key_env} is not set" if cfg.api_key_env and not key else None
    # The SDKs are imported only for the providers a config names: `validate` and a scripted run
    # never pay their import time (about a second each).
    if isinstance(cfg, OpenAIConfig):
        from bot.models.openai_compat import OpenAICompatProvider

        provider: Provider = OpenAICompatProvider(
            name=name, model=cfg.model, base_url=cfg.base_url, api_key=key, timeout_s=cfg.timeout_s
        )
        return provider, missing
    if isinstance(cfg, AnthropicConfig):
        from bot.models.anthropic_api import AnthropicProvider

        provider = AnthropicProvider(
            name=name, model=cfg.model, base_url=cfg.base_url, api_key=key, timeout_s=cfg.timeout_s
        )
        return provider, missing
    if isinstance(cfg, GroqConfig):
        from bot.models.groq_api import GroqProvider  # the groq SDK, imported only when used

        provider = GroqProvider(
            name=name, model=cfg.model, base_url=cfg.base_url, api_key=key, timeout_s=cfg.timeout_s
        )
        return provider, missing
    raise AssertionError(f"unhandled provider config {type(cfg).__name__}")  # pragma: no cover


def open_ledger(config: Config, *, root: Path) -> Ledger:
    return Ledger(ledger_path(config, root=root))


def ledger_path(config: Config, *, root: Path) -> Path:
    path = Path(config.ledger.path)
    return path if path.is_absolute() else root / path


def sandbox_for(config: Config | None, *, root: Path) -> SandboxPolicy:
    """The sandbox validation runs in: the config's, with the ledger (and its journal) hidden."""
    if config is None:
        return SandboxPolicy()
    ledger = ledger_path(config, root=root)
    hidden = [ledger, *(ledger.with_name(ledger.name + s) for s in ("-wal", "-shm", "-journal"))]
    return policy_from(config.validation.sandbox, hidden=hidden)


SKIP_TIERS_ENV = "MILESTONE_BOT_SKIP_TIERS"  # e.g. "local": set by workflows when `runner check` fails


def skipped_tiers(config: Config, env: Mapping[str, str]) -> tuple[Config, tuple[str, ...]]:
    """The config without the tiers this run must skip, and a remark for the report about each."""
    names = [n.strip() for n in env.get(SKIP_TIERS_ENV, "").split(",") if n.strip()]
    skip = [n for n in names if n in config.tiers]
    if not skip:
        return config, ()
    kept = {n: t for n, t in config.tiers.items() if n not in skip}
    if not kept:
        raise ConfigError([ConfigIssue("environment", SKIP_TIERS_ENV, f"skips every tier ({', '.join(skip)})",
                                       "leave at least one tier to run on")])  # fmt: skip
    routing = config.routing.model_copy(
        update={
            "start_tier": None if config.routing.start_tier in skip else config.routing.start_tier,
            "plan_tier": None if config.routing.plan_tier in skip else config.routing.plan_tier,
        }
    )
    remarks = tuple(
        f"tier {n} skipped for this run ({SKIP_TIERS_ENV}; e.g. its runner check failed)" for n in skip
    )
    return config.model_copy(update={"tiers": kept, "routing": routing}), remarks


SECRETS_ENV = (
    "MILESTONE_BOT_SECRET"  # the workflow's `toJSON(secrets)` (the caller passes `secrets: inherit`)
)
ALLOW_ENV = "MILESTONE_BOT_KEY_NAMES"  # the allow list of secret names that may reach providers


def provider_env(config: Config, env: Mapping[str, str]) -> Mapping[str, str]:
    """The environment providers read their keys from. In the workflow, every secret of the caller
    arrives as one JSON value; only those the config names as some provider's ``api_key_env`` and
    the workflow's allow list also names are taken out of it. Validation never sees any of them
    (``scrub_env`` drops ``*_SECRET`` and ``*_API_KEY``)."""
    raw = env.get(SECRETS_ENV)
    if not raw:
        return env
    try:
        secrets = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(
            [ConfigIssue("environment", SECRETS_ENV, "is not JSON", "pass ${{ toJSON(secrets) }}")]
        ) from exc
    allowed = set(env.get(ALLOW_ENV, "").replace(",", " ").split())
    named = {
        key
        for tier in config.tiers.values()
        for cfg in tier.providers
        if (key := getattr(cfg, "api_key_env", None))
    }
    picked = {
        name: value
        for name, value in (secrets.items() if isinstance(secrets, dict) else ())
        if name in allowed and name in named and isinstance(value, str) and value
    }
    return {**{k: v for k, v in env.items() if k != SECRETS_ENV}, **picked}


def build_router(
    config: Config,
    *,
    ledger: Ledger,
    root: Path,
    env: Mapping[str, str] | None = None,
    sleep: Sleep | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[Router, BudgetGuard]:
    env = provider_env(config, os.environ if env is None else env)
    config, _ = skipped_tiers(config, env)
    tiers: list[TierSlots] = []
    for tier_name, tier in config.tiers.items():
        slots: list[Slot] = []
        for cfg in tier.providers:
            provider, disabled = build_provider(cfg, env=env, root=root)
            if disabled:
                log.warning("tier %s: provider %s cannot serve: %s", tier_name, cfg.display_name, disabled)
            history = ledger.provider_usage(cfg.display_name, since=clock() - DAY) if cfg.quota else []
            slots.append(
                Slot(
                    config=cfg,
                    provider=provider,
                    disabled=disabled,
                    breaker=CircuitBreaker(
                        failures=config.routing.breaker_failures, cooldown_s=config.routing.breaker_cooldown_s
                    ),
                    # A provider that reads rate-limit headers (groq) tells the tracker the truth.
                    quota=QuotaTracker(
                        cfg.quota, clock=clock, history=history, server=getattr(provider, "rate_limits", None)
                    ),
                )
            )
        tiers.append(TierSlots(name=tier_name, balance=tier.balance, slots=slots))
    guard = BudgetGuard(ledger, config.budget, clock=clock)
    kwargs = {"sleep": sleep} if sleep is not None else {}
    return Router(tiers, routing=config.routing, guard=guard, ledger=ledger, **kwargs), guard


def cost_summary(config: Config, calls: Iterable[CallRecord]) -> CostSummary:
    """The cost table and the honest premium-alone estimate (bot/report/premium.py)."""
    from bot.report.premium import cost_summary as premium_cost_summary

    return premium_cost_summary(config, calls)


def model_lister(env: Mapping[str, str], *, root: Path) -> Callable[[ProviderConfig], Any]:
    """For pre-flight's online part: each provider's ``models()`` (free: no completion is asked
    for), or None for a provider without one (scripted)."""

    def list_models(cfg: ProviderConfig) -> Any:
        provider, _ = build_provider(cfg, env=env, root=root)
        lister = getattr(provider, "models", None)
        if lister is None:
            return None

        async def served() -> list[str]:
            try:
                return list(await lister())
            finally:
                close = getattr(provider, "aclose", None)
                if close is not None:
                    await close()

        return served()

    return list_models
