"""Turns config validation failures into issues a person can act on: file, key path, problem, fix.

pydantic's raw errors name internal union tags and say "Extra inputs are not permitted"; a user needs
``tiers.local.providers[0].base_url: not a URL: "localhost:8000" — did you mean ...``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ValidationError

from bot import config as cfg
from bot.errors import ConfigIssue, PricingError

# Union tags pydantic puts into error locations; they are not keys the user wrote.
_TAGS = {"openai_compat", "anthropic", "groq", "scripted", "tokens", "gpu", "function-after"}
_SECRET_KEYS = {"api_key", "token", "password", "secret", "key", "auth_token", "github_token"}


def _all_fields(models: Iterable[type[BaseModel]]) -> dict[type[BaseModel], list[str]]:
    return {m: list(m.model_fields) for m in models}


_MODELS: list[type[BaseModel]] = [
    cfg.Config,
    cfg.Tier,
    cfg.Routing,
    cfg.Budget,
    cfg.Concurrency,
    cfg.Validation,
    cfg.Ledger,
    cfg.Quota,
    cfg.TokenPrice,
    cfg.GpuPrice,
    cfg.OpenAICompatProvider,
    cfg.AnthropicProvider,
    cfg.GroqProvider,
    cfg.ScriptedProvider,
    cfg.Cleanup,
]
_FIELDS = _all_fields(_MODELS)


def key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in _TAGS:
            continue
        else:
            out += f".{part}" if out else part
    return out


def _model_at(loc: tuple[int | str, ...]) -> type[BaseModel] | None:
    """The config model whose keys live at ``loc`` (used to suggest the key the user meant)."""
    model: type[BaseModel] | None = cfg.Config
    parts = [p for p in loc if p not in _TAGS]
    i = 0
    while i < len(parts) and model is not None:
        part = parts[i]
        if model is cfg.Config and part == "tiers":
            model, i = cfg.Tier, i + 2  # skip the tier's own name
            continue
        if model is cfg.Tier and part == "providers":
            # Which provider type? Guess from the tag pydantic left in the location.
            tags = [p for p in loc if p in {"openai_compat", "anthropic", "groq", "scripted"}]
            by_tag: dict[str, type[BaseModel]] = {
                "openai_compat": cfg.OpenAICompatProvider,
                "anthropic": cfg.AnthropicProvider,
                "groq": cfg.GroqProvider,
                "scripted": cfg.ScriptedProvider,
            }
            model, i = (by_tag[tags[0]] if tags else cfg.OpenAICompatProvider), i + 2
            continue
        nested: dict[str, type[BaseModel]] = {
            "routing": cfg.Routing,
            "budget": cfg.Budget,
            "concurrency": cfg.Concurrency,
            "validation": cfg.Validation,
            "context": cfg.ContextSettings,
            "ledger": cfg.Ledger,
            "quota": cfg.Quota,
            "cleanup": cfg.Cleanup,
        }
        if part == "price":
            is_gpu = "gpu" in loc
            model, i = (cfg.GpuPrice if is_gpu else cfg.TokenPrice), i + 1
            continue
        model = nested.get(str(part))
        i += 1
    return model


def _suggest(word: str, choices: Iterable[str]) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return match[0] if match else ""


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _issue_for(error: Any, file: str) -> ConfigIssue:
    loc: tuple[int | str, ...] = tuple(error["loc"])
    key = key_path(loc)
    kind: str = error["type"]
    msg: str = error["msg"]
    value = error.get("input")
    if kind == "extra_forbidden":
        leaf = str(loc[-1])
        parent = _model_at(loc[:-1])
        if leaf.lower() in _SECRET_KEYS or (
            leaf.lower().endswith(("_key", "_token", "_secret")) and leaf != "api_key_env"
        ):
            return ConfigIssue(
                file,
                key,
                "secrets are not allowed in the config file",
                'export the secret and name its variable instead, e.g. api_key_env = "GROQ_API_KEY"',
            )
        known = _FIELDS.get(parent, []) if parent else []
        guess = _suggest(leaf, known)
        fix = (
            f'did you mean "{guess}"?' if guess else (f"known keys here: {', '.join(known)}" if known else "")
        )
        return ConfigIssue(file, key, "unknown key", fix)
    if kind == "missing":
        return ConfigIssue(file, key, "required key is missing", f"add {key.rsplit('.', 1)[-1]} = ...")
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        return ConfigIssue(
            file,
            key + ".type" if kind == "union_tag_not_found" else key,
            f"unknown provider type {_show(value.get('type') if isinstance(value, dict) else value)}"
            if kind == "union_tag_invalid"
            else "provider has no type",
            'set type = "openai_compat", "anthropic" or "scripted"',
        )
    if kind == "literal_error":
        expected = error.get("ctx", {}).get("expected", "")
        options = [o.strip().strip("'") for o in expected.replace(" or ", ",").split(",") if o.strip()]
        guess = _suggest(str(value), options)
        return ConfigIssue(
            file,
            key,
            f"{_show(value)} is not allowed",
            (f'did you mean "{guess}"? ' if guess else "") + f"choose one of {expected}",
        )
    if kind == "value_error":
        text = msg.removeprefix("Value error, ")
        problem, _, fix = text.partition(" — ")
        return ConfigIssue(file, key, problem, fix)
    if kind in {"too_short"} and isinstance(value, (list, dict)) and not value:
        return ConfigIssue(file, key, "must not be empty", "add at least one entry")
    return ConfigIssue(file, key, f"{msg.lower()} (got {_show(value)})", _fix_for_type(kind))


def _fix_for_type(kind: str) -> str:
    if kind.startswith(("int_", "float_", "decimal_")):
        return "write a plain number, without quotes"
    if kind in {"greater_than_equal", "greater_than", "less_than_equal", "less_than"}:
        return "use a value in the allowed range"
    if kind in {"string_type"}:
        return 'write text in quotes, e.g. "value"'
    if kind in {"list_type"}:
        return 'write a list, e.g. ["a", "b"]'
    if kind in {"model_type", "dict_type", "model_attributes_type"}:
        return "write a table, e.g. [section] or { key = value }"
    if kind == "string_pattern_mismatch":
        return "remove spaces"
    return ""


def issues_from_validation(exc: ValidationError, *, file: str) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    for error in exc.errors():
        issue = _issue_for(error, file)
        if issue not in issues:
            issues.append(issue)
    return issues


def issues_from_semantics(config: cfg.Config, *, file: str) -> list[ConfigIssue]:
    """Checks that span keys: tier references, provider names, preset needs, and prices."""
    from bot.budget.pricing import check_price

    issues: list[ConfigIssue] = []
    names = config.tier_names
    for key in ("start_tier", "plan_tier"):
        ref = getattr(config.routing, key)
        if ref is not None and ref not in names:
            guess = _suggest(ref, names)
            issues.append(
                ConfigIssue(
                    file,
                    f"routing.{key}",
                    f"unknown tier {ref!r}",
                    (f'did you mean "{guess}"? ' if guess else "") + f"tiers are: {', '.join(names)}",
                )
            )
    minimum = {"local-first": 2, "three-tier": 2}.get(config.routing.preset, 1)
    if len(names) < minimum:
        issues.append(
            ConfigIssue(
                file,
                "routing.preset",
                f"preset {config.routing.preset!r} needs at least {minimum} tiers",
                'add tiers, or use preset = "single-model"',
            )
        )
    seen: dict[str, str] = {}
    for tier_name, tier in config.tiers.items():
        for i, provider in enumerate(tier.providers):
            key = f"tiers.{tier_name}.providers[{i}]"
            if provider.display_name in seen:
                issues.append(
                    ConfigIssue(
                        file,
                        f"{key}.name",
                        f"provider name {provider.display_name!r} is used twice",
                        f"also at {seen[provider.display_name]}; give each provider a distinct name",
                    )
                )
            seen.setdefault(provider.display_name, key)
            try:
                check_price(provider)
            except PricingError as exc:
                issues.append(
                    ConfigIssue(
                        file,
                        f"{key}.model",
                        str(exc),
                        "set price_ref to the catalog's id for this model, or give an explicit "
                        "price = { input_per_mtok = ..., output_per_mtok = ... } "
                        "(or { gpu_usd_per_hour = ... } for a self-hosted model)",
                    )
                )
    return issues
