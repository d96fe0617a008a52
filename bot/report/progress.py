"""A run's progress as it happens: each item's state, phase, tier, attempts and spend.

``Board`` is plain state fed by the scheduler (item started / finished) and the driver (attempt
started / judged). Views read it: one line per event for logs (``Board`` returns them), the live
terminal table (``bot/report/live.py``), and the Markdown of a progress comment.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from bot.domain import Checklist, Item, ItemStatus, Verdict
from bot.report.money import usd
from bot.report.reasons import escalation, first_diagnostic
from bot.routing.driver import AttemptEvent


@dataclass
class ItemRow:
    id: str
    title: str
    status: ItemStatus
    phase: str = ""  # test or change, while running
    tier: str = ""
    attempts: int = 0
    spent: Decimal = Decimal(0)
    note: str = ""
    last: AttemptEvent | None = None  # the last judged attempt, to name an escalation


__all__ = ["Board", "ItemRow", "render_markdown", "usd"]


class Board:
    def __init__(
        self,
        checklist: Checklist,
        *,
        budget: Decimal | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.title = checklist.title
        self.budget = budget if budget is not None else checklist.budget_usd
        self._clock = clock
        self._started = clock()
        self.rows = {
            i.id: ItemRow(i.id, i.title, i.status, attempts=i.attempts, spent=i.cost_usd)
            for i in checklist.items
        }

    @property
    def elapsed(self) -> float:
        return self._clock() - self._started

    @property
    def spent(self) -> Decimal:
        return sum((r.spent for r in self.rows.values()), Decimal(0))

    def counts(self) -> dict[ItemStatus, int]:
        out: dict[ItemStatus, int] = {}
        for row in self.rows.values():
            out[row.status] = out.get(row.status, 0) + 1
        return out

    def item(self, item: Item, note: str) -> str:
        """The scheduler's news about an item; returns the log line."""
        row = self.rows.setdefault(item.id, ItemRow(item.id, item.title, item.status))
        row.status = item.status
        if item.status is not ItemStatus.RUNNING:
            row.phase = ""
            row.spent = max(row.spent, item.cost_usd)
            row.attempts = max(row.attempts, item.attempts)
        last = row.last
        if item.status in (ItemStatus.FAILED, ItemStatus.BUDGET_EXCEEDED) and last is not None:
            # The run's reason, and the last attempt's own: the same words as report.md.
            assert last.verdict is not None
            why = first_diagnostic(last.reason)
            own = f"last attempt {last.purpose.value}@{last.tier}: {last.verdict.value}" + (
                f" ({why})" if why else ""
            )
            base = note.removeprefix("budget_exceeded: ") if note != item.status.value else ""
            note = f"{base}; {own}" if base else own
        row.note = note if note != item.status.value else ""
        detail = f" {row.note}" if row.note else ""
        return f"[{self.elapsed:6.1f}s] {item.id:<20} {item.status.value:<15}{detail}".rstrip()

    def attempt(self, event: AttemptEvent) -> str:
        """The driver's news about an attempt; returns the log line."""
        row = self.rows.setdefault(event.item_id, ItemRow(event.item_id, event.item_id, ItemStatus.RUNNING))
        row.phase = event.purpose.value
        row.tier = event.tier
        if event.verdict is None:
            line = (
                f"[{self.elapsed:6.1f}s] {event.item_id:<20} {event.purpose.value:<6} attempt "
                f"{event.attempt + 1} on {event.tier}"
            )
            last = row.last
            if last is not None and last.tier != event.tier and last.verdict is not Verdict.PASSED:
                assert last.verdict is not None
                row.note = escalation(last.tier, last.verdict, first_diagnostic(last.reason), event.tier)
                line += f": {row.note}"
            return line
        row.attempts += 1
        row.spent += event.cost
        row.last = event
        why = first_diagnostic(event.reason) if event.verdict is not Verdict.PASSED else ""
        if why:
            row.note = f"{event.tier}: {event.verdict.value}: {why}"
        return (
            f"[{self.elapsed:6.1f}s] {event.item_id:<20} {event.purpose.value:<6} {event.tier}: "
            f"{event.verdict.value} ({usd(event.cost)}; run total {usd(self.spent)}{self._of_budget()})"
            + (f" — {why}" if why else "")
        )

    def _of_budget(self) -> str:
        return f" of {usd(self.budget)}" if self.budget is not None else ""

    def summary(self) -> str:
        counts = ", ".join(
            f"{n} {s.value}" for s, n in sorted(self.counts().items(), key=lambda x: x[0].value)
        )
        return f"{self.title}: {counts}; spent {usd(self.spent)}{self._of_budget()}; {self.elapsed:.0f}s"


def render_markdown(board: Board) -> str:
    """The board as a Markdown table (a progress comment, a job summary)."""
    lines = [
        f"**{board.title}** — spent {usd(board.spent)}{board._of_budget()}, {board.elapsed:.0f}s elapsed",
        "",
        "| item | state | tier | attempts | spent | note |",
        "| --- | --- | --- | ---: | ---: | --- |",
    ]
    for row in board.rows.values():
        state = row.status.value + (
            f" ({row.phase})" if row.phase and row.status is ItemStatus.RUNNING else ""
        )
        note = row.note.replace("|", "\\|").replace("\n", " ")[:120]
        lines.append(
            f"| `{row.id}` | {state} | {row.tier or '-'} | {row.attempts} | {usd(row.spent)} | {note} |"
        )
    return "\n".join(lines) + "\n"
