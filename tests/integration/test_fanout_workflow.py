"""The example workflow, driven locally: its jobs become the bot commands they run, executed as
separate processes in separate clones against the GitHub simulator and a scripted model.

Three waves of one `/bot run`, on a repository whose default branch is ``trunk``. Each wave is
event -> plan (the matrix) -> work jobs (each in its own clone with its own ledger, artifacts
copied as upload/download-artifact would) -> publish (bundles fetched, integrated, re-validated,
pushed, the PR, the check run on its head, the spend appended to the state branch). Waves 2 and 3
start as the publish job's workflow_dispatch would start them: a fresh clone of the PR branch. The
run's limit (and the day's) is set so that the third wave cannot be paid for in full: the total the
state branch records (the event job's plan call included) never exceeds it.
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

import pytest
import yaml

from bot.testing.github_server import GitHubSimulator
from tests.integration.sample import PYTHON_PROJECT, git, make_repo
from tests.integration.test_events import comment_event

ROOT = Path(__file__).resolve().parents[2]
BOT = Path(sys.executable).parent / "milestone-bot"
MODULES = ("alpha", "beta", "gamma", "delta")
DEPENDS = {"alpha": [], "beta": [], "gamma": ["add-alpha", "add-beta"], "delta": ["add-gamma"]}

# The example's setup-command, in the form the sample project can run: the work and publish jobs
# hand it to the bot, which runs it in its sandbox before validating (no workflow step runs it).
SETUP = "python -m pip --version"


def plan_answer() -> str:
    items = [
        {"id": f"add-{m}", "title": f"Add calc.{m}.value", "description": f"calc/{m}.py with value() returning 1",
         "kind": "feature", "allowed_files": [f"calc/{m}.py", f"tests/test_{m}.py"], "depends_on": DEPENDS[m]}
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
        # Each call bills 1000 input tokens: $0.10 at the test's price.
        usage = {"input_tokens": 1000, "output_tokens": 0}
        out.append({"match": {"item": f"add-{m}", "purpose": "test"}, "reply": test, "usage": usage})
        out.append({"match": {"item": f"add-{m}", "purpose": "change"}, "reply": change, "usage": usage})
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


_TOKEN = re.compile(r"\s*(\|\||&&|\(|\)|!|'[^']*'|[A-Za-z_][\w.-]*)")


def evaluate(source: str, context: dict[str, Any]) -> Any:
    """The subset of GitHub's expression language the steps' env use: context paths, quoted
    strings, ``||`` and ``&&`` (returning an operand, as GitHub does), ``!``, parentheses and
    ``toJSON(...)``."""
    tokens = _TOKEN.findall(source)
    assert "".join(tokens) == re.sub(r"\s+", "", source) or tokens, source
    pos = 0

    def peek() -> str | None:
        return tokens[pos] if pos < len(tokens) else None

    def take() -> str:
        nonlocal pos
        pos += 1
        return tokens[pos - 1]

    def primary() -> Any:
        tok = take()
        if tok == "(":
            value = either()
            assert take() == ")"
            return value
        if tok == "!":
            return not primary()
        if tok.startswith("'"):
            return tok[1:-1]
        if tok == "toJSON" and peek() == "(":
            take()
            value = either()
            assert take() == ")"
            return json.dumps(value)
        node: Any = context
        for part in tok.split("."):
            node = node.get(part, "") if isinstance(node, dict) else ""
        return node

    def both() -> Any:
        value = primary()
        while peek() == "&&":
            take()
            right = primary()
            value = right if value else value
        return value

    def either() -> Any:
        value = both()
        while peek() == "||":
            take()
            right = both()
            value = value if value else right
        return value

    result = either()
    assert pos == len(tokens), (source, tokens[pos:])
    return result


# Where the workflow keeps the request and the work jobs' results in each job's checkout.
FANOUT, WORK = "milestone-bot-fanout", "milestone-bot-work"


def test_the_workflow_keeps_nothing_in_the_checkout_that_setuptools_would_take_for_a_package() -> None:
    """A flat-layout project that lets setuptools discover its packages fails `pip install -e .` when
    the checkout holds another folder whose name is an identifier ("Multiple top-level packages
    discovered in a flat-layout: ['calc', 'fanout', 'work']"). The bot's folders are named so that
    it does not take them: with a hyphen."""
    text = (ROOT / ".github" / "workflows" / "milestone-bot.yml").read_text()
    folders = set(re.findall(r"(?:--fanout-dir|--artifacts|--checklist|--out) \"?([\w.-]+)/?", text))
    for job in yaml.safe_load(text)["jobs"].values():
        for step in job["steps"]:
            if "artifact" in str(step.get("uses", "")) and "path" in step.get("with", {}):
                folders.add(str(step["with"]["path"]).split("/")[0])
    assert folders >= {FANOUT, WORK}, folders
    assert not [f for f in folders if f.split("/")[0].isidentifier()], folders


def expression(text: str, context: dict[str, Any]) -> str:
    """Evaluate the ``${{ ... }}`` expressions in a step's env value."""
    return re.sub(r"\$\{\{(.*?)\}\}", lambda m: str(evaluate(m.group(1), context)), text)


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
    job: dict[str, Any], context: dict[str, Any], cwd: Path, base_env: dict[str, str], *, fails: bool = False
) -> dict[str, str]:
    """``fails``: the job is expected to fail (its last command exits 1, as publish does when the run
    concludes in failure)."""
    outputs: dict[str, str] = {}
    for line, env in bot_commands(job, context):
        output = cwd / ".github-output"
        output.write_text("")
        summary = cwd / ".step-summary.md"
        full = {**base_env, **env, "GITHUB_OUTPUT": str(output), "PATH": f"{BOT.parent}:{os.environ['PATH']}"}
        if "GITHUB_REPOSITORY" in base_env:
            full["GITHUB_STEP_SUMMARY"] = str(summary)
        done = subprocess.run(
            ["bash", "-c", line], cwd=cwd, env=full, capture_output=True, text=True, timeout=300
        )
        shown = summary.read_text() if summary.exists() else ""
        assert done.returncode == (1 if fails else 0), f"{line}\n{done.stdout}\n{done.stderr}\n{shown}"
        for pair in output.read_text().splitlines():
            key, _, value = pair.partition("=")
            outputs[key] = value
    return outputs


def clone(origin: Path, into: Path) -> Path:
    subprocess.run(["git", "clone", "-q", str(origin), str(into)], check=True)
    git(into, "config", "user.name", "t")
    git(into, "config", "user.email", "t@t")
    return into


# What one item costs: its test call and its change call, $0.10 each. A call reserves its worst case
# first (the prompt's bytes as tokens: about $0.18 here), so a job needs about $0.28 for an item.
# The run's limit pays for three items with that headroom, and leaves the fourth too little.
PER_ITEM_USD = Decimal("0.2")
LIMIT_USD = Decimal("0.72")


def test_three_waves_from_fresh_clones_hold_the_run_and_day_limits(tmp_path: Path) -> None:
    spec = workflow_jobs()
    seed = make_repo(tmp_path / "seed", PYTHON_PROJECT)
    git(seed, "branch", "-m", "main", "trunk")  # not `main`: the default branch comes from the event
    (seed / "models.json").write_text(json.dumps({"rules": rules()}))
    (seed / ".github" / "milestone-bot.toml").write_text(
        f'[routing]\npreset = "single-model"\nmax_attempts = 1\n[budget]\nper_run_usd = {LIMIT_USD}\n'
        f"per_day_usd = {LIMIT_USD}\n"
        '[tiers.fast]\n[[tiers.fast.providers]]\ntype = "scripted"\nscript = "models.json"\nmodel = "fast-m"\n'
        "price = { input_per_mtok = 100, output_per_mtok = 0 }\n"
    )
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "bot config")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(origin)], check=True)

    with GitHubSimulator(permissions={"wendy": "write"}, default_branch="trunk") as sim:
        issue = sim.add_issue("Add four modules", "alpha and beta, then gamma, then delta")
        key = f"issue-{issue}"
        comment = sim.add_comment(issue, "/bot run", user="wendy")
        first = comment_event(sim, issue, comment)
        first["repository"]["default_branch"] = "trunk"
        jobs = spec["jobs"]

        def wave(n: int, event_name: str, payload: dict[str, Any], ref: str | None, *, fails: bool = False
                 ) -> dict[str, Any]:  # fmt: skip
            """One workflow run: every job a separate process in a fresh clone."""
            folder = tmp_path / f"wave{n}"
            folder.mkdir()
            event_path = folder / "event.json"
            event_path.write_text(json.dumps(payload))
            base_env = {
                "HOME": os.environ.get("HOME", str(tmp_path)), "GITHUB_EVENT_NAME": event_name,
                "GITHUB_EVENT_PATH": str(event_path), "GITHUB_REPOSITORY": sim.full_name,
                "GITHUB_API_URL": sim.base_url, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t",
            }  # fmt: skip
            context: dict[str, Any] = {
                "inputs": {**spec["with"], "setup-command": SETUP}, "secrets": {}, "github": {"token": "tok"}, "needs": {},
                "steps": {"app": {"outputs": {"token": ""}}},  # no GitHub App in the test
            }  # fmt: skip
            event_dir = clone(origin, folder / "event")
            if ref:
                git(event_dir, "checkout", "-q", ref)  # actions/checkout of the dispatched ref
            out = run_job(jobs["event"], context, event_dir, base_env)
            result: dict[str, Any] = {"event": out, "spent": Decimal(0), "jobs": []}
            if out.get("fanout") != "true":
                return result
            context["needs"]["event"] = {"outputs": out}
            request = event_dir / FANOUT  # upload-artifact milestone-bot-request
            plan_dir = clone(origin, folder / "plan")
            shutil.copytree(request, plan_dir / FANOUT)
            out = run_job(jobs["plan"], context, plan_dir, base_env)
            result["matrix"] = matrix = json.loads(out["matrix"])
            if out["has_work"] != "true":
                return result
            collected = folder / "collected"
            no_github = {k: v for k, v in base_env.items() if not k.startswith("GITHUB_")}
            for entry in matrix["include"]:
                work_dir = clone(origin, folder / entry["job"])
                shutil.copytree(request, work_dir / FANOUT)
                run_job(jobs["work"], {**context, "matrix": entry}, work_dir, no_github)  # no GitHub token
                artifact = work_dir / WORK / entry["job"]
                job = json.loads((artifact / "result.json").read_text())
                assert (artifact / "ledger.sqlite").exists()
                result["jobs"].append(job)
                result["spent"] += Decimal(job["spent_usd"])
                # upload-artifact of work/ as milestone-bot-work-<job>; download-artifact, one
                # folder per artifact (publish reads only the job each is named for)
                shutil.copytree(work_dir / WORK, collected / f"milestone-bot-work-{entry['job']}")
            publish_dir = clone(origin, folder / "publish")
            shutil.copytree(request, publish_dir / FANOUT)
            shutil.copytree(collected, publish_dir / WORK)
            result["publish"] = out = run_job(jobs["publish"], context, publish_dir, base_env, fails=fails)
            assert Decimal(out["cost"]) == result["spent"]
            return result

        def dispatch(run: str) -> dict[str, Any]:
            """What `gh workflow run --ref milestone-bot/<key> -f key -f run` delivers."""
            return {"ref": f"refs/heads/milestone-bot/{key}", "inputs": {"key": key, "run": run},
                    "repository": {"full_name": sim.full_name, "default_branch": "trunk"},
                    "sender": {"login": "milestone-bot[bot]", "type": "Bot"}}  # fmt: skip

        def state() -> list[dict[str, Any]]:
            return [json.loads(x) for x in git(origin, "show", "milestone-bot-state:spend.jsonl").splitlines()]

        # Wave 1: `/bot run` is planned by the model; alpha and beta are ready, in two jobs. The
        # event job's plan call is on the state branch too, and the day's limit counts it.
        one = wave(1, "issue_comment", first, None)
        planned = [x for x in state() if x["run"].endswith("-plan")]
        plan_spent = sum((Decimal(x["usd"]) for x in planned), Decimal(0))
        assert len(planned) == 1 and plan_spent > 0
        assert [m["items"] for m in one["matrix"]["include"]] == ["add-alpha", "add-beta"]
        assert [m["budget"] for m in one["matrix"]["include"]] == [
            str(((LIMIT_USD - plan_spent) / 2).quantize(Decimal("0.0001")))
        ] * 2
        assert one["publish"]["conclusion"] == "neutral" and one["publish"]["more"] == "true"  # 2 of 4 so far
        run = one["publish"]["run"]
        assert run and one["event"]["run"] == run
        [pull] = sim.pulls.values()
        assert pull["head"] == f"milestone-bot/{key}" and pull["base"] == "trunk" and pull["draft"]
        assert "CI did not run on this PR" in pull["body"]  # GITHUB_TOKEN only: the body says so

        # Wave 2: a fresh clone of the PR branch; wave 1's refs are not there and are not needed.
        two = wave(2, "workflow_dispatch", dispatch(run), f"origin/milestone-bot/{key}")
        assert [m["items"] for m in two["matrix"]["include"]] == ["add-gamma"]
        left = LIMIT_USD - plan_spent - one["spent"]
        assert Decimal(two["event"]["budget"]) == left  # the day's limit less the plan's and wave 1's spend
        assert two["publish"]["more"] == "true"

        # Wave 3: what is left is less than delta costs; the guard stops it before it overspends.
        three = wave(3, "workflow_dispatch", dispatch(run), f"origin/milestone-bot/{key}", fails=True)
        assert Decimal(three["event"]["budget"]) == left - two["spent"] < PER_ITEM_USD
        statuses = [i["status"] for j in three["jobs"] for i in j["items"]]
        assert statuses == ["budget_exceeded"] and three["spent"] == 0
        assert three["publish"]["conclusion"] == "failure" and three["publish"]["more"] == "false"

        # The state branch holds the plan's call and every call of every wave, and the total is
        # within both limits.
        lines = state()
        recorded = sum((Decimal(x["usd"]) for x in lines), Decimal(0))
        assert recorded == plan_spent + one["spent"] + two["spent"] + three["spent"] <= LIMIT_USD
        ran = [x for x in lines if x["run"] == run]
        assert {x["run"] for x in lines} == {run, planned[0]["run"]} and ran[0]["budget"] == str(LIMIT_USD)
        assert (
            len(git(origin, "log", "--format=%H", "milestone-bot-state").split()) == 3
        )  # a commit for the plan, and one a wave that spent

        # The PR branch: alpha, beta and gamma, the checklist ticked as far as it got; the check run
        # of each publish on the PR's head at that time, the last one on the head now.
        shown = git(origin, "show", f"milestone-bot/{key}:checklists/{key}.md")
        assert shown.count("- [x]") == 3
        for m in ("alpha", "beta", "gamma"):
            assert "return 1" in git(origin, "show", f"milestone-bot/{key}:calc/{m}.py")
        head = git(origin, "rev-parse", f"milestone-bot/{key}").strip()
        checks = [c for c in sim.check_runs.values() if c["name"] == "milestone-bot"]
        assert checks and all(c["status"] == "completed" for c in checks)
        assert checks[-1]["head_sha"] == head
        # The checklist comment follows each publish.
        [saved] = [c["body"] for c in sim.comments_on(issue) if "milestone-bot:checklist" in c["body"]]
        assert saved.count("- [x]") == 3


async def test_the_options_of_bot_run_reach_the_work_jobs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`/bot run --tier premium --parallel 2 --budget 0.30` in a fan-out: the event job hands the
    options on in the request folder, the plan step slices the budget among the work jobs, and a
    work job runs on the asked tier with the asked width, within its slice."""
    from bot.budget.ledger import Ledger, Scope
    from bot.config import parse_config
    from bot.events.fanout import FanoutWork
    from bot.events.handler import EventHandler
    from bot.execution.fanout import matrix
    from bot.execution.jobs import work_items
    from bot.execution.options import RunOptions, read_options
    from bot.planning.checklist_file import parse
    from tests.integration.github_fixtures import simulated

    toml = '[routing]\npreset = "single-model"\nmax_attempts = 1\n[budget]\nper_run_usd = 1\nper_day_usd = 5\n' + (
        "[concurrency]\nparallel = 1\n"  # one item at a time, unless the command asks for more
    ) + "".join(
        f'[tiers.{t}]\n[[tiers.{t}.providers]]\ntype = "scripted"\nscript = "models.json"\nmodel = "{t}-m"\n'
        "price = { input_per_mtok = 1, output_per_mtok = 0 }\n"
        for t in ("fast", "premium")
    )  # fmt: skip
    seed = make_repo(tmp_path / "seed", PYTHON_PROJECT)
    (seed / "models.json").write_text(json.dumps({"rules": rules()}))
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "bot script")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(origin)], check=True)
    config = parse_config(toml)
    with simulated() as (sim, gateway, _):
        issue = sim.add_issue("Add four modules", "alpha and beta, then gamma, then delta")
        event_dir = clone(origin, tmp_path / "event")
        folder = event_dir / "fanout"
        work = FanoutWork(folder=folder, output=event_dir / "out", repo=event_dir, config=config, gateway=gateway,
                          base_branch="main", run_id="e")  # fmt: skip
        handler = EventHandler(gateway=gateway, config=config, work=work)
        comment = sim.add_comment(issue, "/bot run --tier premium --parallel 2 --budget 0.30", user="wendy")
        [outcome] = await handler.handle("issue_comment", comment_event(sim, issue, comment))
        assert outcome.action == "ran", outcome
    outputs = dict(x.split("=", 1) for x in (event_dir / "out").read_text().splitlines())
    assert outputs["fanout"] == "true" and Decimal(outputs["budget"]) == Decimal("0.30")  # below the run's $1
    # What every work job reads from the request folder, and what the plan step gives each of them.
    assert read_options(folder) == RunOptions(tier="premium", parallel=2)
    checklist = parse((folder / "checklist.md").read_text())
    jobs = matrix(checklist, budget=Decimal(outputs["budget"]))["include"]
    assert [(j["items"], j["budget"]) for j in jobs] == [("add-alpha", "0.1500"), ("add-beta", "0.1500")]  # type: ignore[index]
    # With one job (--max-jobs 1) it holds both items: they run two at a time (--parallel 2: both
    # start before either ends; the config says one), on the premium tier (the config starts at
    # fast), within the job's budget.
    [job] = matrix(checklist, budget=Decimal(outputs["budget"]), max_jobs=1)["include"]  # type: ignore[index]
    assert (sorted(job["items"].split()), job["budget"]) == (["add-alpha", "add-beta"], "0.3000")
    work_dir = clone(origin, tmp_path / "work")
    shutil.copytree(folder, work_dir / "fanout")
    capsys.readouterr()
    result = await work_items(work_dir, checklist, job["items"].split(), config=config, out=work_dir / "work" / "job1",
                              job="job1", budget=Decimal(job["budget"]), request=work_dir / "fanout")  # fmt: skip
    assert [i.status for i in result.items] == ["done", "done"]
    progress = [line.split(": ")[2].split()[0] for line in capsys.readouterr().out.splitlines() if line.startswith("job1: ")]
    assert progress[:2] == ["running", "running"], progress
    ledger = Ledger(work_dir / "work" / "job1" / "ledger.sqlite")
    try:
        calls = ledger.calls(Scope(run_id="job1"))
    finally:
        ledger.close()
    assert calls and {(c.tier, c.provider) for c in calls} == {("premium", "scripted:premium-m")}
    assert sum((c.cost for c in calls), Decimal(0)) <= Decimal("0.30")
