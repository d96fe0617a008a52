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
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bot.config import Config
from bot.domain import Checklist, ItemStatus
from bot.errors import BotError, PlanningError
from bot.events.commands import Command, CommandProblem, Verb, help_text, parse_commands
from bot.events.payloads import Event, IssueCommentEvent, IssuesEvent, parse_event
from bot.github.bodies import checklist_comment, costs_in, defuse, strip_marker_lines
from bot.github.gateway import WRITE_PERMISSIONS, CommentRef, GitHubGateway, IssueData, marker
from bot.planning.checklist_file import parse, render, slug
from bot.planning.planner import IssueText, PlanSource

log = logging.getLogger(__name__)


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
    issue: int  # where progress is shown
    closes: tuple[int, ...]
    parallel: int | None = None
    budget: Decimal | None = None
    tier: str | None = None


class Work(Protocol):
    """What commands do with the repository: plan through the router, run and publish."""

    async def plan(self, source: PlanSource, *, budget: Decimal | None) -> Checklist: ...

    async def run(self, request: RunRequest, *, should_stop: Callable[[], bool]) -> RunResult: ...


@dataclass(frozen=True)
class Outcome:
    """What handling an event did, for the log line, the Action's outputs and tests."""

    action: str  # ignored, replied, planned, ran, refused, error, triaged, reviewed
    detail: str
    conclusion: str = "neutral"
    spent: Decimal = Decimal(0)
    pull: int | None = None


class EventHandler:
    def __init__(self, *, gateway: GitHubGateway, config: Config, work: Work) -> None:
        self._gh = gateway
        self._config = config
        self._work = work
        self._prefix = config.command_prefix
        self._bot = config.github.bot_login.lower()

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
        progress = [
            c for c in self._gh.comments(event.issue.number) if "<!-- milestone-bot:progress:" in c.body
        ]
        if not progress:
            text = "No run has reported progress on this issue yet."
        else:
            text = "Latest progress on this issue:\n\n" + strip_marker_lines(progress[-1].body)
        self._reply(event.issue.number, key, text)
        return Outcome("replied", "status")

    async def _cost(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        spent = [usd for c in self._own(event.issue.number) for usd in costs_in(c.body)]
        total = sum(spent, Decimal(0))
        self._reply(
            event.issue.number,
            key,
            f"Runs on this issue have spent ${total.quantize(Decimal('0.0001'))} in total ({len(spent)} run"
            f"{'s' if len(spent) != 1 else ''} reported).",
        )
        return Outcome("replied", f"cost {total}")

    async def _stop(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        # The running run polls for this comment between items and stops starting new ones.
        self._reply(
            event.issue.number,
            key,
            "Stopping: the run on this issue finishes the calls in flight, starts no new items, and "
            f"reports what it did. `{self._prefix} run` later resumes where it stopped.",
        )
        return Outcome("replied", "stop requested")

    # -- planning and running ----------------------------------------------------------------------
    async def _source(
        self, command: Command, event: IssueCommentEvent
    ) -> tuple[PlanSource, str, tuple[int, ...]]:
        """What a plan/run command is about: an issue (``#12``), a milestone by title, or (no
        target) this issue's milestone, or this issue alone."""
        target = command.target.strip()
        if target.startswith("#") and target[1:].isdigit():
            return self._issue_source(self._gh.issue(int(target[1:])))
        if target:
            for milestone in self._gh.milestones():
                if milestone.title.lower() == target.lower():
                    return self._milestone_source(milestone.number, milestone.title, milestone.description)
            raise PlanningError(
                f"no milestone titled {target!r} in this repository; name one by its exact title, "
                "or an issue as #N"
            )
        if event.issue.milestone is not None:
            m = event.issue.milestone
            return self._milestone_source(m.number, m.title, m.description or "")
        return self._issue_source(self._gh.issue(event.issue.number))

    def _issue_source(self, issue: IssueData) -> tuple[PlanSource, str, tuple[int, ...]]:
        text = IssueText(issue.number, issue.title, issue.body, issue.labels)
        return (
            PlanSource(f"issue#{issue.number}", issue.title, "", (text,)),
            f"issue-{issue.number}",
            (issue.number,),
        )

    def _milestone_source(
        self, number: int, title: str, description: str
    ) -> tuple[PlanSource, str, tuple[int, ...]]:
        issues = [i for i in self._gh.milestone_issues(number) if not i.is_pull_request]
        texts = tuple(IssueText(i.number, i.title, i.body, i.labels) for i in issues)
        return (
            PlanSource(f"milestone#{number}", title, description, texts),
            f"milestone-{number}-{slug(title)}",
            tuple(i.number for i in issues),
        )

    def _saved_checklist(self, issue: int, key: str) -> Checklist | None:
        for comment in self._own(issue):
            if marker("checklist", key) in comment.body:
                # A broken comment raises ChecklistError naming the line and the fix: replied as is.
                return parse(strip_marker_lines(comment.body), file=f"the checklist comment on #{issue}")
        return None

    async def _plan(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        source, run_key, _ = await self._source(command, event)
        checklist = await self._work.plan(source, budget=command.budget)
        self._gh.upsert_comment(
            event.issue.number,
            marker("checklist", run_key),
            checklist_comment(render(checklist), key=run_key),
        )
        self._reply(
            event.issue.number,
            key,
            f"Planned {len(checklist.items)} item(s) for {defuse(source.title)} in the checklist comment "
            f"above. Edit it (titles, ticks, order) if you like, then `{self._prefix} run`.",
        )
        return Outcome("planned", f"{len(checklist.items)} items")

    async def _run(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        source, run_key, closes = await self._source(command, event)
        checklist = self._saved_checklist(event.issue.number, run_key)
        if checklist is None:
            checklist = await self._work.plan(source, budget=command.budget)
            self._gh.upsert_comment(
                event.issue.number,
                marker("checklist", run_key),
                checklist_comment(render(checklist), key=run_key),
            )
        return await self._execute(command, event, key, checklist, run_key, closes)

    async def _fix(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        source, run_key, closes = self._issue_source(self._gh.issue(event.issue.number))
        checklist = self._saved_checklist(event.issue.number, run_key) or await self._work.plan(
            source, budget=command.budget
        )
        return await self._execute(command, event, key, checklist, run_key, closes)

    async def _retry(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        _, run_key, closes = await self._source(dataclasses.replace(command, target=""), event)
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
            checklist, run_key, event.issue.number, closes, command.parallel, command.budget, command.tier
        )
        result = await self._work.run(request, should_stop=should_stop)
        self._gh.upsert_comment(
            event.issue.number,
            marker("checklist", run_key),
            checklist_comment(render(result.checklist), key=run_key),
        )
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
        host = next(
            (c for i in self._gh.milestone_issues(milestone.number) for c in self._own(i.number)
             if marker("checklist", run_key) in c.body),
            None,
        )  # fmt: skip
        if host is None:
            return Outcome("ignored", f"milestone {milestone.title!r} has no checklist yet")
        current = parse(strip_marker_lines(host.body), file="the milestone's checklist comment")
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
        owner_issue = next(
            i.number for i in self._gh.milestone_issues(milestone.number)
            if any(c.id == host.id for c in self._gh.comments(i.number))
        )  # fmt: skip
        self._gh.upsert_comment(
            owner_issue, marker("checklist", run_key), checklist_comment(render(updated), key=run_key)
        )
        return Outcome(
            "planned", f"added {len(new_items)} item(s) from #{issue.number} to {milestone.title!r}"
        )
