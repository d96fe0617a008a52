"""The workflow's ``if: failure()`` step: the run's unfinished check runs on the PR head end as
failures with the reason; finished ones and other commits are left alone. Check runs are written
with the token meant for them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.events.checks import CHECK_NAME
from bot.events.closeout import close_out
from tests.integration.github_fixtures import simulated
from tests.integration.sample import PYTHON_PROJECT, git, make_repo


def test_a_failed_job_finishes_the_runs_check_on_the_pr_head(tmp_path: Path) -> None:
    seed = make_repo(tmp_path / "seed", PYTHON_PROJECT)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(origin)], check=True)
    head = git(seed, "rev-parse", "HEAD").strip()
    subprocess.run(["git", "-C", str(seed), "push", "-q", str(origin), "HEAD:refs/heads/milestone-bot/issue-7"],
                   check=True)  # fmt: skip
    job = tmp_path / "job"
    subprocess.run(["git", "clone", "-q", str(origin), str(job)], check=True)
    with simulated() as (sim, gateway, _):
        spinning = gateway.create_check_run(name=CHECK_NAME, head_sha=head)
        done = gateway.create_check_run(name="ci", head_sha=head)
        gateway.finish_check_run(done, conclusion="success", title="ok", summary="ok")
        assert close_out(gateway, job, key="issue-7", reason="The publish job failed: <url>", token=None) == [
            spinning
        ]
        assert sim.check_runs[spinning]["conclusion"] == "failure"
        assert sim.check_runs[spinning]["output"]["summary"] == "The publish job failed: <url>"
        assert sim.check_runs[done]["conclusion"] == "success"
        assert close_out(gateway, job, key="issue-8", reason="x", token=None) == []  # no PR branch

        # As the workflow step runs it: a module with its environment, never failing the step.
        env = {**os.environ, "KEY": "issue-7", "REASON": "again", "GITHUB_TOKEN": "t0ken",
               "GITHUB_REPOSITORY": sim.full_name, "GITHUB_API_URL": sim.base_url}  # fmt: skip
        ran = subprocess.run([sys.executable, "-m", "bot.events.closeout"], cwd=job, env=env,
                             capture_output=True, text=True, check=False)  # fmt: skip
        assert ran.returncode == 0 and "finished 0 check run(s) of issue-7" in ran.stdout


async def test_check_runs_go_through_the_checks_token_and_the_rest_through_the_bots(tmp_path: Path) -> None:
    """With a person's token (MILESTONE_BOT_TOKEN, so that the bot's PRs start CI) GitHub refuses
    check runs (403: only Apps write them). The gateway the workflow's environment builds sends
    check runs through MILESTONE_BOT_CHECKS_TOKEN (the workflow's own GITHUB_TOKEN, an App's) and
    everything else, the PR and the comments, through the person's token."""
    from bot.app import CHECKS_TOKEN_ENV, CI_TOKEN_ENV, ActionsEnv, build_gateway
    from bot.domain import Checklist
    from bot.errors import GitHubError
    from bot.events.work import RepoWork
    from bot.events.work_api import RunRequest
    from bot.testing.github_server import GitHubSimulator
    from tests.integration.test_item_loop import RIGHT, TEST_ANSWER
    from tests.integration.test_repo_work import SUB
    from tests.integration.test_repo_work import setup as repo_setup

    repo, config = repo_setup(tmp_path, [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": TEST_ANSWER},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": RIGHT},
    ])  # fmt: skip
    config = config.model_copy(update={"github": config.github.model_copy(update={"bot_login": "mona"})})
    quick = {"seconds_between_writes": None, "seconds_between_requests": None}
    tokens = {"person-token": "mona", "actions-token": "github-actions[bot]"}
    with GitHubSimulator(tokens=tokens, permissions={"mona": "maintain"}) as sim:
        env = {"GITHUB_REPOSITORY": sim.full_name, "GITHUB_API_URL": sim.base_url, "GITHUB_TOKEN": "person-token",
               CHECKS_TOKEN_ENV: "actions-token", CI_TOKEN_ENV: "true"}  # fmt: skip
        alone = build_gateway(config, ActionsEnv.read({**env, CHECKS_TOKEN_ENV: ""}), quick)
        with pytest.raises(GitHubError, match="403"):
            alone.create_check_run(name=CHECK_NAME, head_sha="a" * 40)  # what one token alone gets
        issue = sim.add_issue("Calc")
        gateway = build_gateway(config, ActionsEnv.read(env), quick)
        work = RepoWork(repo=repo, config=config, gateway=gateway, base_branch="main", ci_token=True)
        result = await work.run(RunRequest(Checklist("issue#1", "Calc", (SUB,)), "issue-1", issue, (issue,)),
                                should_stop=lambda: False)  # fmt: skip
        assert result.conclusion == "success" and result.pull is not None
        [check] = sim.check_runs.values()
        head = git(tmp_path / "origin.git", "rev-parse", "milestone-bot/issue-1").strip()
        assert check["conclusion"] == "success" and check["head_sha"] == head  # on the PR's head
        writes = [s for s in sim.seen if s.method in ("POST", "PATCH") and s.status < 400]
        checks = [s.login for s in writes if "/check-runs" in s.path]
        others = [s.login for s in writes if "/check-runs" not in s.path]
        assert checks and set(checks) == {"github-actions[bot]"}
        assert others and set(others) == {"mona"}
        assert "CI did not run" not in sim.pulls[result.pull]["body"]
