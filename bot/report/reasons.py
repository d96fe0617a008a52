"""Why an attempt or an item ended as it did, in the same words in every view: the live table,
the plain progress lines, report.md, report.json and the PR body."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.domain import Verdict

LIMIT = 200


class _Attempt(Protocol):
    @property
    def phase(self) -> str: ...
    @property
    def tier(self) -> str: ...
    @property
    def verdict(self) -> Verdict: ...
    @property
    def feedback(self) -> str: ...


def first_diagnostic(feedback: str) -> str:
    """The stage and its first diagnostic from validation feedback ("stage new_tests failed" then
    indented diagnostics), or the first line of any other text (an edit problem, a transport error)."""
    lines = [line.strip() for line in feedback.splitlines() if line.strip()]
    if not lines:
        return ""
    head = lines[0]
    if head.startswith("stage ") and " failed" in head:
        stage = head.removeprefix("stage ").split(" failed", 1)[0]
        note = head.split(" failed", 1)[1].lstrip(": ")
        detail = lines[1] if len(lines) > 1 and not lines[1].startswith("stage ") else note
        text = f"rejected at {stage}" + (f": {detail}" if detail else "")
    else:
        text = head
    return text if len(text) <= LIMIT else text[: LIMIT - 1] + "…"


def attempt_reason(attempt: _Attempt) -> str:
    """``change@local: failed (rejected at new_tests: tests/...: AssertionError ...)``"""
    why = first_diagnostic(attempt.feedback) if attempt.verdict is not Verdict.PASSED else ""
    return f"{attempt.phase}@{attempt.tier}: {attempt.verdict.value}" + (f" ({why})" if why else "")


def item_reason(note: str, attempts: Sequence[_Attempt]) -> str:
    """Why an item is not done: the run's note (the ladder ran out, a dependency failed, the
    budget), and the last rejected attempt's own reason."""
    last = next((a for a in reversed(attempts) if a.verdict is not Verdict.PASSED), None)
    # The driver's budget stop reads "budget_exceeded: <the guard's message>"; the status says it.
    note = note.removeprefix("budget_exceeded: ")
    parts = [note] if note else []
    if last is not None:
        parts.append(f"last attempt {attempt_reason(last)}")
    return "; ".join(parts)


def escalation(previous_tier: str, verdict: Verdict, reason: str, next_tier: str) -> str:
    """``escalating to fast: local was rejected at new_tests: ...``"""
    what = reason or verdict.value
    was = what if what.startswith("rejected") else f"{verdict.value}: {what}" if reason else what
    return f"escalating to {next_tier}: {previous_tier} was {was}"
