"""A GitHub REST simulator on 127.0.0.1: the endpoints the bot uses, state in memory, faults on demand.

The real PyGithub client talks to it (``base_url=sim.base_url``). Response bodies start from the
examples in GitHub's own OpenAPI description (``github_examples.json``, MIT, see its ``_source``)
with the simulator's state written over them, so they have every field the real API documents; a
contract test validates them against the OpenAPI schemas.

Authors come from the token: ``Authorization: token <t>`` maps to a login through ``tokens``
(default: any token is ``github-actions[bot]``, as the Actions ``GITHUB_TOKEN`` is).

Faults (``Fault``) answer matching requests with an error status, optionally after the write took
effect (a 502 from a proxy after GitHub created the comment: the case that makes retried POSTs
duplicate), with ``Retry-After`` (403 secondary rate limit), or after a delay.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import itertools
import json
import re
import subprocess
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

BOT_LOGIN = "github-actions[bot]"
_EXAMPLES: dict[str, Any] = json.loads(
    resources.files("bot.testing").joinpath("github_examples.json").read_text(encoding="utf-8")
)["examples"]
_NOW = "2026-01-01T00:00:00Z"


def _template(name: str) -> dict[str, Any]:
    """A fresh copy of GitHub's example body for a kind of object."""
    out: dict[str, Any] = copy.deepcopy(_EXAMPLES[name])
    return out


@dataclass
class Fault:
    method: str  # GET, POST, PATCH, ... or "*"
    path: str  # a regex searched in the path (no query string)
    status: int = 500
    times: int = 1
    after_write: bool = False  # apply the request, then answer with the error anyway
    retry_after: float | None = None
    delay_s: float = 0.0
    message: str = "simulated failure"


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    login: str
    status: int = 0  # what the simulator answered, and with what (for the contract test)
    answer: Any = None


@dataclass
class Job:
    id: int
    run_id: int
    name: str
    conclusion: str | None
    log: str = ""
    failed_steps: tuple[str, ...] = ()


@dataclass
class Run:
    id: int
    head_sha: str
    head_branch: str
    conclusion: str | None
    event: str = "push"
    path: str = ".github/workflows/ci.yml"
    run_attempt: int = 1
    jobs: list[int] = field(default_factory=list)
    # What a rerun of the failed jobs concludes (None: the same as now).
    rerun_conclusion: str | None = None


class _Reply(Exception):
    def __init__(self, status: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = body
        self.headers = headers or {}


def _not_found(what: str) -> _Reply:
    return _Reply(404, {"message": f"Not Found: {what}", "documentation_url": "https://docs.github.com/rest"})


class GitHubSimulator:
    def __init__(
        self,
        full_name: str = "octo-org/octo-repo",
        *,
        default_branch: str = "main",
        tokens: dict[str, str] | None = None,
        permissions: dict[str, str] | None = None,
    ) -> None:
        self.full_name = full_name
        self.default_branch = default_branch
        self.tokens = tokens or {}
        self.permissions = dict(permissions or {})  # login -> admin/maintain/write/triage/read
        self.faults: list[Fault] = []
        self.seen: list[Seen] = []
        self.issues: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}
        self.reactions: list[dict[str, Any]] = []
        self.milestones: dict[int, dict[str, Any]] = {}
        self.pulls: dict[int, dict[str, Any]] = {}
        self.pull_files: dict[int, list[dict[str, Any]]] = {}
        self.check_runs: dict[int, dict[str, Any]] = {}
        self.runs: dict[int, Run] = {}
        self.jobs: dict[int, Job] = {}
        self.reruns: list[int] = []
        self.cancelled: list[int] = []
        self.refs: dict[str, str] = {}
        self.contents: dict[str, str] = {}
        # Review threads: inline comments on PRs, replies point at their thread's first comment.
        self.review_comments: dict[int, dict[str, Any]] = {}
        # A bare git repository standing for the remote: PR heads are read from its branches.
        self.origin: Path | None = None
        self._ids = itertools.count(1000)
        self._numbers = itertools.count(1)
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="github-sim", daemon=True)
        self._routes: list[tuple[str, re.Pattern[str], Callable[..., Any]]] = []
        self._route_table()

    # -- lifecycle -------------------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def __enter__(self) -> GitHubSimulator:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- seeding (tests and the demo set the scene) -------------------------------------------------
    def add_issue(
        self, title: str, body: str = "", *, user: str = "octocat", labels: tuple[str, ...] = (),
        milestone: int | None = None, pull: bool = False,
    ) -> int:  # fmt: skip
        with self._lock:
            number = next(self._numbers)
            self.issues[number] = {
                "number": number, "title": title, "body": body, "user": user, "labels": list(labels),
                "milestone": milestone, "state": "open", "pull": pull, "id": next(self._ids),
            }  # fmt: skip
            return number

    def add_comment(self, issue: int, body: str, *, user: str = "octocat") -> int:
        with self._lock:
            if issue not in self.issues:
                raise KeyError(f"no issue {issue}")
            comment_id = next(self._ids)
            self.comments[comment_id] = {
                "id": comment_id, "issue": issue, "body": body, "user": user,
                "created_at": _NOW, "updated_at": _NOW,
            }  # fmt: skip
            return comment_id

    def add_milestone(self, title: str, description: str = "") -> int:
        with self._lock:
            number = len(self.milestones) + 1
            self.milestones[number] = {"number": number, "title": title, "description": description}
            return number

    def add_run(
        self, head_sha: str, *, branch: str = "main", conclusion: str | None = "failure",
        jobs: tuple[tuple[str, str | None, str], ...] = (), rerun_conclusion: str | None = None,
        event: str = "push",
    ) -> int:  # fmt: skip
        """A completed workflow run; ``jobs`` are (name, conclusion, log)."""
        with self._lock:
            run = Run(next(self._ids), head_sha, branch, conclusion, event, rerun_conclusion=rerun_conclusion)
            for name, job_conclusion, log in jobs:
                job = Job(next(self._ids), run.id, name, job_conclusion, log,
                          ("Run tests",) if job_conclusion == "failure" else ())  # fmt: skip
                self.jobs[job.id] = job
                run.jobs.append(job.id)
            self.runs[run.id] = run
            return run.id

    def add_pull(
        self, title: str, head: str, *, base: str = "main", body: str = "", user: str = BOT_LOGIN,
        head_sha: str = "", fork: str | None = None,
    ) -> int:  # fmt: skip
        """An open PR from ``head`` (in ``fork``, owner/name, when it comes from a fork)."""
        with self._lock:
            number = self.add_issue(title, body, user=user, pull=True)
            self.pulls[number] = {
                "number": number, "id": next(self._ids), "title": title, "body": body, "head": head,
                "base": base, "draft": False, "state": "open", "user": user, "head_sha": head_sha,
                "fork": fork,
            }  # fmt: skip
            return number

    def add_review_comment(
        self, pull: int, body: str, *, user: str = "octocat", path: str = "", line: int | None = 1,
        in_reply_to: int | None = None, review: int | None = None,
    ) -> int:  # fmt: skip
        with self._lock:
            if pull not in self.pulls:
                raise KeyError(f"no pull request {pull}")
            root = self.review_comments[in_reply_to] if in_reply_to is not None else None
            comment_id = next(self._ids)
            self.review_comments[comment_id] = {
                "id": comment_id, "pull": pull, "body": body, "user": user,
                "path": root["path"] if root else path, "line": root["line"] if root else line,
                "in_reply_to": in_reply_to, "review": review if review is not None else next(self._ids),
                "commit_id": self._head_sha(self.pulls[pull]), "created_at": _NOW, "updated_at": _NOW,
            }  # fmt: skip
            return comment_id

    def resolve_thread(self, root: int, *, resolved: bool = True) -> None:
        """Mark a review thread resolved, as a reviewer's button does (GraphQL alone shows it)."""
        with self._lock:
            self.review_comments[root]["resolved"] = resolved

    def comments_on(self, issue: int) -> list[dict[str, Any]]:
        with self._lock:
            return [c for c in self.comments.values() if c["issue"] == issue]

    # -- serialization ---------------------------------------------------------------------------
    def _render(self, data: Any) -> Any:
        text = json.dumps(data)
        for old in ("octo-org/octo-repo", "octocat/Hello-World", "octocat/hello-world"):
            text = text.replace(old, self.full_name)
        return json.loads(text.replace("https://api.github.com", self.base_url))

    def _user(self, login: str) -> dict[str, Any]:
        user: dict[str, Any] = _template("issue")["user"]
        user.update(
            login=login,
            id=zlib.crc32(login.encode()) % 10**8,
            url=f"https://api.github.com/users/{login}",
            html_url=f"https://github.com/{login}",
            type="Bot" if login.endswith("[bot]") else "User",
        )
        return user

    def _repo(self) -> dict[str, Any]:
        repo = _template("full-repository")
        owner, name = self.full_name.split("/", 1)
        repo.update(name=name, full_name=self.full_name, default_branch=self.default_branch, fork=False)
        # GitHub's example predates these required fields.
        repo.setdefault("has_discussions", False)
        repo.setdefault("network_count", 0)
        repo.setdefault("subscribers_count", 0)
        repo["owner"]["login"] = owner
        return repo

    def _issue(self, issue: dict[str, Any]) -> dict[str, Any]:
        out = _template("issue")
        number = issue["number"]
        out.update(
            id=issue["id"], number=number, title=issue["title"], body=issue["body"], state=issue["state"],
            user=self._user(issue["user"]), comments=len(self.comments_on(number)),
            url=f"https://api.github.com/repos/{self.full_name}/issues/{number}",
            html_url=f"https://github.com/{self.full_name}/issues/{number}",
            comments_url=f"https://api.github.com/repos/{self.full_name}/issues/{number}/comments",
            labels=[self._label(n) for n in issue["labels"]],
            milestone=self._milestone(self.milestones[issue["milestone"]]) if issue["milestone"] else None,
            assignee=None, assignees=[], closed_at=None,
        )  # fmt: skip
        if not issue["pull"]:
            out.pop("pull_request", None)
        return out

    def _label(self, name: str) -> dict[str, Any]:
        out = _template("label")
        out.update(name=name, id=zlib.crc32(name.encode()) % 10**6)
        return out

    def _milestone(self, milestone: dict[str, Any]) -> dict[str, Any]:
        out = _template("milestone")
        number = milestone["number"]
        out.update(number=number, id=number, title=milestone["title"], description=milestone["description"],
                   url=f"https://api.github.com/repos/{self.full_name}/milestones/{number}")  # fmt: skip
        return out

    def _comment(self, comment: dict[str, Any]) -> dict[str, Any]:
        out = _template("issue-comment")
        out.update(
            id=comment["id"], body=comment["body"], user=self._user(comment["user"]),
            created_at=comment["created_at"], updated_at=comment["updated_at"],
            url=f"https://api.github.com/repos/{self.full_name}/issues/comments/{comment['id']}",
            issue_url=f"https://api.github.com/repos/{self.full_name}/issues/{comment['issue']}",
            html_url=f"https://github.com/{self.full_name}/issues/{comment['issue']}#issuecomment-{comment['id']}",
        )  # fmt: skip
        return out

    def _pull(self, pull: dict[str, Any]) -> dict[str, Any]:
        out = _template("pull-request")
        number = pull["number"]
        out.update(
            id=pull["id"], number=number, title=pull["title"], body=pull["body"], draft=pull["draft"],
            state=pull["state"], user=self._user(pull["user"]),
            url=f"https://api.github.com/repos/{self.full_name}/pulls/{number}",
            html_url=f"https://github.com/{self.full_name}/pull/{number}",
            issue_url=f"https://api.github.com/repos/{self.full_name}/issues/{number}",
        )  # fmt: skip
        out.update(requested_teams=[], requested_reviewers=[], assignees=[], assignee=None, labels=[],
                   milestone=None, merged=False, merged_at=None, closed_at=None, merged_by=None)  # fmt: skip
        out["head"]["ref"] = pull["head"]
        out["head"]["label"] = f"{self.full_name.split('/')[0]}:{pull['head']}"
        out["base"]["ref"] = pull["base"]
        self._pull_head(out, pull)
        return out

    def _head_sha(self, pull: dict[str, Any]) -> str:
        """The PR's head commit: the branch's tip in ``origin`` when there is one (the bot pushes
        there with real git), else what was seeded."""
        if self.origin is not None and not pull.get("fork"):
            found = subprocess.run(
                ["git", "--git-dir", str(self.origin), "rev-parse", "--verify", "--quiet",
                 f"refs/heads/{pull['head']}^{{commit}}"],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if found.returncode == 0:
                return found.stdout.strip()
        return str(pull.get("head_sha") or "0" * 40)

    def _pull_head(self, out: dict[str, Any], pull: dict[str, Any]) -> None:
        out["head"]["sha"] = self._head_sha(pull)
        fork = pull.get("fork")
        if fork:
            repo = copy.deepcopy(out["head"]["repo"])
            owner = fork.split("/", 1)[0]
            repo.update(full_name=fork, name=fork.split("/", 1)[1], fork=True)
            repo["owner"]["login"] = owner
            out["head"]["repo"] = repo
            out["head"]["label"] = f"{owner}:{pull['head']}"
            out["head"]["user"] = self._user(owner)

    def _review_comment(self, comment: dict[str, Any]) -> dict[str, Any]:
        out = _template("pull-request-review-comment")
        number, comment_id = comment["pull"], comment["id"]
        out.update(
            id=comment_id, body=comment["body"], user=self._user(comment["user"]), path=comment["path"],
            line=comment["line"], original_line=comment["line"], position=comment["line"],
            original_position=comment["line"], commit_id=comment["commit_id"],
            original_commit_id=comment["commit_id"], pull_request_review_id=comment["review"],
            created_at=comment["created_at"], updated_at=comment["updated_at"],
            url=f"https://api.github.com/repos/{self.full_name}/pulls/comments/{comment_id}",
            html_url=f"https://github.com/{self.full_name}/pull/{number}#discussion_r{comment_id}",
            pull_request_url=f"https://api.github.com/repos/{self.full_name}/pulls/{number}",
        )  # fmt: skip
        if comment["in_reply_to"] is not None:
            out["in_reply_to_id"] = comment["in_reply_to"]
        else:
            out.pop("in_reply_to_id", None)
        return out

    def _check_run(self, check: dict[str, Any]) -> dict[str, Any]:
        out = _template("check-run")
        out.update(id=check["id"], name=check["name"], head_sha=check["head_sha"], status=check["status"],
                   conclusion=check["conclusion"], completed_at=check.get("completed_at"),
                   url=f"https://api.github.com/repos/{self.full_name}/check-runs/{check['id']}")  # fmt: skip
        out["output"].update({k: v for k, v in check["output"].items()})
        return out

    def _run(self, run: Run) -> dict[str, Any]:
        out = _template("workflow-run")
        base = f"https://api.github.com/repos/{self.full_name}/actions/runs/{run.id}"
        out.update(id=run.id, head_sha=run.head_sha, head_branch=run.head_branch, conclusion=run.conclusion,
                   status="completed" if run.conclusion else "in_progress", event=run.event, path=run.path,
                   run_attempt=run.run_attempt, url=base, jobs_url=f"{base}/jobs", logs_url=f"{base}/logs",
                   rerun_url=f"{base}/rerun", cancel_url=f"{base}/cancel",
                   html_url=f"https://github.com/{self.full_name}/actions/runs/{run.id}")  # fmt: skip
        return out

    def _job(self, job: Job) -> dict[str, Any]:
        out = _template("job")
        run = self.runs[job.run_id]
        out.update(id=job.id, run_id=run.id, name=job.name, conclusion=job.conclusion, status="completed",
                   head_sha=run.head_sha, head_branch=run.head_branch,
                   url=f"https://api.github.com/repos/{self.full_name}/actions/jobs/{job.id}",
                   run_url=f"https://api.github.com/repos/{self.full_name}/actions/runs/{run.id}",
                   )  # fmt: skip
        out.setdefault("created_at", _NOW)  # required, missing from GitHub's example
        template = out["steps"][0] if out.get("steps") else {}
        out["steps"] = [
            {**template, "name": name, "number": n, "status": "completed",
             "conclusion": "failure" if name in job.failed_steps else "success"}
            for n, name in enumerate(("Set up job", "Run tests"), start=1)
        ]  # fmt: skip
        return out

    # -- routes ----------------------------------------------------------------------------------
    def _route_table(self) -> None:
        repo = r"/repos/(?P<owner>[^/]+)/(?P<repo>[^/]+)"
        add = self._routes.append
        add(("GET", re.compile(rf"^{repo}$"), lambda m, q, b, u: (200, self._repo())))
        add(("GET", re.compile(rf"^{repo}/collaborators/(?P<user>[^/]+)/permission$"), self._permission))
        add(("GET", re.compile(rf"^{repo}/issues$"), self._list_issues))
        add(("GET", re.compile(rf"^{repo}/issues/(?P<n>\d+)$"), self._get_issue))
        add(("GET", re.compile(rf"^{repo}/issues/(?P<n>\d+)/comments$"), self._list_comments))
        add(("POST", re.compile(rf"^{repo}/issues/(?P<n>\d+)/comments$"), self._create_comment))
        add(("GET", re.compile(rf"^{repo}/issues/comments/(?P<id>\d+)$"), self._get_comment))
        add(("PATCH", re.compile(rf"^{repo}/issues/comments/(?P<id>\d+)$"), self._edit_comment))
        add(("DELETE", re.compile(rf"^{repo}/issues/comments/(?P<id>\d+)$"), self._delete_comment))
        add(("POST", re.compile(rf"^{repo}/issues/comments/(?P<id>\d+)/reactions$"), self._react))
        add(("GET", re.compile(rf"^{repo}/milestones$"), self._list_milestones))
        add(("GET", re.compile(rf"^{repo}/milestones/(?P<n>\d+)$"), self._get_milestone))
        add(("GET", re.compile(rf"^{repo}/pulls$"), self._list_pulls))
        add(("POST", re.compile(rf"^{repo}/pulls$"), self._create_pull))
        add(("GET", re.compile(rf"^{repo}/pulls/(?P<n>\d+)$"), self._get_pull))
        add(("PATCH", re.compile(rf"^{repo}/pulls/(?P<n>\d+)$"), self._edit_pull))
        add(("GET", re.compile(rf"^{repo}/pulls/(?P<n>\d+)/files$"), self._pull_files))
        add(("GET", re.compile(rf"^{repo}/pulls/(?P<n>\d+)/comments$"), self._list_review_comments))
        add(
            (
                "POST",
                re.compile(rf"^{repo}/pulls/(?P<n>\d+)/comments/(?P<id>\d+)/replies$"),
                self._reply_review,
            )
        )
        add(("GET", re.compile(rf"^{repo}/pulls/comments/(?P<id>\d+)$"), self._get_review_comment))
        add(("PATCH", re.compile(rf"^{repo}/pulls/comments/(?P<id>\d+)$"), self._edit_review_comment))
        add(("POST", re.compile(rf"^{repo}/pulls/comments/(?P<id>\d+)/reactions$"), self._react_review))
        add(("POST", re.compile(r"^/graphql$"), self._graphql))
        add(("POST", re.compile(rf"^{repo}/check-runs$"), self._create_check))
        add(("GET", re.compile(rf"^{repo}/check-runs/(?P<id>\d+)$"), self._get_check))
        add(("PATCH", re.compile(rf"^{repo}/check-runs/(?P<id>\d+)$"), self._edit_check))
        add(("GET", re.compile(rf"^{repo}/commits/(?P<sha>[^/]+)/check-runs$"), self._checks_for))
        add(("GET", re.compile(rf"^{repo}/actions/runs$"), self._list_runs))
        add(("GET", re.compile(rf"^{repo}/actions/runs/(?P<id>\d+)$"), self._get_run))
        add(("GET", re.compile(rf"^{repo}/actions/runs/(?P<id>\d+)/jobs$"), self._run_jobs))
        add(("POST", re.compile(rf"^{repo}/actions/runs/(?P<id>\d+)/rerun-failed-jobs$"), self._rerun))
        add(("POST", re.compile(rf"^{repo}/actions/runs/(?P<id>\d+)/cancel$"), self._cancel))
        add(("GET", re.compile(rf"^{repo}/actions/jobs/(?P<id>\d+)$"), self._get_job))
        add(("GET", re.compile(rf"^{repo}/actions/jobs/(?P<id>\d+)/logs$"), self._job_logs))
        add(("GET", re.compile(r"^/_downloads/job-(?P<id>\d+)\.txt$"), self._download))
        add(("GET", re.compile(rf"^{repo}/git/ref/(?P<ref>.+)$"), self._get_ref))
        add(("POST", re.compile(rf"^{repo}/git/refs$"), self._create_ref))
        add(("PATCH", re.compile(rf"^{repo}/git/refs/(?P<ref>.+)$"), self._update_ref))
        add(("GET", re.compile(rf"^{repo}/contents/(?P<path>.+)$"), self._get_contents))

    def _check_repo(self, m: re.Match[str]) -> None:
        if f"{m['owner']}/{m['repo']}".lower() != self.full_name.lower():
            raise _not_found(f"repository {m['owner']}/{m['repo']}")

    def _permission(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        user = unquote(m["user"])
        permission = self.permissions.get(user, "none")
        out = _template("repository-collaborator-permission")
        role = {"maintain": "maintain", "triage": "triage"}.get(permission, permission)
        # The REST field reports maintain as write and triage as read; role_name has the full role.
        legacy = {"maintain": "write", "triage": "read"}.get(permission, permission)
        collaborator = {**self._user(user), "role_name": role}
        collaborator["permissions"] = {
            "pull": permission != "none",
            "triage": permission in {"triage", "write", "maintain", "admin"},
            "push": permission in {"write", "maintain", "admin"},
            "maintain": permission in {"maintain", "admin"},
            "admin": permission == "admin",
        }  # fmt: skip
        out.update(permission=legacy, role_name=role, user=collaborator)
        return 200, out

    def _issue_of(self, m: re.Match[str]) -> dict[str, Any]:
        issue = self.issues.get(int(m["n"]))
        if issue is None:
            raise _not_found(f"issue {m['n']}")
        return issue

    def _list_issues(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        milestone = q.get("milestone", [None])[0]
        state = q.get("state", ["open"])[0]
        out = [
            self._issue(i)
            for i in self.issues.values()
            if (milestone in (None, "*") or str(i["milestone"]) == milestone)
            and (state == "all" or i["state"] == state)
        ]
        return 200, out

    def _get_issue(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        return 200, self._issue(self._issue_of(m))

    def _list_comments(
        self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str
    ) -> tuple[int, Any]:
        issue = self._issue_of(m)
        return 200, [self._comment(c) for c in self.comments_on(issue["number"])]

    def _create_comment(
        self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str
    ) -> tuple[int, Any]:
        issue = self._issue_of(m)
        body = (b or {}).get("body")
        if not isinstance(body, str) or not body:
            raise _Reply(422, {"message": "Validation Failed: body is required"})
        return 201, self._comment(self.comments[self.add_comment(issue["number"], body, user=login)])

    def _comment_of(self, m: re.Match[str]) -> dict[str, Any]:
        comment = self.comments.get(int(m["id"]))
        if comment is None:
            raise _not_found(f"comment {m['id']}")
        return comment

    def _get_comment(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        return 200, self._comment(self._comment_of(m))

    def _edit_comment(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        comment = self._comment_of(m)
        if comment["user"] != login:
            raise _Reply(403, {"message": "Resource not accessible by integration"})
        comment["body"] = (b or {}).get("body", comment["body"])
        comment["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return 200, self._comment(comment)

    def _delete_comment(
        self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str
    ) -> tuple[int, Any]:
        comment = self._comment_of(m)
        if comment["user"] != login:
            raise _Reply(403, {"message": "Resource not accessible by integration"})
        del self.comments[int(m["id"])]
        return 204, None

    def _react(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        comment = self._comment_of(m)
        content = (b or {}).get("content")
        if content not in {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}:
            raise _Reply(422, {"message": f"Validation Failed: content {content!r}"})
        for reaction in self.reactions:
            if (
                reaction["comment"] == comment["id"]
                and reaction["content"] == content
                and reaction["user"] == login
            ):
                return 200, self._reaction(reaction)  # GitHub answers 200 for an existing reaction
        reaction = {"id": next(self._ids), "comment": comment["id"], "content": content, "user": login}
        self.reactions.append(reaction)
        return 201, self._reaction(reaction)

    def _react_review(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        comment = self._review_comment_of(m)
        content = (b or {}).get("content")
        if content not in {"+1", "-1", "laugh", "confused", "heart", "hooray", "rocket", "eyes"}:
            raise _Reply(422, {"message": f"Validation Failed: content {content!r}"})
        for reaction in self.reactions:
            mine = (reaction["comment"], reaction["content"], reaction["user"])
            if mine == (comment["id"], content, login):
                return 200, self._reaction(reaction)
        reaction = {
            "id": next(self._ids), "comment": comment["id"], "content": content, "user": login,
            "on": "review",
        }  # fmt: skip
        self.reactions.append(reaction)
        return 201, self._reaction(reaction)

    def _graphql(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        """The one GraphQL query the bot sends: a PR's review threads, resolved or not, with the
        first comment's REST id. GitHub answers GraphQL errors with 200 and an ``errors`` list."""
        query = (b or {}).get("query")
        variables = (b or {}).get("variables") or {}
        threads = re.search(r"reviewThreads\(first:\s*(\d+)", query if isinstance(query, str) else "")
        if threads is None:
            return 200, {"errors": [{"message": "the simulator answers only pullRequest.reviewThreads"}]}
        if f"{variables.get('owner')}/{variables.get('name')}" != self.full_name:
            return 200, {"data": {"repository": None}, "errors": [{
                "type": "NOT_FOUND", "path": ["repository"],
                "message": f"Could not resolve to a Repository with the name '{variables.get('name')}'.",
            }]}  # fmt: skip
        pull_number = variables.get("number")
        pull = self.pulls.get(int(pull_number or 0))
        if pull is None:
            return 200, {"data": {"repository": {"pullRequest": None}}, "errors": [{
                "type": "NOT_FOUND", "path": ["repository", "pullRequest"],
                "message": f"Could not resolve to a PullRequest with the number of {pull_number}.",
            }]}  # fmt: skip
        roots = sorted(
            (c for c in self.review_comments.values()
             if c["pull"] == pull["number"] and c["in_reply_to"] is None),
            key=lambda c: c["id"],
        )
        cursor = variables.get("cursor")
        start = int(base64.b64decode(cursor).decode().split(":")[-1]) if cursor else 0
        page = roots[start : start + int(threads[1])]
        end = start + len(page)
        return 200, {"data": {"repository": {"pullRequest": {"reviewThreads": {
            "pageInfo": {"hasNextPage": end < len(roots),
                         "endCursor": base64.b64encode(f"cursor:{end}".encode()).decode() if page else None},
            "nodes": [
                {"isResolved": bool(c.get("resolved")),
                 "comments": {"nodes": [{"fullDatabaseId": str(c["id"])}]}}  # a BigInt is a string
                for c in page
            ],
        }}}}}  # fmt: skip

    def _reaction(self, reaction: dict[str, Any]) -> dict[str, Any]:
        out = _template("reaction")
        out.update(id=reaction["id"], content=reaction["content"], user=self._user(reaction["user"]))
        return out

    def _list_milestones(
        self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str
    ) -> tuple[int, Any]:
        return 200, [self._milestone(x) for x in self.milestones.values()]

    def _get_milestone(
        self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str
    ) -> tuple[int, Any]:
        milestone = self.milestones.get(int(m["n"]))
        if milestone is None:
            raise _not_found(f"milestone {m['n']}")
        return 200, self._milestone(milestone)

    def _list_pulls(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        state = q.get("state", ["open"])[0]
        head = q.get("head", [None])[0]
        out = []
        for pull in self.pulls.values():
            if state != "all" and pull["state"] != state:
                continue
            if head is not None and head.split(":")[-1] != pull["head"]:
                continue
            out.append(self._pull(pull))
        return 200, out

    def _create_pull(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        b = b or {}
        for key in ("head", "base", "title"):
            if not isinstance(b.get(key), str) or not b[key]:
                raise _Reply(422, {"message": f"Validation Failed: {key} is required"})
        for pull in self.pulls.values():
            if pull["head"] == b["head"] and pull["state"] == "open":
                raise _Reply(
                    422, {"message": f"Validation Failed: A pull request already exists for {b['head']}."}
                )
        number = self.add_issue(b["title"], b.get("body") or "", user=login, pull=True)
        self.pulls[number] = {
            "number": number, "id": next(self._ids), "title": b["title"], "body": b.get("body") or "",
            "head": b["head"], "base": b["base"], "draft": bool(b.get("draft")), "state": "open",
            "user": login,
        }  # fmt: skip
        return 201, self._pull(self.pulls[number])

    def _pull_of(self, m: re.Match[str]) -> dict[str, Any]:
        pull = self.pulls.get(int(m["n"]))
        if pull is None:
            raise _not_found(f"pull request {m['n']}")
        return pull

    def _get_pull(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        return 200, self._pull(self._pull_of(m))

    def _edit_pull(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        pull = self._pull_of(m)
        for key in ("title", "body", "base", "state"):
            if key in (b or {}):
                pull[key] = b[key]
        return 200, self._pull(pull)

    def _pull_files(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        pull = self._pull_of(m)
        out = []
        for f in self.pull_files.get(pull["number"], []):
            entry = _template("diff-entry")
            entry.update(f)
            entry["changes"] = entry["additions"] + entry["deletions"]
            out.append(entry)
        return 200, out

    def _list_review_comments(
        self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str
    ) -> tuple[int, Any]:
        pull = self._pull_of(m)
        found = [c for c in self.review_comments.values() if c["pull"] == pull["number"]]
        return 200, [self._review_comment(c) for c in sorted(found, key=lambda c: c["id"])]

    def _review_comment_of(self, m: re.Match[str]) -> dict[str, Any]:
        comment = self.review_comments.get(int(m["id"]))
        if comment is None:
            raise _not_found(f"review comment {m['id']}")
        return comment

    def _reply_review(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        pull, root = self._pull_of(m), self._review_comment_of(m)
        body = (b or {}).get("body")
        if not isinstance(body, str) or not body:
            raise _Reply(422, {"message": "Validation Failed: body is required"})
        if root["pull"] != pull["number"]:
            raise _not_found(f"review comment {m['id']} on pull request {m['n']}")
        # GitHub threads a reply to a reply under the thread's first comment.
        thread = root["in_reply_to"] or root["id"]
        made = self.add_review_comment(pull["number"], body, user=login, in_reply_to=thread)
        return 201, self._review_comment(self.review_comments[made])

    def _get_review_comment(
        self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str
    ) -> tuple[int, Any]:
        return 200, self._review_comment(self._review_comment_of(m))

    def _edit_review_comment(
        self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str
    ) -> tuple[int, Any]:
        comment = self._review_comment_of(m)
        if comment["user"] != login:
            raise _Reply(403, {"message": "Resource not accessible by integration"})
        comment["body"] = (b or {}).get("body", comment["body"])
        comment["updated_at"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        return 200, self._review_comment(comment)

    def _create_check(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        b = b or {}
        if not b.get("name") or not b.get("head_sha"):
            raise _Reply(422, {"message": "Validation Failed: name and head_sha are required"})
        check = {"id": next(self._ids), "name": b["name"], "head_sha": b["head_sha"],
                 "status": b.get("status", "queued"), "conclusion": b.get("conclusion"),
                 "output": dict(b.get("output") or {})}  # fmt: skip
        self.check_runs[check["id"]] = check
        return 201, self._check_run(check)

    def _check_of(self, m: re.Match[str]) -> dict[str, Any]:
        check = self.check_runs.get(int(m["id"]))
        if check is None:
            raise _not_found(f"check run {m['id']}")
        return check

    def _get_check(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        return 200, self._check_run(self._check_of(m))

    def _edit_check(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        check = self._check_of(m)
        b = b or {}
        if b.get("conclusion") is not None:
            allowed = {
                "action_required",
                "cancelled",
                "failure",
                "neutral",
                "success",
                "skipped",
                "stale",
                "timed_out",
            }
            if b["conclusion"] not in allowed:
                raise _Reply(422, {"message": f"Validation Failed: conclusion {b['conclusion']!r}"})
            check.update(conclusion=b["conclusion"], status="completed", completed_at=_NOW)
        if b.get("status"):
            check["status"] = b["status"]
        if b.get("output"):
            check["output"].update(b["output"])
        return 200, self._check_run(check)

    def _checks_for(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        name = q.get("check_name", [None])[0]
        checks = [
            self._check_run(c) for c in self.check_runs.values()
            if c["head_sha"] == m["sha"] and (name is None or c["name"] == name)
        ]  # fmt: skip
        return 200, {"total_count": len(checks), "check_runs": checks}

    def _list_runs(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        sha = q.get("head_sha", [None])[0]
        branch = q.get("branch", [None])[0]
        runs = [
            self._run(r) for r in self.runs.values()
            if (sha is None or r.head_sha == sha) and (branch is None or r.head_branch == branch)
        ]  # fmt: skip
        return 200, {"total_count": len(runs), "workflow_runs": runs}

    def _run_of(self, m: re.Match[str]) -> Run:
        run = self.runs.get(int(m["id"]))
        if run is None:
            raise _not_found(f"workflow run {m['id']}")
        return run

    def _get_run(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        return 200, self._run(self._run_of(m))

    def _run_jobs(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        run = self._run_of(m)
        jobs = [self._job(self.jobs[j]) for j in run.jobs]
        return 200, {"total_count": len(jobs), "jobs": jobs}

    def _cancel(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        run = self._run_of(m)
        if run.conclusion is not None:
            raise _Reply(409, {"message": "Cannot cancel a workflow run that is completed."})
        run.conclusion = "cancelled"
        self.cancelled.append(run.id)
        return 202, {}

    def _rerun(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        run = self._run_of(m)
        self.reruns.append(run.id)
        # Runs are instantaneous here: the rerun has finished by the time anyone looks.
        run.run_attempt += 1
        if run.rerun_conclusion is not None:
            run.conclusion = run.rerun_conclusion
            for job_id in run.jobs:
                job = self.jobs[job_id]
                if job.conclusion == "failure":
                    job.conclusion = run.rerun_conclusion
        return 201, {}

    def _get_job(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        job = self.jobs.get(int(m["id"]))
        if job is None:
            raise _not_found(f"job {m['id']}")
        return 200, self._job(job)

    def _job_logs(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        if int(m["id"]) not in self.jobs:
            raise _not_found(f"job {m['id']}")
        # As on GitHub: a redirect to a short-lived download URL that needs no token.
        raise _Reply(302, None, {"Location": f"{self.base_url}/_downloads/job-{m['id']}.txt"})

    def _download(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        job = self.jobs.get(int(m["id"]))
        if job is None:
            raise _not_found("download")
        raise _Reply(200, job.log.encode("utf-8"), {"Content-Type": "text/plain"})

    def _ref(self, ref: str, sha: str) -> dict[str, Any]:
        out = _template("git-ref")
        out.update(ref=f"refs/{ref}", url=f"https://api.github.com/repos/{self.full_name}/git/refs/{ref}")
        out["object"].update(sha=sha, type="commit")
        return out

    def _get_ref(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        ref = m["ref"]
        if ref not in self.refs:
            raise _not_found(f"ref {ref}")
        return 200, self._ref(ref, self.refs[ref])

    def _create_ref(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        b = b or {}
        ref = str(b.get("ref", ""))
        if not ref.startswith("refs/") or not b.get("sha"):
            raise _Reply(422, {"message": "Validation Failed: ref must start with refs/ and sha is required"})
        if ref[5:] in self.refs:
            raise _Reply(422, {"message": "Reference already exists"})
        self.refs[ref[5:]] = b["sha"]
        return 201, self._ref(ref[5:], b["sha"])

    def _update_ref(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        ref = m["ref"]
        if ref not in self.refs:
            raise _Reply(422, {"message": "Reference does not exist"})
        self.refs[ref] = (b or {}).get("sha", self.refs[ref])
        return 200, self._ref(ref, self.refs[ref])

    def _get_contents(self, m: re.Match[str], q: dict[str, list[str]], b: Any, login: str) -> tuple[int, Any]:
        path = unquote(m["path"])
        if path not in self.contents:
            raise _not_found(f"file {path}")
        data = self.contents[path].encode("utf-8")
        out = _template("content-file")
        out.update(path=path, name=path.rsplit("/", 1)[-1], size=len(data), type="file", encoding="base64",
                   content=base64.b64encode(data).decode("ascii"))  # fmt: skip
        return 200, out

    # -- transport -------------------------------------------------------------------------------
    def _login(self, headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        token = auth.split(" ", 1)[1] if " " in auth else ""
        return self.tokens.get(token, BOT_LOGIN)

    def _fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.method in ("*", method) and re.search(fault.path, path):
                    fault.times -= 1
                    return fault
        return None

    def handle(
        self, method: str, raw_path: str, headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        path = parts.path.rstrip("/") or "/"
        seen = Seen(method, path, parse_qs(parts.query), body, self._login(headers))
        with self._lock:
            self.seen.append(seen)
        status, answer, extra = self._answer(seen)
        seen.status, seen.answer = status, answer
        return status, answer, extra

    def _answer(self, seen: Seen) -> tuple[int, Any, dict[str, str]]:
        method, path, query, body, login = seen.method, seen.path, seen.query, seen.body, seen.login
        fault = self._fault(method, path)
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault is not None and not fault.after_write and fault.status >= 400:
            return self._fault_reply(fault)
        try:
            for route_method, pattern, handler in self._routes:
                match = pattern.match(path)
                if match and route_method == method:
                    if "owner" in pattern.groupindex:
                        self._check_repo(match)
                    with self._lock:
                        status, data = handler(match, query, body, login)
                    break
            else:
                raise _not_found(f"{method} {path}")
        except _Reply as reply:
            return reply.status, reply.body, reply.headers
        if fault is not None and fault.status >= 400:
            return self._fault_reply(fault)  # the write happened; the client is told it did not
        return status, self._render(data), {}

    @staticmethod
    def _fault_reply(fault: Fault) -> tuple[int, Any, dict[str, str]]:
        headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
        message = fault.message
        if fault.status == 403 and fault.retry_after is not None:
            message = (
                "You have exceeded a secondary rate limit. Please wait a few minutes before you try again."
            )
        return (
            fault.status,
            {"message": message, "documentation_url": "https://docs.github.com/rest"},
            headers,
        )

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sim = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = None
                headers = {k.lower(): v for k, v in self.headers.items()}
                status, data, extra = sim.handle(self.command, self.path, headers, body)
                payload = (
                    data if isinstance(data, bytes) else (b"" if data is None else json.dumps(data).encode())
                )
                self.send_response(status)
                if "Content-Type" not in extra:
                    self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                for key, value in extra.items():
                    self.send_header(key, value)
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(payload)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        return Handler
