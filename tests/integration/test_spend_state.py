"""The spend state branch over real git: appended by concurrent publishers without losing a line,
read back by a fresh clone; what a run may still spend; provider keys filtered by name."""

from __future__ import annotations

import json
import subprocess
import threading
from decimal import Decimal
from pathlib import Path

from bot.config import parse_config
from bot.execution import spend_state
from bot.execution.services import ALLOW_ENV, SECRETS_ENV, provider_env
from bot.execution.spend_state import SpendLine
from tests.integration.sample import PYTHON_PROJECT, git, make_repo

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
