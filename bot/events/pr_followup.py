"""``/bot fix`` on a pull request: review threads and failing checks become follow-up commits on
the PR's own branch, answered where they were asked.

Where the command may be written: a PR comment (``issue_comment``), a review's body
(``pull_request_review``) or an inline review comment (``pull_request_review_comment``). The work
happens on the PR's head branch, in this repository only: the bot never pushes to a fork (its
token cannot, and a fork's code is not to be run with the repository's secrets).

What the items are: the text after the command when there is any; otherwise one item per open
review thread and one per root cause of the head commit's failing checks. A thread is open while it
is not marked resolved (read over GraphQL: REST does not say) and a person spoke in it after the
bot last answered there, so a thread the bot answered stays closed until someone writes in it
again. Where GraphQL cannot be read, the second rule alone decides.

Under the fan-out workflow the event job (write token, no model-written code) only collects the
items, the branch and the thread map and hands them on (``FollowUpResult.handed_on``); the work
jobs do the items and the publish job lands, pushes and answers (``bot.events.fanout_followup``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol

from bot.config import Config
from bot.domain import Checklist, Item, ItemKind, ItemStatus
from bot.errors import BotError, PlanningError
from bot.events.commands import Command, Verb, command_lines, parse_commands
from bot.events.payloads import PullRequestReviewEvent, ReviewCommentEvent
from bot.github.bodies import defuse
from bot.github.followup_bodies import (
    SUMMARY_LIMIT,
    Round,
    summary_comment,
    thread_reply,
    untrusted_line,
    with_round,
)
from bot.github.gateway import WRITE_PERMISSIONS, GitHubGateway, PullData, ReviewComment, marker
from bot.planning.planner import plan_red_build

FOLLOWUP_CHECK = "milestone-bot follow-up"
# A request to rename, restructure or reword changes no behaviour: no new test is written first.
_NO_BEHAVIOUR = re.compile(
    r"\b(rename|renaming|refactor|restructure|reword|typo|spelling|docstring|comment|formatting|"
    r"naming|readme|docs?)\b",
    re.I,
)
_HTML_COMMENT = re.compile(r"<!--.*?(?:-->|$)", re.S)


@dataclass(frozen=True)
class Thread:
    comments: tuple[ReviewComment, ...]  # the first comment, then its replies, oldest first

    @property
    def id(self) -> int:
        return self.comments[0].id

    @property
    def root(self) -> ReviewComment:
        return self.comments[0]


def threads(comments: list[ReviewComment]) -> list[Thread]:
    grouped: dict[int, list[ReviewComment]] = {}
    for comment in sorted(comments, key=lambda c: c.id):
        grouped.setdefault(comment.thread, []).append(comment)
    return [Thread(tuple(c)) for c in grouped.values()]


def _request_text(body: str, prefix: str) -> str:
    """A person's words in a thread, without command lines (``/bot fix`` asks, it is not the ask)."""
    commands = {n for n, _ in command_lines(body, prefix)}
    kept = [line for n, line in enumerate(body.splitlines(), start=1) if n not in commands]
    return _HTML_COMMENT.sub("", "\n".join(kept)).strip()  # invisible text asks for nothing


def anyone(user: str) -> bool:
    return True


def open_threads(
    found: list[Thread],
    *,
    bot: str,
    prefix: str,
    resolved: Collection[int] = (),
    may_write: Callable[[str], bool] = anyone,
) -> list[Thread]:
    """Threads not marked resolved where a person asked for something after the bot's last answer
    (after it, only what people who may write say reopens a thread)."""
    out = []
    for thread in found:
        if thread.id in resolved:
            continue
        answered = max((i for i, c in enumerate(thread.comments) if c.user.lower() == bot), default=-1)
        later = [c for c in thread.comments[answered + 1 :] if c.user.lower() != bot and may_write(c.user)]
        if any(_request_text(c.body, prefix) for c in later) or (
            answered == -1 and _request_text(thread.root.body, prefix)
        ):
            out.append(thread)
    return out


def kind_of(text: str) -> ItemKind:
    return ItemKind.REFACTOR if _NO_BEHAVIOUR.search(text) else ItemKind.FEATURE


def thread_item(thread: Thread, *, bot: str, prefix: str, may_write: Callable[[str], bool] = anyone) -> Item:
    """The thread's asks as an item: the words of people who may write only (a stranger's reply in a
    maintainer's thread is not part of the task)."""
    asks = [
        _request_text(c.body, prefix) for c in thread.comments if c.user.lower() != bot and may_write(c.user)
    ]
    asks = [a for a in asks if a]
    where = thread.root.path + (f" line {thread.root.line}" if thread.root.line else "")
    first = asks[0].splitlines()[0] if asks else "review comment"
    description = f"A reviewer's request on {where}:\n\n" + "\n\n".join(asks)
    return Item(
        id=f"thread-{thread.id}",
        title=" ".join(f"Review: {first}".split())[:120],
        description=description,
        kind=kind_of(" ".join(asks)),
    )


def text_item(text: str, *, where: str = "") -> Item:
    on = f" (on {where})" if where else ""
    return Item(
        id="request",
        title=" ".join(f"Requested: {text}".split())[:120],
        description=f"A maintainer asked for this change on the pull request{on}:\n\n{text}",
        kind=kind_of(text),
    )


def check_items(logs: str, *, ref: str) -> list[Item]:
    """One item per root cause of the head commit's failing checks (the red-build planner's)."""
    try:
        planned = plan_red_build(logs, ref=ref, title="failing checks")
    except PlanningError:
        return []
    return [
        Item(
            i.id.replace("failure-", "check-"),
            f"Failing check: {i.title}"[:120],
            i.description,
            i.kind,
            i.acceptance_tests,
            tests_exist=i.tests_exist,
        )
        for i in planned.items
    ]


@dataclass(frozen=True)
class FollowUpRequest:
    checklist: Checklist
    key: str  # the round's key: its run id and worktrees
    branch: str  # the PR's head branch, in this repository
    pull: int | None  # where replies go (None: a red build on a bot branch without a PR)
    budget: Decimal | None = None
    tier: str | None = None
    # Where the answers go, for a follow-up answered in another job (the fan-out's publish job):
    threads: Mapping[str, int] = field(default_factory=dict)  # item id -> its review thread
    receipt: str = ""  # the command's receipt: the markers of the replies
    review_comment: int | None = None  # the inline comment that held the command (its reactions)
    not_taken: tuple[str, ...] = ()  # open threads left out: written by someone who may not write


@dataclass(frozen=True)
class FollowUpResult:
    checklist: Checklist  # the items as they ended, with their costs
    commits: dict[str, str]  # item id -> its follow-up commit on the branch
    head: str | None  # the branch's new tip (None: nothing was pushed)
    conclusion: str
    summary: str
    spent: Decimal
    validation: str  # what proved the pushed commits, in one line
    notes: dict[str, str] = field(default_factory=dict)  # item id -> why it is not on the branch
    moved: bool = False  # the branch moved during the work: re-read, replayed, pushed again
    handed_on: bool = False  # nothing done here: the fan-out's jobs do it and answer (see the module)


class FollowUps(Protocol):
    """Work items as commits on top of an existing branch, pushed without force."""

    async def follow_up(self, request: FollowUpRequest) -> FollowUpResult: ...


@dataclass(frozen=True)
class Ask:
    """One ``/bot fix`` on a PR, from wherever it was written."""

    pull: int
    text: str  # after the command ("" for none)
    budget: Decimal | None
    tier: str | None
    key: str  # the command's receipt: replies, round key
    thread: int | None = None  # the review thread it was written in, if any
    where: str = ""  # file and line of that thread
    comment: int | None = None  # the inline review comment it was written in (its reactions)


@dataclass(frozen=True)
class Done:
    action: str  # ran, refused, replied, ignored
    detail: str
    conclusion: str = "neutral"
    spent: Decimal = Decimal(0)
    handed_on: bool = False  # to the fan-out's jobs, which finish it


def end_reaction(done: Done | FollowUpResult) -> str:
    """🚀 when the command did what it could, 😕 when it was refused or failed."""
    failed = done.conclusion == "failure" or (isinstance(done, Done) and done.action in ("refused", "error"))
    return "confused" if failed else "rocket"


class PullFollowUp:
    """The PR side of a follow-up: what the items are, and the answers; ``FollowUps`` does the work."""

    def __init__(self, *, gateway: GitHubGateway, config: Config, work: FollowUps) -> None:
        self._gh = gateway
        self._config = config
        self._work = work
        self._bot = config.github.bot_login.lower()
        self._prefix = config.command_prefix

    async def fix(self, ask: Ask, *, answer: Callable[[str], None]) -> Done:
        pull = self._gh.pull(ask.pull)
        if pull.from_fork:
            answer(
                f"I only push follow-up commits to branches of this repository, and PR #{pull.number} comes "
                f"from a fork ({defuse(pull.head_repo) or 'a deleted repository'}): I cannot push there, "
                "and its code is not run with this repository's secrets. Push the branch here, or make "
                "the change yourself."
            )
            return Done("refused", f"PR #{pull.number} is from a fork ({pull.head_repo})")
        if pull.state != "open":
            answer(f"PR #{pull.number} is {pull.state}: nothing to follow up.")
            return Done("replied", f"PR #{pull.number} is {pull.state}")
        if ask.tier is not None and ask.tier not in self._config.tiers:
            answer(f"No tier `{defuse(ask.tier)}` in the config; tiers: {', '.join(self._config.tiers)}.")
            return Done("replied", "unknown tier", "failure")
        items, thread_of, not_taken = self._items(pull, ask)
        skipped = not_taken_line(not_taken)
        if not items:
            answer(
                f"Nothing to do on #{pull.number}: no open review thread and no failing check on "
                f"{pull.head_sha[:10]}. Write what to change after the command: "
                f"`{self._prefix} fix <what to change>`.{skipped}"
            )
            return Done("replied", "nothing to follow up")
        answer(
            f"Working on {len(items)} item(s) on `{defuse(pull.head)}`; replies go in each thread.{skipped}"
        )
        checklist = Checklist(
            f"pull#{pull.number}", f"Follow-up on #{pull.number}: {pull.title}", tuple(items)
        )
        request = FollowUpRequest(
            checklist, f"pr-{pull.number}-{ask.key}", pull.head, pull.number, ask.budget, ask.tier,
            thread_of, ask.key, ask.comment, not_taken,
        )  # fmt: skip
        result = await self._work.follow_up(request)
        said = untrusted_line(result.summary, limit=SUMMARY_LIMIT)  # it may quote failure reasons
        if result.handed_on:
            answer(f"{said} Replies go in each thread, and a summary below.{skipped}")
            return Done("ran", result.summary, result.conclusion, result.spent, handed_on=True)
        self.answer(pull, result, thread_of=thread_of, key=ask.key, not_taken=not_taken)
        answer(f"{said} Details in the summary comment below and in each thread.{skipped}")
        return Done("ran", result.summary, result.conclusion, result.spent)

    def _items(self, pull: PullData, ask: Ask) -> tuple[list[Item], dict[str, int], tuple[str, ...]]:
        """The items, the thread of each, and the open threads not taken. Without text, a thread
        is taken only if its first comment's author may write here: on a public repository anyone
        can comment, and a stranger's review comment must not become the bot's task."""
        if ask.text:
            item = text_item(ask.text, where=ask.where)
            return [item], ({item.id: ask.thread} if ask.thread is not None else {}), ()
        may_write = self._writers()
        resolved = self._gh.resolved_threads(pull.number) or set()  # None: REST's rule alone
        found = open_threads(
            threads(self._gh.review_comments(pull.number)), bot=self._bot, prefix=self._prefix,
            resolved=resolved, may_write=may_write,
        )  # fmt: skip
        taken = [t for t in found if may_write(t.root.user)]
        not_taken = tuple(
            f"{t.root.path}" + (f" line {t.root.line}" if t.root.line else "") + f" by {t.root.user}"
            for t in found
            if t not in taken
        )
        items = [thread_item(t, bot=self._bot, prefix=self._prefix, may_write=may_write) for t in taken]
        thread_of = {item.id: t.id for item, t in zip(items, taken, strict=True)}
        return items + self._failing_checks(pull), thread_of, not_taken

    def _writers(self) -> Callable[[str], bool]:
        """Who may write, as commands are checked (the config's allowed users, or write, maintain
        or admin permission), asked once per user for this command."""
        allowed = {u.lower() for u in self._config.allowed_users}
        known: dict[str, bool] = {}

        def may_write(user: str) -> bool:
            key = user.lower()
            if key not in known:
                known[key] = key in allowed or self._gh.permission(user) in WRITE_PERMISSIONS
            return known[key]

        return may_write

    def _failing_checks(self, pull: PullData) -> list[Item]:
        logs = [
            self._gh.job_log(job.id)
            for run in self._gh.runs_for(head_sha=pull.head_sha)
            if run.conclusion == "failure"
            for job in self._gh.failed_jobs(run.id)
        ]
        return check_items("\n".join(logs), ref=f"pull#{pull.number}") if logs else []

    def answer(
        self,
        pull: PullData,
        result: FollowUpResult,
        *,
        thread_of: dict[str, int],
        key: str,
        not_taken: tuple[str, ...] = (),
    ) -> None:
        """A reply in each thread, one summary comment, and the PR body's follow-up section (none
        for a follow-up handed on: the job that lands it answers)."""
        if result.handed_on:
            return
        for item in result.checklist.items:
            thread = thread_of.get(item.id)
            if thread is None:
                continue
            text = thread_reply(
                item,
                commit=result.commits.get(item.id, ""),
                validation=result.validation,
                note=result.notes.get(item.id, ""),
                pushed=result.head is not None,
            )
            self._gh.reply_in_thread(pull.number, thread, marker("followup", f"{key}:{item.id}"), text)
        items = result.checklist.items
        self._gh.upsert_comment(
            pull.number,
            marker("followup", key),
            summary_comment(
                number=pull.number,
                items=items,
                commits=result.commits,
                head=result.head,
                summary=result.summary,
                spent=result.spent,
                moved=result.moved,
                not_taken=not_taken,
            ),
        )
        done = tuple((i.title, i.status is ItemStatus.DONE and result.head is not None) for i in items)
        current = self._gh.pull(pull.number)
        body = with_round(current.body, Round(result.head or "", result.spent, done))
        self._gh.upsert_pull(
            head=current.head, base=current.base, title=current.title, body=body, draft=current.draft
        )


def not_taken_line(not_taken: tuple[str, ...]) -> str:
    """The open threads left out, for the command's reply ('' when none)."""
    if not not_taken:
        return ""
    listed = "; ".join(untrusted_line(t, limit=200) for t in not_taken[:20])
    more = f" and {len(not_taken) - 20} more" if len(not_taken) > 20 else ""
    return f" Not taken (written by someone without write access): {listed}{more}."


def fix_commands(body: str, *, prefix: str) -> list[Command]:
    """The ``/bot fix`` commands in a review or an inline comment (other verbs belong on the PR)."""
    return [c for c in parse_commands(body, prefix=prefix) if isinstance(c, Command) and c.verb is Verb.FIX]


def _permission_text(user: str, prefix: str) -> str:
    return (
        f"Sorry @\u200b{defuse(user)}, `{prefix} fix` needs write, maintain or admin permission on this "
        "repository."
    )


class ReviewCommands:
    """``/bot fix`` written in a review's body or an inline review comment: acknowledged, deduped
    by a receipt in the bot's answer on the PR (a redelivery does nothing), then a ``fix``."""

    def __init__(self, followup: PullFollowUp, *, gateway: GitHubGateway, config: Config) -> None:
        self._followup = followup
        self._gh = gateway
        self._prefix = config.command_prefix
        self._bot = config.github.bot_login.lower()

    async def handle(
        self, event: ReviewCommentEvent | PullRequestReviewEvent, *, may_write: Callable[[str], bool]
    ) -> Done:
        thread: int | None = None
        where = ""
        if isinstance(event, ReviewCommentEvent):
            if event.action not in ("created", "edited"):
                return Done("ignored", f"pull_request_review_comment {event.action}")
            comment = event.comment
            author, body = comment.user, comment.body
            receipt = f"rc{comment.id}:{comment.updated_at or comment.created_at}"
            thread = comment.in_reply_to_id or comment.id
            where = comment.path + (f" line {comment.line}" if comment.line else "")
        else:
            if event.action not in ("submitted", "edited"):
                return Done("ignored", f"pull_request_review {event.action}")
            author, body = event.review.user, event.review.body or ""
            receipt = f"rv{event.review.id}:{event.review.submitted_at or ''}"
        if author.is_bot or event.sender.is_bot:
            return Done("ignored", f"review by a bot ({author.login})")
        commands = fix_commands(body, prefix=self._prefix)
        if not commands:
            return Done("ignored", f"no `{self._prefix} fix` in the review")
        number = event.pull_request.number
        handled = marker("handled", receipt)
        # A refusal is keyed on the comment or review alone, not its edit time: a person without
        # write access who edits their comment ten times is told once why not (the reason stands;
        # a comment per edit would let anyone make the bot write on the PR at will).
        source = receipt.split(":", 1)[0]
        refused = marker("refused", source)
        mine = [c.body for c in self._gh.comments(number) if c.user.lower() == self._bot]
        if any(handled in body for body in mine):
            return Done("ignored", f"review {receipt} was handled already (redelivery or re-run)")

        def answer(text: str) -> None:
            self._gh.upsert_comment(number, marker("reply", receipt), f"{text}\n\n{handled}")

        comment_id = event.comment.id if isinstance(event, ReviewCommentEvent) else None
        if not may_write(author.login):
            if any(refused in body for body in mine):
                return Done("ignored", f"{author.login} was refused on {source} already")
            text = _permission_text(author.login, self._prefix)
            self._gh.upsert_comment(number, marker("reply", source), f"{text}\n\n{refused}")
            if comment_id is not None:  # 😕 alone: it was never taken, so no 👀 first
                self._gh.react_review_comment(comment_id, "confused")
            return Done("refused", f"{author.login} may not write")
        if comment_id is not None:
            self._gh.react_review_comment(comment_id, "eyes")  # taken, as an issue comment's command
        command = commands[0]  # one round per review: its items are the whole PR's anyway
        ask = Ask(number, command.target, command.budget, command.tier, receipt, thread, where, comment_id)
        try:
            done = await self._followup.fix(ask, answer=answer)
        except BotError as exc:
            # Said where it was asked, as a comment's failed command is (the job then fails).
            answer(f"Sorry, that failed: {defuse(str(exc))[:1500]}")
            done = Done("error", str(exc), "failure")
        if comment_id is not None and not done.handed_on:  # handed on: the publish job ends it
            self._gh.react_review_comment(comment_id, end_reaction(done))
        return done
