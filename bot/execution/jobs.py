"""The fan-out's jobs without GitHub: a ``work`` job runs its items from the checkout and leaves an
artifact; ``publish`` reads the artifacts back, integrates and re-validates them."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.budget.ledger import CallRecord, Ledger
from bot.config import Config
from bot.domain import Checklist, Item, ItemStatus, Verdict
from bot.errors import ChecklistError, ChecklistProblem
from bot.execution.fanout import BUNDLE, LEDGER, ItemOutcome, JobResult
from bot.execution.integrate import integrate
from bot.execution.item_loop import AttemptRecord, ItemResult
from bot.execution.run import run_milestone
from bot.execution.services import cost_summary
from bot.report.run_report import RunReport, render_markdown
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.validation.verdict import StageResult, ValidationVerdict
from bot.workspace.worktrees import Worktrees
from bot.workspace.worktrees import slug as slug_of


async def work_items(
    repo: Path,
    checklist: Checklist,
    item_ids: Sequence[str],
    *,
    config: Config,
    out: Path,
    job: str,
    budget: Decimal | None = None,
    env: Mapping[str, str] | None = None,
) -> JobResult:
    """One fan-out job: run ``item_ids`` from the checkout's HEAD (their dependencies are done and
    in it), with a ledger of the job's own, and leave the artifact in ``out``. No GitHub token."""
    known = {i.id for i in checklist.items}
    unknown = [i for i in item_ids if i not in known]
    if unknown:
        raise ChecklistError(
            "the checklist",
            [ChecklistProblem(0, f"no item {u!r}", "use an id from the matrix") for u in unknown],
        )
    selected = tuple(
        dataclasses.replace(i, depends_on=tuple(d for d in i.depends_on if d in item_ids))
        for i in checklist.items
        if i.id in item_ids
    )
    out.mkdir(parents=True, exist_ok=True)
    updates: dict[str, Any] = {
        "ledger": config.ledger.model_copy(update={"path": str((out / LEDGER).resolve())})
    }
    if budget is not None:
        updates["budget"] = config.budget.model_copy(update={"per_run_usd": budget})
    job_config = config.model_copy(update=updates)
    trees = Worktrees(repo)
    head = trees.resolve("HEAD")
    outcome = await run_milestone(
        repo,
        dataclasses.replace(checklist, items=selected),
        config=job_config,
        run_id=job,
        base_ref=head,
        env=env,
    )
    branch = ""
    commit = ""
    integration = outcome.integration
    validated = integration is not None and integration.verdict is not None and integration.verdict.accepted
    if validated and integration is not None and trees.bundle(out / BUNDLE, integration.branch, exclude=head):
        branch, commit = integration.branch, integration.commit
    items = []
    for item in outcome.checklist.items:
        result = outcome.report.results.get(item.id)
        history = (
            tuple((a.phase, a.tier, a.verdict.value, str(a.cost)) for a in result.attempts) if result else ()
        )
        # Done only if its work is in the bundle: a done item whose integration did not validate
        # has nothing to hand on.
        done = item.status is ItemStatus.DONE and bool(branch)
        status = ItemStatus.FAILED if item.status is ItemStatus.DONE and not done else item.status
        items.append(
            ItemOutcome(
                item.id,
                status.value,
                item.attempts,
                str(item.cost_usd),
                item.commit if done else "",
                outcome.report.notes.get(item.id, "") or (result.reason if result else ""),
                history,
                tuple((st.name, st.status) for st in result.verdict.stages)
                if result and result.verdict
                else (),
            )
        )
    job_result = JobResult(job, branch, commit, str(outcome.report.costs.total), tuple(items))
    job_result.write(out)
    (out / "report.md").write_text(render_markdown(outcome.report), encoding="utf-8")
    return job_result


async def publish_artifacts(
    repo: Path,
    checklist: Checklist,
    artifacts: Sequence[Path],
    *,
    config: Config,
    run_id: str,
    base_ref: str = "HEAD",
) -> RunReport:
    """Collect the fan-out jobs' artifacts: fetch their branches, integrate in dependency order,
    re-validate (scrubbed environment, no model: a conflict fails the item), and sum their ledgers
    into one cost table."""
    trees = Worktrees(repo)
    base = trees.resolve(base_ref)
    items = {i.id: i for i in checklist.items}
    results: dict[str, ItemResult] = {}
    notes: dict[str, str] = {}
    calls: list[CallRecord] = []
    for folder in artifacts:
        job = JobResult.read(folder)
        ref = f"milestone-bot/{run_id}/{slug_of(job.job)}"
        if job.branch:
            trees.fetch_bundle(folder / BUNDLE, job.branch, ref)
        if (folder / LEDGER).exists():
            job_ledger = Ledger(folder / LEDGER)
            try:
                calls += job_ledger.calls()
            finally:
                job_ledger.close()
        for outcome in job.items:
            if outcome.id not in items:
                notes[outcome.id] = f"in artifact {folder.name} but not in the checklist: ignored"
                continue
            status = ItemStatus(outcome.status)
            item = dataclasses.replace(
                items[outcome.id],
                status=status,
                attempts=items[outcome.id].attempts + outcome.attempts,
                cost_usd=items[outcome.id].cost_usd + Decimal(outcome.cost_usd),
                branch=ref if status is ItemStatus.DONE else "",
                commit=outcome.commit,
            )
            items[outcome.id] = item
            if outcome.reason and status is not ItemStatus.DONE:
                notes[outcome.id] = outcome.reason
            attempts = tuple(
                AttemptRecord(phase, tier, Verdict(verdict), Decimal(cost))  # type: ignore[arg-type]
                for phase, tier, verdict, cost in outcome.history
            )
            verdict = (
                ValidationVerdict(tuple(StageResult(name, status) for name, status in outcome.stages))  # type: ignore[arg-type]
                if outcome.stages
                else None
            )
            results[outcome.id] = ItemResult(item, attempts, outcome.reason, verdict)
    worked = dataclasses.replace(checklist, items=tuple(items[i.id] for i in checklist.items))
    validation = config.validation
    settings = Settings(timeout_s=validation.timeout_s, secrets=tuple(validation.secret_env))

    async def no_models(item: Item, on: str) -> Item:
        # The publish job runs no model-written code beyond re-validation: a conflict fails the item.
        notes[item.id] = "its branch conflicts with the other jobs' work; run it again in the next wave"
        return dataclasses.replace(item, status=ItemStatus.FAILED)

    integrated, integration = await integrate(
        worked, trees=trees, run_id=run_id, base_ref=base, redo=no_models,
        toolchain=toolchain(trees.repo_path, validation), settings=settings,
    )  # fmt: skip
    costs = cost_summary(config, calls)
    return RunReport(run_id, integrated, results, integration, costs, notes)
