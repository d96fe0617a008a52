"""Composition root: the only place that builds concrete providers, the ledger and the router."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import Ledger
from bot.config import AnthropicProvider as AnthropicConfig
from bot.config import Config, ProviderConfig
from bot.config import OpenAICompatProvider as OpenAIConfig
from bot.config import ScriptedProvider as ScriptedConfig
from bot.models.anthropic_api import AnthropicProvider
from bot.models.base import Provider
from bot.models.openai_compat import OpenAICompatProvider
from bot.models.scripted import ScriptedProvider
from bot.routing.breaker import CircuitBreaker
from bot.routing.quota import DAY, QuotaTracker
from bot.routing.router import Router, Sleep, Slot, TierSlots
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.validation.validate import Change, test_files_in, validate
from bot.validation.verdict import ValidationVerdict
from bot.workspace.worktrees import Worktrees

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
    if isinstance(cfg, OpenAIConfig):
        provider: Provider = OpenAICompatProvider(
            name=name, model=cfg.model, base_url=cfg.base_url, api_key=key, timeout_s=cfg.timeout_s
        )
        return provider, missing
    if isinstance(cfg, AnthropicConfig):
        provider = AnthropicProvider(
            name=name, model=cfg.model, base_url=cfg.base_url, api_key=key, timeout_s=cfg.timeout_s
        )
        return provider, missing
    raise AssertionError(f"unhandled provider config {type(cfg).__name__}")  # pragma: no cover


def open_ledger(config: Config, *, root: Path) -> Ledger:
    path = Path(config.ledger.path)
    return Ledger(path if path.is_absolute() else root / path)


def build_router(
    config: Config,
    *,
    ledger: Ledger,
    root: Path,
    env: Mapping[str, str] | None = None,
    sleep: Sleep | None = None,
    clock: Callable[[], float] = time.time,
) -> tuple[Router, BudgetGuard]:
    env = os.environ if env is None else env
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
                    quota=QuotaTracker(cfg.quota, clock=clock, history=history),
                )
            )
        tiers.append(TierSlots(name=tier_name, balance=tier.balance, slots=slots))
    guard = BudgetGuard(ledger, config.budget, clock=clock)
    kwargs = {"sleep": sleep} if sleep is not None else {}
    return Router(tiers, routing=config.routing, guard=guard, ledger=ledger, **kwargs), guard


async def validate_working_tree(
    repo: Path, *, base_ref: str, config: Config | None, run_all: bool = False
) -> ValidationVerdict:
    """Validate the uncommitted and committed changes of ``repo`` against ``base_ref``, as the bot
    would validate an item's worktree (``milestone-bot validate``)."""
    trees = Worktrees(repo)
    base = trees.resolve(base_ref)
    root = trees.repo_path
    changed = trees.changed_files(root, base)
    files: dict[str, tuple[str | None, str | None]] = {}
    for rel in changed:
        path = root / rel
        after = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
        files[rel] = (trees.read_at(base, rel), after)
    new_tests = tuple(r for r in test_files_in(changed) if files[r][0] is None and files[r][1] is not None)
    change = Change(root=root, files=files, new_tests=new_tests, test_files=test_files_in(trees.files(root)))
    validation = config.validation if config else None
    settings = Settings(
        timeout_s=validation.timeout_s if validation else 900.0,
        secrets=tuple(validation.secret_env) if validation else (),
        run_all=run_all,
    )
    base_dir = trees.detached(f"validate-{base[:12]}", base)
    try:
        return await validate(change, toolchain(root, validation), settings=settings, base=base_dir)
    finally:
        trees.remove(base_dir)
