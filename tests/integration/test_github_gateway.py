"""The PyGithub gateway against the GitHub simulator: real client, real HTTP, faults injected."""

from __future__ import annotations

import pytest

from bot.errors import GitHubError
from bot.github.gateway import marker
from bot.testing.github_server import BOT_LOGIN, Fault
from tests.integration.github_fixtures import simulated


def test_permissions_follow_the_role_and_are_cached() -> None:
    with simulated() as (sim, gateway, _):
        roles = {u: gateway.permission(u) for u in ("alice", "mona", "wendy", "tess", "rita", "stranger")}
        assert roles == {"alice": "admin", "mona": "write", "wendy": "write", "tess": "read", "rita": "read",
                         "stranger": "none"}  # fmt: skip
        asked = len([s for s in sim.seen if s.path.endswith("/permission")])
        gateway.permission("alice")
        assert len([s for s in sim.seen if s.path.endswith("/permission")]) == asked  # cached


def test_upsert_comment_creates_once_then_edits_in_place() -> None:
    with simulated() as (sim, gateway, _):
        issue = sim.add_issue("Add sub")
        first = gateway.upsert_comment(issue, marker("progress", "r1"), "Working: 0 of 3")
        second = gateway.upsert_comment(issue, marker("progress", "r1"), "Working: 2 of 3")
        comments = sim.comments_on(issue)
        assert len(comments) == 1 and first.id == second.id
        assert (
            comments[0]["body"].startswith("Working: 2 of 3")
            and marker("progress", "r1") in comments[0]["body"]
        )
        assert comments[0]["user"] == BOT_LOGIN


def test_someone_elses_comment_with_the_marker_is_not_taken_over() -> None:
    with simulated() as (sim, gateway, _):
        issue = sim.add_issue("Add sub")
        sim.add_comment(issue, f"copying {marker('progress', 'r1')} for fun", user="mallory")
        gateway.upsert_comment(issue, marker("progress", "r1"), "Working")
        assert [c["user"] for c in sim.comments_on(issue)] == ["mallory", BOT_LOGIN]


def test_a_lost_post_response_does_not_duplicate_the_comment() -> None:
    with simulated() as (sim, gateway, sleeps):
        issue = sim.add_issue("Add sub")
        # The comment is created, but the client sees a 502: the retry must find it, not post again.
        sim.faults.append(Fault("POST", r"/issues/\d+/comments$", status=502, after_write=True))
        gateway.upsert_comment(issue, "reply:1", "Planned 3 items")
        assert len(sim.comments_on(issue)) == 1
        posts = [s for s in sim.seen if s.method == "POST"]
        assert len(posts) == 1 and sleeps == [0.5]


def test_a_lost_post_response_does_not_duplicate_the_pull_request() -> None:
    with simulated() as (sim, gateway, _):
        sim.faults.append(Fault("POST", r"/pulls$", status=500, after_write=True))
        pull = gateway.upsert_pull(
            head="milestone-bot/r1/integrated", base="main", title="M1", body="b", draft=False
        )
        assert len(sim.pulls) == 1 and pull.number in sim.pulls
        again = gateway.upsert_pull(
            head="milestone-bot/r1/integrated", base="main", title="M1 (2)", body="c", draft=True
        )
        assert (
            again.number == pull.number
            and len(sim.pulls) == 1
            and sim.pulls[pull.number]["title"] == "M1 (2)"
        )


def test_secondary_rate_limit_on_a_post_waits_retry_after_then_succeeds() -> None:
    with simulated() as (sim, gateway, sleeps):
        issue = sim.add_issue("Add sub")
        sim.faults.append(Fault("POST", r"/comments$", status=403, retry_after=7))
        gateway.upsert_comment(issue, "reply:2", "hello")
        assert sleeps == [7.0] and len(sim.comments_on(issue)) == 1


def test_secondary_rate_limit_on_a_get_is_retried_by_pygithub() -> None:
    with simulated() as (sim, gateway, _):
        issue = sim.add_issue("Add sub", "body")
        sim.faults.append(Fault("GET", rf"/issues/{issue}$", status=403, retry_after=1))
        assert gateway.issue(issue).title == "Add sub"
        assert len([s for s in sim.seen if s.path.endswith(f"/issues/{issue}")]) == 2


def test_errors_name_what_was_being_done() -> None:
    with simulated(retries=1) as (sim, gateway, _):
        with pytest.raises(GitHubError, match=r"GitHub refused to read issue #99: 404"):
            gateway.issue(99)
        issue = sim.add_issue("x")
        sim.faults.append(Fault("POST", r"/comments$", status=503, times=5))
        with pytest.raises(GitHubError, match=r"refused to comment on #\d+: 503") as caught:
            gateway.upsert_comment(issue, "k", "body")
        assert caught.value.status == 503 and sim.comments_on(issue) == []


def test_reactions_issues_milestones_and_pull_files() -> None:
    with simulated() as (sim, gateway, _):
        milestone = sim.add_milestone("v1", "the first release")
        a = sim.add_issue("Add sub", "sub(a, b)", labels=("feature",), milestone=milestone)
        sim.add_issue("Other")
        comment = sim.add_comment(a, "/bot plan", user="wendy")
        gateway.react(comment, "eyes")
        gateway.react(comment, "eyes")  # a repeat is harmless
        assert [(r["content"], r["user"]) for r in sim.reactions] == [("eyes", BOT_LOGIN)]
        assert [m.title for m in gateway.milestones()] == ["v1"]
        issues = gateway.milestone_issues(milestone)
        assert [(i.number, i.title, i.labels, i.milestone) for i in issues] == [
            (a, "Add sub", ("feature",), milestone)
        ]
        pull = gateway.upsert_pull(head="feature", base="main", title="T", body="B", draft=False)
        sim.pull_files[pull.number] = [
            {"filename": "src/auth.py", "status": "modified", "additions": 3, "deletions": 1}
        ]
        files = gateway.pull_files(pull.number)
        assert [(f.filename, f.additions, f.deletions) for f in files] == [("src/auth.py", 3, 1)]


def test_check_runs_and_workflow_runs_logs_and_reruns() -> None:
    with simulated() as (sim, gateway, _):
        check = gateway.create_check_run(name="milestone-bot", head_sha="a" * 40)
        assert (
            gateway.create_check_run(name="milestone-bot", head_sha="a" * 40) == check
        )  # found, not doubled
        gateway.finish_check_run(check, conclusion="neutral", title="Nothing to do", summary="no items")
        assert (
            sim.check_runs[check]["conclusion"] == "neutral"
            and sim.check_runs[check]["output"]["title"] == "Nothing to do"
        )
        run_id = sim.add_run("b" * 40, jobs=(("lint", "success", "ok"), ("tests", "failure", "FAILED tests/test_a.py::test_x")),
                             rerun_conclusion="success")  # fmt: skip
        run = gateway.run(run_id)
        assert (run.conclusion, run.head_sha, run.run_attempt) == ("failure", "b" * 40, 1)
        jobs = gateway.failed_jobs(run_id)
        assert [(j.name, j.failed_steps) for j in jobs] == [("tests", ("Run tests",))]
        assert gateway.job_log(jobs[0].id) == "FAILED tests/test_a.py::test_x"  # through the 302
        assert [r.id for r in gateway.runs_for(head_sha="b" * 40)] == [run_id]
        gateway.rerun_failed_jobs(run_id)
        assert sim.reruns == [run_id] and gateway.run(run_id).conclusion == "success"
