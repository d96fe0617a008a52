"""The spend state branch over real git: appended by concurrent publishers without losing a line,
read back by a fresh clone; what a run may still spend; every job that spends (a plan, a single-job
run, a fan-out wave) starting from it and recording in it; quotas carried over; provider keys
filtered by name."""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
import time
from decimal import Decimal
from pathlib import Path

from bot.budget.ledger import CallRecord, Ledger, Scope
from bot.config import Config, parse_config
from bot.domain import Checklist, Item, ItemKind
from bot.events.fanout import FanoutWork, publish_fanout
from bot.events.work import RepoWork
from bot.events.work_api import RunRequest
from bot.execution import spend_state
from bot.execution.jobs import work_items
from bot.execution.services import ALLOW_ENV, SECRETS_ENV, provider_env
from bot.execution.spend_state import SpendLine
from bot.planning.planner import IssueText, PlanSource
from tests.integration.github_fixtures import simulated
from tests.integration.sample import PYTHON_PROJECT, git, make_repo
from tests.integration.test_fanout_workflow import clone

DAY = 86_400.0


def origin_and_clones(tmp_path: Path, n: int) -> tuple[Path, list[Path]]:
    seed = make_repo(tmp_path / "seed", PYTHON_PROJECT)
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(origin)], check=True)
    clones = []
    for i in range(n):
        subprocess.run(["git", "clone", "-q", str(origin), str(tmp_path / f"c{i}")], check=True)
        clones.append(tmp_path / f"c{i}")
    return origin, clones


def line(run: str, usd: str, at: float, key: str = "issue-1") -> SpendLine:
    return SpendLine(at, key, run, "job1", "p", "fast", 100, 10, Decimal(usd))


def test_concurrent_publishers_lose_no_line_and_a_fresh_clone_reads_them(tmp_path: Path) -> None:
    origin, clones = origin_and_clones(tmp_path, 5)
    assert spend_state.read(clones[0]) == []  # no branch yet
    start = threading.Barrier(4)

    def publish(i: int) -> None:
        start.wait()
        spend_state.append(clones[i], [line(f"r{i}", "0.25", 1000.0 + i)], message=f"spend {i}")

    threads = [threading.Thread(target=publish, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    lines = spend_state.read(clones[4])
    assert sorted(x.run for x in lines) == ["r0", "r1", "r2", "r3"]
    assert sum((x.usd for x in lines), Decimal(0)) == Decimal("1.00")
    # Auditable: one commit per publish, one JSON object per line, the checkout untouched.
    assert len(git(origin, "log", "--format=%H", spend_state.STATE_BRANCH).split()) == 4
    shown = git(origin, "show", f"{spend_state.STATE_BRANCH}:{spend_state.SPEND_FILE}")
    assert [json.loads(x)["usd"] for x in shown.splitlines()] == ["0.25"] * 4
    assert git(clones[0], "status", "--porcelain") == "" and "trunk" not in git(clones[0], "branch")


def test_what_a_run_may_still_spend_is_its_limit_and_the_days_less_what_was_spent() -> None:
    budget = parse_config(
        '[routing]\npreset = "single-model"\n[budget]\nper_run_usd = 1\nper_day_usd = 2\n[tiers.t]\n[[tiers.t.providers]]\ntype = "scripted"\n'
        'script = "s"\nmodel = "m"\nprice = { input_per_mtok = 0, output_per_mtok = 0 }\n'
    ).budget
    now = 10 * DAY + 3600
    lines = [
        line("mine", "0.30", now - 60),  # this run, today
        line("mine", "0.20", now - DAY),  # this run, yesterday: counts for the run, not the day
        line("other", "1.40", now - 120, key="issue-2"),  # another run today
    ]
    left = spend_state.remaining(lines, run="mine", run_limit=Decimal(1), budget=budget, now=now)
    assert left == Decimal("0.30")  # the day (2 - 1.70) binds before the run (1 - 0.50)
    assert spend_state.remaining(lines, run="new", run_limit=None, budget=budget, now=now) == Decimal("0.30")
    over = [*lines, line("other", "5", now - 30)]
    assert spend_state.remaining(over, run="mine", run_limit=Decimal(1), budget=budget, now=now) == 0
    first = [line("mine", "0.1", now)]
    first[0] = SpendLine(**{**first[0].__dict__, "budget": "0.75"})
    assert spend_state.run_budget(first, "mine") == Decimal("0.75")
    assert SpendLine.from_json(first[0].to_json()) == first[0]


def test_only_allowed_keys_the_config_names_reach_the_providers() -> None:
    config = parse_config(
        '[tiers.local]\n[[tiers.local.providers]]\ntype = "openai_compat"\nbase_url = "http://127.0.0.1:8000/v1"\n'
        'model = "m"\napi_key_env = "VLLM_API_KEY"\nprice = { input_per_mtok = 0, output_per_mtok = 0 }\n'
        '[tiers.premium]\n[[tiers.premium.providers]]\ntype = "anthropic"\nmodel = "c"\napi_key_env = "MY_CLAUDE"\n'
        "price = { input_per_mtok = 3, output_per_mtok = 15 }\n"
    )
    secrets = {"VLLM_API_KEY": "v", "MY_CLAUDE": "c", "DEPLOY_KEY": "d", "MILESTONE_BOT_TOKEN": "t"}
    env = {SECRETS_ENV: json.dumps(secrets), ALLOW_ENV: "VLLM_API_KEY MY_CLAUDE DEPLOY_KEY", "PATH": "/bin"}
    out = provider_env(config, env)
    assert {k: v for k, v in out.items() if k not in ("PATH", ALLOW_ENV)} == {
        "VLLM_API_KEY": "v",
        "MY_CLAUDE": "c",
    }
    narrower = provider_env(config, {**env, ALLOW_ENV: "VLLM_API_KEY"})
    assert "MY_CLAUDE" not in narrower and narrower["VLLM_API_KEY"] == "v"
    assert provider_env(config, {"PATH": "/bin"}) == {"PATH": "/bin"}  # outside the workflow: as is


# -- every job that spends records it, whatever the mode (plan, single-job run, fan-out wave) ------
MODULES = ("one", "two", "three")
PLAN_USAGE = {"input_tokens": 1000, "output_tokens": 0}  # $0.10 at the price below, as every call


def module_rules() -> list[dict[str, object]]:
    items = [
        {"id": f"add-{m}", "title": f"Add calc.{m}.value", "description": f"calc/{m}.py with value() returning 1",
         "kind": "feature", "allowed_files": [f"calc/{m}.py", f"tests/test_{m}.py"], "depends_on": []}
        for m in MODULES
    ]  # fmt: skip
    rules: list[dict[str, object]] = [
        {"match": {"purpose": "plan"}, "reply": json.dumps({"items": items}), "usage": PLAN_USAGE}
    ]
    for m in MODULES:
        test = (
            f"tests/test_{m}.py\n<<<<<<< SEARCH\n=======\nimport importlib\nimport importlib.util\n\n\n"
            f"def test_{m}():\n    assert importlib.util.find_spec('calc.{m}') is not None\n"
            f"    assert importlib.import_module('calc.{m}').value() == 1\n>>>>>>> REPLACE\n"
        )
        change = f"calc/{m}.py\n<<<<<<< SEARCH\n=======\ndef value():\n    return 1\n>>>>>>> REPLACE\n"
        rules.append({"match": {"item": f"add-{m}", "purpose": "test"}, "reply": test, "usage": PLAN_USAGE})
        rules.append({"match": {"item": f"add-{m}", "purpose": "change"}, "reply": change, "usage": PLAN_USAGE})
    return rules


def bot_repo(tmp_path: Path, toml: str, rules: list[dict[str, object]]) -> tuple[Path, Config]:
    """A project with the bot's config and script committed, and its bare origin."""
    seed = make_repo(tmp_path / "seed", PYTHON_PROJECT)
    (seed / "models.json").write_text(json.dumps({"rules": rules}))
    (seed / ".github" / "milestone-bot.toml").write_text(toml)
    git(seed, "add", "-A")
    git(seed, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "bot config")
    origin = tmp_path / "origin.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(seed), str(origin)], check=True)
    return origin, parse_config(toml)


def job_calls(ledger_path: Path, run_id: str) -> list[CallRecord]:
    ledger = Ledger(ledger_path)
    try:
        return ledger.calls(Scope(run_id=run_id))
    finally:
        ledger.close()


DAY_LIMIT = Decimal("0.62")
PRICED = (
    '[routing]\npreset = "single-model"\nmax_attempts = 1\n[budget]\nper_day_usd = {day}\n'
    '[tiers.fast]\n[[tiers.fast.providers]]\ntype = "scripted"\nscript = "models.json"\nmodel = "fast-m"\n'
    "price = {{ input_per_mtok = 100, output_per_mtok = 0 }}\n{extra}"
)


async def test_a_plan_a_single_job_run_and_a_fanout_wave_share_the_days_spend(tmp_path: Path) -> None:
    """Three kinds of job, each in its own clone with its own ledger: the event job plans (a
    `/bot plan`), a single-job `/bot run` works one item, a fan-out wave hands two more to a work
    job and its publish job. Each records its calls on the state branch; each starts from what the
    others recorded. The day's limit leaves the wave room for one item, and cuts the other off."""
    origin, config = bot_repo(tmp_path, PRICED.format(day=DAY_LIMIT, extra=""), module_rules())
    with simulated() as (sim, gateway, _):
        one, two = sim.add_issue("Module one"), sim.add_issue("Modules two and three")
        # 1. The event job plans: the plan's call is on the state branch when the job ends.
        planner = RepoWork(repo=clone(origin, tmp_path / "plan"), config=config, gateway=gateway,  # type: ignore[arg-type]
                           base_branch="main", run_id="p")  # fmt: skip
        source = PlanSource("issue#1", "Modules", "", (IssueText(one, "Modules", "one, two, three"),))
        planned = await planner.plan(source, budget=None)
        plan_calls = job_calls(tmp_path / "plan" / ".milestone-bot" / "ledger.sqlite", "p-plan")
        assert [x.usd for x in spend_state.read(tmp_path / "plan")] == [c.cost for c in plan_calls] == [
            Decimal("0.1")
        ]
        items = {i.id: i for i in planned.items}

        # 2. A single-job `/bot run` of one item, in a fresh clone: it starts from the plan's spend.
        runner_dir = clone(origin, tmp_path / "run")
        runner = RepoWork(repo=runner_dir, config=config, gateway=gateway, base_branch="main", run_id="r")  # type: ignore[arg-type]
        ran = await runner.run(
            RunRequest(Checklist("issue#1", "One", (items["add-one"],)), f"issue-{one}", one, (one,), run="cmd-1"),
            should_stop=lambda: False,
        )
        assert ran.conclusion == "success" and ran.spent == Decimal("0.2")
        runner_ledger = runner_dir / ".milestone-bot" / "ledger.sqlite"
        run_calls = job_calls(runner_ledger, f"r-issue-{one}")
        carried = Ledger(runner_ledger)
        try:  # the plan's call was entered in the run's ledger before it spent (the day's limit saw it)
            assert carried.spent(Scope(run_id="carried:p-plan")) == Decimal("0.1")
        finally:
            carried.close()
        state = spend_state.read(runner_dir)
        assert [x.run for x in state] == ["p-plan", "cmd-1", "cmd-1"]

        # 3. A fan-out wave for the other two: the event job hands on what the day has left...
        event_dir = clone(origin, tmp_path / "event")
        fanout = FanoutWork(folder=event_dir / "fanout", output=event_dir / "out", repo=event_dir, config=config,
                            gateway=gateway, base_branch="main", run_id="e")  # type: ignore[arg-type]  # fmt: skip
        rest = Checklist("issue#2", "Two and three", (items["add-two"], items["add-three"]))
        asked = RunRequest(rest, f"issue-{two}", two, (two,), parallel=1, run="cmd-2")  # one item at a time
        await fanout.run(asked, should_stop=lambda: False)
        outputs = dict(x.split("=", 1) for x in (event_dir / "out").read_text().splitlines())
        assert Decimal(outputs["budget"]) == DAY_LIMIT - Decimal("0.3")
        # ... and a work job, given no slice of it here, is held by the day's limit alone: its ledger
        # was seeded with the day so far.
        work_dir = clone(origin, tmp_path / "work")
        shutil.copytree(event_dir / "fanout", work_dir / "fanout")
        result = await work_items(work_dir, rest, ["add-two", "add-three"], config=config,
                                  out=work_dir / "work" / "job1", job="job1", request=work_dir / "fanout")  # fmt: skip
        statuses = {i.id: i.status for i in result.items}
        assert statuses == {"add-two": "done", "add-three": "budget_exceeded"}, result.items
        assert "per_day" in next(i.reason for i in result.items if i.id == "add-three")
        work_calls = job_calls(work_dir / "work" / "job1" / "ledger.sqlite", "job1")
        # ... and its publish job records them.
        publish_dir = clone(origin, tmp_path / "publish")
        shutil.copytree(event_dir / "fanout", publish_dir / "fanout")
        await publish_fanout(publish_dir, publish_dir / "fanout", [work_dir / "work" / "job1"], config=config,
                             gateway=gateway, base_branch="main", run_id="pub")  # type: ignore[arg-type]  # fmt: skip

    # The state branch, read by a fresh clone: every job's own calls, once each, within the day.
    lines = spend_state.read(clone(origin, tmp_path / "audit"))
    ledgers = [*plan_calls, *run_calls, *work_calls]
    assert sorted(x.usd for x in lines) == sorted(c.cost for c in ledgers)
    total = sum((x.usd for x in lines), Decimal(0))
    assert total == sum((c.cost for c in ledgers), Decimal(0)) == Decimal("0.5") <= DAY_LIMIT
    assert [x.run for x in lines] == ["p-plan", "cmd-1", "cmd-1", "cmd-2", "cmd-2"]


async def test_a_quota_spent_by_earlier_jobs_holds_a_new_run_in_either_mode(tmp_path: Path) -> None:
    """The provider allows two requests a day; an earlier run (another job, an hour ago) made them,
    as the state branch records. A new single-job run, and a fan-out wave's work job, each in a
    fresh clone with a fresh ledger, call nothing: the quota is carried over, not forgotten."""
    toml = PRICED.format(day="5", extra="quota = { requests_per_day = 2 }\n")
    origin, config = bot_repo(tmp_path, toml, module_rules())
    provider = config.tiers["fast"].providers[0].display_name
    earlier = [
        SpendLine(time.time() - 3600 + n, "issue-9", "earlier", "job9", provider, "fast", 1000, 0, Decimal("0.1"))
        for n in range(2)
    ]
    spend_state.append(clone(origin, tmp_path / "earlier"), earlier, message="an earlier run")
    item = Item("add-one", "Add calc.one.value", "calc/one.py with value() returning 1", kind=ItemKind.FEATURE,
                allowed_files=("calc/one.py", "tests/test_one.py"))  # fmt: skip
    checklist = Checklist("issue#1", "One", (item,))
    with simulated() as (sim, gateway, _):
        issue = sim.add_issue("Module one")
        # One job: the run's ledger is seeded from the state branch before its router is built.
        single = clone(origin, tmp_path / "single")
        work = RepoWork(repo=single, config=config, gateway=gateway, base_branch="main", run_id="s")  # type: ignore[arg-type]
        result = await work.run(RunRequest(checklist, f"issue-{issue}", issue, (issue,)), should_stop=lambda: False)
        assert result.conclusion == "neutral" and result.spent == 0 and result.pull is None
        report = (single / ".milestone-bot" / "runs" / f"s-issue-{issue}" / "report.md").read_text()
        assert "skipped: scripted:fast-m: request quota per day reached (2/2)" in report
        assert job_calls(single / ".milestone-bot" / "ledger.sqlite", f"s-issue-{issue}") == []

        # A fan-out: the event job hands the day's lines on; the work job's ledger starts from them.
        event_dir = clone(origin, tmp_path / "event")
        fanout = FanoutWork(folder=event_dir / "fanout", repo=event_dir, config=config, gateway=gateway,
                            base_branch="main", run_id="e")  # type: ignore[arg-type]  # fmt: skip
        await fanout.run(RunRequest(checklist, f"issue-{issue}", issue, (issue,), run="cmd"), should_stop=lambda: False)
        handed = spend_state.parse((event_dir / "fanout" / "spend.jsonl").read_text())
        assert [x.run for x in handed] == ["earlier", "earlier"]
        work_dir = clone(origin, tmp_path / "work")
        shutil.copytree(event_dir / "fanout", work_dir / "fanout")
        job = await work_items(work_dir, checklist, ["add-one"], config=config, out=work_dir / "work" / "job1",
                               job="job1", request=work_dir / "fanout")  # fmt: skip
        [outcome] = job.items
        assert outcome.status == "failed" and outcome.history == (("test", "fast", "error", "0"),)
        assert "request quota per day reached (2/2)" in (work_dir / "work" / "job1" / "report.md").read_text()
        assert job_calls(work_dir / "work" / "job1" / "ledger.sqlite", "job1") == []
    assert [x.run for x in spend_state.read(single)] == ["earlier", "earlier"]  # nothing new was spent
