"""The workflow's ``if: failure()`` step: the run's unfinished check runs on the PR head end as
failures with the reason; finished ones and other commits are left alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
