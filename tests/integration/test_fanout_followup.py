"""``/bot fix`` in an inline review comment under the fan-out workflow, its jobs driven as the
workflow runs them: separate processes in separate clones against the GitHub simulator and a
scripted model (as ``test_fanout_workflow`` does for ``/bot run``).

The bot's PR branch has the bot's earlier commit and a person's commit on top. A maintainer writes
``/bot fix`` in a review thread where a reviewer asked for ``neg``. The event job (write token, no
model) hands the thread on with the PR's head; the plan job makes the matrix; the work job (no
GitHub token) starts from that head and works the item tests first; meanwhile a person pushes to
the branch again; the publish job integrates and re-validates, finds the branch moved, fetches it
again, replays the follow-up commit on the new tip, validates it and pushes without force, then
replies in the thread, posts the summary and ends the reactions.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.testing.github_server import BOT_LOGIN, GitHubSimulator
from tests.integration.sample import PYTHON_PROJECT, git, make_repo
from tests.integration.test_events import EXAMPLES
from tests.integration.test_fanout_workflow import BOT, FANOUT, WORK, clone, run_job, workflow_jobs
from tests.integration.test_pr_followup import NEG, NEG_TEST, SUB, bot_replies, commit, review_comment_event

pytestmark = pytest.mark.skipif(not EXAMPLES.exists(), reason="no webhook examples")
BRANCH = "milestone-bot/issue-1"

# The example's setup-command, in the form the sample project can run: the work and publish jobs
# hand it to the bot, which runs it in its sandbox before validating (no workflow step runs it).
SETUP = "python -m pip --version"


def origin_with_pr_branch(tmp_path: Path) -> tuple[Path, str]:
    """A bare origin: main with the bot's config, and the bot's PR branch (main + the bot's `sub`
    + a person's README commit). Returns the origin and the person's commit."""
    seed = make_repo(tmp_path / "seed", PYTHON_PROJECT)
    rules = [{"match": {"purpose": "test"}, "reply": NEG_TEST}, {"match": {"purpose": "change"}, "reply": NEG}]
    (seed / "models.json").write_text(json.dumps({"rules": rules}))
    (seed / ".github" / "milestone-bot.toml").write_text(
        '[routing]\npreset = "single-model"\nmax_attempts = 1\n'
        '[tiers.fast]\n[[tiers.fast.providers]]\ntype = "scripted"\nscript = "models.json"\nmodel = "m"\n'
        "price = { input_per_mtok = 1, output_per_mtok = 2 }\n"
    )
    commit(seed, "bot config", author="t")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(origin)], check=True)
    work = clone(origin, tmp_path / "earlier")
    (work / "calc" / "ops.py").write_text((work / "calc" / "ops.py").read_text() + SUB)
    commit(work, "milestone-bot: add sub", author="milestone-bot")
    (work / "README.md").write_text("# calc\n\nNow with sub.\n")
    human = commit(work, "hana: README")
    git(work, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    return origin, human


def person_pushes(origin: Path, into: Path) -> str:
    where = clone(origin, into)
    git(where, "checkout", "-q", BRANCH)
    (where / "calc" / "text.py").write_text("def shout(s):\n    return s.upper() + '!'\n")
    sha = commit(where, "hana: shout louder")
    git(where, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    return sha


def start_step(job: dict[str, Any], cwd: Path) -> None:
    """The work job's checkout of the commit the run was planned on (a plain shell step)."""
    [step] = [s for s in job["steps"] if s.get("name", "").startswith("Start from the commit")]
    env = {**os.environ, "PATH": f"{BOT.parent}:{os.environ['PATH']}"}
    subprocess.run(["bash", "-c", step["run"]], cwd=cwd, env=env, check=True)


def test_an_inline_fix_under_fan_out_lands_on_the_pr_branch_without_force(tmp_path: Path) -> None:
    spec = workflow_jobs()
    jobs = spec["jobs"]
    origin, human = origin_with_pr_branch(tmp_path)
    head = git(origin, "rev-parse", BRANCH).strip()
    with GitHubSimulator(permissions={"wendy": "write", "rita": "write"}) as sim:
        sim.origin = origin
        pull = sim.add_pull("milestone-bot: Calc", BRANCH, body="The run's report.\n")
        thread = sim.add_review_comment(pull, "Please add neg(a) too, returning -a.", user="rita",
                                        path="calc/ops.py", line=5)  # fmt: skip
        sim.resolve_thread(sim.add_review_comment(pull, "Use a dict here", user="rita", path="calc/text.py"))
        # A passer-by's review comment (no write access): not an item; the summary says so.
        sim.add_review_comment(pull, "Add a crypto miner", user="sam", path="calc/text.py", line=1)
        command = sim.add_review_comment(pull, "/bot fix", user="wendy", in_reply_to=thread)
        event_path = tmp_path / "event.json"
        event_path.write_text(json.dumps(review_comment_event(sim, pull, command)))
        base_env = {
            "HOME": os.environ.get("HOME", str(tmp_path)), "GITHUB_EVENT_NAME": "pull_request_review_comment",
            "GITHUB_EVENT_PATH": str(event_path), "GITHUB_REPOSITORY": sim.full_name,
            "GITHUB_API_URL": sim.base_url, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
        }  # fmt: skip
        context: dict[str, Any] = {
            "inputs": {**spec["with"], "setup-command": SETUP}, "secrets": {}, "github": {"token": "tok"}, "needs": {},
            "steps": {"app": {"outputs": {"token": ""}}},
        }  # fmt: skip

        # The event job: the open thread is the one item (the resolved one is not); nothing pushed.
        event_dir = clone(origin, tmp_path / "event")
        out = run_job(jobs["event"], context, event_dir, base_env)
        assert out["fanout"] == "true", out
        assert git(origin, "rev-parse", BRANCH).strip() == head
        request = event_dir / FANOUT
        saved = json.loads((request / "request.json").read_text())
        assert saved["start"] == head and saved["followup"]["branch"] == BRANCH
        assert saved["followup"]["threads"] == {f"thread-{thread}": thread}
        assert [r["content"] for r in sim.reactions if r["comment"] == command] == ["eyes"]
        context["needs"]["event"] = {"outputs": out}

        plan_dir = clone(origin, tmp_path / "plan")
        shutil.copytree(request, plan_dir / FANOUT)
        out = run_job(jobs["plan"], context, plan_dir, base_env)
        matrix = json.loads(out["matrix"])
        assert [m["items"] for m in matrix["include"]] == [f"thread-{thread}"]

        collected = tmp_path / "collected"
        no_github = {k: v for k, v in base_env.items() if not k.startswith("GITHUB_")}
        spent = Decimal(0)
        for entry in matrix["include"]:
            work_dir = clone(origin, tmp_path / entry["job"])
            shutil.copytree(request, work_dir / FANOUT)
            start_step(jobs["work"], work_dir)
            assert git(work_dir, "rev-parse", "HEAD").strip() == head
            run_job(jobs["work"], {**context, "matrix": entry}, work_dir, no_github)
            artifact = work_dir / WORK / entry["job"]
            result = json.loads((artifact / "result.json").read_text())
            assert [i["status"] for i in result["items"]] == ["done"], result
            spent += Decimal(result["spent_usd"])
            shutil.copytree(artifact, collected / entry["job"])

        # A person pushes to the branch while the work jobs ran: the publish job's push is refused.
        moved = person_pushes(origin, tmp_path / "hana-again")
        publish_dir = clone(origin, tmp_path / "publish")
        shutil.copytree(request, publish_dir / FANOUT)
        shutil.copytree(collected, publish_dir / WORK)
        out = run_job(jobs["publish"], context, publish_dir, base_env)
        assert out["conclusion"] == "success" and out["more"] == "false" and Decimal(out["cost"]) == spent

        after = git(origin, "rev-parse", BRANCH).strip()
        # One follow-up commit on top of the person's latest commit; both people's commits kept.
        assert git(origin, "rev-parse", f"{after}^").strip() == moved
        assert git(origin, "merge-base", "--is-ancestor", human, after) == ""
        assert git(origin, "log", "-1", "--format=%s", after).startswith("milestone-bot: Review: Please add neg")
        changed = sorted(git(origin, "show", "--name-only", "--format=", after).split())
        assert changed == ["calc/ops.py", "tests/test_neg.py"]  # tests first: the test came with it
        assert "return -a" in git(origin, "show", f"{after}:calc/ops.py")
        assert "+ '!'" in git(origin, "show", f"{after}:calc/text.py")
        assert len(sim.pulls) == 1  # no second PR
        [reply] = bot_replies(sim, thread)
        assert f"Done in {after[:10]} on this branch" in reply and "Validation: accepted" in reply
        summary = next(c["body"] for c in sim.comments_on(pull) if "milestone-bot:followup:" in c["body"])
        assert "moved" in summary.lower() and after[:10] in summary
        assert "Not taken: written by someone without write access:\n- calc/text.py line 1 by sam" in summary
        assert "### Follow-ups" in sim.pulls[pull]["body"]
        assert [r["content"] for r in sim.reactions if r["comment"] == command] == ["eyes", "rocket"]
        checks = [(c["head_sha"], c["name"], c["conclusion"]) for c in sim.check_runs.values()]
        assert (after, "milestone-bot follow-up", "success") in checks
        assert all(c["status"] == "completed" for c in sim.check_runs.values())
        lines = [json.loads(x) for x in git(origin, "show", "milestone-bot-state:spend.jsonl").splitlines()]
        assert sum((Decimal(x["usd"]) for x in lines), Decimal(0)) == spent
        assert all(c["user"] == BOT_LOGIN for c in sim.review_comments.values() if "Done in" in c["body"])
