"""The run's progress board and its views: log lines, the live terminal table, Markdown."""

from __future__ import annotations

import io
from decimal import Decimal

from rich.console import Console

from bot.domain import Checklist, Item, ItemStatus, Purpose, Verdict
from bot.report.live import TerminalProgress, table
from bot.report.progress import Board, render_markdown
from bot.routing.driver import AttemptEvent

CHECKLIST = Checklist(
    "m#1", "Calc", (Item("a", "Add a"), Item("b", "Add b", depends_on=("a",))), budget_usd=Decimal("1")
)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_board_follows_items_and_attempts() -> None:
    clock = Clock()
    board = Board(CHECKLIST, clock=clock)
    running = Item("a", "Add a", status=ItemStatus.RUNNING)
    assert board.item(running, "started") == "[   0.0s] a                    running         started"
    clock.now += 1.5
    assert board.attempt(AttemptEvent("a", Purpose.TEST, "local", 0)).endswith(
        "a                    test   attempt 1 on local"
    )
    line = board.attempt(AttemptEvent("a", Purpose.TEST, "local", 0, Verdict.FAILED, Decimal("0.25")))
    assert line.endswith("test   local: failed ($0.25; run total $0.25 of $1.00)")
    board.attempt(AttemptEvent("a", Purpose.CHANGE, "premium", 1, Verdict.PASSED, Decimal("0.5")))
    row = board.rows["a"]
    assert (row.status, row.phase, row.tier, row.attempts, row.spent) == (
        ItemStatus.RUNNING,
        "change",
        "premium",
        2,
        Decimal("0.75"),
    )
    board.item(Item("a", "Add a", status=ItemStatus.DONE, attempts=2, cost_usd=Decimal("0.75")), "done")
    board.item(Item("b", "Add b", status=ItemStatus.SKIPPED), "dependency a ended failed")
    assert board.rows["a"].phase == "" and board.spent == Decimal("0.75")
    assert board.summary() == "Calc: 1 done, 1 skipped; spent $0.75 of $1.00; 2s"


def test_attempts_say_why_and_escalations_are_named() -> None:
    board = Board(CHECKLIST, clock=Clock())
    feedback = "stage new_tests failed\n  tests/test_div.py::test_div: AssertionError: assert 3 == 3.5"
    line = board.attempt(
        AttemptEvent("a", Purpose.CHANGE, "local", 1, Verdict.FAILED, Decimal("0.001"), feedback)
    )
    assert line.endswith(
        "local: failed ($0.001; run total $0.001 of $1.00) — rejected at new_tests: "
        "tests/test_div.py::test_div: AssertionError: assert 3 == 3.5"
    )
    line = board.attempt(AttemptEvent("a", Purpose.CHANGE, "fast", 2))
    assert line.endswith(
        "attempt 3 on fast: escalating to fast: local was rejected at new_tests: "
        "tests/test_div.py::test_div: AssertionError: assert 3 == 3.5"
    )
    assert board.rows["a"].note.startswith("escalating to fast: local was rejected at new_tests")
    line = board.attempt(
        AttemptEvent("a", Purpose.CHANGE, "fast", 2, Verdict.ERROR, Decimal(0), "tier 'fast': no provider")
    )
    assert line.endswith("— tier 'fast': no provider")


def test_markdown_escapes_table_breaking_notes() -> None:
    board = Board(CHECKLIST, clock=Clock())
    board.item(Item("b", "Add b", status=ItemStatus.FAILED), "bad | note\nsecond line")
    text = render_markdown(board)
    assert "| `b` | failed | - | 0 | $0.00 | bad \\| note second line |" in text
    assert text.count("\n| `") == 2


def test_plain_lines_when_not_a_terminal() -> None:
    out = io.StringIO()
    view = TerminalProgress(Board(CHECKLIST, clock=Clock()), console=Console(file=out, width=200))
    with view:
        view.on_update(Item("a", "Add a", status=ItemStatus.RUNNING), "started [bold]x[/] [/oops]")
        view.on_attempt(AttemptEvent("a", Purpose.TEST, "local", 0))
    lines = out.getvalue().splitlines()
    assert lines == [
        "[   0.0s] a                    running         started [bold]x[/] [/oops]",  # markup shown as is
        "[   0.0s] a                    test   attempt 1 on local",
    ]


def test_live_table_on_a_terminal() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True, color_system=None)
    board = Board(CHECKLIST, clock=Clock())
    with TerminalProgress(board, console=console) as view:
        view.on_update(Item("a", "Add a", status=ItemStatus.RUNNING), "started")
        view.on_attempt(AttemptEvent("a", Purpose.CHANGE, "fast", 0))
        view.on_update(Item("b", "Add b", status=ItemStatus.FAILED), "[/oops] not markup")
    text = out.getvalue()
    assert "running (change)" in text and "fast" in text and "[/oops] not markup" in text
    assert "attempt 1 on" not in text  # a live table, not log lines
    rendered = io.StringIO()
    Console(file=rendered, width=120, color_system=None).print(table(board))
    assert "Calc: 1 failed, 1 running; spent $0.00 of $1.00" in rendered.getvalue()


def test_a_failed_item_shows_its_reason_not_just_failed() -> None:
    board = Board(CHECKLIST, clock=Clock())
    feedback = "stage lint failed\n  calc/ops.py:1: F401 `os` imported but unused"
    board.attempt(AttemptEvent("a", Purpose.CHANGE, "premium", 3, Verdict.FAILED, Decimal("0.01"), feedback))
    line = board.item(Item("a", "Add a", status=ItemStatus.FAILED), "every tier on the ladder was tried")
    assert line.endswith(
        "failed          every tier on the ladder was tried; last attempt change@premium: failed "
        "(rejected at lint: calc/ops.py:1: F401 `os` imported but unused)"
    )
    assert board.rows["a"].note.startswith("every tier on the ladder was tried; last attempt")
