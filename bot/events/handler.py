"""Events in, actions out: the bot's behaviour on GitHub, over the gateway and a ``Work`` service.

Comment commands: bots (itself included) never trigger anything; a comment with no command is
ignored; each command is acknowledged with 👀 at once, answered in a reply carrying a receipt
marker (comment id + edit time, so a redelivered event or a re-run workflow finds it and does
nothing), and ends with 🚀, or 😕 on an error. Commands that spend or write need write, maintain or
admin permission, asked of the API (not ``author_association``).

This module routes: each event kind and each command is handled in a module of its own
(``status_commands``, ``run_commands``, ``red_builds``, ``checklist_events``, ``review_event``;
``conversation`` holds what they share: trust, receipts, stop, the checklist comment).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.config import Config
from bot.errors import BotError
from bot.events.checklist_events import ChecklistEvents
from bot.events.commands import Command, CommandProblem, Verb, parse_commands
from bot.events.conversation import Conversation
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
from bot.events.pr_followup import Ask, Done, FollowUps, PullFollowUp, ReviewCommands
from bot.events.red_builds import TRIAGE_CHECK, RedBuilds
from bot.events.review_event import ReviewSummaries
from bot.events.run_commands import RunCommands
from bot.events.status_commands import StatusCommands
from bot.events.work_api import Outcome, RunRequest, RunResult, Work
from bot.github.bodies import defuse
from bot.github.gateway import GitHubGateway

# Re-exported: callers and tests name these through the handler.
__all__ = ["NO_FOLLOWUPS", "TRIAGE_CHECK", "EventHandler", "Outcome", "RunRequest", "RunResult", "Work"]

log = logging.getLogger(__name__)
NO_FOLLOWUPS = (
    "Follow-up commits on a pull request run where the bot runs in one job (the Action's "
    "`handle-event` without `--fanout-dir`). This workflow fans runs out to jobs without a write token, "
    "and those cannot work on a PR's branch yet, so nothing was done."
)
_Handler = Callable[[Command, IssueCommentEvent, str], Awaitable[Outcome]]


class EventHandler:
    def __init__(
        self, *, gateway: GitHubGateway, config: Config, work: Work, followups: FollowUps | None = None
    ) -> None:
        self._gh = gateway
        self._config = config
        self._work = work
        self._prefix = config.command_prefix
        self._talk = Conversation(gateway=gateway, config=config)
        # Follow-up commits on a PR's branch: without them `/bot fix` on a PR says it cannot.
        self._followups = followups
        self._pulls = PullFollowUp(gateway=gateway, config=config, work=followups) if followups else None
        self._status = StatusCommands(gateway=gateway, talk=self._talk)
        self._runs = RunCommands(gateway=gateway, config=config, work=work, talk=self._talk)
        self._red = RedBuilds(
            gateway=gateway, config=config, work=work, followups=followups, pulls=self._pulls
        )
        self._checklists = ChecklistEvents(gateway=gateway, config=config, work=work, talk=self._talk)
        self._reviews = ReviewSummaries(gateway=gateway, config=config, work=work, talk=self._talk)

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
            return [await self._checklists.on_milestoned(event)]
        if isinstance(event, WorkflowRunEvent):
            return [await self._red.on_workflow_run(event)]
        if isinstance(event, PullRequestEvent):
            return [await self._reviews.on_pull_request(event)]
        if isinstance(event, WorkflowDispatchEvent):
            return [await self._checklists.on_dispatch(event)]
        if isinstance(event, ReviewCommentEvent | PullRequestReviewEvent) and self._pulls is not None:
            done = await ReviewCommands(self._pulls, gateway=self._gh, config=self._config).handle(
                event, may_write=self._talk.may_write
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
        if self._talk.handled(issue.number, receipt):
            return [Outcome("ignored", f"comment {comment.id} was handled already (redelivery or re-run)")]
        if not self._talk.claim(issue.number, receipt):
            return [Outcome("ignored", f"comment {comment.id} is handled by a concurrent delivery")]
        self._gh.react(comment.id, "eyes")
        outcomes: list[Outcome] = []
        for number, command in enumerate(parsed):
            key = f"{receipt}:{number}"
            try:
                outcome = await self._command(command, event, key)
            except BotError as exc:
                log.exception("command failed")
                self._talk.reply(issue.number, key, f"Sorry, that failed: {defuse(str(exc))[:1500]}")
                outcome = Outcome("error", str(exc), "failure")
            outcomes.append(outcome)
        failed = any(o.action in ("error", "refused") for o in outcomes) or any(
            isinstance(c, CommandProblem) for c in parsed
        )
        self._gh.react(comment.id, "confused" if failed else "rocket")
        return outcomes

    async def _command(
        self, command: Command | CommandProblem, event: IssueCommentEvent, key: str
    ) -> Outcome:
        issue = event.issue.number
        if isinstance(command, CommandProblem):
            self._talk.reply(
                issue,
                key,
                f"I could not read `{defuse(command.text)[:200]}`: {command.render(self._prefix)}\n\n"
                f"`{self._prefix} help` lists every command.",
            )
            return Outcome("replied", command.problem, "failure")
        user = event.comment.user.login
        if command.needs_write and not self._talk.may_write(user):
            permission = self._gh.permission(user)
            self._talk.reply(
                issue,
                key,
                f"Sorry @\u200b{defuse(user)}, `{self._prefix} {command.verb.value}` needs write, "
                f"maintain or admin permission on this repository (yours: {permission}). "
                f"`{self._prefix} help` says who may use what.",
            )
            return Outcome("refused", f"{user} has {permission} permission")
        handlers: dict[Verb, _Handler] = {
            Verb.HELP: self._status.help,
            Verb.STATUS: self._status.status,
            Verb.COST: self._status.cost,
            Verb.STOP: self._status.stop,
            Verb.PLAN: self._runs.plan,
            Verb.RUN: self._runs.run,
            Verb.FIX: self._fix,
            Verb.RETRY: self._runs.retry,
        }
        return await handlers[command.verb](command, event, key)

    async def _fix(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        """``/bot fix``: on a PR a follow-up commit on its branch; on an issue, a run of it."""
        if not event.issue.is_pull_request:
            return await self._runs.fix_issue(command, event, key)
        if self._pulls is None:
            self._talk.reply(event.issue.number, key, NO_FOLLOWUPS)
            return Outcome("replied", "no follow-ups", "failure")
        ask = Ask(event.issue.number, command.target, command.budget, command.tier, key)
        done = await self._pulls.fix(ask, answer=lambda text: self._talk.reply(event.issue.number, key, text))
        return _outcome(done)


def _outcome(done: Done) -> Outcome:
    return Outcome(done.action, done.detail, done.conclusion, done.spent)
