"""The ``Work`` a command asks for, done in the repository checkout and shown on GitHub.

A run: a check run starts; the progress comment is edited in place as items and attempts move
(at most every few seconds, and at the end); the integrated branch gets the checklist file
committed on it and is pushed as ``milestone-bot/<key>`` (stable per milestone or issue, so a
re-run updates the same PR); the PR is opened or updated (draft when an item failed); the check
run ends with an explicit conclusion, and the report goes to ``$GITHUB_STEP_SUMMARY``.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path

from bot.budget.ledger import Scope
from bot.config import Config
from bot.domain import CallScope, Checklist, Item, ItemStatus, Purpose
from bot.errors import BotError, ConfigError, ConfigIssue, WorkspaceError
from bot.events.checks import CHECK_NAME, end_stale, fetch_branch, pr_branch
from bot.events.publish import NO_CI_NOTE as NO_CI_NOTE  # importable from here as before
from bot.events.publish import Pushed as Pushed
from bot.events.publish import conclude as conclude
from bot.events.publish import publish_pull as publish_pull
from bot.events.work_api import RunRequest, RunResult
from bot.execution import spend_state
from bot.execution.carry import item_ref
from bot.execution.job_spend import JobSpend, spending
from bot.execution.plan import plan_source
from bot.execution.run import run_milestone
from bot.execution.services import build_router, ledger_path, open_ledger
from bot.github.bodies import checklist_comment, progress_body
from bot.github.gateway import GitHubGateway, marker
from bot.github.git_push import git_env, push
from bot.models.base import ChatRequest, Message
from bot.planning.checklist_file import render, slug
from bot.planning.planner import PlanSource
from bot.report.progress import Board
from bot.report.run_report import render_markdown
from bot.routing.driver import AttemptEvent
from bot.workspace.worktrees import Worktrees

log = logging.getLogger(__name__)
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
        ci_token: bool = True,
        push_token: str | None = None,
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
        self._ci_token = ci_token
        self._push_token = push_token
        # The remote's credentials for the bot's own fetches and pushes, one command at a time.
        self._git_env = git_env(repo, remote, push_token)

    def _spend(self, config: Config, root: Path) -> JobSpend:
        """The state branch's spend for this job's ledger (``execution/job_spend.py``)."""
        return JobSpend(root, ledger_path(config, root=root), remote=self._remote, env=self._git_env)

    async def plan(self, source: PlanSource, *, budget: Decimal | None) -> Checklist:
        run_id = f"{self._run_id}-plan"
        # The plan is paid like any call: today's spend of earlier jobs limits it, and it is recorded.
        with spending(self._spend(self._config, self._repo), run_id, key=source.ref, run=run_id):
            return await plan_source(
                self._repo,
                source,
                config=self._config,
                run_id=run_id,
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
        run_id = f"{self._run_id}-review"
        with spending(self._spend(config, self._repo), run_id, key="review", run=run_id):
            ledger = open_ledger(config, root=self._repo)
            router, _ = build_router(config, ledger=ledger, root=self._repo, env=self._env)
            try:
                scope = CallScope(run_id, Purpose.REVIEW)
                messages = (Message("system", system), Message("user", prompt))
                completion = await router.complete(ChatRequest(messages, scope, max_tokens=600), tier=tier)
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

    def start_of(self, request: RunRequest) -> tuple[str, str | None]:
        """Where a run starts, and the PR branch's head if there is one. A run of a key whose PR
        branch exists continues from that branch: what earlier runs and waves committed there is
        carried, not paid for again. A red-build fix starts from the failing commit."""
        pr_head = fetch_branch(self._repo, self._remote, pr_branch(request.key), env=self._git_env)
        start = pr_head if pr_head is not None and request.start == "HEAD" else request.start
        return Worktrees(self._repo).resolve(start), pr_head

    def _save_checklist(self, request: RunRequest, checklist: Checklist) -> None:
        if request.issue is not None:
            self._gh.upsert_comment(
                request.issue,
                marker("checklist", request.key),
                checklist_comment(render(checklist), key=request.key),
            )

    async def run(self, request: RunRequest, *, should_stop: Callable[[], bool]) -> RunResult:
        trees = Worktrees(self._repo)
        head, pr_head = self.start_of(request)
        run_id = f"{self._run_id}-{slug(request.key)}"
        run = request.run or run_id
        config = self._config_for(request)
        # Earlier jobs' spend (the state branch) counts here: today's against the day's limit, the
        # run's own (an earlier wave or job of this `/bot run`) against the run's.
        spend = self._spend(config, trees.repo_path)
        spend.carry_in()
        limit = spend_state.run_budget(spend.lines, run) or config.budget.per_run_usd
        if limit is not None and spend.run_spent(run):
            left = max(Decimal(0), limit - spend.run_spent(run))
            budget = config.budget.model_copy(update={"per_run_usd": left})
            config = config.model_copy(update={"budget": budget})

        def record() -> None:
            spend.carry_out(run_id, key=request.key, run=run, budget=limit)

        check: int | None = None
        if pr_head is not None:
            end_stale(
                self._gh,
                pr_head,
                "A later run on this PR found this check unfinished: the run that "
                "started it was killed or crashed. The later run continues from what it committed.",
            )
            check = self._gh.create_check_run(name=CHECK_NAME, head_sha=pr_head)  # fmt: skip
        board = Board(request.checklist, budget=config.budget.per_run_usd)
        last_edit = [-EDIT_EVERY_S]
        current = {i.id: i for i in request.checklist.items}

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
            if item.status is not ItemStatus.RUNNING:
                try:  # recorded as items finish: a job killed later has most of its spend recorded
                    record()
                except BotError as exc:
                    log.warning("cannot record the spend so far on %s: %s", spend_state.STATE_BRANCH, exc)
            if item.status is ItemStatus.DONE and item.commit:
                # Pushed the moment it is done, and recorded in the checklist comment: a run killed
                # later fetches it from there instead of paying for it again.
                ref = item_ref(request.key, item.id)
                try:
                    push(self._repo, item.commit, ref, remote=self._remote, token=self._push_token)
                except BotError as exc:  # the run goes on; only a later run's head start is lost
                    log.warning("cannot save %s's work on %s: %s", item.id, ref, exc)
                    return show("working", force=True)
                current[item.id] = dataclasses.replace(item, branch=ref)
                self._save_checklist(
                    request,
                    dataclasses.replace(
                        request.checklist, items=tuple(current[i.id] for i in request.checklist.items)
                    ),
                )
            show("working", force=item.status is not ItemStatus.RUNNING)

        def on_attempt(event: AttemptEvent) -> None:
            board.attempt(event)
            show("working")

        show("starting", force=True)
        try:
            outcome = await run_milestone(
                self._repo,
                request.checklist,
                config=config,
                run_id=run_id,
                parallel=request.parallel,
                base_ref=head,
                env=self._env,
                on_update=on_update,
                on_attempt=on_attempt,
                should_stop=should_stop,
                remote=self._remote,
                fetch_env=self._git_env,
            )
            record()  # before publishing: whatever happens next, later jobs see what this one spent
        except BaseException as exc:
            try:
                record()
            except BotError as lost:
                log.warning("cannot record the spend on %s: %s", spend_state.STATE_BRANCH, lost)
            show(f"failed: {type(exc).__name__}", force=True)
            if check is not None:
                self._gh.finish_check_run(
                    check, conclusion="failure", title="The run failed",
                    summary=f"{type(exc).__name__}: {exc}"[:2000],
                )  # fmt: skip
            raise
        checklist = outcome.checklist
        report_md = render_markdown(outcome.report)
        if self._summary is not None:
            with self._summary.open("a", encoding="utf-8") as step_summary:
                step_summary.write(report_md + "\n")
        try:
            pushed = publish_pull(
                self._gh,
                trees,
                run_id=run_id,
                start=head,
                report=outcome.report,
                key=request.key,
                base=self._target(request),
                closes=request.closes,
                remote=self._remote,
                ci_token=self._ci_token,
                token=self._push_token,
            )
        except BotError as exc:
            # The work is committed on the run's branches; only publishing failed. Say so, and
            # never leave the check run spinning.
            show("publishing failed", force=True)
            if check is not None:
                self._gh.finish_check_run(
                    check, conclusion="failure", title="Publishing the result failed",
                    summary=f"{exc}\n\n{report_md}",
                )  # fmt: skip
            raise
        conclusion, title, summary = conclude(outcome.report)
        spent = outcome.report.costs.total
        show(title, force=True)
        if pushed is not None:
            # The check belongs on the PR's new head; the one on the old head is finished too.
            if check is not None and pr_head != pushed.commit:
                self._gh.finish_check_run(
                    check,
                    conclusion="neutral",
                    title="Superseded",
                    summary=f"The PR moved to {pushed.commit}.",
                )
            check = self._gh.create_check_run(name=CHECK_NAME, head_sha=pushed.commit)
        if check is not None:
            self._gh.finish_check_run(check, conclusion=conclusion, title=title, summary=report_md)
        return RunResult(checklist, spent, conclusion, summary, pushed.pull if pushed else None)

    def _target(self, request: RunRequest) -> str:
        target = request.target or self._base
        if not target:
            fix = "pass --base, or run from an event that names the repository"
            raise ConfigError([ConfigIssue("event", "repository.default_branch", "unknown", fix)])
        return target
