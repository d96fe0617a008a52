"""The groq provider on the real groq SDK against a wire fake that sends Groq's rate-limit headers:
the quota tracker follows what the server says, so the free tier is used to its limit, never past."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.budget.ledger import Ledger
from bot.config import parse_config
from bot.errors import RoutingError
from bot.execution.services import build_router
from bot.models.limits import RateLimits, parse_duration
from bot.models.script import Script
from bot.testing.anthropic_server import FakeAnthropicServer
from bot.testing.groq_server import FakeGroqServer
from tests.conftest import SleepRecorder, request

OK = {"reply": "fine", "usage": {"input_tokens": 300, "output_tokens": 100}}


def script(*rules: dict[str, object]) -> Script:
    return Script.model_validate({"rules": list(rules)})


def config_text(groq_url: str, backup_url: str = "", quota: str = "") -> str:
    text = (
        '[routing]\npreset = "single-model"\nretries = 0\n[tiers.fast]\n[[tiers.fast.providers]]\n'
        f'type = "groq"\nname = "groq"\nbase_url = "{groq_url}"\nmodel = "llama-3.3-70b-versatile"\n'
        f"price = {{ input_per_mtok = 0.59, output_per_mtok = 0.79 }}\n{quota}\n"
    )
    if backup_url:
        text += (
            f'[[tiers.fast.providers]]\ntype = "anthropic"\nname = "backup"\nbase_url = "{backup_url}"\n'
            'model = "claude-sonnet-4-6"\napi_key_env = "K2"\n'
        )
    return text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("2m59.56s", 179.56), ("7.66s", 7.66), ("120ms", 0.12), ("1h2m", 3720.0), ("12", 12.0), ("soon", None)],
)
def test_groq_reset_durations(text: str, seconds: float | None) -> None:
    parsed = parse_duration(text)
    assert parsed == pytest.approx(seconds) if seconds is not None else parsed is None


def test_headers_become_rate_limits() -> None:
    limits = RateLimits.from_headers(
        {"X-RateLimit-Remaining-Requests": "14", "x-ratelimit-remaining-tokens": "5800",
         "x-ratelimit-reset-requests": "2m59.56s", "x-ratelimit-reset-tokens": "7.66s", "retry-after": "3"},
        now=100.0,
    )  # fmt: skip
    assert limits == RateLimits(100.0, None, None, 14, 5800, 179.56, 7.66, 3.0)
    assert RateLimits.from_headers({"content-type": "application/json"}, now=1.0) is None


async def test_groq_sdk_reads_the_headers_and_the_tracker_stops_at_the_servers_limit(
    tmp_path: Path, sleeps: SleepRecorder
) -> None:
    # The server allows 3 requests a window; the config says nothing about quotas.
    with FakeGroqServer(script(OK), requests_per_window=3) as groq, FakeAnthropicServer(script(OK)) as backup:
        config = parse_config(config_text(groq.base_url, backup.base_url))
        ledger = Ledger(tmp_path / "ledger.sqlite")
        router, _ = build_router(
            config, ledger=ledger, root=tmp_path, env={"GROQ_API_KEY": "gsk-test", "K2": "k"}, sleep=sleeps
        )
        for n in range(5):
            assert (await router.complete(request(f"call {n}"), tier="fast")).text == "fine"
        slot = router.providers("fast")[0]
        limits = slot.provider.rate_limits()  # type: ignore[attr-defined]
        assert limits is not None and limits.remaining_requests == 0 and limits.limit_requests == 3
        assert limits.reset_requests_s is not None and 0 < limits.reset_requests_s <= 60
        # Exactly the server's 3 went to Groq, none past its limit (no 429); the rest fell back.
        assert groq.used_requests == 3 and groq.refused == 0
        assert [c.provider for c in ledger.calls()] == ["groq"] * 3 + ["backup"] * 2
        assert "x-ratelimit-remaining-requests" in (slot.quota.blocked(100) or "")
        # The SDK sent its key as a bearer token to Groq's path.
        assert groq.requests[0].path == "/openai/v1/chat/completions"
        assert groq.requests[0].headers["authorization"] == "Bearer gsk-test"
        ledger.close()


async def test_tokens_left_and_a_429_with_retry_after_hold_the_provider_back(
    tmp_path: Path, sleeps: SleepRecorder
) -> None:
    with FakeGroqServer(script(OK), tokens_per_window=310) as groq:
        config = parse_config(config_text(groq.base_url))
        ledger = Ledger(tmp_path / "ledger.sqlite")
        router, _ = build_router(
            config, ledger=ledger, root=tmp_path, env={"GROQ_API_KEY": "k"}, sleep=sleeps
        )
        # A prompt long enough for the 300 input tokens the server reports (reported usage far above
        # what was reserved is an over-report, and disables the provider: tests/security).
        prompt = "fix it " * 100
        assert (await router.complete(request(prompt, max_tokens=10), tier="fast")).text == "fine"  # 310 used
        # The headers said 0 tokens left: the next call is not sent at all.
        with pytest.raises(RoutingError, match="x-ratelimit-remaining-tokens"):
            await router.complete(request(prompt, max_tokens=10), tier="fast")
        assert groq.refused == 0 and groq.used_requests == 1
        ledger.close()
    with FakeGroqServer(script(OK), requests_per_window=1) as groq:
        groq.used_requests = 1  # another client spent the window: the server answers 429
        config = parse_config(config_text(groq.base_url))
        ledger = Ledger(tmp_path / "ledger2.sqlite")
        router, _ = build_router(
            config, ledger=ledger, root=tmp_path, env={"GROQ_API_KEY": "k"}, sleep=sleeps
        )
        with pytest.raises(RoutingError):
            await router.complete(request(), tier="fast")
        assert groq.refused == 1
        blocked = router.providers("fast")[0].quota.blocked(10) or ""
        assert "retry-after" in blocked  # the 429's retry-after holds it back, without another request
        ledger.close()
