"""Events in, actions out: the bot's behaviour on GitHub, over the gateway and a ``Work`` service.

Comment commands: bots (itself included) never trigger anything; a comment with no command is
ignored; each command is acknowledged with 👀 at once, answered in a reply carrying a receipt
marker (comment id + edit time, so a redelivered event or a re-run workflow finds it and does
nothing), and ends with 🚀, or 😕 on an error. Commands that spend or write need write, maintain or
admin permission, asked of the API (not ``author_association``).
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bot.config import Config
from bot.domain import Checklist, ItemStatus
from bot.errors import BotError
from bot.events.commands import Command, CommandProblem, Verb, help_text, parse_commands
from bot.events.payloads import (
    Event,
    IssueCommentEvent,
    IssuesEvent,
    PullRequestEvent,
    PullRequestReviewEvent,
    ReviewCommentEvent,
    WorkflowDispatchEvent,
    WorkflowRunEvent,
    parse_event,
)
from bot.events.pr_followup import Ask, Done, FollowUpRequest, FollowUps, PullFollowUp, ReviewCommands
from bot.events.review import REVIEW_SYSTEM, review_body, review_prompt, risks
from bot.events.sources import Target, issue_target, milestone_by_title, milestone_target, resolve
from bot.events.triage import Triage, decide
from bot.github.bodies import (
    checklist_comment,
    checklist_text,
    costs_in,
    defuse,
    quote_untrusted,
    strip_marker_lines,
)
from bot.github.gateway import WRITE_PERMISSIONS, CommentRef, GitHubGateway, RunData, marker
from bot.planning.checklist_file import parse, render, slug
from bot.planning.planner import IssueText, PlanSource, plan_red_build
from bot.report.money import usd

log = logging.getLogger(__name__)
_RUN_URL = re.compile(r"/actions/runs/(\d+)")
TRIAGE_CHECK = "milestone-bot triage"
NO_FOLLOWUPS = (
    "Follow-up commits on a pull request run where the bot runs in one job (the Action's "
    "`handle-event` without `--fanout-dir`). This workflow fans runs out to jobs without a write token, "
    "and those cannot work on a PR's branch yet, so nothing was done."
)


@dataclass(frozen=True)
class RunResult:
    checklist: Checklist
    spent: Decimal
    conclusion: str  # success, failure, neutral
    summary: str  # one paragraph: what happened
    pull: int | None = None


@dataclass(frozen=True)
class RunRequest:
    checklist: Checklist
    key: str  # stable per milestone or issue: the PR's branch and the progress comment's marker
    issue: int | None  # where progress is shown (None: a red build on a push, the check run only)
    closes: tuple[int, ...]
    parallel: int | None = None
    budget: Decimal | None = None
    tier: str | None = None
    start: str = "HEAD"  # the commit the run starts from
    target: str | None = None  # the branch the PR targets (default: the repository's)
    run: str = ""  # one `/bot run` across the waves of a fan-out (its spend and its limit)


class Work(Protocol):
    """What commands do with the repository: plan through the router, run and publish."""

    async def plan(self, source: PlanSource, *, budget: Decimal | None) -> Checklist: ...

    async def run(self, request: RunRequest, *, should_stop: Callable[[], bool]) -> RunResult: ...

    def parent(self, sha: str) -> str | None:
        """The first parent of a commit in the checkout (the base of a push), if known."""
        ...

    async def summarize(self, system: str, prompt: str, *, budget: Decimal) -> tuple[str, Decimal]:
        """One call to the cheap tier within ``budget``: the answer and what it cost."""
        ...

    def committed_checklist(self, key: str) -> Checklist | None:
        """``checklists/<key>.md`` in the checkout (a PR branch the bot pushed), if there is one."""
        ...


@dataclass(frozen=True)
class Outcome:
    """What handling an event did, for the log line, the Action's outputs and tests."""

    action: str  # ignored, replied, planned, ran, refused, error, triaged, reviewed
    detail: str
    conclusion: str = "neutral"
    spent: Decimal = Decimal(0)
    pull: int | None = None


class EventHandler:
    def __init__(
        self, *, gateway: GitHubGateway, config: Config, work: Work, followups: FollowUps | None = None
    ) -> None:
        self._gh = gateway
        self._config = config
        self._work = work
        self._prefix = config.command_prefix
        self._bot = config.github.bot_login.lower()
        # Follow-up commits on a PR's branch: without them `/bot fix` on a PR says it cannot.
        self._followups = followups
        self._pulls = PullFollowUp(gateway=gateway, config=config, work=followups) if followups else None

    async def handle(self, name: str, payload: object) -> list[Outcome]:
        event = parse_event(name, payload)
        if event is None:
            return [Outcome("ignored", f"event {name!r} is not one the bot handles")]
        return await self._dispatch(name, event)

    async def _dispatch(self, name: str, event: Event) -> list[Outcome]:
        if isinstance(event, IssueCommentEvent):
            if event.action not in ("created", "edited"):
                return [Outcome("ignored", f"issue_comment {event.action}")]
            return await self.on_comment(event)
        if isinstance(event, IssuesEvent) and event.action == "milestoned":
            return [await self.on_milestoned(event)]
        if isinstance(event, WorkflowRunEvent):
            return [await self.on_workflow_run(event)]
        if isinstance(event, PullRequestEvent):
            return [await self.on_pull_request(event)]
        if isinstance(event, WorkflowDispatchEvent):
            return [await self.on_dispatch(event)]
        if isinstance(event, ReviewCommentEvent | PullRequestReviewEvent) and self._pulls is not None:
            done = await ReviewCommands(self._pulls, gateway=self._gh, config=self._config).handle(
                event, may_write=self._may_write
            )
            return [_outcome(done)]
        return [Outcome("ignored", f"{name} {getattr(event, 'action', '')}".strip())]

    # -- comments ---------------------------------------------------------------------------------
    async def on_comment(self, event: IssueCommentEvent) -> list[Outcome]:
        comment, issue = event.comment, event.issue
        if comment.user.is_bot or event.sender.is_bot:
            return [Outcome("ignored", f"comment by a bot ({comment.user.login})")]
        parsed = parse_commands(comment.body, prefix=self._prefix)
        if not parsed:
            return [Outcome("ignored", "no command in the comment")]
        receipt = f"{comment.id}:{comment.updated_at or comment.created_at}"
        if any(marker("handled", receipt) in c.body for c in self._own(issue.number)):
            return [Outcome("ignored", f"comment {comment.id} was handled already (redelivery or re-run)")]
        if not self._claim(issue.number, receipt):
            return [Outcome("ignored", f"comment {comment.id} is handled by a concurrent delivery")]
        self._gh.react(comment.id, "eyes")
        outcomes: list[Outcome] = []
        for number, command in enumerate(parsed):
            key = f"{receipt}:{number}"
            try:
                outcome = await self._command(command, event, key)
            except BotError as exc:
                log.exception("command failed")
                self._reply(issue.number, key, f"Sorry, that failed: {defuse(str(exc))[:1500]}")
                outcome = Outcome("error", str(exc), "failure")
            outcomes.append(outcome)
        failed = any(o.action in ("error", "refused") for o in outcomes) or any(
            isinstance(c, CommandProblem) for c in parsed
        )
        self._gh.react(comment.id, "confused" if failed else "rocket")
        return outcomes

    def _claim(self, issue: int, receipt: str) -> bool:
        """Claim a comment's commands before doing anything: the first reply (edited into the answer
        later) carries the receipt. Two deliveries of one event running at the same time both pass
        the receipt check above; both post a claim, the lowest comment id wins, the other deletes its
        claim and stops, so the commands run once."""
        key = marker("reply", f"{receipt}:0")
        mine = self._gh.upsert_comment(issue, key, f"On it.\n\n{marker('handled', receipt)}")
        claims = [c.id for c in self._own(issue) if key in c.body]
        if claims and min(claims) != mine.id:
            self._gh.delete_comment(mine.id)
            return False
        return True

    def _own(self, issue: int) -> list[CommentRef]:
        """The bot's own comments on an issue: only these are trusted for receipts, progress, costs."""
        return [c for c in self._gh.comments(issue) if c.user.lower() == self._bot]

    def _reply(self, issue: int, key: str, text: str) -> None:
        receipt = key.rsplit(":", 1)[0]
        self._gh.upsert_comment(issue, marker("reply", key), f"{text}\n\n{marker('handled', receipt)}")

    async def _command(
        self, command: Command | CommandProblem, event: IssueCommentEvent, key: str
    ) -> Outcome:
        issue = event.issue.number
        if isinstance(command, CommandProblem):
            self._reply(
                issue,
                key,
                f"I could not read `{defuse(command.text)[:200]}`: {command.render(self._prefix)}\n\n"
                f"`{self._prefix} help` lists every command.",
            )
            return Outcome("replied", command.problem, "failure")
        user = event.comment.user.login
        if command.needs_write and not self._may_write(user):
            permission = self._gh.permission(user)
            self._reply(
                issue,
                key,
                f"Sorry @\u200b{defuse(user)}, `{self._prefix} {command.verb.value}` needs write, "
                f"maintain or admin permission on this repository (yours: {permission}). "
                f"`{self._prefix} help` says who may use what.",
            )
            return Outcome("refused", f"{user} has {permission} permission")
        handlers: dict[Verb, Callable[[Command, IssueCommentEvent, str], Awaitable[Outcome]]] = {
            Verb.HELP: self._help,
            Verb.STATUS: self._status,
            Verb.COST: self._cost,
            Verb.STOP: self._stop,
            Verb.PLAN: self._plan,
            Verb.RUN: self._run,
            Verb.FIX: self._fix,
            Verb.RETRY: self._retry,
        }
        return await handlers[command.verb](command, event, key)

    def _may_write(self, user: str) -> bool:
        allowed = {u.lower() for u in self._config.allowed_users}
        return user.lower() in allowed or self._gh.permission(user) in WRITE_PERMISSIONS

    async def _help(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        self._reply(event.issue.number, key, "### milestone-bot commands\n\n" + help_text(self._prefix))
        return Outcome("replied", "help")

    async def _status(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        # Only the bot's own progress comments, and even those re-posted escaped: a stranger's
        # comment carrying a progress marker must never be laundered into the bot's words (a
        # checklist marker in it would make the next `/bot run` work the stranger's checklist).
        progress = [c for c in self._own(event.issue.number) if "<!-- milestone-bot:progress:" in c.body]
        if not progress:
            text = "No run has reported progress on this issue yet."
        else:
            text = "Latest progress on this issue:\n\n" + quote_untrusted(
                strip_marker_lines(progress[-1].body)
            )
        self._reply(event.issue.number, key, text)
        return Outcome("replied", "status")

    async def _cost(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        spent = [usd for c in self._own(event.issue.number) for usd in costs_in(c.body)]
        total = sum(spent, Decimal(0))
        self._reply(
            event.issue.number,
            key,
            f"Runs on this issue have spent {usd(total)} in total ({len(spent)} run"
            f"{'s' if len(spent) != 1 else ''} reported).",
        )
        return Outcome("replied", f"cost {total}")

    async def _stop(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        # A run in one job polls for this comment between items and stops starting new ones. A
        # fan-out's work jobs cannot read comments (no token): its workflow run, named in the
        # progress comment, is cancelled, and no further wave starts (``on_dispatch``).
        issue = event.issue.number
        runs = sorted({
            int(run) for c in self._own(issue) if "<!-- milestone-bot:progress:" in c.body
            for run in _RUN_URL.findall(c.body)
        })  # fmt: skip
        cancelled = []
        for run_id in runs:
            try:
                self._gh.cancel_run(run_id)
                cancelled.append(run_id)
            except BotError:
                continue  # finished already (409), or not ours to cancel
        also = f" Cancelled workflow run {', '.join(map(str, cancelled))}." if cancelled else ""
        self._reply(
            issue,
            key,
            "Stopping: the run on this issue finishes the calls in flight, starts no new items and no "
            f"new wave, and reports what it did.{also} `{self._prefix} run` later resumes where it stopped.",
        )
        return Outcome("replied", f"stop requested; cancelled {cancelled}")

    def _stopped(self, issue: int) -> bool:
        """Whether a writer's ``/bot stop`` came after the last command that started a run."""
        last_run = last_stop = -1
        for index, comment in enumerate(self._gh.comments(issue)):
            if comment.user.lower() == self._bot or comment.user.lower().endswith("[bot]"):
                continue
            verbs = {
                p.verb for p in parse_commands(comment.body, prefix=self._prefix)
                if isinstance(p, Command) and p.verb in (Verb.RUN, Verb.FIX, Verb.RETRY, Verb.STOP)
            }  # fmt: skip
            if verbs and self._may_write(comment.user):
                if Verb.STOP in verbs:
                    last_stop = index
                if verbs - {Verb.STOP}:
                    last_run = index
        return last_stop > last_run

    # -- planning and running ----------------------------------------------------------------------
    async def _source(self, command: Command, event: IssueCommentEvent) -> Target:
        """What a plan/run command is about: an issue (``#12``), a milestone by title, or (no
        target) this issue's milestone, or this issue alone."""
        target = command.target.strip()
        if target.startswith("#") and target[1:].isdigit():
            return issue_target(self._gh.issue(int(target[1:])))
        if target:
            return milestone_by_title(self._gh, target)
        if event.issue.milestone is not None:
            m = event.issue.milestone
            return milestone_target(self._gh, m.number, m.title, m.description or "")
        return issue_target(self._gh.issue(event.issue.number))

    def _save_checklist(self, issue: int, key: str, checklist: Checklist) -> None:
        self._gh.upsert_comment(
            issue, marker("checklist", key), checklist_comment(render(checklist), key=key)
        )

    def _saved_checklist(self, issue: int, key: str) -> Checklist | None:
        for comment in self._own(issue):
            if marker("checklist", key) in comment.body:
                # A broken comment raises ChecklistError naming the line and the fix: replied as is.
                return parse(checklist_text(comment.body), file=f"the checklist comment on #{issue}")
        return None

    async def _plan(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        target = await self._source(command, event)
        source, run_key = target.source, target.key
        checklist = await self._work.plan(source, budget=command.budget)
        self._save_checklist(event.issue.number, run_key, checklist)
        self._reply(
            event.issue.number,
            key,
            f"Planned {len(checklist.items)} item(s) for {defuse(source.title)} in the checklist comment "
            f"above. Edit it (titles, ticks, order) if you like, then `{self._prefix} run`.",
        )
        return Outcome("planned", f"{len(checklist.items)} items")

    async def _run(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        target = await self._source(command, event)
        source, run_key, closes = target.source, target.key, target.closes
        checklist = self._saved_checklist(event.issue.number, run_key)
        if checklist is None:
            checklist = await self._work.plan(source, budget=command.budget)
            self._save_checklist(event.issue.number, run_key, checklist)
        return await self._execute(command, event, key, checklist, run_key, closes)

    async def _fix(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        if event.issue.is_pull_request:
            if self._pulls is None:
                self._reply(event.issue.number, key, NO_FOLLOWUPS)
                return Outcome("replied", "no follow-ups", "failure")
            ask = Ask(event.issue.number, command.target, command.budget, command.tier, key)
            done = await self._pulls.fix(ask, answer=lambda text: self._reply(event.issue.number, key, text))
            return _outcome(done)
        target = issue_target(self._gh.issue(event.issue.number))
        source, run_key, closes = target.source, target.key, target.closes
        checklist = self._saved_checklist(event.issue.number, run_key) or await self._work.plan(
            source, budget=command.budget
        )
        return await self._execute(command, event, key, checklist, run_key, closes)

    async def _retry(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        target = await self._source(dataclasses.replace(command, target=""), event)
        run_key, closes = target.key, target.closes
        checklist = self._saved_checklist(event.issue.number, run_key)
        if checklist is None:
            self._reply(
                event.issue.number,
                key,
                f"There is no checklist on this issue yet: `{self._prefix} plan` first.",
            )
            return Outcome("replied", "no checklist", "failure")
        ids = [i.id for i in checklist.items]
        if command.target not in ids:
            self._reply(
                event.issue.number,
                key,
                f"No item `{defuse(command.target)[:60]}` in the checklist; its items: "
                + ", ".join(f"`{i}`" for i in ids),
            )
            return Outcome("replied", "unknown item", "failure")
        items = tuple(
            dataclasses.replace(i, status=ItemStatus.PENDING) if i.id == command.target else i
            for i in checklist.items
        )
        return await self._execute(
            command, event, key, dataclasses.replace(checklist, items=items), run_key, closes
        )

    async def _execute(
        self, command: Command, event: IssueCommentEvent, key: str, checklist: Checklist, run_key: str,
        closes: tuple[int, ...],
    ) -> Outcome:  # fmt: skip
        if command.tier is not None and command.tier not in self._config.tiers:
            self._reply(
                event.issue.number,
                key,
                f"No tier `{defuse(command.tier)}` in the config; tiers: {', '.join(self._config.tiers)}.",
            )
            return Outcome("replied", "unknown tier", "failure")
        self._reply(event.issue.number, key, f"Working on {len(checklist.items)} item(s); progress below.")
        started_after = event.comment.id
        stop_seen: list[bool] = []

        def should_stop() -> bool:
            if not stop_seen:
                for c in self._gh.comments(event.issue.number):
                    if c.id <= started_after or c.user.lower().endswith("[bot]"):
                        continue
                    stops = [
                        p for p in parse_commands(c.body, prefix=self._prefix)
                        if isinstance(p, Command) and p.verb is Verb.STOP
                    ]  # fmt: skip
                    if stops and self._may_write(c.user):
                        stop_seen.append(True)
                        break
            return bool(stop_seen)

        request = RunRequest(
            checklist, run_key, event.issue.number, closes, command.parallel, command.budget, command.tier,
            target=event.repository.default_branch, run=f"{run_key}@{key.replace(':', '-')}",
        )  # fmt: skip
        result = await self._work.run(request, should_stop=should_stop)
        self._save_checklist(event.issue.number, run_key, result.checklist)
        pr = f" PR #{result.pull}." if result.pull else ""
        self._reply(event.issue.number, key, f"{defuse(result.summary)}{pr}")
        return Outcome("ran", result.summary, result.conclusion, result.spent, result.pull)

    # -- milestones --------------------------------------------------------------------------------
    async def on_milestoned(self, event: IssuesEvent) -> Outcome:
        milestone = event.milestone or event.issue.milestone
        if milestone is None:
            return Outcome("ignored", "issues.milestoned without a milestone")
        if not self._config.github.update_checklist_on_milestoned:
            return Outcome("ignored", "checklist updates on milestoned are turned off")
        run_key = f"milestone-{milestone.number}-{slug(milestone.title)}"
        # One pass: the checklist comment, and the issue it is on (where the update goes).
        found = next(
            ((i.number, c) for i in self._gh.milestone_issues(milestone.number) for c in self._own(i.number)
             if marker("checklist", run_key) in c.body),
            None,
        )  # fmt: skip
        if found is None:
            return Outcome("ignored", f"milestone {milestone.title!r} has no checklist yet")
        owner_issue, host = found
        current = parse(checklist_text(host.body), file="the milestone's checklist comment")
        if any(f"#{event.issue.number}" in (i.description or "") or i.id == f"issue-{event.issue.number}"
               for i in current.items):  # fmt: skip
            return Outcome("ignored", f"#{event.issue.number} is in the checklist already")
        issue = self._gh.issue(event.issue.number)
        source = PlanSource(
            f"issue#{issue.number}",
            issue.title,
            "",
            (IssueText(issue.number, issue.title, issue.body, issue.labels),),
        )
        added = await self._work.plan(source, budget=None)
        taken = {i.id for i in current.items}
        renamed = {i.id: (i.id if i.id not in taken else f"{i.id}-{issue.number}") for i in added.items}
        new_items = tuple(
            dataclasses.replace(
                i,
                id=renamed[i.id],
                depends_on=tuple(renamed.get(d, d) for d in i.depends_on),
                description=f"{i.description}\n\n(from #{issue.number})".strip(),
            )
            for i in added.items
        )
        updated = dataclasses.replace(current, items=(*current.items, *new_items))
        self._save_checklist(owner_issue, run_key, updated)
        return Outcome(
            "planned", f"added {len(new_items)} item(s) from #{issue.number} to {milestone.title!r}"
        )

    # -- red builds --------------------------------------------------------------------------------
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

    # -- pull request review summaries ---------------------------------------------------------------
    async def on_pull_request(self, event: PullRequestEvent) -> Outcome:
        pull = event.pull_request
        if event.action not in ("opened", "synchronize", "reopened", "ready_for_review"):
            return Outcome("ignored", f"pull_request {event.action}")
        settings = self._config.github
        if not settings.review_pull_requests:
            return Outcome("ignored", "review summaries are turned off")
        if pull.from_fork and not settings.review_forks:
            return Outcome("ignored", f"PR #{pull.number} is from a fork; review_forks is off")
        if pull.head.ref.startswith("milestone-bot/"):
            return Outcome("ignored", f"PR #{pull.number} is the bot's own")
        seen = marker("reviewed", pull.head.sha)
        if any(seen in c.body for c in self._own(pull.number)):
            return Outcome("ignored", f"PR #{pull.number} at {pull.head.sha[:10]} was reviewed already")
        files = self._gh.pull_files(pull.number)
        try:
            summary, cost = await self._work.summarize(
                REVIEW_SYSTEM,
                review_prompt(pull.title, pull.body or "", files),
                budget=settings.review_budget_usd,
            )
        except BotError as exc:
            summary, cost = f"_No summary: {exc}_", Decimal(0)
        body = review_body(pull.number, summary, risks(files), files, cost) + seen + "\n"
        self._gh.upsert_comment(pull.number, marker("review", pull.number), body)
        return Outcome("reviewed", f"PR #{pull.number}: {len(files)} files", spent=cost)

    # -- the next wave of a fanned-out run ---------------------------------------------------------
    async def on_dispatch(self, event: WorkflowDispatchEvent) -> Outcome:
        """The publish job dispatches the workflow on the PR branch with the run's key when items
        wait for a later wave: continue from the checklist committed there."""
        key = str((event.inputs or {}).get("key", "")).strip()
        if not key:
            return Outcome("ignored", "workflow_dispatch without a key: not the bot's next wave")
        checklist = self._work.committed_checklist(key)
        if checklist is None:
            return Outcome("ignored", f"no checklists/{key}.md on {event.ref or 'this ref'}")
        ref, _, number = checklist.ref.partition("#")
        spec = f"{ref}:{number}" if ref in ("issue", "milestone") and number.isdigit() else ""
        target = resolve(self._gh, spec) if spec else None
        closes = target.closes if target else ()
        issue = closes[0] if closes else None
        if issue is not None and self._stopped(issue):
            return Outcome("ignored", f"the run of {key} was stopped (`{self._prefix} stop`): no next wave")
        request = RunRequest(
            checklist, key, issue, closes, start="HEAD", target=event.repository.default_branch,
            run=str((event.inputs or {}).get("run", "")).strip(),
        )  # fmt: skip
        result = await self._work.run(request, should_stop=lambda: False)
        return Outcome(
            "ran", f"next wave of {key}: {result.summary}", result.conclusion, result.spent, result.pull
        )


def _outcome(done: Done) -> Outcome:
    return Outcome(done.action, done.detail, done.conclusion, done.spent)
