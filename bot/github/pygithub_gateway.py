"""The GitHub gateway over PyGithub: the only module that imports ``github``.

PyGithub retries POSTs on 5xx by default, and a POST whose response was lost may have taken
effect: retried blindly, it posts the comment or opens the PR twice. So POSTs are not retried by
PyGithub here; ``_create`` retries them itself, and before each try looks for what the earlier try
may have made (by its marker, or the PR's head branch). Reads and edits keep PyGithub's retries.
"""

from __future__ import annotations

import logging
import time
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from github import Auth, Github, GithubException, GithubRetry
from github.Repository import Repository
from urllib3 import Retry

from bot.errors import GitHubError, GitHubRateLimited
from bot.github.gateway import (
    CheckRunData,
    CommentRef,
    IssueData,
    JobData,
    MilestoneData,
    PullData,
    PullFile,
    ReviewComment,
    RunData,
    marker,
)

T = TypeVar("T")
API = "https://api.github.com"
log = logging.getLogger(__name__)
_MAX_THREAD_PAGES = 20  # 100 threads a page: far past any PR a person reviews
# The first comment's REST id (``fullDatabaseId``, a BigInt sent as a string) names the thread,
# as the REST replies do (``databaseId`` is deprecated: a 32-bit Int).
_REVIEW_THREADS = """
query($owner: String!, $name: String!, $number: Int!, $cursor: String) {
  repository(owner: $owner, name: $name) {
    pullRequest(number: $number) {
      reviewThreads(first: 100, after: $cursor) {
        pageInfo { hasNextPage endCursor }
        nodes { isResolved comments(first: 1) { nodes { fullDatabaseId } } }
      }
    }
  }
}
"""


class PyGithubGateway:
    def __init__(
        self,
        full_name: str,
        *,
        token: str,
        base_url: str = API,
        bot_login: str = "github-actions[bot]",
        retries: int = 3,
        timeout_s: int = 30,
        # PyGithub's pacing, GitHub's advice against secondary rate limits; tests turn it off.
        seconds_between_requests: float | None = 0.25,
        seconds_between_writes: float | None = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        retry = GithubRetry(
            total=retries,
            backoff_factor=0.5,
            allowed_methods=Retry.DEFAULT_ALLOWED_METHODS | {"GET", "PATCH"},  # never POST
            secondary_rate_wait=30,
        )
        self._gh = Github(
            auth=Auth.Token(token),
            base_url=base_url,
            retry=retry,
            timeout=timeout_s,
            per_page=100,
            seconds_between_requests=seconds_between_requests,
            seconds_between_writes=seconds_between_writes,
        )
        self._full_name = full_name
        self._repo_obj: Repository | None = None
        self._bot_login = bot_login.lower()
        self._retries = retries
        self._sleep = sleep
        self._permissions: dict[str, str] = {}

    @property
    def _repo(self) -> Repository:
        if self._repo_obj is None:
            self._repo_obj = self._call(
                f"read repository {self._full_name}", lambda: self._gh.get_repo(self._full_name)
            )
        return self._repo_obj

    # -- errors and retries of writes ----------------------------------------------------------------
    def _call(self, doing: str, fn: Callable[[], T]) -> T:
        try:
            return fn()
        except GithubException as exc:
            raise _translate(doing, exc) from exc

    def _create(self, doing: str, find: Callable[[], T | None], create: Callable[[], T]) -> T:
        last: GitHubError | None = None
        for attempt in range(self._retries + 1):
            if attempt:
                found = self._call(f"look for the result of an earlier try to {doing}", find)
                if found is not None:
                    return found
            try:
                return create()
            except GithubException as exc:
                last = _translate(doing, exc)
                retry_after = last.retry_after if isinstance(last, GitHubRateLimited) else None
                if not (isinstance(last, GitHubRateLimited) or (last.status or 0) >= 500):
                    raise last from exc
                self._sleep(retry_after if retry_after is not None else 0.5 * 2**attempt)
        assert last is not None
        raise last

    # -- the gateway -------------------------------------------------------------------------------
    def permission(self, user: str) -> str:
        """admin, maintain, write, triage, read or none; cached for the gateway's life (one run)."""
        if user not in self._permissions:
            # The REST field folds maintain into write and triage into read, which is exactly the
            # line the bot draws: write, maintain and admin may spend; triage and read may not.
            try:
                self._permissions[user] = self._call(
                    f"read {user}'s permission", lambda: str(self._repo.get_collaborator_permission(user))
                )
            except GitHubError as exc:
                if exc.status != 404:
                    raise
                self._permissions[user] = "none"  # not a collaborator
        return self._permissions[user]

    def react(self, comment_id: int, content: str) -> None:
        # GitHub answers an existing reaction with 200, so a repeat is harmless: no find needed.
        def create() -> None:
            self._repo.requester.requestJsonAndCheck(
                "POST", f"{self._repo.url}/issues/comments/{comment_id}/reactions", input={"content": content}
            )

        self._create(f"react {content} to comment {comment_id}", lambda: None, create)

    def issue(self, number: int) -> IssueData:
        return self._call(f"read issue #{number}", lambda: _issue(self._repo.get_issue(number)))

    def milestones(self) -> list[MilestoneData]:
        return self._call(
            "list milestones",
            lambda: [
                MilestoneData(m.number, m.title, m.description or "")
                for m in self._repo.get_milestones(state="all")
            ],
        )

    def milestone_issues(self, number: int) -> list[IssueData]:
        def read() -> list[IssueData]:
            milestone = self._repo.get_milestone(number)
            return [
                _issue(i)
                for i in self._repo.get_issues(milestone=milestone, state="all")
                if i.pull_request is None
            ]

        return self._call(f"list the issues of milestone {number}", read)

    def comments(self, issue: int) -> list[CommentRef]:
        return self._call(
            f"list comments of #{issue}",
            lambda: [
                CommentRef(c.id, c.body or "", c.user.login)
                for c in self._repo.get_issue(issue).get_comments()
            ],
        )

    def _mine(self, issue: int, key: str) -> CommentRef | None:
        tag = key if key.startswith("<!--") else marker("comment", key)
        for comment in self.comments(issue):
            if tag in comment.body and comment.user.lower() == self._bot_login:
                return comment
        return None

    def upsert_comment(self, issue: int, key: str, body: str) -> CommentRef:
        tag = key if key.startswith("<!--") else marker("comment", key)
        text = body if tag in body else f"{body.rstrip()}\n\n{tag}\n"
        existing = self._mine(issue, tag)
        if existing is not None:
            if existing.body != text:
                self._call(
                    f"edit comment {existing.id}",
                    lambda: self._repo.requester.requestJsonAndCheck(
                        "PATCH", f"{self._repo.url}/issues/comments/{existing.id}", input={"body": text}
                    ),
                )
            return CommentRef(existing.id, text, existing.user)

        def create() -> CommentRef:
            made = self._repo.get_issue(issue).create_comment(text)
            return CommentRef(made.id, made.body or "", made.user.login)

        return self._create(f"comment on #{issue}", lambda: self._mine(issue, tag), create)

    def delete_comment(self, comment_id: int) -> None:
        self._call(
            f"delete comment {comment_id}",
            lambda: self._repo.requester.requestJsonAndCheck(
                "DELETE", f"{self._repo.url}/issues/comments/{comment_id}"
            ),
        )

    def _open_pull(self, head: str) -> PullData | None:
        owner = self._full_name.split("/", 1)[0]
        for pull in self._repo.get_pulls(state="open", head=f"{owner}:{head}"):
            return _pull(pull)
        return None

    def upsert_pull(self, *, head: str, base: str, title: str, body: str, draft: bool) -> PullData:
        existing = self._call(f"look for an open PR from {head}", lambda: self._open_pull(head))
        if existing is not None:

            def edit() -> PullData:
                pull = self._repo.get_pull(existing.number)
                pull.edit(title=title, body=body)
                return _pull(self._repo.get_pull(existing.number))

            return self._call(f"update PR #{existing.number}", edit)

        def create() -> PullData:
            return _pull(self._repo.create_pull(base=base, head=head, title=title, body=body, draft=draft))

        return self._create(f"open a PR from {head}", lambda: self._open_pull(head), create)

    def pull_files(self, number: int) -> list[PullFile]:
        return self._call(
            f"list files of PR #{number}",
            lambda: [
                PullFile(f.filename, f.status, f.additions, f.deletions, f.patch or "")
                for f in self._repo.get_pull(number).get_files()
            ],
        )

    def pull(self, number: int) -> PullData:
        return self._call(f"read PR #{number}", lambda: _pull(self._repo.get_pull(number)))

    def review_comments(self, number: int) -> list[ReviewComment]:
        def read() -> list[ReviewComment]:
            return [
                ReviewComment(
                    c.id,
                    c.body or "",
                    c.user.login if c.user else "",
                    c.path or "",
                    c.line if c.line is not None else c.original_line,
                    c.in_reply_to_id,
                    c.commit_id or "",
                    c.html_url or "",
                )
                for c in self._repo.get_pull(number).get_review_comments()
            ]

        return self._call(f"list review comments of PR #{number}", read)

    def _my_reply(self, number: int, thread: int, tag: str) -> ReviewComment | None:
        comments = self.review_comments(number)
        # ``thread`` may name any comment of the thread: GitHub files a reply under the first one.
        root = next((c.thread for c in comments if c.id == thread), thread)
        for comment in comments:
            if comment.thread == root and tag in comment.body and comment.user.lower() == self._bot_login:
                return comment
        return None

    def reply_in_thread(self, number: int, thread: int, key: str, body: str) -> ReviewComment:
        tag = key if key.startswith("<!--") else marker("reply", key)
        text = body if tag in body else f"{body.rstrip()}\n\n{tag}\n"
        existing = self._call(
            f"look for the bot's reply in thread {thread}", lambda: self._my_reply(number, thread, tag)
        )
        if existing is not None:
            if existing.body != text:
                self._call(
                    f"edit review comment {existing.id}",
                    lambda: self._repo.requester.requestJsonAndCheck(
                        "PATCH", f"{self._repo.url}/pulls/comments/{existing.id}", input={"body": text}
                    ),
                )
            return ReviewComment(existing.id, text, existing.user, existing.path, existing.line, thread)

        def create() -> ReviewComment:
            made = self._repo.get_pull(number).create_review_comment_reply(thread, text)
            return ReviewComment(
                made.id, made.body or "", made.user.login, made.path or "", made.line, thread
            )

        return self._create(
            f"reply in review thread {thread} of PR #{number}",
            lambda: self._my_reply(number, thread, tag),
            create,
        )

    def resolved_threads(self, number: int) -> set[int] | None:
        """Over GraphQL (``pullRequest.reviewThreads``): REST has no resolved state. Any failure
        (no GraphQL on this host, a token GraphQL refuses, an unexpected shape) gives ``None``
        and the caller falls back to what REST can tell; it is a read, so nothing is lost."""
        owner, _, name = self._full_name.partition("/")
        resolved: set[int] = set()
        cursor: str | None = None
        try:
            for _ in range(_MAX_THREAD_PAGES):
                _, data = self._gh.requester.graphql_query(
                    _REVIEW_THREADS, {"owner": owner, "name": name, "number": number, "cursor": cursor}
                )
                page = data["data"]["repository"]["pullRequest"]["reviewThreads"]
                for node in page["nodes"]:
                    first = node["comments"]["nodes"]
                    if node["isResolved"] and first and first[0].get("fullDatabaseId") is not None:
                        resolved.add(int(first[0]["fullDatabaseId"]))
                if not page["pageInfo"]["hasNextPage"]:
                    return resolved
                cursor = str(page["pageInfo"]["endCursor"])
        except (GithubException, KeyError, TypeError, ValueError) as exc:
            log.warning("resolved review threads of PR #%s unreadable over GraphQL: %s", number, exc)
            return None
        return resolved  # past the page limit: the threads read so far

    def react_review_comment(self, comment_id: int, content: str) -> None:
        def create() -> None:
            self._repo.requester.requestJsonAndCheck(
                "POST", f"{self._repo.url}/pulls/comments/{comment_id}/reactions", input={"content": content}
            )

        self._create(f"react {content} to review comment {comment_id}", lambda: None, create)

    def create_check_run(self, *, name: str, head_sha: str) -> int:
        def find() -> int | None:
            _, data = self._repo.requester.requestJsonAndCheck(
                "GET", f"{self._repo.url}/commits/{head_sha}/check-runs", parameters={"check_name": name}
            )
            for check in data.get("check_runs", []):
                if check.get("status") != "completed":
                    return int(check["id"])
            return None

        def create() -> int:
            return int(self._repo.create_check_run(name=name, head_sha=head_sha, status="in_progress").id)

        # A re-run of the workflow finds the check it started instead of adding a second one.
        found = self._call(f"look for check run {name}", find)
        return found if found is not None else self._create(f"create check run {name}", find, create)

    def finish_check_run(self, check_run_id: int, *, conclusion: str, title: str, summary: str) -> None:
        def edit() -> None:
            self._repo.get_check_run(check_run_id).edit(
                status="completed",
                conclusion=conclusion,
                output={"title": title[:255], "summary": summary[:65_000]},
            )

        self._call(f"finish check run {check_run_id}", edit)

    def check_runs(self, *, head_sha: str, name: str) -> list[CheckRunData]:
        def read() -> list[CheckRunData]:
            _, data = self._repo.requester.requestJsonAndCheck(
                "GET", f"{self._repo.url}/commits/{head_sha}/check-runs", parameters={"check_name": name}
            )
            return [
                CheckRunData(
                    int(c["id"]),
                    str(c["name"]),
                    str(c["status"]),
                    c.get("conclusion"),
                    {k: str(v) for k, v in (c.get("output") or {}).items() if isinstance(v, str)},
                )
                for c in data.get("check_runs", [])
            ]

        return self._call(f"list check runs {name} of {head_sha[:10]}", read)

    def run(self, run_id: int) -> RunData:
        return self._call(f"read workflow run {run_id}", lambda: _run(self._repo.get_workflow_run(run_id)))

    def runs_for(self, *, head_sha: str) -> list[RunData]:
        return self._call(
            f"list workflow runs of {head_sha[:10]}",
            lambda: [_run(r) for r in self._repo.get_workflow_runs(head_sha=head_sha)],
        )

    def failed_jobs(self, run_id: int) -> list[JobData]:
        def read() -> list[JobData]:
            out = []
            for job in self._repo.get_workflow_run(run_id).jobs():
                if job.conclusion in ("failure", "timed_out", "cancelled"):
                    failed = tuple(s.name for s in job.steps if s.conclusion == "failure")
                    out.append(JobData(job.id, job.name, job.conclusion, failed))
            return out

        return self._call(f"list failed jobs of run {run_id}", read)

    def job_log(self, job_id: int) -> str:
        """The job's log: GitHub answers with a redirect to a short-lived URL that needs no token."""
        location = self._call(
            f"find the log of job {job_id}", lambda: self._repo.get_workflow_job(job_id).logs_url()
        )
        try:
            with urllib.request.urlopen(location, timeout=60) as response:  # noqa: S310 (https from GitHub)
                return bytes(response.read()).decode("utf-8", errors="replace")
        except OSError as exc:
            raise GitHubError(f"cannot download the log of job {job_id}: {exc}") from exc

    def rerun_failed_jobs(self, run_id: int) -> None:
        # Rerunning twice would start a second attempt; the caller checks run_attempt before asking.
        self._call(
            f"rerun failed jobs of run {run_id}",
            lambda: self._repo.get_workflow_run(run_id).rerun_failed_jobs(),
        )

    def cancel_run(self, run_id: int) -> None:
        self._call(f"cancel run {run_id}", lambda: self._repo.get_workflow_run(run_id).cancel())


def _translate(doing: str, exc: GithubException) -> GitHubError:
    message = exc.data.get("message") if isinstance(exc.data, dict) else str(exc.data)
    headers = {k.lower(): v for k, v in (exc.headers or {}).items()}
    text = f"GitHub refused to {doing}: {exc.status} {message}"
    if exc.status == 429 or (
        exc.status == 403 and ("retry-after" in headers or "rate limit" in str(message).lower())
    ):
        after = headers.get("retry-after")
        return GitHubRateLimited(text, status=exc.status, retry_after=float(after) if after else None)
    return GitHubError(text, status=exc.status)


def _issue(issue: object) -> IssueData:
    from github.Issue import Issue

    assert isinstance(issue, Issue)
    return IssueData(
        issue.number,
        issue.title,
        issue.body or "",
        tuple(label.name for label in issue.labels),
        issue.milestone.number if issue.milestone else None,
        issue.pull_request is not None,
    )


def _pull(pull: object) -> PullData:
    from github.PullRequest import PullRequest

    assert isinstance(pull, PullRequest)
    return PullData(
        pull.number, pull.head.ref, pull.base.ref, pull.title, pull.body or "", pull.draft, pull.html_url,
        pull.head.sha, pull.head.repo.full_name if pull.head.repo else "",
        pull.base.repo.full_name if pull.base.repo else "", pull.state,
    )  # fmt: skip


def _run(run: object) -> RunData:
    from github.WorkflowRun import WorkflowRun

    assert isinstance(run, WorkflowRun)
    return RunData(
        run.id, run.head_sha, run.head_branch or "", run.conclusion, run.run_attempt, run.html_url, run.path
    )
