"""Red builds (``workflow_run`` completed): triaged, and a regression fixed.

A failed run on a watched branch is decided (rerun, flaky, infrastructure, pre-existing or
regression) from its failed jobs' logs and the parent commit's runs; the decision is recorded as a
finished check run (the bot's memory across events: a redelivery or a rerun's result finds it). A
regression is fixed in a new PR, or, on the bot's own branch, as a follow-up commit there. Runs
from forks are never acted on.
"""

from __future__ import annotations

from bot.config import Config
from bot.events.payloads import WorkflowRunEvent
from bot.events.pr_followup import FollowUpRequest, FollowUps, PullFollowUp
from bot.events.triage import Triage, decide
from bot.events.work_api import Outcome, RunRequest, Work
from bot.github.bodies import defuse
from bot.github.gateway import GitHubGateway, RunData, marker
from bot.planning.checklist_file import slug
from bot.planning.planner import plan_red_build

TRIAGE_CHECK = "milestone-bot triage"


class RedBuilds:
    def __init__(
        self, *, gateway: GitHubGateway, config: Config, work: Work, followups: FollowUps | None = None,
        pulls: PullFollowUp | None = None,
    ) -> None:  # fmt: skip
        self._gh = gateway
        self._config = config
        self._work = work
        self._followups = followups
        self._pulls = pulls

    def _watched(self, event: WorkflowRunEvent) -> bool:
        branch = event.workflow_run.head_branch or ""
        watched = self._config.github.watched_branches or [event.repository.default_branch]
        return branch in watched or branch.startswith("milestone-bot/")

    async def on_workflow_run(self, event: WorkflowRunEvent) -> Outcome:
        run = event.workflow_run
        if event.action != "completed":
            return Outcome("ignored", f"workflow_run {event.action}")
        head_repo = run.head_repository.full_name if run.head_repository else event.repository.full_name
        if head_repo.lower() != event.repository.full_name.lower():
            return Outcome("ignored", f"run {run.id} is from a fork ({head_repo}): never acted on")
        if not self._watched(event):
            return Outcome("ignored", f"branch {run.head_branch!r} is not watched")
        key = f"run {run.id} attempt {run.run_attempt}"
        records = self._gh.check_runs(head_sha=run.head_sha, name=TRIAGE_CHECK)
        titles = [r.output.get("title", "") for r in records]
        if any(t.startswith(f"{key}:") for t in titles):
            return Outcome("ignored", f"{key} was triaged already")
        rerun_by_bot = any(t.startswith(f"run {run.id} attempt {run.run_attempt - 1}: rerun") for t in titles)
        if run.conclusion == "success" and not rerun_by_bot:
            return Outcome("ignored", f"{key} passed")
        if run.conclusion not in ("success", "failure", "timed_out", "cancelled", "startup_failure"):
            return Outcome("ignored", f"{key} ended {run.conclusion}")
        jobs = self._gh.failed_jobs(run.id) if run.conclusion != "success" else []
        logs = {j.id: self._gh.job_log(j.id) for j in jobs}
        parent = self._work.parent(run.head_sha)
        base_runs = (
            [
                (r, self._gh.failed_jobs(r.id))
                for r in self._gh.runs_for(head_sha=parent)
                if r.conclusion == "failure"
            ]
            if parent
            else []
        )
        decision = decide(
            RunData(
                run.id,
                run.head_sha,
                run.head_branch or "",
                run.conclusion,
                run.run_attempt,
                run.html_url,
                run.path,
            ),
            jobs,
            logs,
            base_runs,
            rerun_by_bot=rerun_by_bot,
        )
        self._record(run.head_sha, f"{key}: {decision.triage.value}", decision.reason)
        if decision.triage is Triage.RERUN:
            self._gh.rerun_failed_jobs(run.id)
            return Outcome("triaged", f"{key}: {decision.reason}")
        if decision.triage is not Triage.REGRESSION:
            words = {
                Triage.FLAKY: "is **flaky**: it failed, then passed when its failed jobs were rerun. "
                "Nothing to fix here; the flaky test deserves an issue.",
                Triage.INFRASTRUCTURE: "failed because of the **infrastructure**, not the code. "
                "Reported, not fixed.",
                Triage.PRE_EXISTING: "failed the same way **before this commit**. "
                "Not caused here; not fixed here.",
            }[decision.triage]
            self._report(
                event, f"The [workflow run]({run.html_url}) {words}\n\nWhy: {defuse(decision.reason)}."
            )
            return Outcome("triaged", f"{key}: {decision.triage.value}: {decision.reason}")
        if (run.head_branch or "").startswith("milestone-bot/") and self._followups is not None:
            return await self._fix_bot_branch(event, key, decision.reason, "\n".join(logs.values()))
        checklist = plan_red_build(
            "\n".join(logs.values()),
            ref=f"run#{run.id}",
            title=f"Fix the red build on {run.head_branch}",
            budget_usd=self._config.budget.per_run_usd,
        )
        pulls = tuple(p.number for p in run.pull_requests)
        request = RunRequest(
            checklist,
            key=f"red-build-{slug(run.head_branch or 'branch')}",
            issue=pulls[0] if pulls else None,
            closes=(),
            start=run.head_sha,
            target=run.head_branch,
        )
        result = await self._work.run(request, should_stop=lambda: False)
        pr = f" Fix: PR #{result.pull}." if result.pull else ""
        self._report(
            event,
            f"The [workflow run]({run.html_url}) is a **regression** ({defuse(decision.reason)}). "
            f"{defuse(result.summary)}{pr}",
        )
        return Outcome(
            "ran", f"{key}: regression: {result.summary}", result.conclusion, result.spent, result.pull
        )

    async def _fix_bot_branch(self, event: WorkflowRunEvent, key: str, reason: str, logs: str) -> Outcome:
        """A red build on the bot's own branch: fixed there, as a follow-up commit, not in a new PR."""
        assert self._followups is not None and self._pulls is not None
        run = event.workflow_run
        branch = run.head_branch or ""
        checklist = plan_red_build(logs, ref=f"run#{run.id}", title=f"Fix the red build on {branch}",
                                   budget_usd=self._config.budget.per_run_usd)  # fmt: skip
        number = run.pull_requests[0].number if run.pull_requests else None
        request = FollowUpRequest(checklist, f"red-{run.id}-{run.run_attempt}", branch, number)
        result = await self._followups.follow_up(request)
        if number is not None:
            self._pulls.answer(self._gh.pull(number), result, thread_of={}, key=f"red-{run.id}")
        pushed = f" Fixed on {branch} in {result.head[:10]}." if result.head else ""
        self._report(
            event,
            f"The [workflow run]({run.html_url}) is a **regression** ({defuse(reason)}) on the bot's own "
            f"branch: {defuse(result.summary)}{pushed}",
        )
        return Outcome("ran", f"{key}: regression on {branch}: {result.summary}", result.conclusion,
                       result.spent)  # fmt: skip

    def _record(self, head_sha: str, title: str, summary: str) -> None:
        """The triage decision, as a finished check run: the bot's memory across events."""
        check = self._gh.create_check_run(name=TRIAGE_CHECK, head_sha=head_sha)
        self._gh.finish_check_run(check, conclusion="neutral", title=title, summary=summary)

    def _report(self, event: WorkflowRunEvent, text: str) -> None:
        for pull in event.workflow_run.pull_requests:
            self._gh.upsert_comment(pull.number, marker("triage", event.workflow_run.id), text)
