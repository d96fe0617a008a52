"""The fan-out's jobs without GitHub: a ``work`` job runs its items from the checkout and leaves an
artifact; ``publish`` reads the artifacts back, integrates and re-validates them."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from bot.budget.ledger import CallRecord, Ledger, Scope
from bot.config import Config
from bot.domain import Checklist, Item, ItemStatus, Verdict
from bot.errors import ChecklistError, ChecklistProblem
from bot.execution import spend_state
from bot.execution.carry import carry_over, restore, without_merges
from bot.execution.fanout import BUNDLE, LEDGER, RESULT, Grant, ItemOutcome, JobResult
from bot.execution.integrate import integrate
from bot.execution.item_loop import AttemptRecord, ItemResult
from bot.execution.options import SPEND_LINES, RunOptions, read_options
from bot.execution.run import run_milestone
from bot.execution.services import cost_summary, sandbox_for
from bot.models.base import Usage
from bot.report.money import decimal_str
from bot.report.run_report import RunReport, render_markdown
from bot.validation.detect import toolchain
from bot.validation.environment import prepare as prepare_environment
from bot.validation.verdict import StageResult, ValidationVerdict
from bot.workspace.runs import RUNS_DIR
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
    request: Path | None = None,
) -> JobResult:
    """One fan-out job: run ``item_ids`` from the checkout's HEAD (their dependencies are done and
    in it), with a ledger of the job's own, and leave the artifact in ``out``. No GitHub token.

    ``request`` is the folder the event job handed on: the command's ``--tier`` and ``--parallel``
    apply here, and today's spend from earlier jobs (``spend.jsonl``) is entered in the job's
    ledger, so the day's limit and the providers' quotas count it."""
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
    asked = read_options(request) if request is not None else RunOptions()
    if asked.tier is not None and asked.tier in config.tiers:
        updates["routing"] = config.routing.model_copy(update={"start_tier": asked.tier})
    job_config = config.model_copy(update=updates)
    if request is not None and (request / SPEND_LINES).exists():
        seed_ledger(out / LEDGER, spend_state.parse((request / SPEND_LINES).read_text(encoding="utf-8")))
    trees = Worktrees(repo)
    head = trees.resolve("HEAD")
    outcome = await run_milestone(
        repo,
        dataclasses.replace(checklist, items=selected),
        config=job_config,
        run_id=job,
        base_ref=head,
        env=env,
        parallel=asked.parallel,
        on_update=lambda item, note: print(
            f"{job}: {item.id}: {item.status.value} {note}".rstrip(), flush=True
        ),
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
            tuple((a.phase, a.tier, a.verdict.value, decimal_str(a.cost)) for a in result.attempts)
            if result
            else ()
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
                decimal_str(item.cost_usd),
                item.commit if done else "",
                outcome.report.notes.get(item.id, "") or (result.reason if result else ""),
                history,
                tuple((st.name, st.status) for st in result.verdict.stages)
                if result and result.verdict
                else (),
                context_of(result),
            )
        )
    carry_calls(trees.repo_path / RUNS_DIR / job, out)
    job_result = JobResult(job, branch, commit, decimal_str(outcome.report.costs.total), tuple(items))
    job_result.write(out)
    (out / "report.md").write_text(render_markdown(outcome.report), encoding="utf-8")
    return job_result


# The workflow uploads each work job's ``work/`` folder as ``milestone-bot-work-<job>`` and the
# publish job downloads every artifact into its own folder (no ``merge-multiple``): merged, one
# job's artifact could overwrite another's results, bundle or ledger.
ARTIFACT_PREFIX = "milestone-bot-work-"


def artifact_folders(downloads: Path) -> list[Path]:
    """The job folders to publish from ``downloads``: ``<job>/`` directly (the CLI's own layout), or
    ``milestone-bot-work-<job>/<job>/`` from the workflow, where only the folder of the job the
    artifact is named for counts (a job that ran model-written code may have planted others)."""
    found: list[Path] = []
    for entry in sorted(p for p in downloads.iterdir() if p.is_dir()):
        if entry.name.startswith(ARTIFACT_PREFIX):
            entry = entry / entry.name.removeprefix(ARTIFACT_PREFIX)
        if (entry / RESULT).is_file():
            found.append(entry)
    return found


async def publish_artifacts(
    repo: Path,
    checklist: Checklist,
    artifacts: Sequence[Path],
    *,
    config: Config,
    run_id: str,
    base_ref: str = "HEAD",
    plan: Mapping[str, Grant] | None = None,
) -> tuple[RunReport, list[CallRecord]]:
    """Collect the fan-out jobs' artifacts: fetch their branches, integrate in dependency order,
    re-validate (scrubbed environment, no model: a conflict fails the item), and sum their ledgers
    into one cost table. Also returns the jobs' calls, for the spend state.

    An artifact is written by a job that ran model-written code, so nothing in it is believed
    unchecked: a done item needs a full commit id that its own bundle holds and the start commit
    does not (else it failed); with ``plan`` (the matrix, recomputed), an artifact answers for its
    folder's job and that job's items only, and a job whose ledger is missing or names another job
    is charged the whole slice it was given (the worst case), which the report says."""
    trees = Worktrees(repo)
    base = trees.resolve(base_ref)
    run_dir = trees.repo_path / RUNS_DIR / run_id  # the calls' links are relative to it
    items = {i.id: i for i in checklist.items}
    results: dict[str, ItemResult] = {}
    notes: dict[str, str] = {}
    remarks: list[str] = []
    calls: list[CallRecord] = []
    for folder in artifacts:
        job = JobResult.read(folder)
        grant = plan.get(folder.name) if plan is not None else None
        if plan is not None and grant is None:
            remarks.append(f"artifact {folder.name} is no job of this wave's matrix: ignored")
            continue
        name = folder.name if plan is not None else job.job
        ref = f"milestone-bot/{run_id}/{slug_of(name)}"
        if job.branch:
            trees.fetch_bundle(folder / BUNDLE, job.branch, ref)
        copied = carry_calls(folder, run_dir / slug_of(name))
        calls += _spend(folder, job, grant, remarks)
        for outcome in job.items:
            if outcome.id not in items:
                notes[outcome.id] = f"in artifact {folder.name} but not in the checklist: ignored"
                continue
            if grant is not None and outcome.id not in grant.items:
                remarks.append(f"artifact {folder.name} reported {outcome.id}, not one of its items: ignored")
                continue
            status = ItemStatus(outcome.status)
            reason = outcome.reason
            if status is ItemStatus.DONE:
                problem = _unverified(trees.repo_path, outcome.commit, ref if job.branch else "", base)
                if problem:
                    status, reason = ItemStatus.FAILED, problem
            done = status is ItemStatus.DONE
            item = dataclasses.replace(
                items[outcome.id],
                status=status,
                attempts=items[outcome.id].attempts + outcome.attempts,
                cost_usd=items[outcome.id].cost_usd + Decimal(outcome.cost_usd),
                branch=ref if done else "",
                commit=outcome.commit if done else "",
            )
            items[outcome.id] = item
            if reason and not done:
                notes[outcome.id] = reason
            attempts = tuple(
                AttemptRecord(phase, tier, Verdict(verdict), Decimal(cost))  # type: ignore[arg-type]
                for phase, tier, verdict, cost in outcome.history
            )
            verdict = (
                ValidationVerdict(tuple(StageResult(name, status) for name, status in outcome.stages))  # type: ignore[arg-type]
                if outcome.stages
                else None
            )
            attempts = with_context(attempts, outcome.context, copied=copied, prefix=slug_of(name))
            results[outcome.id] = ItemResult(item, attempts, reason, verdict)
    worked = dataclasses.replace(checklist, items=tuple(items[i.id] for i in checklist.items))
    # Items done by earlier waves are in the start commit (the PR branch): never merged again.
    carried = carry_over(trees.repo_path, worked, base)
    notes.update(carried.notes)
    validation = config.validation
    environment, settings = await prepare_environment(
        trees.repo_path, validation, sandbox=sandbox_for(config, root=trees.repo_path)
    )

    async def no_models(item: Item, on: str) -> Item:
        # The publish job runs no model-written code beyond re-validation: a conflict fails the item.
        notes[item.id] = "its branch conflicts with the other jobs' work; run it again in the next wave"
        return dataclasses.replace(item, status=ItemStatus.FAILED)

    integrated, integration = await integrate(
        without_merges(carried.checklist, carried.in_base), trees=trees, run_id=run_id, base_ref=base,
        redo=no_models, toolchain=toolchain(trees.repo_path, validation, python=environment.python),
        settings=settings,
    )  # fmt: skip
    integrated = restore(integrated, carried.checklist, carried.in_base)
    costs = cost_summary(config, calls)
    return RunReport(run_id, integrated, results, integration, costs, notes, tuple(remarks)), calls


FULL_SHA = re.compile(r"[0-9a-f]{40}")


def _is_ancestor(repo: Path, commit: str, of: str) -> bool:
    found = subprocess.run(
        ["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", "merge-base", "--is-ancestor", commit, of],
        capture_output=True, check=False,
    )  # fmt: skip
    return found.returncode == 0


def _unverified(repo: Path, commit: str, ref: str, base: str) -> str:
    """Why a work job's "done" cannot be believed ('' when it can): its commit must be a full id
    (never an option or another ref: it reaches ``git merge``), in the job's own bundle, and new."""
    if not FULL_SHA.fullmatch(commit):
        return "the work job reported done without a commit"
    if not ref or not _is_ancestor(repo, commit, f"refs/heads/{ref}"):
        return "the work job reported done with a commit that is not in its bundle"
    if _is_ancestor(repo, commit, base):
        return "the work job reported done with a commit already in the start commit"
    return ""


def _spend(folder: Path, job: JobResult, grant: Grant | None, remarks: list[str]) -> list[CallRecord]:
    """The job's own calls from its ledger (not the lines it was seeded with: paid for before). With
    a grant, a missing ledger or one under another job's name cannot be believed: the job is charged
    its whole slice, or what it says it spent when it had no slice."""
    own = (folder / LEDGER).exists() and (grant is None or job.job == folder.name)
    if own:
        job_ledger = Ledger(folder / LEDGER)
        try:
            return job_ledger.calls(Scope(run_id=job.job))
        finally:
            job_ledger.close()
    if grant is None:
        return []
    why = "no ledger" if not (folder / LEDGER).exists() else f"a ledger for {job.job!r}"
    if grant.budget is not None:
        charged, what = grant.budget, "the whole slice it was given"
    else:
        what = "what it says it spent (it had no slice)"
        try:
            charged = Decimal(job.spent_usd)
        except (InvalidOperation, TypeError):
            charged = Decimal(0)
        charged = charged if charged.is_finite() and charged > 0 else Decimal(0)
    remarks.append(f"job {folder.name} left {why}: charged {what}, ${decimal_str(charged)}")
    return [
        CallRecord(
            run_id=folder.name, item_id="", attempt=0, purpose="unverified", tier="unverified",
            provider="unverified", model="", usage=Usage(0, 0), cost=charged, latency_s=0.0, outcome="ok",
            ts=time.time(),
        )
    ]  # fmt: skip


# -- context bytes and saved calls through the artifacts (the single-job report shows them too) ----
CALLS = "calls"


def context_of(result: ItemResult | None) -> tuple[tuple[int, tuple[str, ...]], ...]:
    """Per attempt: its context bytes and its saved calls (``calls/<file>``, relative to the job's
    run folder, which ``carry_calls`` copies into the artifact as they are)."""
    return tuple((a.context_bytes, a.calls) for a in result.attempts) if result else ()


def carry_calls(source: Path, dest: Path) -> bool:
    """Copy ``source``'s saved calls (``source/calls``) to ``dest/calls``; False when there are none."""
    calls = source / CALLS
    if not calls.is_dir():
        return False
    shutil.copytree(calls, dest / CALLS, dirs_exist_ok=True)
    return True


def with_context(
    attempts: tuple[AttemptRecord, ...],
    context: Sequence[tuple[int, tuple[str, ...]]],
    *,
    copied: bool,
    prefix: str,
) -> tuple[AttemptRecord, ...]:
    """The publish report's attempts with the work job's context bytes, and links to the calls
    copied under ``prefix`` in the publish run's folder (none when the artifact had no calls)."""
    if len(context) != len(attempts):  # an artifact from before the field: nothing to add
        return attempts
    return tuple(
        dataclasses.replace(
            a, context_bytes=size, calls=tuple(f"{prefix}/{c}" for c in calls) if copied else ()
        )
        for a, (size, calls) in zip(attempts, context, strict=True)
    )


def seed_ledger(path: Path, lines: Sequence[spend_state.SpendLine]) -> None:
    """Enter earlier jobs' spend in a job's ledger (run id ``carried:<run>``): the guard's day limit
    and the quota trackers see it; the job's own cost table does not."""
    ledger = Ledger(path)
    try:
        for line in lines:
            ledger.record_call(line.as_call())
    finally:
        ledger.close()


def show_progress(job: str, item: Item, note: str) -> None:
    """A work job holds no GitHub token, so its progress goes to its log, live in the Actions UI
    (the progress comment links the workflow run)."""
    print(f"{job}: {item.id}: {item.status.value} {note}".rstrip(), flush=True)
