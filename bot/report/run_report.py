"""The run report: what was done, how it was proven, what it cost. Pure functions over values.

The same report serves report.md (``render_markdown``), report.json (``to_json``) and the PR body
(``render_pull``): one summary per item (files, tests added, the tier that succeeded, escalations
and why), every outcome with its reason (bot/report/reasons.py), the validation matrix with a
legend, and the cost table in tier order with the honest premium comparison.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Mapping
from dataclasses import dataclass

from bot.domain import Checklist, Item, ItemStatus, Verdict
from bot.execution.integrate import Integration
from bot.execution.item_loop import AttemptRecord, ItemResult
from bot.report.cost import CostSummary, savings_line, to_data
from bot.report.money import decimal_str, usd
from bot.report.reasons import attempt_reason, escalation, first_diagnostic, item_reason
from bot.untrusted import redact

STAGES = ("syntax", "build", "red_proof", "new_tests", "affected_tests", "full_suite", "lint", "typecheck")
_MARK = {"passed": "✅", "failed": "❌", "skipped": "➖"}
LEGEND = (
    "✅ passed · ❌ failed · ➖ skipped · blank: not run. red_proof: the new test failed on the base "
    "before the change (tests first); new_tests: it passes after; affected_tests / full_suite: "
    "nothing that passed before fails now."
)
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


def _attempts(report: RunReport, item_id: str) -> tuple[AttemptRecord, ...]:
    result = report.results.get(item_id)
    return result.attempts if result else ()


def reason(report: RunReport, item: Item) -> str:
    """Why the item is not done ('' when it is): the same words in every view."""
    if item.status is ItemStatus.DONE:
        return ""
    result = report.results.get(item.id)
    note = report.notes.get(item.id, "") or (result.reason if result else "")
    return item_reason(note, _attempts(report, item.id)) or _STATE[item.status]


def escalations(attempts: tuple[AttemptRecord, ...]) -> list[str]:
    """Each move to another tier within a phase, and why the tier before was left."""
    out = []
    for before, after in itertools.pairwise(attempts):
        if before.phase == after.phase and before.tier != after.tier and before.verdict is not Verdict.PASSED:
            out.append(escalation(before.tier, before.verdict, first_diagnostic(before.feedback), after.tier))
    return out


def _tier_that_succeeded(attempts: tuple[AttemptRecord, ...]) -> str:
    passed = [a for a in attempts if a.verdict is Verdict.PASSED and a.phase == "change"]
    return passed[-1].tier if passed else ""


def _attempts_word(count: int) -> str:
    return f"{count} attempt" + ("" if count == 1 else "s")


def _summary(report: RunReport, item: Item) -> list[str]:
    box = "x" if item.status is ItemStatus.DONE else " "
    attempts = _attempts(report, item.id)
    result = report.results.get(item.id)
    cost = f"{_attempts_word(item.attempts)}, {usd(item.cost_usd)}"
    if item.status is ItemStatus.DONE:
        tier = _tier_that_succeeded(attempts)
        head = f"- [{box}] **{item.id}** {item.title} — done" + (f" on {tier}" if tier else "") + f" ({cost})"
    else:
        head = (
            f"- [{box}] **{item.id}** {item.title} — {_STATE[item.status]}: {reason(report, item)} ({cost})"
        )
    lines = [head]
    if result is not None and result.files:
        lines.append(f"  - files: {', '.join(f'`{f}`' for f in result.files)}")
    if result is not None and result.tests_added:
        lines.append(f"  - tests added: {', '.join(f'`{t}`' for t in result.tests_added)}")
    lines += [f"  - {e}" for e in escalations(attempts)]
    if attempts:
        lines += [
            "",
            f"  <details><summary>{item.id}: {_attempts_word(len(attempts))}</summary>",
            "",
            *(f"  {n}. {attempt_reason(a)} — {usd(a.cost)}" for n, a in enumerate(attempts, start=1)),
            "",
            "  </details>",
            "",
        ]
    return lines


def _matrix(report: RunReport) -> list[str]:
    out = ["### Validation", "", "| item | " + " | ".join(STAGES) + " |", "|---|" + "---|" * len(STAGES)]
    for item in report.checklist.items:
        stages = _stages(report, item.id)
        out.append(f"| {item.id} | " + " | ".join(_MARK.get(stages.get(s, ""), "") for s in STAGES) + " |")
    return [*out, "", LEGEND]


def _costs(costs: CostSummary) -> list[str]:
    out = [
        "### Cost",
        "",
        "| tier | model | calls | failed | input tokens | output tokens | USD | share |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in costs.rows:
        share = f"{row.cost / costs.total:.0%}" if costs.total else "-"
        cells = [
            row.tier,
            row.model,
            row.calls,
            row.failed,
            row.input_tokens,
            row.output_tokens,
            usd(row.cost),
            share,
        ]
        out.append("| " + " | ".join(str(x) for x in cells) + " |")
    out.append(f"| **total** | | | | | | **{usd(costs.total)}** | |")
    line = savings_line(costs)
    return [*out, "", line] if line else out


def _integration_line(report: RunReport, branch: str) -> list[str]:
    if report.integration is None:
        return []
    v = report.integration.verdict
    state = (
        "validated"
        if v is not None and v.accepted
        else ("not validated" if v is not None else "nothing to integrate")
    )
    return [f"Branch `{branch or report.integration.branch}` ({report.integration.commit[:10]}): {state}."]


def _body(report: RunReport, *, heading: list[str], branch: str = "") -> str:
    c = report.checklist
    done = sum(1 for i in c.items if i.status is ItemStatus.DONE)
    out = [*heading, f"{done} of {len(c.items)} items done; spent {usd(report.costs.total)}."]
    out += [f"Note: {remark}." for remark in report.remarks]
    out += _integration_line(report, branch)
    out += ["", "### Items", ""]
    for item in c.items:
        out += _summary(report, item)
        result = report.results.get(item.id)
        out += _context_lines(result) if result else []
    sent = sum(a.context_bytes for r in report.results.values() for a in r.attempts)
    if sent:
        out += ["", f"Context sent to models: {_kb(sent)} in all (prompts and answers in `calls/`)."]
    out += ["", *_matrix(report), "", *_costs(report.costs)]
    return redact("\n".join(out).replace("\n\n\n", "\n\n") + "\n")


def render_markdown(report: RunReport) -> str:
    """report.md."""
    return _body(report, heading=[f"## {report.checklist.title}", "", f"Run `{report.run_id}`."])


def render_pull(report: RunReport, *, branch: str) -> str:
    """A PR body: the milestone or issue title as heading, and the PR's own branch."""
    return _body(report, heading=[f"## {report.checklist.title}", ""], branch=branch)


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
                "reason": reason(report, i),
                "attempts": i.attempts,
                "cost_usd": decimal_str(i.cost_usd),
                "branch": i.branch,
                "commit": i.commit,
                "note": report.notes.get(i.id, ""),
                "tier": _tier_that_succeeded(_attempts(report, i.id)),
                "files": list(report.results[i.id].files) if i.id in report.results else [],
                "tests_added": list(report.results[i.id].tests_added) if i.id in report.results else [],
                "escalations": escalations(_attempts(report, i.id)),
                "history": [
                    {
                        "phase": a.phase,
                        "tier": a.tier,
                        "verdict": a.verdict.value,
                        "reason": first_diagnostic(a.feedback) if a.verdict is not Verdict.PASSED else "",
                        "cost_usd": decimal_str(a.cost),
                        "context_bytes": a.context_bytes,
                        "calls": list(a.calls),
                        "note": a.note,
                    }
                    for a in _attempts(report, i.id)
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
            **to_data(report.costs),
            "rows": [
                {
                    "tier": r.tier,
                    "model": r.model,
                    "calls": r.calls,
                    "failed": r.failed,
                    "usd": decimal_str(r.cost),
                }
                for r in report.costs.rows
            ],
        },
    }
    return redact(json.dumps(data, indent=2))
