"""The budget guard: refuses a call whose worst case could pass any limit, before it is made.

Each call reserves its worst-case cost in the ledger inside the same transaction that checks every
limit (attempt, item, run, UTC day), and the reservation is replaced by the real cost when the call
ends. So parallel calls, in one process or several, cannot overspend together. A reservation of a
process that died is released at the next check (it records its pid and start time); the expiry is
only the backstop for processes on other machines.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from bot.budget.ledger import Ledger, Scope
from bot.config import Budget
from bot.domain import CallScope
from bot.errors import BudgetExceeded
from bot.report.money import usd

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Limit:
    name: str  # per_attempt, per_item, per_run, per_day
    usd: Decimal
    scope: Scope


def utc_midnight(now: float) -> float:
    day = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day.timestamp()


class BudgetGuard:
    def __init__(
        self,
        ledger: Ledger,
        budget: Budget,
        *,
        clock: Callable[[], float] = time.time,
        reservation_ttl_s: float = 3600.0,
    ) -> None:
        self._ledger = ledger
        self._budget = budget
        self._clock = clock
        self._ttl = reservation_ttl_s
        self._warned: set[tuple[str, Scope]] = set()
        self.warnings: list[str] = []  # crossed warning thresholds, in order, for reports

    def limits(self, scope: CallScope) -> list[Limit]:
        b = self._budget
        candidates = [
            ("per_attempt", b.per_attempt_usd, Scope(scope.run_id, scope.item_id, scope.attempt)),
            ("per_item", b.per_item_usd, Scope(scope.run_id, scope.item_id)),
            ("per_run", b.per_run_usd, Scope(scope.run_id)),
            ("per_day", b.per_day_usd, Scope(since=utc_midnight(self._clock()))),
        ]
        return [Limit(name, usd, s) for name, usd, s in candidates if usd is not None]

    def reserve(self, scope: CallScope, amount: Decimal) -> int:
        """Reserve ``amount`` against every limit or raise ``BudgetExceeded``; returns the reservation."""
        limits = self.limits(scope)
        with self._ledger.write() as db:
            self._ledger.drop_dead_reservations(db)
            for limit in limits:
                committed = self._ledger.committed(db, limit.scope)
                if committed + amount > limit.usd:
                    raise BudgetExceeded(
                        limit=limit.name, limit_usd=limit.usd, spent_usd=committed, needed_usd=amount
                    )
            return self._ledger.add_reservation(
                db, Scope(scope.run_id, scope.item_id, scope.attempt), amount, ttl_s=self._ttl
            )

    def release(self, reservation: int) -> None:
        self._ledger.release(reservation)

    def remaining(self, scope: CallScope) -> Decimal | None:
        """The least money left under any limit; None when nothing limits this scope."""
        limits = self.limits(scope)
        if not limits:
            return None
        with self._ledger.write() as db:
            self._ledger.drop_dead_reservations(db)
            return min(limit.usd - self._ledger.committed(db, limit.scope) for limit in limits)

    def note_spend(self, scope: CallScope) -> list[str]:
        """After a call: report each limit whose warning threshold was crossed for the first time."""
        fresh: list[str] = []
        limits = self.limits(scope)
        if not limits:
            return fresh
        with self._ledger.write() as db:
            for limit in limits:
                key = (limit.name, limit.scope)
                if key in self._warned or limit.usd == 0:
                    continue
                committed = self._ledger.committed(db, limit.scope)
                if committed >= limit.usd * self._budget.warn_fraction:
                    self._warned.add(key)
                    fresh.append(
                        f"budget {limit.name}: {usd(committed)} of {usd(limit.usd)} used "
                        f"({committed / limit.usd:.0%})"
                    )
        for message in fresh:
            log.warning(message)
        self.warnings.extend(fresh)
        return fresh
