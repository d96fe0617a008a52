"""Contract: every response the GitHub simulator gives matches GitHub's own OpenAPI description.

A tour drives every route through the real PyGithub client (the gateway, and PyGithub directly for
the git refs and contents routes the gateway does not use), then each recorded answer is validated
against the operation's documented response for that status.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from github import Auth, Github
from openapi_schema_validator import OAS30Validator

from bot.errors import GitHubError
from bot.github.gateway import marker
from bot.github.pygithub_gateway import PyGithubGateway
from bot.testing.github_server import GitHubSimulator

SPEC_PATH = Path(__file__).resolve().parents[1] / "fixtures" / "github" / "rest-openapi-subset.json"
pytestmark = pytest.mark.skipif(not SPEC_PATH.exists(), reason=f"no OpenAPI description at {SPEC_PATH}")


def nullable_enums(node: Any) -> Any:
    """GitHub marks fields like a check run's ``conclusion`` ``nullable`` with an ``enum`` of
    strings and sends null for them (a check in progress). OpenAPI 3.0.3 reads such an enum as
    excluding null unless listed; GitHub's intent is plain, so null is added to those enums."""
    if isinstance(node, dict):
        if node.get("nullable") and "enum" in node and None not in node["enum"]:
            node["enum"] = [*node["enum"], None]
        for value in node.values():
            nullable_enums(value)
    elif isinstance(node, list):
        for value in node:
            nullable_enums(value)
    return node


def operations(spec: dict[str, Any]) -> list[tuple[str, re.Pattern[str], dict[str, Any]]]:
    out = []
    for template, item in spec["paths"].items():
        pattern = re.compile(
            "^"
            + re.sub(
                r"\\\{(\w+)\\\}",
                lambda m: f"(?P<{m[1]}>.+)" if m[1] in ("path", "ref") else "[^/]+",
                re.escape(template),
            )
            + "$"
        )
        for method, operation in item.items():
            if method in {"get", "post", "patch", "put", "delete"}:
                out.append((method.upper(), pattern, operation))
    return out


def response_schema(spec: dict[str, Any], operation: dict[str, Any], status: int) -> dict[str, Any] | None:
    response = operation["responses"].get(str(status))
    if response is None:
        raise AssertionError(f"status {status} is not documented for {operation['operationId']}")
    if "$ref" in response:
        response = spec["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    content = response.get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    return None if media is None else media["schema"]


def tour(sim: GitHubSimulator) -> None:
    gateway = PyGithubGateway(
        sim.full_name,
        token="t",
        base_url=sim.base_url,
        seconds_between_writes=None,
        seconds_between_requests=None,
    )
    milestone = sim.add_milestone("v1", "first")
    issue = sim.add_issue("Add sub", "body", labels=("feature",), milestone=milestone)
    comment = sim.add_comment(issue, "/bot plan", user="wendy")
    gateway.permission("wendy")
    gateway.permission("nobody")
    gateway.react(comment, "eyes")
    gateway.react(comment, "eyes")
    gateway.issue(issue)
    gateway.milestones()
    gateway.milestone_issues(milestone)
    gateway.upsert_comment(issue, marker("progress", 1), "one")
    gateway.upsert_comment(issue, marker("progress", 1), "two")
    pull = gateway.upsert_pull(head="b1", base="main", title="T", body="B", draft=True)
    gateway.upsert_pull(head="b1", base="main", title="T2", body="B2", draft=True)
    sim.pull_files[pull.number] = [{"filename": "a.py", "status": "added", "additions": 1, "deletions": 0}]
    gateway.pull_files(pull.number)
    check = gateway.create_check_run(name="milestone-bot", head_sha="c" * 40)
    gateway.finish_check_run(check, conclusion="success", title="t", summary="s")
    run_id = sim.add_run("d" * 40, jobs=(("tests", "failure", "log text"),), rerun_conclusion="success")
    gateway.run(run_id)
    gateway.runs_for(head_sha="d" * 40)
    for job in gateway.failed_jobs(run_id):
        gateway.job_log(job.id)
    gateway.rerun_failed_jobs(run_id)
    repo = Github(
        auth=Auth.Token("t"),
        base_url=sim.base_url,
        seconds_between_writes=None,
        seconds_between_requests=None,
    ).get_repo(sim.full_name)
    repo.create_git_ref("refs/heads/milestone-bot/r1", "e" * 40)
    repo.get_git_ref("heads/milestone-bot/r1").edit("f" * 40)
    sim.contents["checklists/v1.md"] = "# v1\n"
    assert repo.get_contents("checklists/v1.md").decoded_content == b"# v1\n"  # type: ignore[union-attr]
    with pytest.raises(GitHubError, match="404"):
        gateway.issue(404)
    review_tour(sim, gateway)


def review_tour(sim: GitHubSimulator, gateway: PyGithubGateway) -> None:
    """PR heads, review comments, replies in a thread (posted, then edited in place), a fork's PR."""
    pull = sim.add_pull("Follow-up", "milestone-bot/issue-1", head_sha="a" * 40)
    fork = sim.add_pull("From a fork", "patch-1", user="stranger", fork="stranger/octo-repo")
    assert gateway.pull(pull).head_sha == "a" * 40 and gateway.pull(fork).from_fork
    thread = sim.add_review_comment(pull, "Please add neg", user="rita", path="calc/ops.py", line=3)
    gateway.reply_in_thread(pull, thread, marker("followup", "k"), "Done in abc")
    gateway.reply_in_thread(pull, thread, marker("followup", "k"), "Done in abcdef")
    assert [c.body.startswith("Done in abcdef") for c in gateway.review_comments(pull)] == [False, True]
    with pytest.raises(GitHubError, match="404"):
        gateway.reply_in_thread(pull, 999_999, marker("followup", "x"), "lost")
    gateway.react_review_comment(thread, "eyes")  # created (201), then already there (200)
    gateway.react_review_comment(thread, "eyes")
    gateway.react_review_comment(thread, "rocket")


def test_every_simulator_response_matches_the_openapi_description() -> None:
    spec = nullable_enums(json.loads(SPEC_PATH.read_text()))
    ops = operations(spec)
    with GitHubSimulator(permissions={"wendy": "write"}) as sim:
        tour(sim)
    checked: set[str] = set()
    for seen in sim.seen:
        if seen.path.startswith("/_downloads/"):
            continue  # the log download host is not the API
        if seen.path == "/graphql":
            continue  # GraphQL is not in the REST description (test_review_threads_gateway checks it)
        matches = [(p, op) for m, p, op in ops if m == seen.method and p.match(seen.path)]
        assert matches, f"{seen.method} {seen.path} is not in GitHub's API description"
        _, operation = max(matches, key=lambda x: len(x[0].pattern))  # the most specific template
        schema = response_schema(spec, operation, seen.status)
        if schema is not None:
            validator = OAS30Validator({**schema, "components": spec["components"]})
            errors = sorted(validator.iter_errors(seen.answer), key=lambda e: list(e.path))
            assert not errors, f"{operation['operationId']} {seen.status}: " + "; ".join(
                f"{'/'.join(map(str, e.path))}: {e.message[:200]}" for e in errors[:5]
            )
        checked.add(operation["operationId"])
    documented = {op["operationId"] for _, _, op in ops}
    assert len(checked) >= 24, sorted(documented - checked)
    review = {
        "pulls/list-review-comments",
        "pulls/create-reply-for-review-comment",
        "pulls/update-review-comment",
        "reactions/create-for-pull-request-review-comment",
    }
    assert review <= checked, sorted(review - checked)
