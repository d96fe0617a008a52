"""Follow-ups on a pull request under the fan-out workflow, split the way ``/bot run`` is.

The event job holds the write token and runs no model-written code: ``FanoutFollowUps`` collects
the items (open review threads, failing checks, or the command's text), reads the PR's head, and
hands the checklist, the head commit, the branch and the thread map to the work jobs in the
request folder. The work jobs (read-only token, sandboxed validation) start from that head commit
and carry their commits back in bundles, as for any run. The publish job (``publish_followup``)
integrates and re-validates them with no model, lays one commit per item on the head, pushes
without force (re-fetch, replay, re-validate and push once more when the branch moved), replies in
each thread, posts the summary and ends the reactions.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

from bot.budget.guard import utc_midnight
from bot.config import Config
from bot.domain import ItemStatus
from bot.errors import WorkspaceError
from bot.events.checks import fetch_branch
from bot.events.fanout import FanoutWork, Published, planned, read_request
from bot.events.followup_work import RepoFollowUps
from bot.events.handler import RunRequest
from bot.events.pr_followup import FollowUpRequest, FollowUpResult, PullFollowUp, end_reaction
from bot.execution import spend_state
from bot.execution.jobs import FULL_SHA, publish_artifacts
from bot.execution.options import CHECKLIST_FILE, REQUEST_FILE, SPEND_LINES
from bot.github.bodies import defuse
from bot.github.gateway import GitHubGateway, PullData, marker
from bot.github.git_push import git_env
from bot.planning.checklist_file import render, slug
from bot.report.run_report import render_markdown

FOLLOWUP = "followup"  # the request's section that makes a fan-out a follow-up


class FanoutFollowUps(FanoutWork):
    """``FollowUps`` for the fan-out's event job: it does no item, it hands them on."""

    async def follow_up(self, request: FollowUpRequest) -> FollowUpResult:
        head = fetch_branch(self._repo, self._remote, request.branch, env=self._git_env)
        if head is None:
            raise WorkspaceError(f"branch {request.branch} is not on {self._remote}")
        lines = spend_state.read(self._repo, remote=self._remote, env=self._git_env)
        run = f"{self._run_id}-{slug(request.key)}"
        asked = RunRequest(
            request.checklist, request.key, request.pull, (), budget=request.budget, tier=request.tier
        )
        config = self._config_for(asked)
        limit = config.budget.per_run_usd
        now = self._now()
        left = spend_state.remaining(lines, run=run, run_limit=limit, budget=config.budget, now=now)
        if left is not None and left <= 0:
            self._outputs({"fanout": "false", "key": request.key})
            why = f"today's budget is spent (see the {spend_state.STATE_BRANCH} branch)"
            return FollowUpResult(
                request.checklist, {}, None, "neutral", f"Nothing handed on: {why}.", Decimal(0),
                "not validated", {i.id: why for i in request.checklist.items},
            )  # fmt: skip
        self._folder.mkdir(parents=True, exist_ok=True)
        (self._folder / CHECKLIST_FILE).write_text(render(request.checklist), encoding="utf-8")
        today = [x for x in lines if x.at >= utc_midnight(now)]
        (self._folder / SPEND_LINES).write_text("".join(x.to_json() + "\n" for x in today), encoding="utf-8")
        saved: dict[str, object] = {
            "key": request.key, "issue": request.pull, "closes": [], "start": head, "target": request.branch,
            "parallel": None, "budget": str(request.budget) if request.budget is not None else None,
            "tier": request.tier, "run": run, "run_limit": str(limit) if limit is not None else None,
            "remaining": str(left) if left is not None else None,
            FOLLOWUP: {
                "branch": request.branch, "pull": request.pull, "head": head,
                "threads": dict(request.threads), "receipt": request.receipt,
                "review_comment": request.review_comment, "not_taken": list(request.not_taken),
            },
        }  # fmt: skip
        (self._folder / REQUEST_FILE).write_text(json.dumps(saved, indent=2), encoding="utf-8")
        self._outputs({
            "fanout": "true", "key": request.key, "folder": str(self._folder), "run": run,
            "budget": str(left) if left is not None else "",
        })  # fmt: skip
        n = len(request.checklist.items)
        return FollowUpResult(
            request.checklist, {}, None, "neutral",
            f"Handed {n} item(s) to the workflow's work jobs, from {head[:10]} on `{request.branch}`; the "
            "publish job pushes the follow-up commits there.", Decimal(0), "not validated yet",
            handed_on=True,
        )  # fmt: skip


def gone_away(pull: PullData, branch: str) -> str:
    """Why the follow-up must not be pushed to ``pull`` any more ('' when it may)."""
    if pull.state != "open":
        return f"PR #{pull.number} is {pull.state} now"
    if pull.from_fork:
        where = defuse(pull.head_repo) or "a deleted repository"
        return f"PR #{pull.number}'s head is no longer a branch of this repository ({where})"
    if pull.head != branch:
        return (
            f"PR #{pull.number}'s head is `{defuse(pull.head)}` now, not `{defuse(branch)}` where the "
            "follow-up was asked for"
        )
    return ""


def is_followup(folder: Path) -> bool:
    """Whether the event job handed on a follow-up (else a ``/bot run``)."""
    path = folder / REQUEST_FILE
    return path.exists() and FOLLOWUP in json.loads(path.read_text(encoding="utf-8"))


async def publish_followup(
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
    """The publish job of a follow-up: the work jobs' commits onto the PR's head, the answers."""
    request, raw = read_request(folder)
    saved = raw[FOLLOWUP]
    head, branch = str(saved["head"]), str(saved["branch"])
    pull = int(saved["pull"]) if saved.get("pull") is not None else None
    threads = {str(k): int(v) for k, v in (saved.get("threads") or {}).items()}
    receipt = str(saved.get("receipt") or "") or request.key
    review_comment = int(saved["review_comment"]) if saved.get("review_comment") else None
    not_taken = tuple(str(t) for t in saved.get("not_taken") or ())
    report, calls = await publish_artifacts(
        repo, request.checklist, artifacts, config=config, run_id=run_id, base_ref=head,
        plan=planned(request, raw, config),
    )  # fmt: skip
    # The spend first: whatever happens next, the day's limit sees it.
    lines = spend_state.lines_for(calls, key=request.key, run=request.run, job=run_id)
    if lines and raw.get("run_limit"):
        lines[0] = dataclasses.replace(lines[0], budget=str(raw["run_limit"]))
    spend_state.append(
        repo, lines, message=f"spend: {request.key} follow-up {request.run}: ${report.costs.total}",
        remote=remote, env=git_env(repo, remote, token),
    )  # fmt: skip
    if summary_path is not None:
        with summary_path.open("a", encoding="utf-8") as step_summary:
            step_summary.write(render_markdown(report) + "\n")
    # The PR as it is now, not as the event job saw it: closed, turned into a fork's, or pointed at
    # another branch meanwhile, it gets no push.
    refusal = gone_away(gateway.pull(pull), branch) if pull is not None else ""
    if pull is not None and refusal:
        summary = f"Nothing was pushed: {refusal}."
        gateway.upsert_comment(
            pull, marker("followup", receipt), f"### milestone-bot: follow-up on #{pull}\n\n{summary}\n"
        )
        if review_comment is not None:
            gateway.react_review_comment(review_comment, "confused")
        return Published(report, pull, "failure", summary, False, request.run)
    # A job's bundle holds all its items on one branch; each item's own commit (its branch's tip
    # there) is what becomes its follow-up commit. publish_artifacts failed every done item whose
    # commit is not a full id in its job's bundle; the id is checked again here because it is
    # handed to `git merge` (an option or another ref must never get there).
    items = tuple(
        dataclasses.replace(i, branch=i.commit)
        if i.status is ItemStatus.DONE and FULL_SHA.fullmatch(i.commit)
        else i
        for i in report.checklist.items
    )
    report = dataclasses.replace(report, checklist=dataclasses.replace(report.checklist, items=items))
    work = RepoFollowUps(
        repo=repo, config=config, gateway=gateway, base_branch=base_branch, run_url=run_url,
        summary_path=summary_path, remote=remote, run_id=run_id, ci_token=ci_token, push_token=token,
    )  # fmt: skip
    followup = FollowUpRequest(
        request.checklist, request.key, branch, pull, request.budget, request.tier, threads, receipt,
        review_comment, not_taken,
    )  # fmt: skip
    result = await work.land(followup, report, head=head)
    if pull is not None:
        answers = PullFollowUp(gateway=gateway, config=config, work=work)
        answers.answer(gateway.pull(pull), result, thread_of=threads, key=receipt, not_taken=not_taken)
    if review_comment is not None:
        gateway.react_review_comment(review_comment, end_reaction(result))
    return Published(report, pull, result.conclusion, result.summary, False, request.run)
