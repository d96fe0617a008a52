"""The example workflow, driven locally: its jobs become the bot commands they run, executed as
separate processes in separate clones against the GitHub simulator and a scripted model.

event (``/bot run`` planned by the model, handed on) -> plan (the matrix) -> three work jobs, each
in its own clone with its own ledger, artifacts copied as upload/download-artifact would -> publish
(bundles fetched, integrated, re-validated, pushed to origin, one PR whose cost table sums the
three jobs' ledgers).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml

from bot.testing.github_server import GitHubSimulator
from tests.integration.sample import PYTHON_PROJECT, git, make_repo
from tests.integration.test_events import EXAMPLES, comment_event

ROOT = Path(__file__).resolve().parents[2]
BOT = Path(sys.executable).parent / "milestone-bot"
MODULES = ("alpha", "beta", "gamma")


def plan_answer() -> str:
    items = [
        {"id": f"add-{m}", "title": f"Add calc.{m}.value", "description": f"calc/{m}.py with value() returning 1",
         "kind": "feature", "allowed_files": [f"calc/{m}.py", f"tests/test_{m}.py"]}
        for m in MODULES
    ]  # fmt: skip
    return json.dumps({"items": items})


def rules() -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [{"match": {"purpose": "plan"}, "reply": plan_answer()}]
    for m in MODULES:
        # A behavioural failure on the base (an assertion), not an import error.
        test = (
            f"tests/test_{m}.py\n<<<<<<< SEARCH\n=======\nimport importlib\nimport importlib.util\n\n\n"
            f"def test_{m}():\n    assert importlib.util.find_spec('calc.{m}') is not None\n"
            f"    assert importlib.import_module('calc.{m}').value() == 1\n>>>>>>> REPLACE\n"
        )
        change = f"calc/{m}.py\n<<<<<<< SEARCH\n=======\ndef value():\n    return 1\n>>>>>>> REPLACE\n"
        out.append({"match": {"item": f"add-{m}", "purpose": "test"}, "reply": test})
        out.append({"match": {"item": f"add-{m}", "purpose": "change"}, "reply": change})
    return out


def workflow_jobs() -> dict[str, Any]:
    """The example's job calls the reusable workflow; its jobs are the ones that run."""
    example = yaml.safe_load((ROOT / "examples" / "milestone-bot.yml").read_text())
    [caller] = example["jobs"].values()
    assert caller["uses"].split("@")[0].endswith("/.github/workflows/milestone-bot.yml")
    reusable = yaml.safe_load((ROOT / ".github" / "workflows" / "milestone-bot.yml").read_text())
    jobs: dict[str, Any] = reusable["jobs"]
    assert list(jobs) == ["event", "plan", "work", "publish"]
    return {"with": caller["with"], "jobs": jobs}


def expression(text: str, context: dict[str, Any]) -> str:
    """Evaluate the simple ``${{ a.b.c }}`` expressions the steps' env use."""

    def value(match: re.Match[str]) -> str:
        node: Any = context
        for part in match.group(1).strip().split("."):
            node = node.get(part, "") if isinstance(node, dict) else ""
        return str(node)

    return re.sub(r"\$\{\{(.*?)\}\}", value, text)


def bot_commands(job: dict[str, Any], context: dict[str, Any]) -> list[tuple[str, dict[str, str]]]:
    """Each step's `milestone-bot ...` lines with the step's environment."""
    out = []
    for step in job["steps"]:
        run = step.get("run", "")
        lines = [line.strip() for line in run.splitlines() if line.strip().startswith("milestone-bot ")]
        env = {k: expression(str(v), context) for k, v in (step.get("env") or {}).items()}
        out += [(line, env) for line in lines]
    return out


def run_job(
    job: dict[str, Any], context: dict[str, Any], cwd: Path, base_env: dict[str, str]
) -> dict[str, str]:
    outputs: dict[str, str] = {}
    for line, env in bot_commands(job, context):
        output = cwd / ".github-output"
        output.write_text("")
        full = {**base_env, **env, "GITHUB_OUTPUT": str(output), "PATH": f"{BOT.parent}:{os.environ['PATH']}"}
        done = subprocess.run(
            ["bash", "-c", line], cwd=cwd, env=full, capture_output=True, text=True, timeout=300
        )
        assert done.returncode == 0, f"{line}\n{done.stdout}\n{done.stderr}"
        for pair in output.read_text().splitlines():
            key, _, value = pair.partition("=")
            outputs[key] = value
    return outputs


def clone(origin: Path, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(into)], check=True)
    git(into, "config", "user.name", "t")
    git(into, "config", "user.email", "t@t")
    return into


def test_plan_matrix_three_work_jobs_publish_one_pr(tmp_path: Path) -> None:
    assert EXAMPLES.exists()
    spec = workflow_jobs()
    seed = make_repo(tmp_path / "seed", PYTHON_PROJECT)
    (seed / "models.json").write_text(json.dumps({"rules": rules()}))
    (seed / ".github" / "milestone-bot.toml").write_text(
        '[routing]\npreset = "single-model"\n[budget]\nper_run_usd = 3\n'
        '[tiers.fast]\n[[tiers.fast.providers]]\ntype = "scripted"\nscript = "models.json"\nmodel = "fast-m"\n'
        "price = { input_per_mtok = 1, output_per_mtok = 2 }\n"
    )
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "bot config")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(origin)], check=True)

    with GitHubSimulator(permissions={"wendy": "write"}) as sim:
        issue = sim.add_issue("Add three modules", "alpha, beta and gamma, each with value() == 1")
        comment = sim.add_comment(issue, "/bot run", user="wendy")
        event_path = tmp_path / "event.json"
        event_path.write_text(json.dumps(comment_event(sim, issue, comment)))
        base_env = {
            "HOME": os.environ.get("HOME", str(tmp_path)), "GITHUB_EVENT_NAME": "issue_comment",
            "GITHUB_EVENT_PATH": str(event_path), "GITHUB_REPOSITORY": sim.full_name, "GITHUB_API_URL": sim.base_url,
            "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
        }  # fmt: skip
        context: dict[str, Any] = {
            "inputs": spec["with"],
            "secrets": {},
            "github": {"token": "tok"},
            "needs": {},
        }
        jobs = spec["jobs"]

        # event: `/bot run` is planned by the model and handed on.
        event_dir = clone(origin, tmp_path / "event")
        out = run_job(jobs["event"], context, event_dir, base_env)
        assert out["fanout"] == "true"
        context["needs"]["event"] = {"outputs": out}
        request = event_dir / "fanout"  # upload-artifact milestone-bot-request

        # plan: the matrix of ready items.
        plan_dir = clone(origin, tmp_path / "plan")
        shutil.copytree(request, plan_dir / "fanout")
        out = run_job(jobs["plan"], context, plan_dir, base_env)
        matrix = json.loads(out["matrix"])
        assert out["has_work"] == "true" and len(matrix["include"]) == 3
        assert [m["budget"] for m in matrix["include"]] == ["1.0000"] * 3  # each job's slice of $3

        # work: three jobs, three clones, three processes, three ledgers; no GitHub token at all.
        spent = Decimal(0)
        collected = tmp_path / "collected"
        for entry in matrix["include"]:
            work_dir = clone(origin, tmp_path / entry["job"])
            shutil.copytree(request, work_dir / "fanout")
            job_env = {k: v for k, v in base_env.items() if not k.startswith("GITHUB_")}
            run_job(jobs["work"], {**context, "matrix": entry}, work_dir, job_env)
            artifact = work_dir / "work" / entry["job"]
            result = json.loads((artifact / "result.json").read_text())
            assert [i["status"] for i in result["items"]] == ["done"] and (
                artifact / "ledger.sqlite"
            ).exists()
            spent += Decimal(result["spent_usd"])
            shutil.copytree(artifact, collected / entry["job"])  # download-artifact, merge-multiple
        assert spent > 0

        # publish: one PR, the cost table sums the three jobs.
        publish_dir = clone(origin, tmp_path / "publish")
        shutil.copytree(request, publish_dir / "fanout")
        shutil.copytree(collected, publish_dir / "work")
        out = run_job(jobs["publish"], {**context, "github": {"token": "tok"}}, publish_dir, base_env)
        assert out["conclusion"] == "success" and out["more"] == "false"
        assert Decimal(out["cost"]) == spent
        [pull] = sim.pulls.values()
        assert pull["head"] == f"milestone-bot/issue-{issue}" and not pull["draft"]
        body = pull["body"]
        assert "3 of 3 items done" in body and f"Closes #{issue}" in body
        for m in MODULES:  # each item's validation, carried from its work job to the PR
            assert re.search(rf"\| add-{m} \| ✅ \|.*\| ✅ \|", body), body
        total = re.search(r"\| \*\*total\*\* \|.*?\*\*\$([0-9.]+)\*\*", body)
        assert total is not None and Decimal(total.group(1)) == spent
        # The branch on origin has all three modules and the checklist, ticked.
        shown = git(origin, "show", f"milestone-bot/issue-{issue}:checklists/issue-{issue}.md")
        assert shown.count("- [x]") == 3
        for m in MODULES:
            assert "return 1" in git(origin, "show", f"milestone-bot/issue-{issue}:calc/{m}.py")
        checks = [c for c in sim.check_runs.values() if c["name"] == "milestone-bot"]
        assert [c["conclusion"] for c in checks] == ["success"]
