"""What the model sees, through the real item loop: self-contained retries with the memory of
earlier attempts, the item's own test in the change phase, every call saved (redacted) and counted."""

from __future__ import annotations

import json
from pathlib import Path

from bot.app import build_router
from bot.budget.ledger import Ledger, Scope
from bot.config import parse_config
from bot.domain import Item, ItemKind, ItemStatus, Verdict
from bot.execution.item_loop import ItemRunner
from bot.routing.presets import policy_for
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees
from tests.conftest import SleepRecorder
from tests.integration.sample import PYTHON_PROJECT, make_repo

TEST_ANSWER = """tests/test_sub.py
<<<<<<< SEARCH
=======
import calc.ops


def test_sub():
    assert calc.ops.sub(3, 1) == 2
>>>>>>> REPLACE
"""
RIGHT = """calc/ops.py
<<<<<<< SEARCH
def mul(a, b):
    return a * b
=======
def mul(a, b):
    return a * b


def sub(a, b):
    return a - b
>>>>>>> REPLACE
"""
WRONG = RIGHT.replace("return a - b", "return a + b  # wrong-attempt-marker")
TOKEN = "ghp_" + "Q" * 36


def make_runner(tmp_path: Path, local: list[dict[str, object]], premium: list[dict[str, object]]):  # type: ignore[no-untyped-def]
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "local.json").write_text(json.dumps({"rules": local}))
    (scripts / "premium.json").write_text(json.dumps({"rules": premium}))
    config = parse_config(
        '[routing]\npreset = "three-tier"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{scripts}/local.json"\nmodel = "local-m"\n'
        "price = { gpu_usd_per_hour = 0 }\n"
        f'[tiers.premium]\n[[tiers.premium.providers]]\ntype = "scripted"\nscript = "{scripts}/premium.json"\n'
        'model = "prem-m"\nprice = { input_per_mtok = 3, output_per_mtok = 15 }\n'
    )
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=repo, env={}, sleep=SleepRecorder())
    runner = ItemRunner(
        router=router, policy=policy_for(config.routing), ledger=ledger, guard=guard, worktrees=Worktrees(repo),
        toolchain=toolchain(repo), settings=Settings(timeout_s=120), run_id="r1", repo="calc",
    )  # fmt: skip
    return runner, ledger, repo


def calls(repo: Path) -> dict[str, str]:
    folder = repo / ".milestone-bot" / "runs" / "r1" / "calls"
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.glob("*.md"))}


async def test_retry_carries_the_earlier_diff_and_why_it_was_rejected(tmp_path: Path) -> None:
    runner, ledger, repo = make_runner(
        tmp_path,
        local=[
            {"match": {"purpose": "test"}, "reply": TEST_ANSWER},
            {"match": {"purpose": "change"}, "reply": WRONG},
        ],
        premium=[{"match": {"purpose": "change"}, "reply": RIGHT}],
    )
    item = Item("add-sub", "Add subtraction", f"calc.ops needs sub(a, b). My token: {TOKEN}", kind=ItemKind.FEATURE)
    result = await runner.run(item, base_ref="main")
    assert result.item.status is ItemStatus.DONE
    assert [(a.phase, a.tier, a.verdict) for a in result.attempts] == [
        ("test", "local", Verdict.PASSED),
        ("change", "local", Verdict.FAILED),
        ("change", "premium", Verdict.PASSED),
    ]
    saved = calls(repo)
    assert len(saved) == 3 and all(a.calls for a in result.attempts)
    change_first = saved[result.attempts[1].calls[0].split("/")[-1]]
    escalated = saved[result.attempts[2].calls[0].split("/")[-1]]
    # The change phase sees the test its own item wrote, in both change attempts.
    for prompt in (change_first, escalated):
        assert "Tests written for this item" in prompt and "assert calc.ops.sub(3, 1) == 2" in prompt
        assert "    5 | def mul(a, b):" in prompt  # the code itself, never "sent before" by name
        assert "### tests/test_sub.py:" not in prompt  # shown whole once, not again as chunks
        assert "Sent before" not in prompt
    # The escalated attempt remembers the rejected one: its tier, its diff, and why it failed.
    assert "Earlier attempts at this item" in escalated and "Earlier attempts" not in change_first
    assert "tier local, failed" in escalated
    assert "+    return a + b  # wrong-attempt-marker" in escalated  # the diff it proposed
    assert "tests/test_sub.py::test_sub" in escalated and "assert 4 == 2" in escalated  # why it was rejected
    # Every saved call is redacted: the token pasted into the item never reaches a prompt or a file.
    assert all(TOKEN not in text for text in saved.values())
    assert all("[REDACTED github token]" in text for text in saved.values())
    # Context bytes per call in the ledger, per attempt in the result.
    rows = ledger.calls(Scope(run_id="r1"))
    sizes = [ledger.context_bytes(Scope(run_id="r1", item_id="add-sub", attempt=r.attempt)) for r in rows]
    assert all(s > 0 for s in sizes)
    assert sizes == [a.context_bytes for a in result.attempts]
    assert ledger.context_bytes(Scope(run_id="r1")) == sum(sizes)


async def test_context_bytes_column_is_added_to_an_existing_ledger(tmp_path: Path) -> None:
    import sqlite3

    path = tmp_path / "old.sqlite"
    db = sqlite3.connect(path)
    db.execute(
        "CREATE TABLE calls (id INTEGER PRIMARY KEY, ts REAL NOT NULL, run_id TEXT NOT NULL, item_id TEXT NOT NULL,"
        " attempt INTEGER NOT NULL, purpose TEXT NOT NULL, tier TEXT NOT NULL, provider TEXT NOT NULL,"
        " model TEXT NOT NULL, input_tokens INTEGER NOT NULL, output_tokens INTEGER NOT NULL,"
        " cache_read_tokens INTEGER NOT NULL, cache_write_tokens INTEGER NOT NULL, cost_pico INTEGER NOT NULL,"
        " latency_s REAL NOT NULL, outcome TEXT NOT NULL, error TEXT NOT NULL DEFAULT '')"
    )
    db.execute("INSERT INTO calls VALUES (1, 0, 'r0', 'i', 0, 'change', 'local', 'p', 'm', 1, 1, 0, 0, 5, 0.1, 'ok', '')")
    db.commit()
    db.close()
    ledger = Ledger(path)
    assert ledger.context_bytes(Scope(run_id="r0")) == 0  # old rows read as 0
    ledger.set_context_bytes(1, 1234)
    assert ledger.context_bytes() == 1234 and len(ledger.calls()) == 1
    ledger.close()
    assert Ledger(path).context_bytes() == 1234  # migrating twice is harmless
