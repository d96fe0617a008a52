"""The ``Work`` a command asks for, done in the repository checkout and shown on GitHub.

A run: a check run starts; the progress comment is edited in place as items and attempts move
(at most every few seconds, and at the end); the integrated branch gets the checklist file
committed on it and is pushed as ``milestone-bot/<key>`` (stable per milestone or issue, so a
re-run updates the same PR); the PR is opened or updated (draft when an item failed); the check
run ends with an explicit conclusion, and the report goes to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.app import build_router, open_ledger, plan_source, run_milestone
from bot.budget.ledger import Scope
from bot.config import Config
from bot.domain import CallScope, Checklist, Item, ItemStatus, Purpose
from bot.errors import BotError, WorkspaceError
from bot.events.handler import RunRequest, RunResult
from bot.github.bodies import pr_body, pr_title, progress_body
from bot.github.gateway import GitHubGateway, marker
from bot.models.base import ChatRequest, Message
from bot.planning.checklist_file import render, slug
from bot.planning.planner import PlanSource
from bot.report.money import usd
from bot.report.progress import Board
from bot.report.run_report import RunReport, render_markdown
from bot.routing.driver import AttemptEvent
from bot.workspace.worktrees import Worktrees

CHECK_NAME = "milestone-bot"
EDIT_EVERY_S = 5.0  # progress comment edits, at most this often (GitHub's secondary limits)


class RepoWork:
    def __init__(
        self,
        *,
        repo: Path,
        config: Config,
        gateway: GitHubGateway,
        base_branch: str,
        run_url: str = "",
        env: Mapping[str, str] | None = None,
        summary_path: Path | None = None,
        remote: str = "origin",
        clock: Callable[[], float] = time.monotonic,
        run_id: str = "",
    ) -> None:
        self._repo = repo
        self._config = config
        self._gh = gateway
        self._base = base_branch
        self._run_url = run_url
        self._env = env
        self._summary = summary_path
        self._remote = remote
        self._clock = clock
        self._run_id = run_id or time.strftime("%Y%m%d-%H%M%S")

    async def plan(self, source: PlanSource, *, budget: Decimal | None) -> Checklist:
        return await plan_source(
            self._repo,
            source,
            config=self._config,
            run_id=f"{self._run_id}-plan",
            env=self._env,
            budget_usd=budget,
        )

    def committed_checklist(self, key: str) -> Checklist | None:
        from bot.planning.checklist_file import parse

        path = self._repo / "checklists" / f"{slug(key)}.md"
        if not path.exists():
            return None
        return parse(path.read_text(encoding="utf-8"), file=str(path))

    async def summarize(self, system: str, prompt: str, *, budget: Decimal) -> tuple[str, Decimal]:
        tiers = self._config.tier_names
        tier = self._config.github.review_tier or (tiers[1] if len(tiers) > 1 else tiers[0])
        config = self._config.model_copy(
            update={"budget": self._config.budget.model_copy(update={"per_run_usd": budget})}
        )
        ledger = open_ledger(config, root=self._repo)
        router, _ = build_router(config, ledger=ledger, root=self._repo, env=self._env)
        run_id = f"{self._run_id}-review"
        try:
            scope = CallScope(run_id, Purpose.REVIEW)
            request = ChatRequest((Message("system", system), Message("user", prompt)), scope, max_tokens=600)
            completion = await router.complete(request, tier=tier)
            return completion.text, ledger.spent(Scope(run_id=run_id))
        finally:
            ledger.close()

    def parent(self, sha: str) -> str | None:
        try:
            return Worktrees(self._repo).resolve(f"{sha}^")
        except WorkspaceError:
            return None  # a root commit, or history the checkout does not have (fetch-depth 1)

    def _config_for(self, request: RunRequest) -> Config:
        config = self._config
        if request.budget is not None:
            # A command may lower the run's budget, never raise it past the configured limit.
            limit = config.budget.per_run_usd
            budget = request.budget if limit is None else min(limit, request.budget)
            config = config.model_copy(
                update={"budget": config.budget.model_copy(update={"per_run_usd": budget})}
            )
        if request.tier is not None:
            config = config.model_copy(
                update={"routing": config.routing.model_copy(update={"start_tier": request.tier})}
            )
        return config

    async def run(self, request: RunRequest, *, should_stop: Callable[[], bool]) -> RunResult:
        trees = Worktrees(self._repo)
        head = trees.resolve(request.start)
        check = self._gh.create_check_run(name=CHECK_NAME, head_sha=head)
        board = Board(request.checklist, budget=self._config_for(request).budget.per_run_usd)
        last_edit = [-EDIT_EVERY_S]

        def show(stage: str, *, force: bool = False) -> None:
            if request.issue is None:
                return
            if force or self._clock() - last_edit[0] >= EDIT_EVERY_S:
                last_edit[0] = self._clock()
                self._gh.upsert_comment(
                    request.issue,
                    marker("progress", request.key),
                    progress_body(board, key=request.key, stage=stage, run_url=self._run_url),
                )

        def on_update(item: Item, note: str) -> None:
            board.item(item, note)
            show("working", force=item.status is not ItemStatus.RUNNING)

        def on_attempt(event: AttemptEvent) -> None:
            board.attempt(event)
            show("working")

        show("starting", force=True)
        run_id = f"{self._run_id}-{slug(request.key)}"
        try:
            outcome = await run_milestone(
                self._repo,
                request.checklist,
                config=self._config_for(request),
                run_id=run_id,
                parallel=request.parallel,
                base_ref=head,
                env=self._env,
                on_update=on_update,
                on_attempt=on_attempt,
                should_stop=should_stop,
            )
        except Exception as exc:
            show(f"failed: {type(exc).__name__}", force=True)
            self._gh.finish_check_run(
                check,
                conclusion="failure",
                title="The run failed",
                summary=f"{type(exc).__name__}: {exc}"[:2000],
            )
            raise
        checklist = outcome.checklist
        report_md = render_markdown(outcome.report)
        if self._summary is not None:
            with self._summary.open("a", encoding="utf-8") as step_summary:
                step_summary.write(report_md + "\n")
        try:
            pull_number = publish_pull(
                self._gh,
                trees,
                run_id=run_id,
                start=head,
                report=outcome.report,
                key=request.key,
                base=request.target or self._base,
                closes=request.closes,
                remote=self._remote,
            )
        except BotError as exc:
            # The work is committed on the run's branches; only publishing failed. Say so, and
            # never leave the check run spinning.
            show("publishing failed", force=True)
            self._gh.finish_check_run(
                check,
                conclusion="failure",
                title="Publishing the result failed",
                summary=f"{exc}\n\n{report_md}",
            )
            raise
        conclusion, title, summary = conclude(outcome.report)
        spent = outcome.report.costs.total
        show(title, force=True)
        self._gh.finish_check_run(check, conclusion=conclusion, title=title, summary=report_md)
        return RunResult(checklist, spent, conclusion, summary, pull_number)


def publish_pull(
    gateway: GitHubGateway,
    trees: Worktrees,
    *,
    run_id: str,
    start: str,
    report: RunReport,
    key: str,
    base: str,
    closes: tuple[int, ...],
    remote: str = "origin",
) -> int | None:
    """Commit the checklist file on the run's validated integration, push it as
    ``milestone-bot/<key>`` and open or update the PR (draft when an item failed). None when
    there is nothing validated to publish."""
    checklist, integration = report.checklist, report.integration
    done = [i for i in checklist.items if i.status is ItemStatus.DONE]
    if not done or integration is None or integration.verdict is None or not integration.verdict.accepted:
        return None
    workspace = trees.create(run_id, "integrated", start)  # the integration's worktree, resumed
    path = workspace.path / "checklists" / f"{slug(key)}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(checklist), encoding="utf-8")
    commit = trees.commit(workspace.path, f"milestone-bot: checklist for {checklist.title}")
    branch = f"milestone-bot/{slug(key)}"
    trees.push(commit, branch, remote=remote)
    pull = gateway.upsert_pull(
        head=branch,
        base=base,
        title=pr_title(checklist.title),
        body=pr_body(report, closes=closes, key=key, branch=branch),
        draft=len(done) < len(checklist.items),
    )
    return pull.number


def conclude(report: RunReport) -> tuple[str, str, str]:
    """The check run's conclusion, title and a one-line summary: never green for nothing."""
    checklist, integration = report.checklist, report.integration
    done = [i for i in checklist.items if i.status is ItemStatus.DONE]
    validated = integration is not None and integration.verdict is not None and integration.verdict.accepted
    total = len(checklist.items)
    if not done:
        why = "; ".join(f"{i}: {n}" for i, n in report.notes.items()) or "no item finished"
        return "neutral", "Nothing was produced", f"No item was finished ({why}); nothing to open a PR with."
    if not validated:
        return (
            "failure",
            "The integrated branch did not validate",
            f"{len(done)} of {total} items done, but their integration failed validation.",
        )
    if len(done) < total:
        return (
            "failure",
            f"{len(done)} of {total} items done",
            f"{len(done)} of {total} items done; the PR is a draft.",
        )
    spent = usd(report.costs.total)
    return (
        "success",
        f"All {len(done)} items done",
        f"All {len(done)} items done and validated; spent {spent}.",
    )


REQUEST_FILE = "request.json"
CHECKLIST_FILE = "checklist.md"


class FanoutWork(RepoWork):
    """``Work`` for the event job of the fan-out workflow: it plans (when asked) like ``RepoWork``
    but does not run anything. It writes the checklist and the run's request to ``folder`` for the
    workflow to hand on (artifact), and names them in the step outputs; the matrix of ``work`` jobs
    runs the items and the ``publish`` job opens the PR."""

    def __init__(self, *, folder: Path, output: Path | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._folder = folder
        self._output = output

    async def run(self, request: RunRequest, *, should_stop: Callable[[], bool]) -> RunResult:
        self._folder.mkdir(parents=True, exist_ok=True)
        (self._folder / CHECKLIST_FILE).write_text(render(request.checklist), encoding="utf-8")
        saved = {
            "key": request.key,
            "issue": request.issue,
            "closes": list(request.closes),
            "start": Worktrees(self._repo).resolve(request.start),
            "target": request.target,
            "parallel": request.parallel,
            "budget": str(request.budget) if request.budget is not None else None,
            "tier": request.tier,
        }
        (self._folder / REQUEST_FILE).write_text(json.dumps(saved, indent=2), encoding="utf-8")
        if self._output is not None:
            with self._output.open("a", encoding="utf-8") as out:
                out.write(f"fanout=true\nkey={request.key}\nfolder={self._folder}\n")
        pending = [i for i in request.checklist.items if i.status is not ItemStatus.DONE]
        return RunResult(
            request.checklist,
            Decimal(0),
            "neutral",
            f"Handed {len(pending)} item(s) to the workflow's work jobs; the publish job opens the PR.",
        )


def read_request(folder: Path) -> RunRequest:
    """The request ``FanoutWork`` left, with the checklist as it is in the folder now."""
    from bot.planning.checklist_file import parse

    raw = json.loads((folder / REQUEST_FILE).read_text(encoding="utf-8"))
    checklist = parse(
        (folder / CHECKLIST_FILE).read_text(encoding="utf-8"), file=str(folder / CHECKLIST_FILE)
    )
    return RunRequest(
        checklist,
        raw["key"],
        raw["issue"],
        tuple(raw["closes"]),
        raw["parallel"],
        Decimal(raw["budget"]) if raw["budget"] else None,
        raw["tier"],
        raw["start"],
        raw["target"],
    )


@dataclass(frozen=True)
class Published:
    report: RunReport
    pull: int | None
    conclusion: str
    summary: str
    more: bool  # items wait for a later wave (their dependencies were in this one)


async def publish_fanout(
    repo: Path,
    folder: Path,
    artifacts: list[Path],
    *,
    config: Config,
    gateway: GitHubGateway,
    base_branch: str,
    run_id: str,
    run_url: str = "",
    summary_path: Path | None = None,
    remote: str = "origin",
) -> Published:
    """The publish job: integrate the work jobs' artifacts, re-validate, push, open or update the PR
    with the combined cost table, finish the check run, update the progress comment."""
    from bot.app import publish_artifacts
    from bot.execution.fanout import ready

    request = read_request(folder)
    trees = Worktrees(repo)
    check = gateway.create_check_run(name=CHECK_NAME, head_sha=request.start)
    report = await publish_artifacts(
        repo, request.checklist, artifacts, config=config, run_id=run_id, base_ref=request.start
    )
    (folder / CHECKLIST_FILE).write_text(render(report.checklist), encoding="utf-8")
    report_md = render_markdown(report)
    if summary_path is not None:
        with summary_path.open("a", encoding="utf-8") as step_summary:
            step_summary.write(report_md + "\n")
    pull = publish_pull(
        gateway, trees, run_id=run_id, start=request.start, report=report, key=request.key,
        base=request.target or base_branch, closes=request.closes, remote=remote,
    )  # fmt: skip
    conclusion, title, summary = conclude(report)
    more = bool(ready(report.checklist)) and any(i.status is ItemStatus.DONE for i in report.checklist.items)
    if more:
        summary += " More items are ready now that their dependencies are done: the next wave runs them."
    if request.issue is not None:
        board = Board(report.checklist, budget=config.budget.per_run_usd)
        for item in report.checklist.items:
            board.item(item, report.notes.get(item.id, ""))
        gateway.upsert_comment(
            request.issue,
            marker("progress", request.key),
            progress_body(board, key=request.key, stage=title, run_url=run_url),
        )
    gateway.finish_check_run(check, conclusion=conclusion, title=title, summary=report_md)
    return Published(report, pull, conclusion, summary, more)
