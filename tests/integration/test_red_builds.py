"""Red-build triage on ``workflow_run`` events: pre-existing, flaky, infrastructure, regression."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from bot.events.handler import TRIAGE_CHECK, EventHandler
from bot.testing.github_server import GitHubSimulator
from tests.integration.github_fixtures import simulated
from tests.integration.test_events import CONFIG, EXAMPLES, FakeWork

pytestmark = pytest.mark.skipif(not EXAMPLES.exists(), reason="no webhook examples")

PYTEST_LOG = """\
2026-11-20T10:00:02.0000000Z =================================== FAILURES ===================================
2026-11-20T10:00:02.0000000Z ___________________________ test_add ___________________________
2026-11-20T10:00:02.0000000Z     def test_add():
2026-11-20T10:00:02.0000000Z >       assert calc.ops.add(2, 3) == 5
2026-11-20T10:00:02.0000000Z E       assert 6 == 5
2026-11-20T10:00:02.0000000Z tests/test_ops.py:5: AssertionError
2026-11-20T10:00:02.0000000Z =========================== short test summary info ============================
2026-11-20T10:00:02.0000000Z FAILED tests/test_ops.py::test_add - assert 6 == 5
"""
HEAD, BASE = "a" * 40, "b" * 40


def run_event(
    sim: GitHubSimulator, run_id: int, *, pulls: tuple[int, ...] = (), fork: bool = False
) -> dict[str, Any]:
    payload: dict[str, Any] = copy.deepcopy(
        json.loads((EXAMPLES / "workflow_run" / "completed.payload.json").read_text())
    )
    run = sim.runs[run_id]
    payload["repository"].update(full_name=sim.full_name, default_branch="main")
    payload["workflow_run"].update(
        id=run.id, head_sha=run.head_sha, head_branch=run.head_branch, conclusion=run.conclusion,
        run_attempt=run.run_attempt, path=run.path, pull_requests=[{"number": n} for n in pulls],
        head_repository={"full_name": "someone/fork" if fork else sim.full_name},
    )  # fmt: skip
    return payload


def triage_titles(sim: GitHubSimulator) -> list[str]:
    return [c["output"].get("title", "") for c in sim.check_runs.values() if c["name"] == TRIAGE_CHECK]


async def test_a_failure_seen_on_the_base_commit_is_pre_existing() -> None:
    with simulated() as (sim, gateway, _):
        work = FakeWork()
        work.parents[HEAD] = BASE
        pull = sim.add_issue("a PR", pull=True)
        sim.add_run(BASE, jobs=(("tests", "failure", PYTEST_LOG),))
        run_id = sim.add_run(HEAD, jobs=(("tests", "failure", PYTEST_LOG),))
        [outcome] = await EventHandler(gateway=gateway, config=CONFIG, work=work).handle(
            "workflow_run", run_event(sim, run_id, pulls=(pull,))
        )
        assert outcome.action == "triaged" and "pre-existing" in outcome.detail
        assert sim.reruns == [] and work.ran == []
        [comment] = sim.comments_on(pull)
        assert "failed the same way **before this commit**" in comment["body"]


async def test_flaky_takes_one_rerun_and_is_reported_once() -> None:
    with simulated() as (sim, gateway, _):
        work = FakeWork()
        handler = EventHandler(gateway=gateway, config=CONFIG, work=work)
        pull = sim.add_issue("a PR", pull=True)
        run_id = sim.add_run(HEAD, jobs=(("tests", "failure", PYTEST_LOG),), rerun_conclusion="success")
        first = run_event(sim, run_id, pulls=(pull,))
        [outcome] = await handler.handle("workflow_run", first)
        assert outcome.action == "triaged" and "rerunning" in outcome.detail and sim.reruns == [run_id]
        [again] = await handler.handle("workflow_run", first)  # redelivered: no second rerun
        assert again.action == "ignored" and sim.reruns == [run_id]
        # The rerun passed: GitHub sends the completed event of attempt 2.
        [outcome] = await handler.handle("workflow_run", run_event(sim, run_id, pulls=(pull,)))
        assert outcome.action == "triaged" and "flaky" in outcome.detail
        assert work.ran == [] and sim.reruns == [run_id]
        [comment] = sim.comments_on(pull)
        assert "is **flaky**" in comment["body"]
        assert triage_titles(sim) == [f"run {run_id} attempt 1: rerun", f"run {run_id} attempt 2: flaky"]


async def test_infrastructure_failures_are_reported_not_fixed() -> None:
    with simulated() as (sim, gateway, _):
        work = FakeWork()
        pull = sim.add_issue("a PR", pull=True)
        log = "2026-11-20T10:00:00Z ##[error]The runner has received a shutdown signal.\n"
        run_id = sim.add_run(HEAD, jobs=(("tests", "failure", log),))
        sim.jobs[sim.runs[run_id].jobs[0]].failed_steps = ()
        [outcome] = await EventHandler(gateway=gateway, config=CONFIG, work=work).handle(
            "workflow_run", run_event(sim, run_id, pulls=(pull,))
        )
        assert "infrastructure" in outcome.detail and "shutdown signal" in outcome.detail
        assert sim.reruns == [] and work.ran == []
        assert "**infrastructure**" in sim.comments_on(pull)[0]["body"]


async def test_a_regression_is_planned_without_a_model_and_fixed_on_the_failing_branch() -> None:
    with simulated() as (sim, gateway, _):
        work = FakeWork()
        handler = EventHandler(gateway=gateway, config=CONFIG, work=work)
        run_id = sim.add_run(HEAD, jobs=(("tests", "failure", PYTEST_LOG),), rerun_conclusion="failure")
        await handler.handle("workflow_run", run_event(sim, run_id))  # attempt 1: rerun
        [outcome] = await handler.handle("workflow_run", run_event(sim, run_id))  # attempt 2 failed again
        assert outcome.action == "ran" and "regression" in outcome.detail
        assert work.planned == []  # red builds are planned from the log, not by a model
        [request] = work.ran
        assert request.start == HEAD and request.target == "main" and request.issue is None
        assert [i.acceptance_tests for i in request.checklist.items] == [("tests/test_ops.py::test_add",)]


async def test_forks_unwatched_branches_and_green_runs_are_ignored() -> None:
    with simulated() as (sim, gateway, _):
        handler = EventHandler(gateway=gateway, config=CONFIG, work=FakeWork())
        run_id = sim.add_run(HEAD, jobs=(("tests", "failure", PYTEST_LOG),))
        [fork] = await handler.handle("workflow_run", run_event(sim, run_id, fork=True))
        assert fork.action == "ignored" and "fork" in fork.detail
        other = sim.add_run(HEAD, branch="feature/x", jobs=(("tests", "failure", PYTEST_LOG),))
        [unwatched] = await handler.handle("workflow_run", run_event(sim, other))
        assert "not watched" in unwatched.detail
        green = sim.add_run(HEAD, conclusion="success")
        [passed] = await handler.handle("workflow_run", run_event(sim, green))
        assert passed.action == "ignored" and sim.reruns == []
        bots = sim.add_run(HEAD, branch="milestone-bot/issue-3", jobs=(("tests", "failure", PYTEST_LOG),))
        [own] = await handler.handle("workflow_run", run_event(sim, bots))
        assert own.action == "triaged"  # the bot's own PR branches are watched
