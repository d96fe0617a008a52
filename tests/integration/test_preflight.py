"""Pre-flight's online part against a real OpenAI-compatible fake: an endpoint that does not answer,
and one that serves another model, are named with the fix; an optional tier is skipped instead."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot import preflight
from bot.config import parse_config
from bot.errors import PreflightError
from bot.execution.services import model_lister
from bot.models.script import Script
from bot.testing.groq_server import FakeGroqServer
from bot.testing.openai_server import FakeOpenAIServer

EMPTY = Script.model_validate({"rules": []})


def config(local_url: str, fast_url: str, *, optional: bool = False) -> str:
    return (
        '[routing]\npreset = "local-first"\n'
        f'[tiers.local]\noptional = {str(optional).lower()}\n[[tiers.local.providers]]\ntype = "openai_compat"\n'
        f'base_url = "{local_url}"\nmodel = "qwen-7b"\nprice = {{ gpu_usd_per_hour = 0 }}\ntimeout_s = 2\n'
        f'[tiers.fast]\n[[tiers.fast.providers]]\ntype = "groq"\nbase_url = "{fast_url}"\n'
        'model = "llama-3.3-70b-versatile"\nprice = { input_per_mtok = 0.59, output_per_mtok = 0.79 }\n'
    )


async def test_endpoints_and_models_are_checked_without_a_completion(tmp_path: Path) -> None:
    env = {"GROQ_API_KEY": "k"}
    with (
        FakeOpenAIServer(EMPTY, models=("other-model",)) as local,
        FakeGroqServer(EMPTY, models=("llama-3.3-70b-versatile",)) as fast,
    ):
        cfg = parse_config(config(local.base_url, fast.base_url))
        failing = await preflight.check(
            cfg, env=env, root=tmp_path, list_models=model_lister(env, root=tmp_path)
        )
        assert list(failing) == ["local"]
        assert "does not serve model 'qwen-7b' (it serves: other-model)" in failing["local"][0].problem
        with pytest.raises(PreflightError, match="tier local cannot serve: nothing was spent or created"):
            preflight.apply(cfg, failing)
        # Nothing was asked to complete: pre-flight costs nothing.
        assert all(r.method == "GET" for r in [*local.requests, *fast.requests])
        assert fast.requests[0].path == "/openai/v1/models"
        optional = parse_config(config(local.base_url, fast.base_url, optional=True))
        kept, remarks = preflight.apply(optional, failing)
        assert kept.tier_names == ("fast",) and "tier local skipped for this run (pre-flight" in remarks[0]
    # A server that is down.
    cfg = parse_config(config("http://127.0.0.1:9/v1", "http://127.0.0.1:9"))
    failing = await preflight.check(
        cfg, env=env, root=tmp_path, list_models=model_lister(env, root=tmp_path), timeout_s=3
    )
    assert set(failing) == {"local", "fast"}
    assert (
        "connection failed" in failing["local"][0].problem or "did not answer" in failing["local"][0].problem
    )
