"""The run report shows the context each attempt sent, links its saved calls, and the total."""

from __future__ import annotations

import json
from decimal import Decimal

from bot.domain import Checklist, Item, ItemKind, ItemStatus, Verdict
from bot.execution.item_loop import AttemptRecord, ItemResult
from bot.report.cost import CostSummary
from bot.report.run_report import RunReport, render_markdown, to_json


def test_context_bytes_per_attempt_and_in_total_with_links_to_the_calls() -> None:
    item = Item("fix", "Fix it", kind=ItemKind.BUGFIX, status=ItemStatus.DONE, attempts=2)
    attempts = (
        AttemptRecord("change", "local", Verdict.FAILED, Decimal(0), "", 12_345, ("calls/fix-attempt0-call1-change.md",)),
        AttemptRecord("change", "premium", Verdict.PASSED, Decimal("0.01"), "", 8_000,
                      ("calls/fix-attempt1-call1-change.md", "calls/fix-attempt1-call2-change.md")),
    )  # fmt: skip
    report = RunReport(
        "r1", Checklist("local#build", "Fix", (item,)), {"fix": ItemResult(item, attempts, "validated")},
        None, CostSummary((), Decimal("0.01"), None, ""), {},
    )  # fmt: skip
    text = render_markdown(report)
    assert "attempt 1 (change@local): 12.3 KB of context; [call 1](calls/fix-attempt0-call1-change.md)" in text
    assert (
        "attempt 2 (change@premium): 8.0 KB of context; [call 1](calls/fix-attempt1-call1-change.md), "
        "[call 2](calls/fix-attempt1-call2-change.md)" in text
    )
    assert "Context sent to models: 20.3 KB in all" in text
    history = json.loads(to_json(report))["items"][0]["history"]
    assert [h["context_bytes"] for h in history] == [12_345, 8_000]
    assert history[1]["calls"][1] == "calls/fix-attempt1-call2-change.md"
