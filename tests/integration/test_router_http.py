"""The router over real SDKs (openai, anthropic) talking HTTP to the in-tree fake servers."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from bot.budget.ledger import Ledger
from bot.config import parse_config
from bot.errors import RoutingError, ScriptError
from bot.execution.services import build_router
from bot.models.script import Script
from bot.routing.router import Router
from bot.testing.anthropic_server import FakeAnthropicServer
from bot.testing.fake_http import FakeModelServer
from bot.testing.openai_server import FakeOpenAIServer
from tests.conftest import SleepRecorder, request

ENV = {"K1": "key-1", "K2": "key-2"}


def script(*rules: dict[str, object]) -> Script:
    return Script.model_validate({"rules": list(rules)})


def openai_block(tier: str, name: str, url: str, extra: str = "") -> str:
    return (
        f'[[tiers.{tier}.providers]]\ntype = "openai_compat"\nname = "{name}"\nbase_url = "{url}"\n'
        f'model = "gpt-5-mini"\nprice_provider = "openai"\napi_key_env = "K1"\ntimeout_s = 0.5\n{extra}\n'
    )


def anthropic_block(tier: str, name: str, url: str, extra: str = "") -> str:
    return (
        f'[[tiers.{tier}.providers]]\ntype = "anthropic"\nname = "{name}"\nbase_url = "{url}"\n'
        f'model = "claude-sonnet-4-6"\napi_key_env = "K2"\ntimeout_s = 0.5\n{extra}\n'
    )


def make_router(
    tmp_path: Path, blocks: str, sleeps: SleepRecorder, routing: str = ""
) -> tuple[Router, Ledger]:
    defaults = "" if "retries" in routing else "retries = 2\n"
    text = f'[routing]\npreset = "single-model"\n{defaults}retry_after_cap_s = 30\n{routing}\n[tiers.t]\n{blocks}'
    config = parse_config(text)
    ledger = Ledger(tmp_path / "ledger.sqlite")
    router, _guard = build_router(config, ledger=ledger, root=tmp_path, env=ENV, sleep=sleeps)
    return router, ledger


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


def start(stack: ExitStack, server: FakeModelServer) -> FakeModelServer:
    return stack.enter_context(server)


OK = {"reply": "fine", "usage": {"input_tokens": 1000, "output_tokens": 200, "cache_read_tokens": 400}}
FAULTS = {
    "http-500": {"error": {"status": 500}},
    "http-529-overloaded": {"error": {"status": 529}},
    "timeout": {"fault": "timeout"},
    "disconnect": {"fault": "disconnect"},
    "truncated-json": {"fault": "truncated"},
    "malformed-json": {"fault": "malformed"},
}
OUTCOME = {
    "http-500": "unavailable", "http-529-overloaded": "unavailable", "timeout": "unavailable",
    "disconnect": "unavailable", "truncated-json": "malformed", "malformed-json": "malformed",
}  # fmt: skip


@pytest.mark.parametrize("fault", list(FAULTS))
@pytest.mark.parametrize("primary_kind", ["openai", "anthropic"])
async def test_transient_fault_is_retried_then_falls_back(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder, fault: str, primary_kind: str
) -> None:
    bad = script(FAULTS[fault])
    good = script(OK)
    if primary_kind == "openai":
        primary = start(stack, FakeOpenAIServer(bad, timeout_sleep_s=1.0))
        backup = start(stack, FakeAnthropicServer(good))
        blocks = openai_block("t", "p1", primary.base_url) + anthropic_block("t", "p2", backup.base_url)
    else:
        primary = start(stack, FakeAnthropicServer(bad, timeout_sleep_s=1.0))
        backup = start(stack, FakeOpenAIServer(good))
        blocks = anthropic_block("t", "p1", primary.base_url) + openai_block("t", "p2", backup.base_url)
    router, ledger = make_router(tmp_path, blocks, sleeps)

    completion = await router.complete(request("fix it"), tier="t")

    assert completion.text == "fine"
    assert completion.usage.input_tokens == 1000 and completion.usage.cache_read_tokens == 400
    assert len(primary.requests) == 3  # first try + 2 retries, then fallback
    assert len(sleeps.waits) == 2 and all(w > 0 for w in sleeps.waits)
    calls = ledger.calls()
    assert [c.outcome for c in calls] == [OUTCOME[fault]] * 3 + ["ok"]
    assert [c.provider for c in calls] == ["p1", "p1", "p1", "p2"]
    assert calls[-1].cost > 0 and all(c.cost == 0 for c in calls[:3])
    assert completion.call_id == calls[-1].id


async def test_retry_after_within_cap_is_honoured(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder
) -> None:
    server = start(
        stack, FakeOpenAIServer(script({"times": 1, "error": {"status": 429, "retry_after": 7}}, OK))
    )
    router, ledger = make_router(tmp_path, openai_block("t", "p1", server.base_url), sleeps)
    completion = await router.complete(request(), tier="t")
    assert completion.text == "fine"
    assert sleeps.waits == [7.0]
    assert [c.outcome for c in ledger.calls()] == ["rate_limited", "ok"]


async def test_retry_after_beyond_cap_skips_provider_instead_of_stalling(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder
) -> None:
    limited = start(stack, FakeOpenAIServer(script({"error": {"status": 429, "retry_after": 3600}})))
    backup = start(stack, FakeAnthropicServer(script(OK)))
    blocks = openai_block("t", "p1", limited.base_url) + anthropic_block("t", "p2", backup.base_url)
    router, _ = make_router(tmp_path, blocks, sleeps)

    assert (await router.complete(request(), tier="t")).text == "fine"
    assert sleeps.waits == []  # no hour-long wait
    assert len(limited.requests) == 1
    # The provider stays out while its Retry-After lasts: the next call goes straight to the backup.
    assert (await router.complete(request(), tier="t")).text == "fine"
    assert len(limited.requests) == 1 and len(backup.requests) == 2
    assert router.providers("t")[0].breaker.state == "open"


async def test_rejected_request_is_not_retried(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder
) -> None:
    primary = start(
        stack, FakeOpenAIServer(script({"error": {"status": 400, "message": "context too long"}}))
    )
    backup = start(stack, FakeOpenAIServer(script(OK)))
    blocks = openai_block("t", "p1", primary.base_url) + openai_block("t", "p2", backup.base_url)
    router, ledger = make_router(tmp_path, blocks, sleeps)
    assert (await router.complete(request(), tier="t")).text == "fine"
    assert len(primary.requests) == 1 and sleeps.waits == []
    assert [c.outcome for c in ledger.calls()] == ["rejected", "ok"]
    assert router.providers("t")[0].breaker.state == "closed"  # the request was wrong, not the provider


async def test_every_provider_failing_raises_routing_error_with_causes(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder
) -> None:
    a = start(stack, FakeOpenAIServer(script({"error": {"status": 503}})))
    b = start(stack, FakeAnthropicServer(script({"error": {"status": 401, "message": "bad key"}})))
    router, _ = make_router(
        tmp_path, openai_block("t", "p1", a.base_url) + anthropic_block("t", "p2", b.base_url), sleeps
    )
    with pytest.raises(RoutingError) as info:
        await router.complete(request(), tier="t")
    assert "p1: HTTP 503" in str(info.value) and "p2: HTTP 401" in str(info.value)
    assert len(info.value.errors) == 2


async def test_circuit_breaker_keeps_failing_provider_out(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder
) -> None:
    broken = start(stack, FakeOpenAIServer(script({"error": {"status": 502}})))
    backup = start(stack, FakeOpenAIServer(script(OK)))
    blocks = openai_block("t", "p1", broken.base_url) + openai_block("t", "p2", backup.base_url)
    router, _ = make_router(tmp_path, blocks, sleeps, routing="breaker_failures = 2\nretries = 0")
    for _ in range(5):
        assert (await router.complete(request(), tier="t")).text == "fine"
    assert len(broken.requests) == 2  # opened after two failures; later calls skip it
    assert len(backup.requests) == 5


async def test_quota_is_respected(tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder) -> None:
    free = start(stack, FakeOpenAIServer(script(OK)))
    paid = start(stack, FakeAnthropicServer(script(OK)))
    blocks = openai_block(
        "t", "free", free.base_url, "quota = { requests_per_minute = 2 }"
    ) + anthropic_block("t", "paid", paid.base_url)
    router, _ = make_router(tmp_path, blocks, sleeps)
    for _ in range(4):
        await router.complete(request(), tier="t")
    assert len(free.requests) == 2 and len(paid.requests) == 2


async def test_round_robin_balances_providers(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder
) -> None:
    a = start(stack, FakeOpenAIServer(script(OK)))
    b = start(stack, FakeOpenAIServer(script(OK)))
    blocks = (
        'balance = "round_robin"\n' + openai_block("t", "a", a.base_url) + openai_block("t", "b", b.base_url)
    )
    router, _ = make_router(tmp_path, blocks, sleeps)
    for _ in range(6):
        await router.complete(request(), tier="t")
    assert len(a.requests) == 3 and len(b.requests) == 3


async def test_requests_carry_purpose_and_item_for_script_matching(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder
) -> None:
    server = start(
        stack,
        FakeAnthropicServer(
            script(
                {"match": {"purpose": "plan", "item": "item-9"}, "reply": "the plan"},
                {"match": {"purpose": "change"}, "reply": "the change"},
            )
        ),
    )
    router, _ = make_router(tmp_path, anthropic_block("t", "p", server.base_url), sleeps)
    from bot.domain import Purpose

    assert (await router.complete(request(item="item-9", purpose=Purpose.PLAN), tier="t")).text == "the plan"
    assert (await router.complete(request(item="item-9"), tier="t")).text == "the change"
    body = server.requests[0].body
    assert body["system"] == "be brief" and body["messages"] == [{"role": "user", "content": "hello"}]


async def test_unscripted_call_fails_loudly_through_the_router(tmp_path: Path, sleeps: SleepRecorder) -> None:
    (tmp_path / "s.yaml").write_text("rules:\n  - match: {item: other}\n    reply: x\n")
    config = parse_config(
        '[routing]\npreset = "single-model"\n[tiers.t]\n[[tiers.t.providers]]\ntype = "scripted"\n'
        'script = "s.yaml"\nmodel = "gpt-5-mini"\nprice_provider = "openai"\n'
    )
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=tmp_path, env={}, sleep=sleeps)
    with pytest.raises(ScriptError, match="item='item-1'"):
        await router.complete(request(), tier="t")
    assert ledger.calls() == []
    assert guard.remaining(request().scope) == Decimal("10")  # the reservation was released


async def test_missing_api_key_disables_provider_with_reason(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder
) -> None:
    server = start(stack, FakeOpenAIServer(script(OK)))
    config = parse_config(
        f'[routing]\npreset = "single-model"\n[tiers.t]\n{openai_block("t", "p", server.base_url).replace("K1", "NOPE")}'
    )
    router, _ = build_router(
        config, ledger=Ledger(tmp_path / "l.sqlite"), root=tmp_path, env={}, sleep=sleeps
    )
    with pytest.raises(RoutingError, match="environment variable NOPE is not set"):
        await router.complete(request(), tier="t")
    assert server.requests == []


async def test_least_busy_sends_concurrent_calls_to_the_idle_provider(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder
) -> None:
    import asyncio

    slow = {"reply": "slow", "delay_s": 0.3}
    a = start(stack, FakeOpenAIServer(script(slow)))
    b = start(stack, FakeOpenAIServer(script(slow)))
    blocks = (
        'balance = "least_busy"\n' + openai_block("t", "a", a.base_url) + openai_block("t", "b", b.base_url)
    )
    router, _ = make_router(tmp_path, blocks, sleeps)
    await asyncio.gather(*(router.complete(request(item=f"i{n}"), tier="t") for n in range(4)))
    assert len(a.requests) == 2
    assert len(b.requests) == 2
