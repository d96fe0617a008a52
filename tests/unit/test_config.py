"""Config validation: every bad config is reported with the file, the key path, and a fix."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import Config, GpuPrice, TokenPrice, load_config, parse_config
from bot.errors import ConfigError

GOOD = """
command_prefix = "/bot"
allowed_users = ["octocat"]

[routing]
preset = "three-tier"

[budget]
per_item_usd = 2
per_run_usd = 10.5

[tiers.local]
[[tiers.local.providers]]
type = "openai_compat"
base_url = "http://127.0.0.1:8000/v1"
model = "Qwen/Qwen2.5-Coder-32B-Instruct"
price = { gpu_usd_per_hour = 1.5 }

[tiers.fast]
balance = "round_robin"
[[tiers.fast.providers]]
type = "openai_compat"
name = "groq"
base_url = "https://api.groq.com/openai/v1"
model = "llama-3.3-70b-versatile"
api_key_env = "GROQ_API_KEY"
price_provider = "groq"
quota = { requests_per_day = 1000, tokens_per_minute = 6000 }

[tiers.premium]
[[tiers.premium.providers]]
type = "anthropic"
model = "claude-sonnet-4-6"
"""


def test_good_config_parses_into_frozen_typed_values() -> None:
    config = parse_config(GOOD, file="m.toml")
    assert config.tier_names == ("local", "fast", "premium")
    assert isinstance(config.tiers["local"].providers[0].price, GpuPrice)
    assert config.tiers["fast"].providers[0].quota is not None
    assert str(config.budget.per_run_usd) == "10.5"
    with pytest.raises(Exception, match="frozen"):
        config.routing.preset = "adaptive"  # type: ignore[misc]


def _errors(text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, file="m.toml")
    return [issue.render() for issue in info.value.issues]


def _one_tier(provider: str, extra: str = "") -> str:
    return (
        f'{extra}\n[routing]\npreset = "single-model"\n[tiers.local]\n[[tiers.local.providers]]\n{provider}\n'
    )


OPENAI = 'type = "openai_compat"\nmodel = "gpt-5-mini"\nprice_provider = "openai"\n'

BAD = [
    pytest.param(
        _one_tier(OPENAI + 'base_url = "localhost:8000"'),
        'm.toml: tiers.local.providers[0].base_url: not a URL: "localhost:8000" — did you mean "http://localhost:8000/v1"?',
        id="url-without-scheme",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"\nmodle = "x"'),
        'm.toml: tiers.local.providers[0].modle: unknown key — did you mean "model"?',
        id="typo-key",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"\napi_key = "sk-abc"'),
        "m.toml: tiers.local.providers[0].api_key: secrets are not allowed in the config file — export the secret",
        id="secret-in-file",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"\napi_key_env = "sk-live-1234567890"'),
        "m.toml: tiers.local.providers[0].api_key_env: looks like an API key, not the name of an environment variable",
        id="key-in-env-name",
    ),
    pytest.param(
        _one_tier('type = "openai_compat"\nbase_url = "http://x/v1"'),
        "m.toml: tiers.local.providers[0].model: required key is missing — add model = ...",
        id="missing-model",
    ),
    pytest.param(
        _one_tier('type = "openai"\nmodel = "m"'),
        "m.toml: tiers.local.providers[0]: unknown provider type 'openai' — set type = \"openai_compat\"",
        id="bad-provider-type",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"').replace('"single-model"', '"three-teir"'),
        "m.toml: routing.preset: 'three-teir' is not allowed — did you mean \"three-tier\"?",
        id="preset-typo",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"', extra='[budget]\nper_run_usd = "ten"'),
        "m.toml: budget.per_run_usd: input should be a valid decimal (got 'ten') — write a plain number",
        id="budget-not-a-number",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"', extra="[budget]\nper_item_usd = -1"),
        "m.toml: budget.per_item_usd: input should be greater than or equal to 0 (got -1) — use a value in the allowed range",
        id="negative-budget",
    ),
    pytest.param(
        _one_tier('type = "openai_compat"\nbase_url = "http://x/v1"\nmodel = "my-finetune-9000"'),
        "m.toml: tiers.local.providers[0].model: no price known for model 'my-finetune-9000' — set price_ref",
        id="unknown-model-price",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"').replace(
            'preset = "single-model"', 'preset = "single-model"\nstart_tier = "lcoal"'
        ),
        "m.toml: routing.start_tier: unknown tier 'lcoal' — did you mean \"local\"? tiers are: local",
        id="unknown-tier-ref",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"').replace('"single-model"', '"three-tier"'),
        "m.toml: routing.preset: preset 'three-tier' needs at least 2 tiers — add tiers, or use preset = \"single-model\"",
        id="preset-needs-tiers",
    ),
    pytest.param(
        'command_prefix = "/bot"\n[tiers]\n',
        "m.toml: tiers: must not be empty — add at least one entry",
        id="no-tiers",
    ),
    pytest.param(
        "[tiers.local\nx = 1",
        "m.toml: not valid TOML:",
        id="toml-syntax",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"', extra='allowed_users = ["@octocat"]'),
        "m.toml: allowed_users: '@octocat' is not a GitHub login — write the login without @",
        id="login-with-at",
    ),
    pytest.param(
        _one_tier(
            OPENAI
            + 'base_url = "http://x/v1"\n[[tiers.local.providers]]\n'
            + OPENAI
            + 'base_url = "http://y/v1"'
        ),
        "m.toml: tiers.local.providers[1].name: provider name 'openai_compat:gpt-5-mini' is used twice",
        id="duplicate-provider",
    ),
    pytest.param(
        _one_tier(OPENAI + 'base_url = "http://x/v1"\nprice = { input_per_mtok = 1 }'),
        "m.toml: tiers.local.providers[0].price.output_per_mtok: required key is missing",
        id="incomplete-price",
    ),
]


@pytest.mark.parametrize(("text", "expected"), BAD)
def test_bad_config_is_reported_precisely(text: str, expected: str) -> None:
    errors = _errors(text)
    assert any(e.startswith(expected) for e in errors), errors


def test_every_error_is_reported_at_once() -> None:
    text = _one_tier(
        'type = "openai_compat"\nbase_url = "nope"\ntimeout_s = 0', extra="[concurrency]\nparallel = 0"
    )
    errors = _errors(text)
    keys = {e.split(": ")[1] for e in errors}
    assert {"tiers.local.providers[0].base_url", "tiers.local.providers[0].timeout_s", "concurrency.parallel",
            "tiers.local.providers[0].model"} <= keys  # fmt: skip


def test_zero_budget_means_nothing_may_be_spent_not_unlimited() -> None:
    config = parse_config(_one_tier(OPENAI + 'base_url = "http://x/v1"', extra="[budget]\nper_run_usd = 0"))
    assert config.budget.per_run_usd == 0
    assert parse_config(_one_tier(OPENAI + 'base_url = "http://x/v1"')).budget.per_item_usd is None


def test_explicit_price_overrides_catalog() -> None:
    config = parse_config(_one_tier('type = "scripted"\nscript = "s.yaml"\nmodel = "made-up"\n'
                                    "price = { input_per_mtok = 1, output_per_mtok = 2 }"))  # fmt: skip
    assert isinstance(config.tiers["local"].providers[0].price, TokenPrice)


def test_load_config_names_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"nope\.toml: file not found — create it"):
        load_config(tmp_path / "nope.toml")


def test_config_check_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "good.toml"
    good.write_text(GOOD)
    monkeypatch.delenv("GROQ_API_KEY", raising=False)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")
    # A valid file whose keys are not in the environment: the run would stop, so config check does.
    assert main(["config", "check", str(good)]) == 2
    assert "tier fast: provider groq: environment variable GROQ_API_KEY is not set" in capsys.readouterr().err
    monkeypatch.setenv("GROQ_API_KEY", "k")
    assert main(["config", "check", "--config", str(good)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"ok: {good}")
    assert "tier fast: groq (llama-3.3-70b-versatile)" in out
    assert "pre-flight: every tier can serve (keys, prices and scripts; --online asks the endpoints)" in out

    bad = tmp_path / "bad.toml"
    bad.write_text(_one_tier(OPENAI + 'base_url = "localhost:8000"\nmodle = 1'))
    assert main(["config", "check", str(bad)]) == 2
    err = capsys.readouterr().err
    assert f"{bad}: 2 problems" in err
    assert 'base_url: not a URL: "localhost:8000" — did you mean "http://localhost:8000/v1"?' in err
    assert 'modle: unknown key — did you mean "model"?' in err


def test_config_is_frozen_and_forbids_extra_at_every_level() -> None:
    for section in ("budget", "concurrency", "validation", "ledger"):
        errors = _errors(_one_tier(OPENAI + 'base_url = "http://x/v1"', extra=f"[{section}]\nbogus = 1"))
        assert any(f"{section}.bogus: unknown key" in e for e in errors), errors
    errors = _errors(
        _one_tier(OPENAI + 'base_url = "http://x/v1"').replace("[routing]", "[routing]\nretrys = 2")
    )
    assert any('routing.retrys: unknown key — did you mean "retries"?' in e for e in errors), errors
    assert Config.model_config.get("frozen") is True
