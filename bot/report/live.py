"""The terminal view of a run: a live table on a terminal (rich), plain lines otherwise (CI logs)."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from bot.domain import Item, ItemStatus
from bot.report.progress import Board, usd
from bot.routing.driver import AttemptEvent

_STYLE = {
    ItemStatus.DONE: "green",
    ItemStatus.FAILED: "red",
    ItemStatus.BUDGET_EXCEEDED: "red",
    ItemStatus.SKIPPED: "yellow",
    ItemStatus.RUNNING: "cyan",
}


def table(board: Board) -> Table:
    # Titles, ids and notes come from issues and models: Text, never parsed as rich markup.
    out = Table(title=Text(board.summary()), title_justify="left", expand=False)
    for name, justify in (("item", "left"), ("state", "left"), ("tier", "left"), ("attempts", "right"),
                          ("spent", "right"), ("note", "left")):  # fmt: skip
        out.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in board.rows.values():
        state = row.status.value + (
            f" ({row.phase})" if row.phase and row.status is ItemStatus.RUNNING else ""
        )
        out.add_row(
            Text(row.id),
            Text(state, style=_STYLE.get(row.status, "")),
            Text(row.tier or "-"),
            str(row.attempts),
            usd(row.spent),
            Text(row.note[:100]),
        )
    return out


class TerminalProgress:
    """Feeds a ``Board`` from a run's callbacks and shows it. On a terminal the table redraws in
    place; otherwise (``live=False``, or output not a terminal) each event is one plain line."""

    def __init__(self, board: Board, *, console: Console | None = None, live: bool | None = None) -> None:
        self.board = board
        self._console = console or Console(highlight=False)
        self._live_on = self._console.is_terminal if live is None else live
        self._live: Live | None = None

    def __enter__(self) -> TerminalProgress:
        if self._live_on:
            self._live = Live(
                get_renderable=lambda: table(self.board), console=self._console, refresh_per_second=4
            )
            self._live.__enter__()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._live is not None:
            self._live.__exit__(kind, exc, tb)
            self._live = None

    def on_update(self, item: Item, note: str) -> None:
        self._emit(self.board.item(item, note))

    def on_attempt(self, event: AttemptEvent) -> None:
        self._emit(self.board.attempt(event))

    def _emit(self, line: str) -> None:
        if self._live is None:
            # Plain text: item titles and notes are untrusted, never rich markup.
            self._console.print(line, markup=False, highlight=False, soft_wrap=True)
