"""On a real project (toolz, its sdist from PyPI, cached in tests/.cache/): a red build planned from
the project's own pytest output gets, on every attempt and after escalation, the code of the
function the failing test exercises, the full assertion text and its frames; and `milestone-bot
context --prompt` prints exactly the request the run sent."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from bot.app import build_router
from bot.budget.ledger import Ledger
from bot.cli import main
from bot.config import parse_config
from bot.execution.item_loop import ItemRunner
from bot.planning.planner import plan_red_build
from bot.routing.presets import policy_for
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees
from tests.conftest import SleepRecorder
from tests.integration.sample import git

SDIST = ("toolz", "1.2.0")
CACHE = Path(__file__).resolve().parents[1] / ".cache" / "sdists"
BUG = ("toolz/itertoolz.py", "        d[item] += 1\n", "        d[item] += 2\n")


def sdist() -> Path:
    name, version = SDIST
    archive = next(CACHE.glob(f"{name}-{version}.tar.gz"), None)
    if archive is None:
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", ":all:",
             "-d", str(CACHE), f"{name}=={version}"],
            capture_output=True, text=True, timeout=180, check=False,
        )  # fmt: skip
        archive = next(CACHE.glob(f"{name}-{version}.tar.gz"), None)
        if archive is None:
            pytest.skip(f"PyPI unreachable: cannot download {name}=={version}: {done.stderr.strip()[-300:]}")
    return archive


@pytest.fixture
def red_repo(tmp_path: Path) -> tuple[Path, str]:
    """toolz with a bug injected in `frequencies`, committed; and its real red pytest output."""
    with tarfile.open(sdist()) as tar:
        tar.extractall(tmp_path, filter="data")
    repo = tmp_path / "repo"
    shutil.move(tmp_path / f"{SDIST[0]}-{SDIST[1]}", repo)
    path, good, bad = BUG
    text = (repo / path).read_text()
    assert good in text
    (repo / path).write_text(text.replace(good, bad))
    # This environment's pytest-asyncio plugin errors on toolz's config: the project's own runs
    # (the red build and the bot's reproduction of it) go without it.
    (repo / "pytest.ini").write_text("[pytest]\naddopts = -p no:asyncio -p no:cacheprovider\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "toolz with a bug")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "--color=yes", "-p", "no:cacheprovider", "-p", "no:asyncio",
         "toolz/tests/test_itertoolz.py"],
        cwd=repo, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert run.returncode == 1 and "test_frequencies" in run.stdout, run.stdout[-2000:]
    return repo, run.stdout


def _user(text: str) -> str:
    """The user message out of a saved call (a fenced block under '## user')."""
    block = text.split("## user\n\n", 1)[1]
    fence = re.match(r"`{3,}", block)
    assert fence is not None
    return block[len(fence.group()) + 1 : block.index("\n" + fence.group() + "\n\n## ")]


async def test_escalated_attempt_gets_the_exercised_function_and_the_evidence(
    red_repo: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo, log = red_repo
    assert "\x1b[" in log  # a coloured log: the colours must not reach the model
    checklist = plan_red_build(log, ref="local#build", title="Fix the failing build")
    (item,) = [i for i in checklist.items if "test_frequencies" in " ".join(i.acceptance_tests)]
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    useless = [{"match": {}, "reply": "I am not sure what to change."}]
    for tier in ("local", "premium"):
        (scripts / f"{tier}.json").write_text(json.dumps({"rules": useless}))
    config = parse_config(
        '[routing]\npreset = "three-tier"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{scripts}/local.json"\nmodel = "l"\n'
        "price = { gpu_usd_per_hour = 0 }\n"
        f'[tiers.premium]\n[[tiers.premium.providers]]\ntype = "scripted"\nscript = "{scripts}/premium.json"\n'
        'model = "p"\nprice = { input_per_mtok = 3, output_per_mtok = 15 }\n'
    )
    ledger = Ledger(tmp_path / "l.sqlite")
    router, guard = build_router(config, ledger=ledger, root=repo, env={}, sleep=SleepRecorder())
    runner = ItemRunner(
        router=router, policy=policy_for(config.routing), ledger=ledger, guard=guard, worktrees=Worktrees(repo),
        toolchain=toolchain(repo), settings=Settings(timeout_s=120), run_id="r1", repo="toolz",
    )  # fmt: skip
    result = await runner.run(item, base_ref="main")
    tiers = [a.tier for a in result.attempts]
    assert "premium" in tiers and tiers[0] == "local", (tiers, result.reason)
    folder = repo / ".milestone-bot" / "runs" / "r1"
    prompts = {a.tier: _user((folder / a.calls[0]).read_text()) for a in reversed(result.attempts)}
    for tier, prompt in prompts.items():
        # The exercised function's code, whole and numbered, on every attempt, escalated included.
        assert re.search(r"\d+ \| def frequencies\(seq\):", prompt), tier
        assert re.search(r"\d+ \|         d\[item\] \+= 2", prompt), tier
        # The evidence: the failing test, the full assertion text (not pytest's cut summary), frames.
        assert "toolz/tests/test_itertoolz.py::test_frequencies" in prompt
        assert re.search(r"AssertionError: assert \{.*'cat': 4.*\} == \{.*'cat': 2", prompt), tier
        assert "toolz/tests/test_itertoolz.py:263" in prompt
        assert "\x1b" not in prompt
    assert "Earlier attempts at this item" in prompts["premium"] and "no edits" in prompts["premium"]
    # `context --prompt` prints the very request the run's first attempt sent.
    log_file = tmp_path / "ci.log"
    log_file.write_text(log)
    assert main(["context", "--repo", str(repo), "--prompt", "--log", str(log_file), "--item-id", item.id]) == 0
    shown = capsys.readouterr().out
    first = _user((folder / result.attempts[0].calls[0]).read_text())
    assert f"===== user =====\n{first}\n" in shown
