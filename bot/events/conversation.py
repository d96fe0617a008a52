"""The bot's side of an issue's conversation: who may command it, what it said, what it claimed.

Only the bot's own comments are trusted (receipts, progress, checklists, costs); a command that
spends or writes needs write, maintain or admin permission, asked of the API (never the comment's
``author_association``). Every reply carries a receipt marker (comment id + edit time), so a
redelivered event or a re-run workflow finds it and does nothing.
"""

from __future__ import annotations

from collections.abc import Callable

from bot.config import Config
from bot.domain import Checklist
from bot.events.commands import Command, Verb, parse_commands
from bot.github.bodies import checklist_comment, checklist_text
from bot.github.gateway import WRITE_PERMISSIONS, CommentRef, GitHubGateway, marker
from bot.planning.checklist_file import parse, render

_STARTS = (Verb.RUN, Verb.FIX, Verb.RETRY)


class Conversation:
    def __init__(self, *, gateway: GitHubGateway, config: Config) -> None:
        self._gh = gateway
        self._config = config
        self.prefix = config.command_prefix
        self._bot = config.github.bot_login.lower()

    # -- trust ---------------------------------------------------------------------------------
    def own(self, issue: int) -> list[CommentRef]:
        """The bot's own comments on an issue: only these are trusted for receipts, progress, costs."""
        return [c for c in self._gh.comments(issue) if c.user.lower() == self._bot]

    def may_write(self, user: str) -> bool:
        allowed = {u.lower() for u in self._config.allowed_users}
        return user.lower() in allowed or self._gh.permission(user) in WRITE_PERMISSIONS

    # -- receipts ------------------------------------------------------------------------------
    def handled(self, issue: int, receipt: str) -> bool:
        return any(marker("handled", receipt) in c.body for c in self.own(issue))

    def claim(self, issue: int, receipt: str) -> bool:
        """Claim a comment's commands before doing anything: the first reply (edited into the answer
        later) carries the receipt. Two deliveries of one event running at the same time both pass
        the receipt check; both post a claim, the lowest comment id wins, the other deletes its
        claim and stops, so the commands run once."""
        key = marker("reply", f"{receipt}:0")
        mine = self._gh.upsert_comment(issue, key, f"On it.\n\n{marker('handled', receipt)}")
        claims = [c.id for c in self.own(issue) if key in c.body]
        if claims and min(claims) != mine.id:
            self._gh.delete_comment(mine.id)
            return False
        return True

    def reply(self, issue: int, key: str, text: str) -> None:
        receipt = key.rsplit(":", 1)[0]
        self._gh.upsert_comment(issue, marker("reply", key), f"{text}\n\n{marker('handled', receipt)}")

    # -- stop ----------------------------------------------------------------------------------
    def stopped(self, issue: int) -> bool:
        """Whether a writer's ``/bot stop`` came after the last command that started a run."""
        last_run = last_stop = -1
        for index, comment in enumerate(self._gh.comments(issue)):
            if comment.user.lower() == self._bot or comment.user.lower().endswith("[bot]"):
                continue
            verbs = {
                p.verb for p in parse_commands(comment.body, prefix=self.prefix)
                if isinstance(p, Command) and p.verb in (*_STARTS, Verb.STOP)
            }  # fmt: skip
            if verbs and self.may_write(comment.user):
                if Verb.STOP in verbs:
                    last_stop = index
                if verbs - {Verb.STOP}:
                    last_run = index
        return last_stop > last_run

    def stop_after(self, issue: int, comment_id: int) -> Callable[[], bool]:
        """A run's ``should_stop``: true once a writer's ``/bot stop`` follows ``comment_id``
        (polled between items; remembered once seen)."""
        stop_seen: list[bool] = []

        def should_stop() -> bool:
            if not stop_seen:
                for c in self._gh.comments(issue):
                    if c.id <= comment_id or c.user.lower().endswith("[bot]"):
                        continue
                    stops = [
                        p for p in parse_commands(c.body, prefix=self.prefix)
                        if isinstance(p, Command) and p.verb is Verb.STOP
                    ]  # fmt: skip
                    if stops and self.may_write(c.user):
                        stop_seen.append(True)
                        break
            return bool(stop_seen)

        return should_stop

    # -- the checklist comment -----------------------------------------------------------------
    def save_checklist(self, issue: int, key: str, checklist: Checklist) -> None:
        self._gh.upsert_comment(
            issue, marker("checklist", key), checklist_comment(render(checklist), key=key)
        )

    def saved_checklist(self, issue: int, key: str) -> Checklist | None:
        for comment in self.own(issue):
            if marker("checklist", key) in comment.body:
                # A broken comment raises ChecklistError naming the line and the fix: replied as is.
                return parse(checklist_text(comment.body), file=f"the checklist comment on #{issue}")
        return None
