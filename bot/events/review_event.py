"""A pull request opened or pushed to: one review summary per head commit (``events/review.py``
builds it), from a cheap model within the configured budget; never on the bot's own PRs."""

from __future__ import annotations

from decimal import Decimal

from bot.config import Config
from bot.errors import BotError
from bot.events.conversation import Conversation
from bot.events.payloads import PullRequestEvent
from bot.events.review import REVIEW_SYSTEM, review_body, review_prompt, risks
from bot.events.work_api import Outcome, Work
from bot.github.gateway import GitHubGateway, marker


class ReviewSummaries:
    def __init__(self, *, gateway: GitHubGateway, config: Config, work: Work, talk: Conversation) -> None:
        self._gh = gateway
        self._config = config
        self._work = work
        self._talk = talk

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
        if any(seen in c.body for c in self._talk.own(pull.number)):
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
