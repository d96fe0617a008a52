"""``milestone-bot config init``: a minimal, commented config for one provider, chosen by flags.
The text is parsed before it is written, so what ``init`` writes always passes ``config check``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bot.config import Config, parse_config

Kind = Literal["groq", "anthropic", "openai_compat"]


@dataclass(frozen=True)
class Defaults:
    model: str
    api_key_env: str
    base_url: str
    price: str  # a TOML line, or ""


DEFAULTS: dict[str, Defaults] = {
    "groq": Defaults("llama-3.3-70b-versatile", "GROQ_API_KEY", "",
                     "price = { input_per_mtok = 0.59, output_per_mtok = 0.79 }  # Groq's list price"),
    "anthropic": Defaults("claude-sonnet-4-6", "ANTHROPIC_API_KEY", "", ""),
    "openai_compat": Defaults("Qwen/Qwen2.5-Coder-7B-Instruct", "", "http://localhost:8000/v1",
                              "price = { gpu_usd_per_hour = 0 }  # self-hosted: set your GPU's hourly cost"),
}  # fmt: skip


def render_config(
    kind: Kind, *, model: str | None = None, base_url: str | None = None, api_key_env: str | None = None
) -> tuple[str, Config]:
    d = DEFAULTS[kind]
    model = model or d.model
    key_env = d.api_key_env if api_key_env is None else api_key_env
    url = base_url or d.base_url
    # A price from the defaults belongs to the default model only; another model is priced from
    # the catalog (config check says so when the catalog does not know it).
    price = d.price if model == d.model else ""
    lines = [
        "# milestone-bot configuration (written by `milestone-bot config init`).",
        "# Check it with `milestone-bot config check` (add --online to ask the endpoint too).",
        "",
        "[routing]",
        '# One tier to start with. Add [tiers.fast] / [tiers.premium] and use preset = "three-tier"',
        "# to try cheap models first and escalate only when validation rejects their change.",
        'preset = "single-model"',
        "",
        "[tiers.main]",
        "[[tiers.main.providers]]",
        f'type = "{kind}"',
        f'model = "{model}"',
    ]
    if url:
        lines.append(f'base_url = "{url}"')
    if key_env:
        lines += ["# The NAME of the environment variable that holds the key; never the key itself.",
                  f'api_key_env = "{key_env}"']  # fmt: skip
    if price:
        lines.append(price)
    lines += [
        "",
        "[budget]",
        "# USD. A missing limit is unlimited; 0 means nothing may be spent.",
        "per_run_usd = 2",
        "",
    ]
    text = "\n".join(lines)
    return text, parse_config(text, file="config init")
