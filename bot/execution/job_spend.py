"""One job's spend, carried in from the state branch before it spends and out to it after.

Every job that calls a model (the event job's plan and review summary, a single-job run, the
fan-out's work jobs through their publish job) starts with a ledger of its own folder, which knows
nothing of what earlier jobs spent. So before it spends, the state branch's lines of the last 24
hours are entered in its ledger as carried calls (the guard's day limit counts today's, the quota
trackers the rolling day's), and after it spends, its own calls are appended there, on the same
concurrent-safe path the publish job uses. Per-run and per-day limits and the providers' quotas
then hold whatever mode the bot runs in.

A ledger that outlives its job (a checkout where the bot runs again) already holds its own calls:
a line that matches one of its calls (time, provider, cost) is not entered twice. Without the
remote (a checkout with no ``origin``) there is no state to share and the ledger alone counts.
"""

from __future__ import annotations

import dataclasses
import logging
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

from bot.budget.ledger import CallRecord, Ledger, Scope
from bot.errors import BotError
from bot.execution import spend_state
from bot.execution.spend_state import SpendLine

log = logging.getLogger(__name__)
DAY_S = 86_400.0  # the quota trackers' rolling day (``routing/quota.py``); the guard's day is UTC's


def has_remote(repo: Path, remote: str) -> bool:
    if "/" in remote or ":" in remote:
        return True  # a URL or a path, not a name
    named = subprocess.run(
        ["git", "-C", str(repo), "remote", "get-url", remote], capture_output=True, text=True, check=False
    )
    return named.returncode == 0


def _same(call: CallRecord) -> tuple[float, str, Decimal]:
    return (call.ts, call.provider, call.cost)


def seed(ledger: Ledger, lines: Sequence[SpendLine], *, now: float) -> int:
    """Enter the last day's ``lines`` in ``ledger`` as calls of earlier jobs (run id
    ``carried:<run>``), skipping those it holds already; how many were entered."""
    since = now - DAY_S
    held = {_same(c) for c in ledger.calls(Scope(since=since))}
    entered = 0
    for line in lines:
        call = line.as_call()
        if line.at >= since and _same(call) not in held:
            ledger.record_call(call)
            held.add(_same(call))
            entered += 1
    return entered


class JobSpend:
    """The state branch as seen from one job: ``carry_in`` before it spends, ``carry_out`` after
    (as often as it likes: only calls not carried out yet are appended)."""

    def __init__(
        self, repo: Path, ledger_path: Path, *, remote: str = "origin", env: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:  # fmt: skip
        self._repo = repo
        self._ledger_path = ledger_path
        self._remote = remote
        self._env = env
        self._clock = clock
        self.shared = has_remote(repo, remote)
        self.lines: list[SpendLine] = []  # what the state branch held when carried in
        self._out: set[int] = set()  # ids of the calls carried out already
        self._lock = threading.Lock()  # items finish on worker threads too

    def carry_in(self) -> list[SpendLine]:
        """Read the state branch and enter its last day in the job's ledger; its lines."""
        if not self.shared:
            return []
        self.lines = spend_state.read(self._repo, remote=self._remote, env=self._env)
        ledger = Ledger(self._ledger_path)
        try:
            seed(ledger, self.lines, now=self._clock())
        finally:
            ledger.close()
        return self.lines

    def run_spent(self, run: str) -> Decimal:
        """What earlier jobs of ``run`` spent, as the state branch recorded it when carried in."""
        return sum((x.usd for x in self.lines if x.run == run), Decimal(0))

    def carry_out(self, run_id: str, *, key: str, run: str, budget: Decimal | None = None) -> Decimal:
        """Append the calls of ``run_id`` not appended yet; what they cost. ``budget``: the run's
        limit, recorded on its first line so that later jobs of the run know it."""
        if not self.shared:
            return Decimal(0)
        with self._lock:
            return self._carry_out(run_id, key=key, run=run, budget=budget)

    def _carry_out(self, run_id: str, *, key: str, run: str, budget: Decimal | None) -> Decimal:
        ledger = Ledger(self._ledger_path)
        try:
            calls = [c for c in ledger.calls(Scope(run_id=run_id)) if c.id not in self._out]
        finally:
            ledger.close()
        lines = spend_state.lines_for(calls, key=key, run=run, job=run_id)
        if not lines:
            return Decimal(0)
        first = not any(x.run == run for x in self.lines) and not self._out
        if first and budget is not None:
            lines[0] = dataclasses.replace(lines[0], budget=str(budget))
        total = sum((x.usd for x in lines), Decimal(0))
        spend_state.append(self._repo, lines, message=f"spend: {key} {run_id}: ${total}", remote=self._remote,
                           env=self._env)  # fmt: skip
        self._out.update(c.id for c in calls if c.id is not None)
        return total


@contextmanager
def spending(spend: JobSpend, run_id: str, *, key: str, run: str) -> Iterator[JobSpend]:
    """Carry in, spend, carry out; a failure to record after a failure is logged, the first kept."""
    spend.carry_in()
    try:
        yield spend
    except BaseException:
        try:
            spend.carry_out(run_id, key=key, run=run)
        except BotError as exc:
            log.warning("cannot record the spend of %s on %s: %s", run_id, spend_state.STATE_BRANCH, exc)
        raise
    spend.carry_out(run_id, key=key, run=run)
