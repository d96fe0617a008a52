"""Speculative escalation: money for time, under a cap.

While an attempt is being validated (a test suite can take minutes), the attempt the policy would
make next if this one failed may already be running. If the attempt validates, the speculative
one is cancelled: what it cost so far is lost (a cancelled call is still recorded in the ledger,
see the router) and counted against ``cap``; if the attempt fails, the next one is already on its
way and the validation time was not waited for twice.

A speculative attempt is built before the current attempt's verdict, so it cannot receive that
attempt's diagnostics: it trades the feedback loop for time. It is therefore off unless
``routing.speculative`` is set.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from bot.budget.ledger import TierHistory
from bot.config import Routing


@dataclass
class SpeculationBudget:
    """What cancelled speculative attempts may cost in one run, and what they did cost."""

    cap: Decimal
    lost: Decimal = Decimal(0)
    started: int = 0
    cancelled: int = 0
    adopted: int = 0
    saved_s: float = 0.0  # time the adopted attempts were already running when their turn came
    losers: list[Decimal] = field(default_factory=list)

    def allows(self, tier: str, history: Mapping[str, TierHistory]) -> bool:
        """Start one more only while the losses so far, plus what the tier usually costs (when
        known), stay within the cap."""
        expected = history[tier].avg_cost if tier in history and history[tier].attempts else Decimal(0)
        return self.lost + expected <= self.cap and self.lost < self.cap

    def note_cancelled(self, cost: Decimal) -> None:
        self.cancelled += 1
        self.lost += cost
        self.losers.append(cost)

    def note_adopted(self, head_start_s: float) -> None:
        self.adopted += 1
        self.saved_s += head_start_s


def speculation_for(routing: Routing) -> SpeculationBudget | None:
    return SpeculationBudget(routing.speculative_cap_usd) if routing.speculative else None
