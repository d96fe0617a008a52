"""Stop and resume: `milestone-bot run` killed with SIGKILL at different points, then `--resume`.

Finished items are not redone (their commits and ledger rows stay as they were), committed work is
not lost, and the resumed run completes with a validated integrated branch.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bot.domain import ItemStatus
from bot.planning.checklist_file import parse
from tests.integration.sample import PYTHON_PROJECT, git, make_repo
from tests.integration.test_run import CHECKLIST, adds, new_test


def calls_by_item(ledger: Path) -> dict[str, int]:
    if not ledger.exists():
        return {}
    with sqlite3.connect(ledger) as db:
        return dict(db.execute("SELECT item_id, COUNT(*) FROM calls GROUP BY item_id").fetchall())


@pytest.mark.parametrize("kill_after", [3.0, 7.0])
def test_kill_9_then_resume(tmp_path: Path, kill_after: float) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    slow = {"delay_s": 0.8}
    rules = {"rules": [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": new_test("sub", "assert calc.ops.sub(3, 1) == 2"), **slow},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": adds("sub(a, b)", "return a - b"), **slow},
        {"match": {"item": "add-neg", "purpose": "test"}, "reply": new_test("neg", "assert calc.ops.neg(2) == -2"), **slow},
        {"match": {"item": "add-neg", "purpose": "change"}, "reply": adds("neg(a)", "return -a"), **slow},
        {"match": {"item": "docs"}, "reply": "README.md\n<<<<<<< SEARCH\n=======\ncalc\n>>>>>>> REPLACE\n", **slow},
    ]}  # fmt: skip
    (tmp_path / "script.json").write_text(json.dumps(rules))
    ledger = tmp_path / "ledger.sqlite"
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[routing]\npreset = "single-model"\n[ledger]\npath = "{ledger}"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp_path}/script.json"\n'
        'model = "local-m"\nprice = { input_per_mtok = 1, output_per_mtok = 1 }\n'
    )
    checklist_file = tmp_path / "more.md"
    checklist_file.write_text(CHECKLIST)
    argv = [sys.executable, "-m", "bot.cli", "run", "--milestone-file", str(checklist_file), "--repo", str(repo),
            "--parallel", "1", "--config", str(config)]  # fmt: skip

    first = subprocess.Popen(
        [*argv, "--run-id", "rk"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True
    )
    # The kill is timed from the run's start (its folder), not the process's: on a loaded machine
    # start-up alone can take seconds, and a run killed before it began is no run to resume.
    started = repo / ".milestone-bot" / "runs" / "rk"
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.05)
    time.sleep(kill_after)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait(timeout=30)

    before = parse(checklist_file.read_text())
    done_before = {i.id: i.commit for i in before.items if i.status is ItemStatus.DONE}
    calls_before = calls_by_item(ledger)

    resumed = subprocess.run(
        [*argv, "--resume", "rk"], capture_output=True, text=True, timeout=300, check=False
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert "resuming run rk" in resumed.stdout

    after = parse(checklist_file.read_text())
    assert all(i.status is ItemStatus.DONE for i in after.items)
    for item_id, commit in done_before.items():
        assert after.item(item_id).commit == commit  # not redone
        assert calls_by_item(ledger).get(item_id) == calls_before.get(item_id)  # no new calls for it
    for item in after.items:
        log = git(repo, "log", "--format=%s", item.branch).splitlines()
        assert (
            sum(1 for line in log if line.startswith(f"{item.id}: test first")) <= 1
        )  # committed work kept once
    final = git(repo, "show", "milestone-bot/rk/integrated:calc/ops.py")
    assert "return a - b" in final and "return -a" in final
