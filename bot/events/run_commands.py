"""The commands that plan and run: ``plan``, ``run``, ``fix`` (on an issue) and ``retry``.

A run works the checklist saved in the bot's checklist comment (planned first when there is none),
so a maintainer's edits to it (titles, ticks, order) are what runs, and items done are not paid for
again.
"""

from __future__ import annotations

import dataclasses

from bot.config import Config
from bot.domain import Checklist, ItemStatus
from bot.events.commands import Command
from bot.events.conversation import Conversation
from bot.events.payloads import IssueCommentEvent
from bot.events.sources import Target, issue_target, milestone_by_title, milestone_target
from bot.events.work_api import Outcome, RunRequest, Work
from bot.github.bodies import defuse
from bot.github.gateway import GitHubGateway


class RunCommands:
    def __init__(self, *, gateway: GitHubGateway, config: Config, work: Work, talk: Conversation) -> None:
        self._gh = gateway
        self._config = config
        self._work = work
        self._talk = talk

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

    async def plan(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        target = await self._source(command, event)
        source, run_key = target.source, target.key
        checklist = await self._work.plan(source, budget=command.budget)
        self._talk.save_checklist(event.issue.number, run_key, checklist)
        self._talk.reply(
            event.issue.number,
            key,
            f"Planned {len(checklist.items)} item(s) for {defuse(source.title)} in the checklist comment "
            f"above. Edit it (titles, ticks, order) if you like, then `{self._talk.prefix} run`.",
        )
        return Outcome("planned", f"{len(checklist.items)} items")

    async def run(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        target = await self._source(command, event)
        source, run_key, closes = target.source, target.key, target.closes
        checklist = self._talk.saved_checklist(event.issue.number, run_key)
        if checklist is None:
            checklist = await self._work.plan(source, budget=command.budget)
            self._talk.save_checklist(event.issue.number, run_key, checklist)
        return await self._execute(command, event, key, checklist, run_key, closes)

    async def fix_issue(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        """``/bot fix`` on an issue: that issue alone (on a PR it is a follow-up, not this)."""
        target = issue_target(self._gh.issue(event.issue.number))
        source, run_key, closes = target.source, target.key, target.closes
        checklist = self._talk.saved_checklist(event.issue.number, run_key) or await self._work.plan(
            source, budget=command.budget
        )
        return await self._execute(command, event, key, checklist, run_key, closes)

    async def retry(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        target = await self._source(dataclasses.replace(command, target=""), event)
        run_key, closes = target.key, target.closes
        checklist = self._talk.saved_checklist(event.issue.number, run_key)
        if checklist is None:
            self._talk.reply(
                event.issue.number,
                key,
                f"There is no checklist on this issue yet: `{self._talk.prefix} plan` first.",
            )
            return Outcome("replied", "no checklist", "failure")
        ids = [i.id for i in checklist.items]
        if command.target not in ids:
            self._talk.reply(
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
            self._talk.reply(
                event.issue.number,
                key,
                f"No tier `{defuse(command.tier)}` in the config; tiers: {', '.join(self._config.tiers)}.",
            )
            return Outcome("replied", "unknown tier", "failure")
        self._talk.reply(
            event.issue.number, key, f"Working on {len(checklist.items)} item(s); progress below."
        )
        request = RunRequest(
            checklist, run_key, event.issue.number, closes, command.parallel, command.budget, command.tier,
            target=event.repository.default_branch, run=f"{run_key}@{key.replace(':', '-')}",
        )  # fmt: skip
        should_stop = self._talk.stop_after(event.issue.number, event.comment.id)
        result = await self._work.run(request, should_stop=should_stop)
        self._talk.save_checklist(event.issue.number, run_key, result.checklist)
        pr = f" PR #{result.pull}." if result.pull else ""
        self._talk.reply(event.issue.number, key, f"{defuse(result.summary)}{pr}")
        return Outcome("ran", result.summary, result.conclusion, result.spent, result.pull)
