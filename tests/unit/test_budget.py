"""The budget guard refuses before overspending, under every limit, in random call sequences."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from pathlib import Path

import pytest

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import Ledger, Scope
from bot.config import Budget, parse_config
from bot.domain import CallScope, Purpose
from bot.errors import BudgetExceeded, RoutingError
from bot.execution.services import build_router
from tests.conftest import SleepRecorder, request

SCOPE = CallScope(run_id="r", purpose=Purpose.CHANGE, item_id="i", attempt=0)


def test_reserve_refuses_when_worst_case_passes_a_limit(ledger: Ledger) -> None:
    guard = BudgetGuard(ledger, Budget(per_item_usd=Decimal("1.00"), per_run_usd=None))
    first = guard.reserve(SCOPE, Decimal("0.60"))
    with pytest.raises(BudgetExceeded) as info:
        guard.reserve(SCOPE, Decimal("0.50"))
    assert info.value.limit == "per_item" and info.value.spent_usd == Decimal("0.60")
    guard.release(first)
    guard.reserve(SCOPE, Decimal("1.00"))  # exactly the limit is allowed


def test_zero_limit_allows_nothing(ledger: Ledger) -> None:
    guard = BudgetGuard(ledger, Budget(per_run_usd=Decimal(0)))
    with pytest.raises(BudgetExceeded):
        guard.reserve(SCOPE, Decimal("0.000001"))


def test_unlimited_when_none(ledger: Ledger) -> None:
    guard = BudgetGuard(ledger, Budget(per_run_usd=None))
    guard.reserve(SCOPE, Decimal("1000000"))
    assert guard.remaining(SCOPE) is None


def test_expired_reservations_stop_counting(tmp_path: Path) -> None:
    now = [1_000_000.0]
    ledger = Ledger(tmp_path / "l.sqlite", clock=lambda: now[0])
    guard = BudgetGuard(ledger, Budget(per_run_usd=Decimal(1)), clock=lambda: now[0], reservation_ttl_s=60)
    guard.reserve(SCOPE, Decimal(1))  # a crashed process never settles this one
    with pytest.raises(BudgetExceeded):
        guard.reserve(SCOPE, Decimal("0.1"))
    now[0] += 61
    guard.reserve(SCOPE, Decimal("0.1"))


def test_warning_threshold_is_reported_once(ledger: Ledger) -> None:
    from bot.budget.ledger import CallRecord
    from bot.models.base import Usage

    guard = BudgetGuard(ledger, Budget(per_run_usd=Decimal(10), warn_fraction=Decimal("0.5")))
    for cost in ("3", "3", "3"):
        ledger.record_call(
            CallRecord("r", "i", 0, "change", "t", "p", "m", Usage(), Decimal(cost), 0.1, "ok")
        )
        guard.note_spend(SCOPE)
    assert guard.warnings == ["budget per_run: $6.00 of $10.00 used (60%)"]


SCRIPT = """
rules:
  - match: {prompt_contains: "fail"}
    error: {status: 500}
  - match: {prompt_contains: "cheap"}
    reply: ok
    usage: {input_tokens: 20, output_tokens: 20}
  - reply: ok
    usage: {input_tokens: 60, output_tokens: 2000}
"""


@pytest.mark.parametrize("seed", range(20))
async def test_random_call_sequences_never_exceed_any_limit(tmp_path: Path, seed: int) -> None:
    """1,000 random call sequences (20 seeds x 50), each with its own random limits, fresh ledger,
    and 10-30 calls, half sequential and half concurrent: the recorded spend never passes a limit."""
    rng = random.Random(seed)
    (tmp_path / "s.yaml").write_text(SCRIPT)
    for _sequence in range(50):
        await _one_sequence(tmp_path, rng)


async def _one_sequence(tmp_path: Path, rng: random.Random) -> None:
    def usd(lo: float, hi: float) -> Decimal | None:
        return None if rng.random() < 0.25 else Decimal(str(round(rng.uniform(lo, hi), 6)))

    budget = {
        "per_attempt_usd": usd(0.0002, 0.002), "per_item_usd": usd(0.001, 0.006),
        "per_run_usd": usd(0.002, 0.01), "per_day_usd": usd(0.003, 0.015),
    }  # fmt: skip
    limits = "\n".join(f"{k} = {v}" for k, v in budget.items() if v is not None)
    config = parse_config(
        f'[routing]\npreset = "single-model"\nretries = 1\n[budget]\n{limits}\n[tiers.t]\n[[tiers.t.providers]]\n'
        'type = "scripted"\nscript = "s.yaml"\nmodel = "m"\nprice = { input_per_mtok = 0.5, output_per_mtok = 2.5 }\n'
    )
    ledger = Ledger(":memory:")
    router, _ = build_router(config, ledger=ledger, root=tmp_path, env={}, sleep=SleepRecorder())
    runs, items, attempts = ["r1", "r2"], ["a", "b"], [0, 1]

    async def one() -> None:
        text = rng.choice(["cheap", "normal", "fail", "cheap " * 200])
        req = request(text, run=rng.choice(runs), item=rng.choice(items), attempt=rng.choice(attempts),
                      max_tokens=rng.choice([64, 256, 1024]))  # fmt: skip
        try:
            await router.complete(req, tier="t")
        except (BudgetExceeded, RoutingError):
            pass

    n = rng.randint(10, 30)
    for _ in range(n // 2):
        await one()
    await asyncio.gather(*(one() for _ in range(n - n // 2)))

    scopes = {
        "per_attempt_usd": [Scope(r, i, a) for r in runs for i in items for a in attempts],
        "per_item_usd": [Scope(r, i) for r in runs for i in items],
        "per_run_usd": [Scope(r) for r in runs],
        "per_day_usd": [Scope()],
    }
    for name, limit in budget.items():
        if limit is not None:
            for scope in scopes[name]:
                assert ledger.spent(scope) <= limit, (name, scope, ledger.spent(scope), limit)
    ledger.close()


async def test_refusal_happens_before_the_provider_is_called(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(SCRIPT)
    config = parse_config(
        '[routing]\npreset = "single-model"\n[budget]\nper_item_usd = 0.0001\n[tiers.t]\n[[tiers.t.providers]]\n'
        'type = "scripted"\nscript = "s.yaml"\nmodel = "m"\nprice = { input_per_mtok = 1, output_per_mtok = 1 }\n'
    )
    ledger = Ledger(tmp_path / "l.sqlite")
    router, _ = build_router(config, ledger=ledger, root=tmp_path, env={}, sleep=SleepRecorder())
    provider = router.providers("t")[0].provider
    with pytest.raises(BudgetExceeded, match="per_item"):
        await router.complete(request("x", max_tokens=200), tier="t")
    assert provider.requests == [] and ledger.calls() == []  # type: ignore[attr-defined]


def test_skipped_tiers_leave_the_run_and_the_report_says_so() -> None:
    from bot.config import parse_config
    from bot.errors import ConfigError
    from bot.execution.services import SKIP_TIERS_ENV, skipped_tiers

    config = parse_config(
        '[routing]\nstart_tier = "local"\n'
        '[tiers.local]\n[[tiers.local.providers]]\ntype = "openai_compat"\nbase_url = "http://127.0.0.1:8000/v1"\n'
        'model = "m"\nprice = { gpu_usd_per_hour = 0 }\n'
        '[tiers.fast]\n[[tiers.fast.providers]]\ntype = "openai_compat"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'model = "f"\nprice = { input_per_mtok = 1, output_per_mtok = 1 }\n'
    )
    kept, remarks = skipped_tiers(config, {SKIP_TIERS_ENV: "local"})
    assert kept.tier_names == ("fast",) and kept.routing.start_tier is None
    assert remarks == (f"tier local skipped for this run ({SKIP_TIERS_ENV}; e.g. its runner check failed)",)
    assert skipped_tiers(config, {}) == (config, ())
    with pytest.raises(ConfigError, match="skips every tier"):
        skipped_tiers(config, {SKIP_TIERS_ENV: "local,fast"})
