"""Money that cannot be erased or under-counted: providers that drip, omit usage or over-report stay
within every limit; reservations of dead processes are freed at once; a bad edit is a rejection."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import pytest

from bot.app import build_router
from bot.budget.guard import BudgetGuard
from bot.budget.ledger import Ledger, Scope
from bot.budget.pricing import worst_case_cost
from bot.config import Budget, parse_config
from bot.domain import CallScope, Purpose
from bot.errors import BudgetExceeded, RoutingError
from bot.models.script import Script
from bot.routing.router import Router, estimate_prompt_tokens
from bot.testing.anthropic_server import FakeAnthropicServer
from bot.testing.fake_http import FakeModelServer
from bot.testing.groq_server import FakeGroqServer
from bot.testing.openai_server import FakeOpenAIServer
from bot.workspace.apply import apply_edits
from bot.workspace.edits import Replace, WriteFile
from tests.conftest import SleepRecorder, request

ENV = {"K1": "key-1", "K2": "key-2"}
REPLY = {"reply": "fine " * 40, "usage": {"input_tokens": 40, "output_tokens": 60}}


def script(rule: dict[str, object]) -> Script:
    return Script.model_validate({"rules": [rule]})


def router_for(
    tmp_path: Path,
    server: FakeModelServer,
    kind: str,
    sleeps: SleepRecorder,
    *,
    timeout_s: float,
    budget: str,
) -> tuple[Router, Ledger]:
    if kind == "openai":
        block = (
            f'type = "openai_compat"\nname = "p"\nbase_url = "{server.base_url}"\nmodel = "gpt-5-mini"\n'
            f'price_provider = "openai"\napi_key_env = "K1"\ntimeout_s = {timeout_s}\n'
        )
    elif kind == "groq":
        block = (
            f'type = "groq"\nname = "p"\nbase_url = "{server.base_url}"\nmodel = "llama-3.3-70b-versatile"\n'
            f"price = {{ input_per_mtok = 0.59, output_per_mtok = 0.79 }}\napi_key_env = \"K1\"\n"
            f"timeout_s = {timeout_s}\n"
        )
    else:
        block = (
            f'type = "anthropic"\nname = "p"\nbase_url = "{server.base_url}"\nmodel = "claude-sonnet-4-6"\n'
            f'api_key_env = "K2"\ntimeout_s = {timeout_s}\n'
        )
    text = (
        f'[routing]\npreset = "single-model"\nretries = 0\n[budget]\n{budget}\n'
        f"[tiers.t]\n[[tiers.t.providers]]\n{block}"
    )
    ledger = Ledger(tmp_path / "ledger.sqlite")
    router, _ = build_router(parse_config(text), ledger=ledger, root=tmp_path, env=ENV, sleep=sleeps)
    return router, ledger


@pytest.fixture
def stack() -> Iterator[ExitStack]:
    with ExitStack() as s:
        yield s


def server_for(kind: str, rule: dict[str, object], **kwargs: float) -> FakeModelServer:
    if kind == "openai":
        return FakeOpenAIServer(script(rule), **kwargs)  # type: ignore[arg-type]
    if kind == "groq":
        return FakeGroqServer(script(rule), **kwargs)  # type: ignore[arg-type]
    return FakeAnthropicServer(script(rule), **kwargs)  # type: ignore[arg-type]


async def spend_until_stopped(router: Router, *, calls: int = 40, max_tokens: int = 64) -> int:
    made = 0
    for _ in range(calls):
        try:
            await router.complete(request("fix it", max_tokens=max_tokens), tier="t")
        except (BudgetExceeded, RoutingError):
            continue
        made += 1
    return made


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_dripping_provider_is_cut_at_its_deadline_and_charged_its_worst_case(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder, kind: str
) -> None:
    # Each byte comes well inside the SDK's per-read timeout; the whole answer would take minutes.
    server = stack.enter_context(server_for(kind, {**REPLY, "fault": "drip"}, drip_s=0.05))
    router, ledger = router_for(tmp_path, server, kind, sleeps, timeout_s=1.0, budget='per_run_usd = "1"')
    started = time.monotonic()
    with pytest.raises(RoutingError, match="deadline"):
        await router.complete(request("fix it", max_tokens=64), tier="t")
    assert time.monotonic() - started < 4
    (call,) = ledger.calls()
    assert call.outcome == "unavailable" and call.cost > 0  # it may have been billed: worst case


@pytest.mark.parametrize("kind", ["openai", "groq", "anthropic"])
async def test_an_answer_without_usage_is_charged_its_worst_case_and_limits_hold(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder, kind: str
) -> None:
    server = stack.enter_context(server_for(kind, {**REPLY, "fault": "no_usage"}))
    router, ledger = router_for(tmp_path, server, kind, sleeps, timeout_s=5, budget='per_run_usd = "0.01"')
    completion = await router.complete(request("fix it", max_tokens=64), tier="t")
    assert not completion.usage_reported
    (call,) = ledger.calls()
    slot = router.providers("t")[0]
    worst = worst_case_cost(
        slot.config, prompt_tokens=estimate_prompt_tokens(request("fix it")), max_tokens=64
    )
    assert call.cost == worst > 0 and "worst case" in call.error
    made = await spend_until_stopped(router)
    assert ledger.spent(Scope("run-1")) <= Decimal("0.01")
    assert 1 + made == len(server.requests) == len(ledger.calls())


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_provider_over_reporting_usage_is_charged_in_full_and_not_called_again(
    tmp_path: Path, stack: ExitStack, sleeps: SleepRecorder, kind: str
) -> None:
    # Ten times the tokens, past max_tokens: far above the reservation.
    rule = {"reply": "fine", "usage": {"input_tokens": 4000, "output_tokens": 64}, "fault": "over_report"}
    server = stack.enter_context(server_for(kind, rule))
    limit = Decimal("0.5")
    router, ledger = router_for(
        tmp_path, server, kind, sleeps, timeout_s=5, budget=f'per_run_usd = "{limit}"'
    )
    made = await spend_until_stopped(router)
    assert made == 1 and len(server.requests) == 1  # the one call, then never again in the run
    (call,) = ledger.calls()
    slot = router.providers("t")[0]
    worst = worst_case_cost(
        slot.config, prompt_tokens=estimate_prompt_tokens(request("fix it")), max_tokens=64
    )
    assert call.cost > 2 * worst and call.usage.input_tokens == 40_000  # recorded as billed
    assert ledger.spent(Scope("run-1")) <= limit
    assert slot.disabled and "not called again" in slot.disabled
    with pytest.raises(RoutingError, match="not called again"):
        await router.complete(request("fix it", max_tokens=64), tier="t")


def test_reservations_of_a_dead_process_are_released_at_once(tmp_path: Path) -> None:
    """A process reserves money and is killed before it records its call: the next check, in
    another process, frees that money at once instead of an hour later."""
    path = tmp_path / "ledger.sqlite"
    code = (
        "import sys, time\nfrom decimal import Decimal\n"
        "from bot.budget.guard import BudgetGuard\nfrom bot.budget.ledger import Ledger\n"
        "from bot.config import Budget\nfrom bot.domain import CallScope, Purpose\n"
        f"guard = BudgetGuard(Ledger({str(path)!r}), Budget(per_run_usd=Decimal('1')))\n"
        "guard.reserve(CallScope(run_id='r', purpose=Purpose.CHANGE, item_id='i', attempt=1), Decimal('0.9'))\n"
        "print('reserved', flush=True)\ntime.sleep(60)\n"
    )
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == b"reserved"
        guard = BudgetGuard(Ledger(path), Budget(per_run_usd=Decimal("1")))
        scope = CallScope(run_id="r", purpose=Purpose.CHANGE, item_id="i", attempt=2)
        with pytest.raises(BudgetExceeded):  # alive: its reservation counts
            guard.reserve(scope, Decimal("0.5"))
    finally:
        child.kill()
        child.wait()
    guard.reserve(scope, Decimal("0.5"))  # dead: its reservation is gone
    assert guard.remaining(scope) == Decimal("0.5")


def test_edit_errors_become_rejection_reasons_not_crashes(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 1\n")
    long_name = "n" * 300 + ".py"
    cases = [
        [WriteFile(path=long_name, content="x\n", block=1)],
        [WriteFile(path="d/" * 2100 + "f.py", content="x\n", block=1)],  # past PATH_MAX
        [WriteFile(path="a.py/child.py", content="x\n", block=1)],  # a file where a folder must be
        [WriteFile(path="ok.py", content="y\n", block=1), WriteFile(path=long_name, content="x\n", block=2)],
        [Replace(path="nul\x00.py", search="", replace="x\n", block=1)],
    ]
    for edits in cases:
        applied = apply_edits(tmp_path, edits)
        assert not applied.ok and applied.problems, edits
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.py"]  # all or nothing
