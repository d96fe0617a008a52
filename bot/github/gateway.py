"""The one boundary to GitHub: a narrow protocol, small value types, and the markers.

Everything the bot writes that it may write again (the progress comment, the PR, the review
summary) carries a hidden marker, and is found by it before anything is created: a re-run, a
redelivered event or a retried POST then edits instead of duplicating.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

WRITE_PERMISSIONS = frozenset({"admin", "maintain", "write"})


def marker(kind: str, key: str | int) -> str:
    """A hidden HTML comment naming what a body is, e.g. ``<!-- milestone-bot:progress:12 -->``."""
    return f"<!-- milestone-bot:{kind}:{key} -->"


@dataclass(frozen=True)
class CommentRef:
    id: int
    body: str
    user: str = ""


@dataclass(frozen=True)
class IssueData:
    number: int
    title: str
    body: str
    labels: tuple[str, ...] = ()
    milestone: int | None = None
    is_pull_request: bool = False


@dataclass(frozen=True)
class MilestoneData:
    number: int
    title: str
    description: str = ""


@dataclass(frozen=True)
class PullData:
    number: int
    head: str
    base: str
    title: str
    body: str
    draft: bool = False
    html_url: str = ""
    head_sha: str = ""
    head_repo: str = ""  # owner/name of the head branch's repository ("": deleted fork)
    base_repo: str = ""
    state: str = "open"

    @property
    def from_fork(self) -> bool:
        return self.head_repo.lower() != self.base_repo.lower()


@dataclass(frozen=True)
class ReviewComment:
    """An inline review comment; replies carry the id of their thread's first comment."""

    id: int
    body: str
    user: str
    path: str = ""
    line: int | None = None
    in_reply_to: int | None = None
    commit_id: str = ""
    html_url: str = ""

    @property
    def thread(self) -> int:
        return self.in_reply_to or self.id


@dataclass(frozen=True)
class PullFile:
    filename: str
    status: str
    additions: int
    deletions: int
    patch: str = ""


@dataclass(frozen=True)
class JobData:
    id: int
    name: str
    conclusion: str | None
    failed_steps: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunData:
    id: int
    head_sha: str
    head_branch: str
    conclusion: str | None
    run_attempt: int = 1
    html_url: str = ""
    path: str = ""


@dataclass(frozen=True)
class CheckRunData:
    id: int
    name: str
    status: str
    conclusion: str | None = None
    output: dict[str, str] = field(default_factory=dict)


class GitHubGateway(Protocol):
    """What the bot asks of GitHub, for one repository."""

    def permission(self, user: str) -> str: ...  # admin, maintain, write, triage, read, none

    def react(self, comment_id: int, content: str) -> None: ...  # eyes, rocket, confused, ...

    def issue(self, number: int) -> IssueData: ...

    def milestones(self) -> list[MilestoneData]: ...

    def milestone_issues(self, number: int) -> list[IssueData]: ...

    def comments(self, issue: int) -> list[CommentRef]: ...

    def upsert_comment(self, issue: int, key: str, body: str) -> CommentRef:
        """Edit the bot's comment carrying ``key`` (a marker), or create it with the marker."""
        ...

    def delete_comment(self, comment_id: int) -> None:
        """Delete one of the bot's own comments (a duplicate claim lost to a concurrent delivery)."""
        ...

    def upsert_pull(self, *, head: str, base: str, title: str, body: str, draft: bool) -> PullData:
        """Update the open PR from ``head``, or open one."""
        ...

    def pull_files(self, number: int) -> list[PullFile]: ...

    def pull(self, number: int) -> PullData:
        """A PR as it is now: its head branch, head commit and head repository."""
        ...

    def review_comments(self, number: int) -> list[ReviewComment]:
        """Every inline review comment of a PR, oldest first (threads: ``ReviewComment.thread``)."""
        ...

    def reply_in_thread(self, number: int, thread: int, key: str, body: str) -> ReviewComment:
        """Edit the bot's reply carrying ``key`` (a marker) in a review thread, or post it."""
        ...

    def resolved_threads(self, number: int) -> set[int] | None:
        """The first comments' ids of the PR's review threads marked resolved; ``None`` when that
        cannot be read (REST does not say: only GraphQL does)."""
        ...

    def react_review_comment(self, comment_id: int, content: str) -> None:
        """A reaction on an inline review comment (GitHub's route differs from issue comments')."""
        ...

    def create_check_run(self, *, name: str, head_sha: str) -> int: ...

    def finish_check_run(self, check_run_id: int, *, conclusion: str, title: str, summary: str) -> None: ...

    def check_runs(self, *, head_sha: str, name: str) -> list[CheckRunData]: ...

    def run(self, run_id: int) -> RunData: ...

    def runs_for(self, *, head_sha: str) -> list[RunData]: ...

    def failed_jobs(self, run_id: int) -> list[JobData]: ...

    def job_log(self, job_id: int) -> str: ...

    def rerun_failed_jobs(self, run_id: int) -> None: ...

    def cancel_run(self, run_id: int) -> None:
        """Cancel a workflow run (a fan-out's work jobs, on ``/bot stop``)."""
        ...
