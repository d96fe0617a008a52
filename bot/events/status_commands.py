"""The commands that report or stop, and start nothing: ``help``, ``status``, ``cost``, ``stop``."""

from __future__ import annotations

import re
from decimal import Decimal

from bot.errors import BotError
from bot.events.commands import Command, help_text
from bot.events.conversation import Conversation
from bot.events.payloads import IssueCommentEvent
from bot.events.work_api import Outcome
from bot.github.bodies import costs_in, quote_untrusted, strip_marker_lines
from bot.github.gateway import GitHubGateway
from bot.report.money import usd

_RUN_URL = re.compile(r"/actions/runs/(\d+)")
_PROGRESS = "<!-- milestone-bot:progress:"


class StatusCommands:
    def __init__(self, *, gateway: GitHubGateway, talk: Conversation) -> None:
        self._gh = gateway
        self._talk = talk

    async def help(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        self._talk.reply(
            event.issue.number, key, "### milestone-bot commands\n\n" + help_text(self._talk.prefix)
        )
        return Outcome("replied", "help")

    async def status(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        # Only the bot's own progress comments, and even those re-posted escaped: a stranger's
        # comment carrying a progress marker must never be laundered into the bot's words (a
        # checklist marker in it would make the next `/bot run` work the stranger's checklist).
        progress = [c for c in self._talk.own(event.issue.number) if _PROGRESS in c.body]
        if not progress:
            text = "No run has reported progress on this issue yet."
        else:
            text = "Latest progress on this issue:\n\n" + quote_untrusted(
                strip_marker_lines(progress[-1].body)
            )
        self._talk.reply(event.issue.number, key, text)
        return Outcome("replied", "status")

    async def cost(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        spent = [usd for c in self._talk.own(event.issue.number) for usd in costs_in(c.body)]
        total = sum(spent, Decimal(0))
        self._talk.reply(
            event.issue.number,
            key,
            f"Runs on this issue have spent {usd(total)} in total ({len(spent)} run"
            f"{'s' if len(spent) != 1 else ''} reported).",
        )
        return Outcome("replied", f"cost {total}")

    async def stop(self, command: Command, event: IssueCommentEvent, key: str) -> Outcome:
        # A run in one job polls for this comment between items and stops starting new ones. A
        # fan-out's work jobs cannot read comments (no token): its workflow run, named in the
        # progress comment, is cancelled, and no further wave starts (``NextWave``).
        issue = event.issue.number
        runs = sorted({
            int(run) for c in self._talk.own(issue) if _PROGRESS in c.body
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
        self._talk.reply(
            issue,
            key,
            "Stopping: the run on this issue finishes the calls in flight, starts no new items and no "
            f"new wave, and reports what it did.{also} `{self._talk.prefix} run` later resumes where "
            "it stopped.",
        )
        return Outcome("replied", f"stop requested; cancelled {cancelled}")
