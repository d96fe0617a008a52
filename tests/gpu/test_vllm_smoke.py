"""GPU smoke test: vLLM serving a real model, `runner check` against it, one item through the local tier.

Skipped, with the reason, when there is no GPU, no vllm, or no model at MILESTONE_BOT_TEST_MODEL.
A small instruct model is enough to prove the wiring (the item may fail validation with one);
set MILESTONE_BOT_TEST_EXPECT_DONE=1 with a capable model to require the item to be done.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.budget.ledger import Ledger, Scope
from bot.cli import main
from bot.config import parse_config
from bot.domain import Checklist, Item, ItemKind, ItemStatus
from bot.execution.run import run_milestone
from tests.integration.sample import PYTHON_PROJECT, make_repo

MODEL = os.environ.get("MILESTONE_BOT_TEST_MODEL", "")


def _why_skip() -> str:
    if (
        shutil.which("nvidia-smi") is None
        or subprocess.run(["nvidia-smi", "-L"], capture_output=True).returncode
    ):
        return "no NVIDIA GPU on this machine (nvidia-smi -L failed or is missing)"
    if importlib.util.find_spec("vllm") is None:
        return "vllm is not installed (pip install -e '.[gpu]')"
    if not MODEL or not Path(MODEL).exists():
        return f"no model at MILESTONE_BOT_TEST_MODEL={MODEL!r} (a folder with a downloaded instruct model)"
    return ""


pytestmark = [pytest.mark.gpu, pytest.mark.skipif(bool(_why_skip()), reason=_why_skip() or "ready")]


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    argv = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", MODEL, "--served-model-name",
            "smoke", "--host", "127.0.0.1", "--port", str(port), "--max-model-len", "8192",
            "--gpu-memory-utilization", "0.6"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 900
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(
                    f"vllm exited {proc.returncode}: {proc.stdout.read()[-3000:] if proc.stdout else ''}"
                )
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=5):
                    break
            except OSError:
                time.sleep(5)
        else:
            raise RuntimeError("vllm did not come up within 15 minutes")
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_runner_check_against_vllm(server: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runner", "check", "--base-url", server, "--model", "smoke", "--timeout", "120"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("local tier usable: model smoke") and "tokens/s" in out
    print(out)


async def test_one_item_through_the_local_tier(server: str, tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    config = parse_config(
        f'[routing]\npreset = "single-model"\nmax_attempts = 2\n[ledger]\npath = "{tmp_path}/ledger.sqlite"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "openai_compat"\nbase_url = "{server}"\n'
        'model = "smoke"\nprice = { gpu_usd_per_hour = 0 }\ntimeout_s = 300\n'
    )
    item = Item(
        "add-sub", "Add subtraction", "Add sub(a, b) returning a - b to calc/ops.py.", kind=ItemKind.FEATURE
    )
    outcome = await run_milestone(
        repo, Checklist("m#1", "smoke", (item,)), config=config, run_id="gpu", base_ref="HEAD"
    )
    ledger = Ledger(tmp_path / "ledger.sqlite")
    calls = ledger.calls(Scope(run_id="gpu"))
    ledger.close()
    assert calls and {c.tier for c in calls} == {"local"} and all(c.outcome != "unavailable" for c in calls)
    assert all(c.usage.output_tokens > 0 for c in calls)  # the real model answered every call
    result = outcome.report.results["add-sub"]
    assert result.attempts and all(a.tier == "local" for a in result.attempts)
    if os.environ.get("MILESTONE_BOT_TEST_EXPECT_DONE") == "1":
        assert outcome.checklist.items[0].status is ItemStatus.DONE, result.reason
