"""Parallel execution benchmark: real git, real validation, model calls with a fixed latency.

The model is the OpenAI-compatible fake server answering every call after a fixed delay (2 s),
through the real openai client. A milestone of 16 independent items (each adds its own module and
test, tests first) runs at --parallel 1, 4, 8 and 16, and a chain of 4 dependent items at 4.

For each run: wall time; the speedup over the same items one at a time (wall at parallel 1 /
wall), and that speedup per item in flight (speedup / P, the honest efficiency); CPU utilisation,
the CPU time of the bot and every subprocess it ran (git, pytest) over wall time times the
machine's cores, which shows when the machine is saturated; beside them the earlier ratio, ideal /
wall, where the ideal is the critical path of the run's own measured model latency and
validation-command time (for independent items at parallel P: the items in waves of P, each wave
as long as its slowest item; for the chain: the sum) — built from contended timings, it cannot
show saturation. Then the bot's own overhead per item (item wall time minus its model latency
and validation commands: on a machine with fewer cores than items in flight this includes waiting
for a CPU); the CPU time the bot's process spent per item (contention-free: git subprocesses and
pytest excluded, the in-process fake server included); peak memory of the process.

Speculative escalation: --spec-items items at parallel 4 with two tiers, local (free) and premium
(priced per token); local's change is wrong for odd items and right for even ones. Run without and
with ``routing.speculative``: wall time, USD and cancelled calls. On odd items premium's call runs
during local's validation (time saved); on even ones it is cancelled and billed (money spent).

The machine's load average is printed before and after: on a shared machine it says how much of
the CPU other work took.

    python bench/parallel.py [--latency 2.0] [--items 16] [--levels 1,4,8,16] [--no-chain] [--spec-items 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from bot.budget.ledger import Ledger
from bot.config import parse_config
from bot.domain import Checklist, Item, ItemStatus, Verdict
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


def speculative_rules(items: int, latency: float) -> Script:
    """Local writes every test, and a change that is wrong on odd items; premium's is right."""
    out = []
    for rule in rules(items, latency).rules:
        if rule.match.purpose == "change":
            n = int((rule.match.item or "f0")[1:])
            wrong = rule.reply.replace(f"    return {n}\n>>>>>>>", f"    return {n + 1}\n>>>>>>>")
            out.append({**rule.model_dump(), "match": {**rule.match.model_dump(), "model": "local-m"},
                        "reply": rule.reply if n % 2 == 0 else wrong})  # fmt: skip
            out.append({**rule.model_dump(), "match": {**rule.match.model_dump(), "model": "prem-m"}})
        else:
            out.append(rule.model_dump())
    return Script.model_validate({"rules": out})


def _tier(name: str, base_url: str, model: str, price: str) -> str:
    return (
        f'[tiers.{name}]\n[[tiers.{name}.providers]]\ntype = "openai_compat"\nbase_url = "{base_url}"\n'
        f'model = "{model}"\nprice = {price}\ntimeout_s = 60\n'
    )


@dataclass(frozen=True)
class Run:
    label: str
    wall: float
    ideal: float
    overhead: list[float]
    cpu: float  # the bot's process, per item
    cpu_all: float  # the bot and its subprocesses, in all
    usd: float
    discarded: int
    in_flight: int


async def one_run(
    label: str,
    checklist: Checklist,
    parallel: int,
    latency: float,
    items: int,
    *,
    speculative: bool | None = None,
) -> Run:
    """``speculative`` None: one free local tier; else local and premium, speculation as given."""
    with tempfile.TemporaryDirectory(prefix="mb-parallel-") as tmp:
        root = Path(tmp) / "fns"
        for rel, text in files(items).items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_text(text)
        init_repository(root, "base")
        script = rules(items, latency) if speculative is None else speculative_rules(items, latency)
        with FakeOpenAIServer(script, timeout_sleep_s=60) as server:
            if speculative is None:
                routing = 'preset = "single-model"\n'
                tiers = _tier(
                    "local", server.base_url, "qwen2.5-coder-7b-instruct", "{ gpu_usd_per_hour = 0 }"
                )
            else:
                routing = f'preset = "three-tier"\nspeculative = {str(speculative).lower()}\nspeculative_cap_usd = 5\n'
                tiers = _tier("local", server.base_url, "local-m", "{ gpu_usd_per_hour = 0 }") + _tier(
                    "premium", server.base_url, "prem-m", "{ input_per_mtok = 3, output_per_mtok = 15 }"
                )
            config = parse_config(
                f'[routing]\n{routing}[ledger]\npath = "{tmp}/ledger.sqlite"\n[budget]\nper_run_usd = 100\n{tiers}'
            )
            started = time.monotonic()
            cpu_before, all_before = _cpu(), _cpu_all()
            outcome = await run_milestone(
                root, checklist, config=config, run_id="bench", parallel=parallel, base_ref="main"
            )
            wall = time.monotonic() - started
            cpu = (_cpu() - cpu_before) / len(checklist.items)
            cpu_all = _cpu_all() - all_before
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
        ledger = Ledger(Path(tmp) / "ledger.sqlite")
        calls = ledger.calls()
        ledger.close()
        usd = float(sum((c.cost for c in calls), Decimal(0)))
        # Speculative attempts not needed: cancelled in flight, or answered before the one ahead
        # of them validated; either way paid for, and kept in the item's record as verdict none.
        discarded = sum(a.verdict is Verdict.NONE for r in results.values() for a in r.attempts)
        in_flight = sum(c.outcome == "cancelled" for c in calls)
        return Run(label, wall, ideal, overhead, cpu, cpu_all, usd, discarded, in_flight)


def _cpu_all() -> float:
    """CPU seconds of this process and of its finished subprocesses (git, pytest, ruff)."""
    me, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (1 min), {five:.1f} (5 min) on {os.cpu_count()} cores"


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
    parser.add_argument("--spec-items", type=int, default=8, help="items of the speculative runs; 0: skip")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    independent = Checklist(
        "milestone#1", "independent", tuple(Item(f"f{n}", f"Add f{n}") for n in range(args.items))
    )
    chain = Checklist("milestone#2", "chain", tuple(
        Item(f"f{n}", f"Add f{n}", depends_on=(f"f{n - 1}",) if n else ()) for n in range(4)
    ))  # fmt: skip
    print(
        f"model latency {args.latency}s per call; {args.items} independent items (2 calls each: test first, change)"
    )
    print(f"machine: {cores} cores; before: {_load()}; no GPU or device machine used")
    print(
        f"{'run':<24} {'wall s':>7} {'speedup':>7} {'per P':>6} {'CPU use':>7} {'ideal s':>7} {'ideal/wall':>10}"
        f" {'overhead/item ms':>17} {'bot CPU/item ms':>16}"
    )
    levels = [int(x) for x in args.levels.split(",") if x]
    runs = [(f"independent, parallel {p}", independent, p) for p in levels]
    if not args.no_chain:
        runs.append(("chain of 4, parallel 4", chain, 4))
    serial: float | None = None
    for label, checklist, parallel in runs:
        r = await one_run(label, checklist, parallel, args.latency, args.items)
        if checklist is independent and parallel == 1:
            serial = r.wall
        speedup = f"{serial / r.wall:>6.2f}x" if serial and checklist is independent else f"{'-':>7}"
        per = f"{serial / r.wall / parallel:>6.2f}" if serial and checklist is independent else f"{'-':>6}"
        print(
            f"{label:<24} {r.wall:>7.1f} {speedup} {per} {r.cpu_all / (r.wall * cores):>7.0%} {r.ideal:>7.1f}"
            f" {r.ideal / r.wall:>10.2f} {statistics.median(r.overhead) * 1000:>17.0f} {r.cpu * 1000:>16.0f}"
        )
    if serial is None:
        print("(speedup needs a run at parallel 1 in --levels)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"peak memory of the bot's process: {peak:.0f} MiB (targets: efficiency >= 0.85 at parallel 8, overhead <= 150 ms, memory <= 500 MB)"
    )
    if args.spec_items:
        spec = Checklist(
            "milestone#3", "speculative", tuple(Item(f"f{n}", f"Add f{n}") for n in range(args.spec_items))
        )
        print(
            f"\nspeculative escalation: {args.spec_items} items at parallel 4, local (free) then premium "
            "($3/$15 per M tokens); local's change is wrong on odd items"
        )
        print(f"{'run':<24} {'wall s':>7} {'USD':>8} {'discarded attempts':>18} {'cancelled in flight':>19}")
        base: Run | None = None
        for on in (False, True):
            label = f"speculative {'on' if on else 'off'}"
            r = await one_run(label, spec, 4, args.latency, args.spec_items, speculative=on)
            print(f"{label:<24} {r.wall:>7.1f} {r.usd:>8.4f} {r.discarded:>18} {r.in_flight:>19}")
            if base is not None:
                print(
                    f"time saved {base.wall - r.wall:.1f}s ({1 - r.wall / base.wall:.0%}) for ${r.usd - base.usd:.4f} more"
                    " (cancelled calls are billed at their worst case)"
                )
            base = r
    print(f"after: {_load()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
