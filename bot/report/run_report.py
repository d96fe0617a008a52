"""The run report: what was done, how it was proven, what it cost. Pure functions over values."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal

from bot.domain import Checklist, ItemStatus
from bot.execution.integrate import Integration
from bot.execution.item_loop import ItemResult
from bot.report.cost import CostSummary
from bot.untrusted import redact

STAGES = ("syntax", "build", "red_proof", "new_tests", "affected_tests", "full_suite", "lint", "typecheck")
_MARK = {"passed": "✅", "failed": "❌", "skipped": "➖"}
_STATE = {
    ItemStatus.DONE: "done",
    ItemStatus.FAILED: "failed",
    ItemStatus.SKIPPED: "skipped",
    ItemStatus.BUDGET_EXCEEDED: "budget exceeded",
    ItemStatus.PENDING: "pending",
    ItemStatus.RUNNING: "running",
}


@dataclass(frozen=True)
class RunReport:
    run_id: str
    checklist: Checklist
    results: Mapping[str, ItemResult]
    integration: Integration | None
    costs: CostSummary
    notes: Mapping[str, str]  # item id -> why it was skipped or failed
    remarks: tuple[str, ...] = ()  # about the run as a whole (a tier skipped, ...)


def _usd(amount: Decimal) -> str:
    return (
        f"${amount.quantize(Decimal('0.0001'))}"
        if abs(amount) >= Decimal("0.01") or amount == 0
        else f"${amount.quantize(Decimal('0.000001'))}"
    )


def render_markdown(report: RunReport) -> str:
    c = report.checklist
    done = sum(1 for i in c.items if i.status is ItemStatus.DONE)
    out = [
        f"## milestone-bot run `{report.run_id}`: {c.title}",
        "",
        f"{done} of {len(c.items)} items done; spent {_usd(report.costs.total)}.",
    ]
    out += [f"Note: {remark}." for remark in report.remarks]
    if report.integration is not None:
        v = report.integration.verdict
        state = (
            "validated"
            if v is not None and v.accepted
            else ("not validated" if v is not None else "nothing to integrate")
        )
        out.append(
            f"Integrated branch `{report.integration.branch}` ({report.integration.commit[:10]}): {state}."
        )
    out += ["", "### Checklist", ""]
    for item in c.items:
        box = "x" if item.status is ItemStatus.DONE else " "
        note = report.notes.get(item.id, "")
        extra = f" — {_STATE[item.status]}" + (
            f": {note}" if note and item.status is not ItemStatus.DONE else ""
        )
        out.append(
            f"- [{box}] **{item.id}** {item.title}{extra} ({item.attempts} attempts, {_usd(item.cost_usd)})"
        )
    out += ["", "### Validation", "", "| item | " + " | ".join(STAGES) + " |", "|---|" + "---|" * len(STAGES)]
    for item in c.items:
        result = report.results.get(item.id)
        stages = {s.name: s.status for s in result.verdict.stages} if result and result.verdict else {}
        out.append(f"| {item.id} | " + " | ".join(_MARK.get(stages.get(s, ""), "") for s in STAGES) + " |")
    out += [
        "",
        "### Cost",
        "",
        "| tier | model | calls | failed | input tokens | output tokens | USD | share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in report.costs.rows:
        share = f"{row.cost / report.costs.total:.0%}" if report.costs.total else "-"
        cells = [
            row.tier,
            row.model,
            row.calls,
            row.failed,
            row.input_tokens,
            row.output_tokens,
            _usd(row.cost),
            share,
        ]
        out.append("| " + " | ".join(str(x) for x in cells) + " |")
    out.append(f"| **total** | | | | | | **{_usd(report.costs.total)}** | |")
    if report.costs.premium_only is not None and report.costs.savings is not None:
        out.append(
            f"\nThe premium tier alone ({report.costs.premium_model}) would have cost "
            f"{_usd(report.costs.premium_only)}: saved {_usd(report.costs.savings)}."
        )
    out += ["", "### Attempts", ""]
    for item in c.items:
        result = report.results.get(item.id)
        if not result or not result.attempts:
            continue
        path = " → ".join(f"{a.phase}@{a.tier}:{a.verdict.value}" for a in result.attempts)
        out.append(f"- **{item.id}**: {path}")
        out += _context_lines(result)
    sent = sum(a.context_bytes for r in report.results.values() for a in r.attempts)
    if sent:
        out += ["", f"Context sent to models: {_kb(sent)} in all (prompts and answers in `calls/`)."]
    return redact("\n".join(out) + "\n")


def _kb(size: int) -> str:
    return f"{size / 1000:.1f} KB"


def _context_lines(result: ItemResult) -> list[str]:
    """Per attempt: the context it sent and links to its saved calls (relative to the run folder)."""
    lines = []
    for n, a in enumerate(result.attempts, start=1):
        if not a.context_bytes and not a.calls:
            continue
        links = ", ".join(f"[call {k}]({c})" for k, c in enumerate(a.calls, start=1))
        lines.append(
            f"  - attempt {n} ({a.phase}@{a.tier}): {_kb(a.context_bytes)} of context"
            + (f"; {links}" if links else "")
        )
    return lines


def _stages(report: RunReport, item_id: str) -> dict[str, str]:
    result = report.results.get(item_id)
    return {s.name: s.status for s in result.verdict.stages} if result and result.verdict else {}


def to_json(report: RunReport) -> str:
    data = {
        "run_id": report.run_id,
        "ref": report.checklist.ref,
        "title": report.checklist.title,
        "remarks": list(report.remarks),
        "items": [
            {
                "id": i.id,
                "title": i.title,
                "status": i.status.value,
                "attempts": i.attempts,
                "cost_usd": str(i.cost_usd),
                "branch": i.branch,
                "commit": i.commit,
                "note": report.notes.get(i.id, ""),
                "history": [
                    {
                        "phase": a.phase,
                        "tier": a.tier,
                        "verdict": a.verdict.value,
                        "cost_usd": str(a.cost),
                        "context_bytes": a.context_bytes,
                        "calls": list(a.calls),
                    }
                    for a in (report.results[i.id].attempts if i.id in report.results else ())
                ],
                "stages": _stages(report, i.id),
            }
            for i in report.checklist.items
        ],
        "integration": None
        if report.integration is None
        else {
            "branch": report.integration.branch,
            "commit": report.integration.commit,
            "merged": list(report.integration.merged),
            "redone": list(report.integration.redone),
            "accepted": report.integration.verdict.accepted if report.integration.verdict else None,
        },
        "cost": {
            "total_usd": str(report.costs.total),
            "premium_only_usd": None if report.costs.premium_only is None else str(report.costs.premium_only),
            "rows": [
                {"tier": r.tier, "model": r.model, "calls": r.calls, "usd": str(r.cost)}
                for r in report.costs.rows
            ],
        },
    }
    return redact(json.dumps(data, indent=2))
