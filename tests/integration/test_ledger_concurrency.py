"""The ledger under parallel writers: threads in one process, and several processes."""

from __future__ import annotations

import multiprocessing
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import CallRecord, Ledger, Scope
from bot.config import Budget
from bot.domain import CallScope, Purpose
from bot.errors import BudgetExceeded
from bot.models.base import Usage

COST = Decimal("0.000123456789")


def _write(path: str, worker: int, n: int) -> None:
    ledger = Ledger(path)
    for i in range(n):
        ledger.record_call(
            CallRecord(
                f"run-{worker}", f"item-{i % 3}", 0, "change", "t", "p", "m", Usage(10, 5), COST, 0.01, "ok"
            )
        )
    ledger.close()


def _reserve(path: str, results: multiprocessing.Queue[int], done: Any) -> None:  # type: ignore[type-arg]
    guard = BudgetGuard(Ledger(path), Budget(per_run_usd=Decimal("1.00")))
    won = 0
    for _ in range(40):
        try:
            guard.reserve(CallScope("shared", Purpose.CHANGE, "i"), Decimal("0.05"))
            won += 1
        except BudgetExceeded:
            pass
    results.put(won)
    # Stay alive until every process has tried: a dead process's reservations are released.
    done.wait(60)


def test_threads_write_every_row_exactly(tmp_path: Path) -> None:
    path = str(tmp_path / "l.sqlite")
    ledger = Ledger(path)
    threads = [
        threading.Thread(target=lambda w=w: [ledger.record_call(CallRecord(
            f"run-{w}", "i", 0, "change", "t", "p", "m", Usage(1, 1), COST, 0.0, "ok")) for _ in range(200)])
        for w in range(8)
    ]  # fmt: skip
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ledger.calls()) == 1600
    assert ledger.spent() == COST * 1600
    assert ledger.spent(Scope(run_id="run-3")) == COST * 200


def test_processes_write_every_row_exactly(tmp_path: Path) -> None:
    path = str(tmp_path / "l.sqlite")
    Ledger(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_write, args=(path, w, 150)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    ledger = Ledger(path)
    assert len(ledger.calls()) == 600
    assert ledger.spent() == COST * 600
    assert len({c.id for c in ledger.calls()}) == 600


def test_reservations_across_processes_never_oversubscribe(tmp_path: Path) -> None:
    path = str(tmp_path / "l.sqlite")
    Ledger(path).close()
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    done = ctx.Event()
    procs = [ctx.Process(target=_reserve, args=(path, results, done)) for _ in range(4)]
    for p in procs:
        p.start()
    won = sum(results.get(timeout=60) for _ in procs)
    done.set()
    for p in procs:
        p.join(timeout=60)
    assert won == 20  # $1.00 / $0.05: exactly twenty reservations fit, whoever took them


def test_mark_outcome_keeps_cost(ledger: Ledger) -> None:
    call_id = ledger.record_call(CallRecord("r", "i", 0, "change", "t", "p", "m", Usage(), COST, 0.0, "ok"))
    ledger.mark_outcome(call_id, "unparsable")
    [call] = ledger.calls()
    assert call.outcome == "unparsable" and call.cost == COST
