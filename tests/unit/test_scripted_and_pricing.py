from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from bot.budget.pricing import call_cost, check_price, worst_case_cost
from bot.config import parse_config
from bot.errors import MalformedResponse, PricingError, ProviderUnavailable, RateLimited, ScriptError
from bot.models.base import Usage
from bot.models.script import load_script
from bot.models.scripted import ScriptedProvider
from tests.conftest import request


def test_script_rules_match_in_order_with_times(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "rules:\n"
        "  - {match: {item: item-1}, times: 1, error: {status: 429, retry_after: 2}}\n"
        "  - {match: {item: item-1, model: 'gpt-*'}, reply: 'for gpt', usage: {input_tokens: 3, output_tokens: 4}}\n"
        "  - {match: {prompt_contains: 'truncate me'}, fault: truncated}\n"
        "  - {match: {prompt_contains: 'time out'}, fault: timeout}\n"
    )
    provider = ScriptedProvider(path, model="gpt-5-mini")
    with pytest.raises(RateLimited) as info:
        import asyncio

        asyncio.run(provider.complete(request()))
    assert info.value.retry_after == 2
    import asyncio

    completion = asyncio.run(provider.complete(request()))
    assert completion.text == "for gpt" and completion.usage == Usage(3, 4)
    with pytest.raises(MalformedResponse):
        asyncio.run(provider.complete(request("truncate me", item="x")))
    with pytest.raises(ProviderUnavailable):
        asyncio.run(provider.complete(request("time out", item="x")))
    with pytest.raises(
        ScriptError,
        match=r"no script rule matches the request: model='gpt-5-mini' purpose='change' item='other'",
    ):
        asyncio.run(provider.complete(request("nothing", item="other")))
    assert len(provider.requests) == 5


def test_json_scripts_and_bad_scripts(tmp_path: Path) -> None:
    good = tmp_path / "s.json"
    good.write_text('{"rules": [{"reply": "hi"}]}')
    assert load_script(good).rules[0].reply == "hi"
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - {reply: hi, fault: explode}\n")
    with pytest.raises(ScriptError, match=r"bad.yaml: rules.0.fault"):
        load_script(bad)
    with pytest.raises(ScriptError, match="cannot read script"):
        load_script(tmp_path / "missing.yaml")


def _provider(extra: str, model: str = "gpt-5-mini") -> object:
    config = parse_config(
        f'[routing]\npreset = "single-model"\n[tiers.t]\n[[tiers.t.providers]]\ntype = "openai_compat"\n'
        f'base_url = "http://h/v1"\nmodel = "{model}"\n{extra}\n'
    )
    return config.tiers["t"].providers[0]


def test_catalog_price_and_cache_reads() -> None:
    provider = _provider('price_provider = "openai"')
    # gpt-5-mini: $0.25/M input, $0.025/M cached input, $2/M output
    cost = call_cost(provider, Usage(1_000_000, 1_000_000, cache_read_tokens=100_000), latency_s=1)  # type: ignore[arg-type]
    assert cost == Decimal("2.2275")


def test_override_price_and_gpu_price() -> None:
    token = _provider("price = { input_per_mtok = 3, output_per_mtok = 15, cache_read_per_mtok = 0.3 }", "x")
    assert call_cost(token, Usage(2_000_000, 100_000, cache_read_tokens=1_000_000), latency_s=0) == Decimal(
        "4.8"
    )  # type: ignore[arg-type]
    gpu = _provider("price = { gpu_usd_per_hour = 3.6 }\ntimeout_s = 100", "local-model")
    assert call_cost(gpu, Usage(10, 10), latency_s=2.5) == Decimal("0.0025")  # type: ignore[arg-type]
    assert worst_case_cost(gpu, prompt_tokens=10, max_tokens=10) == Decimal("0.1")  # type: ignore[arg-type]
    free = _provider("price = { gpu_usd_per_hour = 0 }", "local-model")
    assert call_cost(free, Usage(10, 10), latency_s=100) == 0  # type: ignore[arg-type]


def test_worst_case_is_full_prompt_and_max_tokens() -> None:
    token = _provider("price = { input_per_mtok = 1, output_per_mtok = 10 }", "x")
    assert worst_case_cost(token, prompt_tokens=1000, max_tokens=500) == Decimal("0.006")  # type: ignore[arg-type]


def test_unknown_model_is_a_pricing_error() -> None:
    from bot.config import OpenAICompatProvider

    provider = OpenAICompatProvider(
        type="openai_compat", base_url="http://h/v1", model="x", price_ref="nope-9"
    )
    with pytest.raises(PricingError, match="no price known for model 'nope-9'"):
        check_price(provider)
