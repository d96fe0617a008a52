"""The config schema (``.github/milestone-bot.toml``) and loading it with clear errors.

Validated once at the edge, then frozen: the rest of the bot reads typed, immutable values. Every
model forbids unknown keys, so a typo is an error with a suggestion instead of a silently ignored
setting. Secrets never live in the file: providers name the environment variable holding the key.
"""

from __future__ import annotations

import re
import tomllib
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator

from bot.errors import ConfigError, ConfigIssue

DEFAULT_CONFIG_PATH = Path(".github/milestone-bot.toml")

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TIER_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:\[bot\])?$")
# Prefixes of real API keys; seeing one in the file means a secret was pasted where a name belongs.
_KEY_PREFIXES = ("sk-", "gsk_", "sk-ant-", "ghp_", "github_pat_", "xai-", "AIza")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Usd = Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=9)]


class TokenPrice(_Strict):
    """An explicit price per million tokens, overriding the price catalog."""

    input_per_mtok: Usd
    output_per_mtok: Usd
    cache_read_per_mtok: Usd | None = None
    cache_write_per_mtok: Usd | None = None


class GpuPrice(_Strict):
    """A self-hosted model: its calls cost the GPU's hourly price over the time they took."""

    gpu_usd_per_hour: Usd


def _price_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "gpu" if "gpu_usd_per_hour" in value else "tokens"
    return "gpu" if isinstance(value, GpuPrice) else "tokens"


Price = Annotated[
    Annotated[TokenPrice, Tag("tokens")] | Annotated[GpuPrice, Tag("gpu")], Discriminator(_price_kind)
]


class Quota(_Strict):
    """Free-tier limits of a provider (for example Groq's per-day request and token caps)."""

    requests_per_minute: int | None = Field(default=None, ge=1)
    requests_per_day: int | None = Field(default=None, ge=1)
    tokens_per_minute: int | None = Field(default=None, ge=1)
    tokens_per_day: int | None = Field(default=None, ge=1)


class _ProviderBase(_Strict):
    name: str = ""
    model: str = Field(min_length=1)
    timeout_s: float = Field(default=120.0, gt=0, le=3600)
    price: Price | None = None
    # The model id to look up in the price catalog when it differs from the served name
    # (vLLM serves "Qwen/Qwen2.5-Coder-32B-Instruct"; the catalog may know it by another id).
    price_ref: str | None = None
    price_provider: str | None = None
    quota: Quota | None = None

    @property
    def display_name(self) -> str:
        return self.name or f"{self.type}:{self.model}"  # type: ignore[attr-defined]


def _check_env_name(value: str | None) -> str | None:
    if value is None:
        return value
    if value.startswith(_KEY_PREFIXES) or len(value) > 60:
        raise ValueError(
            "looks like an API key, not the name of an environment variable — never put secrets in "
            'the config file; export the key and write its name, e.g. api_key_env = "GROQ_API_KEY"'
        )
    if not _ENV_NAME.match(value):
        raise ValueError(f"not an environment variable name: {value!r} — use letters, digits and _")
    return value


def _check_url(value: str) -> str:
    if re.match(r"^https?://[^/\s:]+(:\d+)?(/\S*)?$", value):
        return value.rstrip("/")
    guess = value if "://" in value else f"http://{value}"
    guess = re.sub(
        r"^[a-z]+://", "http://" if "localhost" in value or "127.0.0.1" in value else "https://", guess
    )
    if not re.search(r"/v\d+$", guess.rstrip("/")):
        guess = guess.rstrip("/") + "/v1"
    raise ValueError(f'not a URL: "{value}" — did you mean "{guess}"?')


class OpenAICompatProvider(_ProviderBase):
    """Any OpenAI-compatible chat-completions endpoint: vLLM, Groq, OpenRouter, DeepSeek, Ollama..."""

    type: Literal["openai_compat"]
    base_url: str
    api_key_env: str | None = None

    _url = field_validator("base_url")(_check_url)
    _env = field_validator("api_key_env")(_check_env_name)


class AnthropicProvider(_ProviderBase):
    type: Literal["anthropic"]
    base_url: str | None = None
    api_key_env: str | None = "ANTHROPIC_API_KEY"

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    _env = field_validator("api_key_env")(_check_env_name)


class GroqProvider(_ProviderBase):
    """Groq through its own SDK, which reads the rate-limit headers so free-tier quotas are the
    server's real numbers, not guesses (bot/models/groq_api.py)."""

    type: Literal["groq"]
    base_url: str | None = None  # default: the SDK's (https://api.groq.com)
    api_key_env: str | None = "GROQ_API_KEY"

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        return None if value is None else _check_url(value)

    _env = field_validator("api_key_env")(_check_env_name)


class ScriptedProvider(_ProviderBase):
    """Answers from a script file (docs/scripted-provider.md); used by tests and the demo."""

    type: Literal["scripted"]
    script: str = Field(min_length=1)


ProviderConfig = Annotated[
    OpenAICompatProvider | AnthropicProvider | GroqProvider | ScriptedProvider, Field(discriminator="type")
]


class Tier(_Strict):
    providers: list[ProviderConfig] = Field(min_length=1)
    # ordered: the first healthy provider serves, the others are fallbacks; round_robin and
    # least_busy spread calls over providers that serve the same model.
    balance: Literal["ordered", "round_robin", "least_busy"] = "ordered"
    context_bytes: int = Field(default=20_000, ge=1_000)
    # When pre-flight finds this tier cannot serve (key unset, endpoint down), run without it and
    # say so in the report, instead of stopping the run.
    optional: bool = False


Preset = Literal[
    "single-model", "local-first", "three-tier", "planner-executor", "diverge-converge", "adaptive"
]


class Routing(_Strict):
    preset: Preset = "three-tier"
    attempts_per_tier: int = Field(default=1, ge=1, le=10)
    max_attempts: int = Field(default=6, ge=1, le=50)
    diverge_attempts: int = Field(default=3, ge=2, le=16)
    start_tier: str | None = None
    plan_tier: str | None = None
    # Speculative escalation (bot/routing/speculative.py): start the next tier's attempt while one
    # is validated; cancelled attempts may cost at most speculative_cap_usd per run.
    speculative: bool = False
    speculative_cap_usd: Usd = Decimal("0.50")
    # Transport: retries on transient errors within a provider, then fallback to the next one.
    retries: int = Field(default=2, ge=0, le=10)
    backoff_initial_s: float = Field(default=1.0, ge=0)
    backoff_max_s: float = Field(default=20.0, ge=0)
    retry_after_cap_s: float = Field(default=30.0, ge=0)
    breaker_failures: int = Field(default=3, ge=1)
    breaker_cooldown_s: float = Field(default=120.0, ge=0)


class Budget(_Strict):
    """USD limits. A missing limit is unlimited; 0 means nothing may be spent."""

    per_attempt_usd: Usd | None = None
    per_item_usd: Usd | None = None
    per_run_usd: Usd | None = Decimal("10")
    per_day_usd: Usd | None = None
    warn_fraction: Decimal = Field(default=Decimal("0.8"), gt=0, le=1)


class Concurrency(_Strict):
    parallel: int = Field(default=4, ge=1, le=64)


class SandboxSettings(_Strict):
    """How repository code is isolated (bot/workspace/sandbox.py). ``required``: no sandbox on the
    host means no validation; ``best-effort``: unsandboxed when the host cannot isolate; ``off``:
    never isolated. The last two are said in every report."""

    isolation: Literal["required", "best-effort", "off"] = "required"
    network: bool = False  # loopback only unless a test suite needs the network
    pass_env: list[str] = Field(default_factory=list)  # more variables (globs) commands may see
    hidden: list[str] = Field(default_factory=list)  # more paths commands may not read
    readable: list[str] = Field(default_factory=list)  # folders shown read-only though hidden
    uid: int = Field(default=65534, ge=1)  # who commands run as when the bot runs as root


class Validation(_Strict):
    """Commands (argv lists, never shell strings) per stage; empty means detect per ecosystem."""

    syntax: list[str] | None = None
    build: list[str] | None = None
    test: list[str] | None = None
    lint: list[str] | None = None
    typecheck: list[str] | None = None
    timeout_s: float = Field(default=900.0, gt=0)
    # More environment variables to scrub from validation runs, beyond tokens and *_API_KEY.
    secret_env: list[str] = Field(default_factory=list)
    # Paths models may not edit (globs; * crosses /). None: the built-in list of CI workflows,
    # lockfiles and secrets-looking files (bot/workspace/paths.py).
    deny_paths: list[str] | None = None
    # The project's own environment (issue 11). ``python``: an interpreter (path or name on PATH);
    # ``venv``: an environment folder (its bin/python). Neither: detected (VIRTUAL_ENV, .venv/,
    # venv/, an interpreter on PATH that imports the project), else the bot's own, said so.
    python: str | None = None
    venv: str | None = None
    env: dict[str, str] = Field(default_factory=dict)  # extra variables for every validation command
    # Run once per environment and project files (argv), e.g. ["pip", "install", "-e", ".[test]"].
    setup: list[str] | None = None
    # Folders (relative to a checkout) put first on the import path; None: src/ when the project has
    # a src layout, else the checkout itself.
    import_roots: list[str] | None = None
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)


class ContextSettings(_Strict):
    """Project guidance for prompts: a folder of Markdown files named by task kind, and files mapped
    to kinds (``kinds = { infra = ["docs/infra.md"] }``)."""

    guidance_dir: str = ".github/milestone-bot/context"
    kinds: dict[str, list[str]] = Field(default_factory=dict)
    budget_bytes: int = Field(default=20_000, ge=1_000)
    # How many times per attempt a model may ask for more code by name before it must answer with
    # edits; each request is one more (budgeted) call.
    requests_per_attempt: int = Field(default=2, ge=0, le=5)


class GitHubSettings(_Strict):
    """How the bot behaves on GitHub events."""

    # Red builds on these branches are triaged and fixed; empty: the default branch and the
    # bot's own PR branches (milestone-bot/...).
    watched_branches: list[str] = Field(default_factory=list)
    update_checklist_on_milestoned: bool = True
    review_pull_requests: bool = True
    review_forks: bool = False  # review summaries of PRs from forks (no code of theirs is run)
    review_budget_usd: Decimal = Field(default=Decimal("0.05"), gt=0)
    review_tier: str = ""  # default: the first tier that is not the local one, else the first
    bot_login: str = "github-actions[bot]"  # whose comments are the bot's own


class Cleanup(_Strict):
    """After a run, the worktrees and branches of older finished runs are removed (``clean``)."""

    keep_runs: int = Field(default=5, ge=0)


class Ledger(_Strict):
    path: str = ".milestone-bot/ledger.sqlite"


class Config(_Strict):
    command_prefix: str = Field(default="/bot", pattern=r"^\S+$")
    allowed_users: list[str] = Field(default_factory=list)
    tiers: dict[str, Tier] = Field(min_length=1)
    routing: Routing = Field(default_factory=Routing)
    budget: Budget = Field(default_factory=Budget)
    concurrency: Concurrency = Field(default_factory=Concurrency)
    validation: Validation = Field(default_factory=Validation)
    context: ContextSettings = Field(default_factory=ContextSettings)
    ledger: Ledger = Field(default_factory=Ledger)
    github: GitHubSettings = Field(default_factory=GitHubSettings)
    cleanup: Cleanup = Field(default_factory=Cleanup)

    @field_validator("tiers")
    @classmethod
    def _tier_names(cls, tiers: dict[str, Tier]) -> dict[str, Tier]:
        for name in tiers:
            if not _TIER_NAME.match(name):
                raise ValueError(
                    f"tier name {name!r} is not allowed — use lowercase letters, digits, - and _"
                )
        return tiers

    @field_validator("allowed_users")
    @classmethod
    def _logins(cls, users: list[str]) -> list[str]:
        for user in users:
            if not _LOGIN.match(user):
                raise ValueError(f"{user!r} is not a GitHub login — write the login without @")
        return users

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(self.tiers)


def parse_config(text: str, *, file: str = "<config>") -> Config:
    """Parse and validate TOML text; every problem is reported at once in one ``ConfigError``."""
    from bot.config_errors import issues_from_semantics, issues_from_validation

    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(
            [ConfigIssue(file, "", f"not valid TOML: {exc}", "fix the syntax at the line and column named")]
        ) from exc
    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(issues_from_validation(exc, file=file)) from exc
    semantic = issues_from_semantics(config, file=file)
    if semantic:
        raise ConfigError(semantic)
    return config


def load_config(path: Path | None = None) -> Config:
    path = path or DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ConfigError(
            [ConfigIssue(str(path), "", "file not found", "create it (see README) or pass --config PATH")]
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([ConfigIssue(str(path), "", f"cannot be read: {exc}", "")]) from exc
    return parse_config(text, file=str(path))
