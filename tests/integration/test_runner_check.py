"""`milestone-bot runner check` against the OpenAI-compatible fake: healthy, slow, down, wrong model."""

from __future__ import annotations

import socket

import pytest

from bot.cli import main
from bot.models.script import Script
from bot.testing.openai_server import FakeOpenAIServer

MODEL = "Qwen/Qwen2.5-Coder-32B-Instruct"


def server(*, delay: float = 0.0, models: tuple[str, ...] = (MODEL,)) -> FakeOpenAIServer:
    rules = {"rules": [{"reply": "ok", "delay_s": delay, "usage": {"input_tokens": 12, "output_tokens": 2}}]}
    return FakeOpenAIServer(Script.model_validate(rules), models=models, timeout_sleep_s=5)


def check(base_url: str, *extra: str) -> int:
    return main(["runner", "check", "--base-url", base_url, "--model", MODEL, *extra])


def test_healthy(capsys: pytest.CaptureFixture[str]) -> None:
    with server() as fake:
        assert check(fake.base_url) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"local tier usable: model {MODEL}, latency ") and "tokens/s" in out
    assert [r.path for r in fake.requests] == ["/v1/models", "/v1/chat/completions"]


def test_slow(capsys: pytest.CaptureFixture[str]) -> None:
    with server(delay=3) as fake:
        assert check(fake.base_url, "--timeout", "1") == 1
    assert f"local tier NOT usable: no answer from {fake.base_url} within 1s" in capsys.readouterr().out


def test_down(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert check(f"http://127.0.0.1:{port}/v1", "--timeout", "5") == 1
    out = capsys.readouterr().out
    assert out.startswith(f"local tier NOT usable: http://127.0.0.1:{port}/v1:")


def test_wrong_model(capsys: pytest.CaptureFixture[str]) -> None:
    with server(models=("meta-llama/Llama-3.1-8B-Instruct",)) as fake:
        assert check(fake.base_url) == 1
    assert (
        f"does not serve {MODEL!r} (it serves: meta-llama/Llama-3.1-8B-Instruct)" in capsys.readouterr().out
    )


def test_defaults_come_from_the_config(tmp_path: object, capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    root = Path(str(tmp_path))
    with server() as fake:
        (root / "bot.toml").write_text(
            f'[tiers.local]\n[[tiers.local.providers]]\ntype = "openai_compat"\nbase_url = "{fake.base_url}"\n'
            f'model = "{MODEL}"\nprice = {{ gpu_usd_per_hour = 0 }}\n'
            '[tiers.fast]\n[[tiers.fast.providers]]\ntype = "openai_compat"\nbase_url = "http://127.0.0.1:9/v1"\n'
            'model = "m"\nprice = { input_per_mtok = 1, output_per_mtok = 1 }\n'
        )
        assert main(["runner", "check", "--config", str(root / "bot.toml")]) == 0
    assert "local tier usable" in capsys.readouterr().out
