"""The ``Work`` a command asks for, done in the repository checkout and shown on GitHub.

A run: a check run starts; the progress comment is edited in place as items and attempts move
(at most every few seconds, and at the end); the integrated branch gets the checklist file
committed on it and is pushed as ``milestone-bot/<key>`` (stable per milestone or issue, so a
re-run updates the same PR); the PR is opened or updated (draft when an item failed); the check
run ends with an explicit conclusion, and the report goes to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

from bot.app import build_router, open_ledger, plan_source, run_milestone
from bot.budget.ledger import Scope
from bot.config import Config
from bot.domain import CallScope, Checklist, Item, ItemStatus, Purpose
from bot.errors import WorkspaceError
from bot.events.handler import RunRequest, RunResult
from bot.github.bodies import pr_body, pr_title, progress_body
from bot.github.gateway import GitHubGateway
from bot.models.base import ChatRequest, Message
from bot.planning.checklist_file import render, slug
from bot.planning.planner import PlanSource
from bot.report.progress import Board
from bot.report.run_report import render_markdown
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
                    f"<!-- milestone-bot:progress:{request.key} -->",
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
        done = [i for i in checklist.items if i.status is ItemStatus.DONE]
        integration = outcome.integration
        validated = (
            integration is not None and integration.verdict is not None and integration.verdict.accepted
        )
        spent = outcome.report.costs.total
        report_md = render_markdown(outcome.report)
        if self._summary is not None:
            with self._summary.open("a", encoding="utf-8") as step_summary:
                step_summary.write(report_md + "\n")
        pull_number: int | None = None
        if done and integration is not None and validated:
            workspace = trees.create(run_id, "integrated", head)  # the integration's worktree, resumed
            path = workspace.path / "checklists" / f"{slug(request.key)}.md"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render(checklist), encoding="utf-8")
            commit = trees.commit(workspace.path, f"milestone-bot: checklist for {checklist.title}")
            branch = f"milestone-bot/{slug(request.key)}"
            trees.push(commit, branch, remote=self._remote)
            failed = len(done) < len(checklist.items)
            pull = self._gh.upsert_pull(
                head=branch,
                base=request.target or self._base,
                title=pr_title(checklist.title),
                body=pr_body(outcome.report, closes=request.closes, key=request.key),
                draft=failed,
            )
            pull_number = pull.number
        if not done:
            conclusion, title = "neutral", "Nothing was produced"
            why = "; ".join(f"{i}: {n}" for i, n in outcome.report.notes.items()) or "no item finished"
            summary = f"No item was finished ({why}); nothing to open a PR with."
        elif not validated:
            conclusion, title = "failure", "The integrated branch did not validate"
            summary = (
                f"{len(done)} of {len(checklist.items)} items done, but their integration failed validation."
            )
        elif len(done) < len(checklist.items):
            conclusion, title = "failure", f"{len(done)} of {len(checklist.items)} items done"
            summary = f"{len(done)} of {len(checklist.items)} items done; the PR is a draft."
        else:
            conclusion, title = "success", f"All {len(done)} items done"
            summary = f"All {len(done)} items done and validated; spent ${spent.quantize(Decimal('0.0001'))}."
        show(title, force=True)
        self._gh.finish_check_run(check, conclusion=conclusion, title=title, summary=report_md)
        return RunResult(dataclasses.replace(checklist), spent, conclusion, summary, pull_number)
