"""Parallel execution benchmark: real git, real validation, model calls with a fixed latency.

The model is the OpenAI-compatible fake server answering every call after a fixed delay (2 s),
through the real openai client. A milestone of 16 independent items (each adds its own module and
test, tests first) runs at --parallel 1, 4, 8 and 16, and a chain of 4 dependent items at 4.

For each run: wall time; the ideal, which is the critical path of the run's own measured model
latency and validation-command time (for independent items at parallel P: the items in waves of
P, each wave as long as its slowest item; for the chain: the sum); efficiency = ideal / wall; the
bot's own overhead per item (item wall time minus its model latency and validation commands: on
a machine with fewer cores than items in flight this includes waiting for a CPU); the CPU time the
bot's process spent per item (contention-free: git subprocesses and pytest excluded, the in-process
fake server included); peak memory of the process.

    python bench/parallel.py [--latency 2.0] [--items 16] [--levels 1,4,8,16] [--no-chain]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import tempfile
import time
from pathlib import Path

from bot.config import parse_config
from bot.domain import Checklist, Item, ItemStatus
from bot.execution.run import run_milestone
from bot.models.script import Script
from bot.testing.openai_server import FakeOpenAIServer
from bot.workspace.worktrees import init_repository


def files(items: int) -> dict[str, str]:
    """A project with one module per item, so the items' branches never conflict."""
    out = {
        "pyproject.toml": '[project]\nname = "fns"\nversion = "0"\n\n[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n',
        "fns/__init__.py": "",
        "tests/test_base.py": "import fns.m0\n\n\ndef test_one():\n    assert fns.m0.one() == 1\n",
    }
    for n in range(items):
        out[f"fns/m{n}.py"] = "def one():\n    return 1\n"
    return out


def rules(items: int, latency: float) -> Script:
    out = []
    for n in range(items):
        test = f"tests/test_f{n}.py\n<<<<<<< SEARCH\n=======\nimport fns.m{n}\n\n\ndef test_f{n}():\n    assert fns.m{n}.f{n}() == {n}\n>>>>>>> REPLACE\n"
        change = f"fns/m{n}.py\n<<<<<<< SEARCH\ndef one():\n    return 1\n=======\ndef one():\n    return 1\n\n\ndef f{n}():\n    return {n}\n>>>>>>> REPLACE\n"
        out.append({"match": {"item": f"f{n}", "purpose": "test"}, "reply": test, "delay_s": latency})
        out.append({"match": {"item": f"f{n}", "purpose": "change"}, "reply": change, "delay_s": latency})
    return Script.model_validate({"rules": out})


async def one_run(
    label: str, checklist: Checklist, parallel: int, latency: float, items: int
) -> tuple[str, float, float, list[float], float]:
    with tempfile.TemporaryDirectory(prefix="mb-parallel-") as tmp:
        root = Path(tmp) / "fns"
        for rel, text in files(items).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        init_repository(root, "base")
        with FakeOpenAIServer(rules(items, latency), timeout_sleep_s=60) as server:
            config = parse_config(
                f'[routing]\npreset = "single-model"\n[ledger]\npath = "{tmp}/ledger.sqlite"\n[budget]\nper_run_usd = 100\n'
                f'[tiers.local]\n[[tiers.local.providers]]\ntype = "openai_compat"\nbase_url = "{server.base_url}"\n'
                'model = "qwen2.5-coder-7b-instruct"\nprice = { gpu_usd_per_hour = 0 }\ntimeout_s = 60\n'
            )
            started = time.monotonic()
            cpu_before = _cpu()
            outcome = await run_milestone(
                root, checklist, config=config, run_id="bench", parallel=parallel, base_ref="main"
            )
            wall = time.monotonic() - started
            cpu = (_cpu() - cpu_before) / len(checklist.items)
        results = outcome.report.results
        assert all(i.status is ItemStatus.DONE for i in outcome.checklist.items), [
            (i.id, i.status) for i in outcome.checklist.items
        ]
        per_item = [r.model_s + r.validation_s for r in results.values()]
        overhead = [r.wall_s - r.model_s - r.validation_s for r in results.values()]
        if any(i.depends_on for i in checklist.items):
            ideal = sum(per_item)
        else:
            ordered = [results[i.id].model_s + results[i.id].validation_s for i in checklist.items]
            ideal = sum(max(ordered[w : w + parallel]) for w in range(0, len(ordered), parallel))
        integration = outcome.integration
        assert integration is not None and integration.verdict is not None and integration.verdict.accepted
        assert not integration.redone, f"items conflicted at integration: {integration.redone}"
        return label, wall, ideal, overhead, cpu


def _cpu() -> float:
    """CPU seconds of this process (the bot, and the fake server's threads), not its children."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency", type=float, default=2.0)
    parser.add_argument("--items", type=int, default=16)
    parser.add_argument("--levels", default="1,4,8,16", help="parallel levels of the independent runs")
    parser.add_argument("--no-chain", action="store_true", help="skip the chain of 4")
    args = parser.parse_args(argv)
    independent = Checklist(
        "milestone#1", "independent", tuple(Item(f"f{n}", f"Add f{n}") for n in range(args.items))
    )
    chain = Checklist("milestone#2", "chain", tuple(
        Item(f"f{n}", f"Add f{n}", depends_on=(f"f{n - 1}",) if n else ()) for n in range(4)
    ))  # fmt: skip
    print(
        f"model latency {args.latency}s per call; {args.items} independent items (2 calls each: test first, change)"
    )
    print(
        f"{'run':<24} {'wall s':>8} {'ideal s':>8} {'efficiency':>10} {'overhead/item ms':>17} {'bot CPU/item ms':>16}"
    )
    levels = [int(x) for x in args.levels.split(",") if x]
    runs = [(f"independent, parallel {p}", independent, p) for p in levels]
    if not args.no_chain:
        runs.append(("chain of 4, parallel 4", chain, 4))
    for label, checklist, parallel in runs:
        label, wall, ideal, overhead, cpu = await one_run(
            label, checklist, parallel, args.latency, args.items
        )
        print(
            f"{label:<24} {wall:>8.1f} {ideal:>8.1f} {ideal / wall:>10.2f} {statistics.median(overhead) * 1000:>17.0f} {cpu * 1000:>16.0f}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory of the bot's process: {peak:.0f} MiB (targets: efficiency >= 0.85 at parallel 8, overhead <= 150 ms, memory <= 500 MB)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
