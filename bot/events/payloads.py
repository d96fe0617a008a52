"""Webhook payloads as small typed models: the rest of the bot never sees raw dicts.

Only the fields the bot reads are declared; GitHub sends many more and adds new ones, so unknown
fields are ignored (unlike the bot's own config, where an unknown key is a mistake). ``parse_event``
turns an event name and its JSON into one of these, or ``None`` for events the bot does not handle.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bot.errors import EventError


class _Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Payload):
    login: str
    id: int = 0
    type: str = "User"  # User, Bot, Organization

    @property
    def is_bot(self) -> bool:
        return self.type == "Bot" or self.login.endswith("[bot]")


class Repository(_Payload):
    full_name: str
    default_branch: str = "main"
    fork: bool = False
    id: int = 0

    @property
    def owner(self) -> str:
        return self.full_name.split("/", 1)[0]


class Label(_Payload):
    name: str


class Milestone(_Payload):
    number: int
    title: str
    description: str | None = None
    state: str = "open"


class Issue(_Payload):
    number: int
    title: str
    body: str | None = None
    state: str = "open"
    user: User
    labels: tuple[Label, ...] = ()
    milestone: Milestone | None = None
    pull_request: dict[str, Any] | None = None  # present when the "issue" is a pull request

    @property
    def is_pull_request(self) -> bool:
        return self.pull_request is not None


class Comment(_Payload):
    id: int
    body: str = ""
    user: User
    created_at: str = ""
    updated_at: str = ""
    author_association: str = "NONE"


class Ref(_Payload):
    ref: str
    sha: str
    repo: Repository | None = None


class PullRequest(_Payload):
    number: int
    title: str
    body: str | None = None
    state: str = "open"
    draft: bool = False
    user: User
    head: Ref
    base: Ref
    html_url: str = ""

    @property
    def from_fork(self) -> bool:
        head, base = self.head.repo, self.base.repo
        return head is None or base is None or head.full_name != base.full_name


class PullRef(_Payload):
    number: int


class HeadRepository(_Payload):
    full_name: str


class WorkflowRun(_Payload):
    id: int
    name: str | None = None
    event: str = ""
    status: str | None = None
    conclusion: str | None = None
    head_branch: str | None = None
    head_sha: str
    run_attempt: int = 1
    html_url: str = ""
    path: str = ""
    pull_requests: tuple[PullRef, ...] = ()
    head_repository: HeadRepository | None = None


class CheckSuite(_Payload):
    id: int
    head_branch: str | None = None
    head_sha: str
    conclusion: str | None = None


class CheckRun(_Payload):
    id: int
    name: str
    head_sha: str
    conclusion: str | None = None


class _Event(_Payload):
    action: str = ""
    repository: Repository
    sender: User


class IssueCommentEvent(_Event):
    issue: Issue
    comment: Comment
    changes: dict[str, Any] | None = None


class IssuesEvent(_Event):
    issue: Issue
    milestone: Milestone | None = None
    label: Label | None = None


class MilestoneEvent(_Event):
    milestone: Milestone


class PullRequestEvent(_Event):
    number: int
    pull_request: PullRequest


class InlineComment(Comment):
    """An inline review comment: on a file and line, possibly a reply in a thread."""

    path: str = ""
    line: int | None = None
    in_reply_to_id: int | None = None
    pull_request_review_id: int | None = None


class ReviewCommentEvent(_Event):
    pull_request: PullRequest
    comment: InlineComment


class Review(_Payload):
    id: int
    body: str | None = None
    user: User
    state: str = ""
    submitted_at: str | None = None
    commit_id: str = ""


class PullRequestReviewEvent(_Event):
    pull_request: PullRequest
    review: Review


class WorkflowRunEvent(_Event):
    workflow_run: WorkflowRun


class CheckSuiteEvent(_Event):
    check_suite: CheckSuite


class CheckRunEvent(_Event):
    check_run: CheckRun


class PushEvent(_Payload):
    ref: str
    before: str
    after: str
    repository: Repository
    sender: User
    forced: bool = False
    deleted: bool = False
    action: str = Field(default="")


class WorkflowDispatchEvent(_Payload):
    """A manual or API dispatch; the bot's own next wave carries ``inputs.key``."""

    ref: str = ""
    repository: Repository
    sender: User
    inputs: dict[str, Any] | None = None
    action: str = ""


Event = (
    IssueCommentEvent
    | IssuesEvent
    | MilestoneEvent
    | PullRequestEvent
    | ReviewCommentEvent
    | PullRequestReviewEvent
    | WorkflowRunEvent
    | CheckSuiteEvent
    | CheckRunEvent
    | PushEvent
    | WorkflowDispatchEvent
)

MODELS: dict[str, type[Event]] = {
    "issue_comment": IssueCommentEvent,
    "issues": IssuesEvent,
    "milestone": MilestoneEvent,
    "pull_request": PullRequestEvent,
    "pull_request_review_comment": ReviewCommentEvent,
    "pull_request_review": PullRequestReviewEvent,
    "workflow_run": WorkflowRunEvent,
    "check_suite": CheckSuiteEvent,
    "check_run": CheckRunEvent,
    "push": PushEvent,
    "workflow_dispatch": WorkflowDispatchEvent,
}


def parse_event(name: str, payload: object) -> Event | None:
    """The typed event, ``None`` for an event the bot does not handle; ``EventError`` when a
    handled event's payload lacks what the bot needs (named, so the log says what was wrong)."""
    model = MODELS.get(name)
    if model is None:
        return None
    if not isinstance(payload, dict):
        raise EventError(f"{name} payload is not a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise EventError(f"{name} payload: {where}: {first['msg']}") from exc
