"""The fan-out on GitHub: the event job hands a run to the workflow's jobs, the publish job brings
their work back.

The event job (``FanoutWork``) plans like ``RepoWork`` but runs nothing: it reads the spend state
(``milestone-bot-state``), works out what the run may still spend (its own limit, and the day's,
less what earlier waves and runs spent), and leaves the checklist, the request and today's spend in
a folder the workflow uploads. The ``plan`` job slices that budget into a matrix; each ``work`` job
runs its items without a write token; ``publish`` integrates their artifacts, pushes the PR branch,
puts the check run on its head, updates the checklist and progress comments, and appends the wave's
spend to the state branch. Items whose dependencies were in this wave go to the next one, which
starts from the PR branch and carries what is there.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from bot.budget.guard import utc_midnight
from bot.config import Config
from bot.domain import ItemStatus
from bot.events.checks import CHECK_NAME, end_stale, fetch_branch, pr_branch
from bot.events.handler import RunRequest, RunResult
from bot.events.work import RepoWork, conclude, publish_pull
from bot.execution import spend_state
from bot.execution.fanout import Grant, grants, ready
from bot.execution.jobs import publish_artifacts
from bot.execution.options import CHECKLIST_FILE, REQUEST_FILE, SPEND_LINES
from bot.github.bodies import checklist_comment, progress_body
from bot.github.gateway import GitHubGateway, marker
from bot.github.git_push import git_env
from bot.planning.checklist_file import parse, render
from bot.report.progress import Board
from bot.report.run_report import RunReport, render_markdown
from bot.workspace.worktrees import Worktrees


class FanoutWork(RepoWork):
    """``Work`` for the event job of the fan-out workflow: it plans (when asked) like ``RepoWork``
    but does not run anything; it writes the checklist, the run's request and today's spend to
    ``folder`` for the workflow to hand on, and names them (and the budget) in the step outputs."""

    def __init__(
        self, *, folder: Path, output: Path | None = None, clock_s: Callable[[], float] = time.time,
        **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self._folder = folder
        self._output = output
        self._now = clock_s

    async def run(self, request: RunRequest, *, should_stop: Callable[[], bool]) -> RunResult:
        start, _ = self.start_of(request)
        lines = spend_state.read(self._repo, remote=self._remote, env=self._git_env)
        run = request.run or f"{self._run_id}-{request.key}"
        config = self._config_for(request)
        limit = spend_state.run_budget(lines, run) or config.budget.per_run_usd
        now = self._now()
        left = spend_state.remaining(lines, run=run, run_limit=limit, budget=config.budget, now=now)
        pending = [i for i in request.checklist.items if i.status is not ItemStatus.DONE]
        if left is not None and left <= 0:
            self._outputs({"fanout": "false", "key": request.key})
            spent = sum((x.usd for x in lines if x.run == run), Decimal(0))
            return RunResult(
                request.checklist, Decimal(0), "neutral",
                f"Nothing handed on: the budget is spent (this run: ${spent} of ${limit}; "
                f"see the {spend_state.STATE_BRANCH} branch). {len(pending)} item(s) wait.",
            )  # fmt: skip
        self._folder.mkdir(parents=True, exist_ok=True)
        (self._folder / CHECKLIST_FILE).write_text(render(request.checklist), encoding="utf-8")
        today = [x for x in lines if x.at >= utc_midnight(now)]
        (self._folder / SPEND_LINES).write_text("".join(x.to_json() + "\n" for x in today), encoding="utf-8")
        saved = {
            "key": request.key,
            "issue": request.issue,
            "closes": list(request.closes),
            "start": start,
            "target": request.target,
            "parallel": request.parallel,
            "budget": str(request.budget) if request.budget is not None else None,
            "tier": request.tier,
            "run": run,
            "run_limit": str(limit) if limit is not None else None,
            "remaining": str(left) if left is not None else None,
        }
        (self._folder / REQUEST_FILE).write_text(json.dumps(saved, indent=2), encoding="utf-8")
        self._outputs({
            "fanout": "true", "key": request.key, "folder": str(self._folder), "run": run,
            "budget": str(left) if left is not None else "",
        })  # fmt: skip
        if request.issue is not None:
            board = Board(request.checklist, budget=left)
            self._gh.upsert_comment(
                request.issue,
                marker("progress", request.key),
                progress_body(board, key=request.key, stage=f"handed {len(pending)} item(s) to the work jobs",
                              run_url=self._run_url),
            )  # fmt: skip
        return RunResult(
            request.checklist,
            Decimal(0),
            "neutral",
            f"Handed {len(pending)} item(s) to the workflow's work jobs; the publish job opens the PR.",
        )

    def _outputs(self, values: dict[str, str]) -> None:
        if self._output is not None:
            with self._output.open("a", encoding="utf-8") as out:
                out.writelines(f"{k}={v}\n" for k, v in values.items())


def read_request(folder: Path) -> tuple[RunRequest, dict[str, Any]]:
    """The request ``FanoutWork`` left, with the checklist as it is in the folder now, and the raw
    record (run id and limits)."""
    raw = json.loads((folder / REQUEST_FILE).read_text(encoding="utf-8"))
    checklist = parse(
        (folder / CHECKLIST_FILE).read_text(encoding="utf-8"), file=str(folder / CHECKLIST_FILE)
    )
    request = RunRequest(
        checklist,
        raw["key"],
        raw["issue"],
        tuple(raw["closes"]),
        raw["parallel"],
        Decimal(raw["budget"]) if raw["budget"] else None,
        raw["tier"],
        raw["start"],
        raw["target"],
        run=str(raw.get("run") or ""),
    )
    return request, raw


def planned(request: RunRequest, raw: dict[str, Any], config: Config) -> dict[str, Grant]:
    """The wave's matrix as the plan job made it (the same checklist, and the budget the event job
    handed it: what the run may still spend, else the config's), so the publish job knows each
    job's items and slice without believing the job's artifact."""
    budget = Decimal(str(raw["remaining"])) if raw.get("remaining") else config.budget.per_run_usd
    return grants(request.checklist, budget=budget)


@dataclass(frozen=True)
class Published:
    report: RunReport
    pull: int | None
    conclusion: str
    summary: str
    more: bool  # items wait for a later wave (their dependencies were in this one)
    run: str = ""


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
    ci_token: bool = True,
    token: str | None = None,
) -> Published:
    """The publish job: integrate the work jobs' artifacts, re-validate, push, open or update the PR
    with the combined cost table, put the check run on its head, update the checklist and progress
    comments, record the wave's spend on the state branch."""
    request, raw = read_request(folder)
    trees = Worktrees(repo)
    env = git_env(repo, remote, token)  # the token reaches git only in the fetch and push commands
    pr_head = fetch_branch(repo, remote, pr_branch(request.key), env=env)
    if pr_head is not None:
        end_stale(gateway, pr_head, "The run that started this check ended without reporting.")
    report, calls = await publish_artifacts(
        repo, request.checklist, artifacts, config=config, run_id=run_id, base_ref=request.start,
        plan=planned(request, raw, config),
    )  # fmt: skip
    # The spend is recorded first: whatever happens next, the next wave and the day's limit see it.
    lines = spend_state.lines_for(calls, key=request.key, run=request.run, job=run_id)
    if lines and raw.get("run_limit"):
        lines[0] = dataclasses.replace(lines[0], budget=str(raw["run_limit"]))
    spend_state.append(
        repo, lines, message=f"spend: {request.key} run {request.run}: ${report.costs.total}", remote=remote,
        env=env,
    )  # fmt: skip
    (folder / CHECKLIST_FILE).write_text(render(report.checklist), encoding="utf-8")
    report_md = render_markdown(report)
    if summary_path is not None:
        with summary_path.open("a", encoding="utf-8") as step_summary:
            step_summary.write(report_md + "\n")
    pushed = publish_pull(
        gateway, trees, run_id=run_id, start=request.start, report=report, key=request.key,
        base=request.target or base_branch, closes=request.closes, remote=remote, ci_token=ci_token,
        token=token,
    )  # fmt: skip
    conclusion, title, summary = conclude(report)
    more = bool(ready(report.checklist)) and any(i.status is ItemStatus.DONE for i in report.checklist.items)
    if more:
        summary += " More items are ready now that their dependencies are done: the next wave runs them."
        waiting_only = all(i.status in (ItemStatus.DONE, ItemStatus.PENDING) for i in report.checklist.items)
        if conclusion == "failure" and waiting_only:
            # Items waiting for the next wave are not failures: the last wave decides.
            conclusion, title = "neutral", f"{title}; the next wave continues"
    if request.issue is not None:
        board = Board(report.checklist, budget=config.budget.per_run_usd)
        for item in report.checklist.items:
            board.item(item, report.notes.get(item.id, ""))
        gateway.upsert_comment(
            request.issue,
            marker("progress", request.key),
            progress_body(board, key=request.key, stage=title, run_url=run_url),
        )
        # The checklist comment follows every publish: a later `/bot run` reads it back and
        # carries what is done instead of paying for it again.
        gateway.upsert_comment(
            request.issue,
            marker("checklist", request.key),
            checklist_comment(render(report.checklist), key=request.key),
        )
    head = pushed.commit if pushed is not None else pr_head
    if head is not None:
        check = gateway.create_check_run(name=CHECK_NAME, head_sha=head)
        gateway.finish_check_run(check, conclusion=conclusion, title=title, summary=report_md)
    return Published(report, pushed.pull if pushed else None, conclusion, summary, more, request.run)
