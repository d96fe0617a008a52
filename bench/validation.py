"""Validation pipeline benchmark on real open-source projects (boltons, more-itertools, from their
PyPI sdists).

Measures:
1. overhead: the pipeline's wall time on a harmless change (guard, syntax, affected tests, the full
   suite judged per test against the base's cached baseline) over ONE plain run of the project's
   pytest on the same change (target <= 1.3x), and over the very commands it ran, by hand;
2. time to first diagnostic when one module is broken: affected tests first versus the full suite
   (target >= 3x sooner).

The projects are downloaded with pip (a package registry) into a cache folder, with a virtual
environment holding their test runner (pytest<9: boltons' own conftest plugin needs it); later
runs reuse both.

    python bench/validation.py [--repeat 3] [--project boltons] [--cache .cache/realprojects]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bot.config import parse_config
from bot.execution.run import validate_working_tree
from bot.validation.baseline import Baseline, run_baseline
from bot.validation.detect import Toolchain, toolchain
from bot.validation.pipeline import Settings
from bot.validation.validate import Change, test_files_in, validate
from bot.validation.verdict import ValidationVerdict

PROJECTS = {
    # project: (version, module to change, a line to break in it)
    "boltons": ("25.0.0", "boltons/strutils.py", ("    return cleaned\n", "    return text\n")),
    "more-itertools": (
        "11.2.1",
        "more_itertools/more.py",
        (
            "    if obj is None:\n        return iter(())\n",
            "    if obj is None:\n        return iter((None,))\n",
        ),
    ),
}
# An item's verdict: the broken line's function rewritten to the same behaviour, judged with the
# tests of that function as its acceptance tests, so they are traced and the evidence stage runs.
ITEMS = {
    "boltons": (("    return cleaned\n", "    result = cleaned\n    return result\n"),
                ("tests/test_strutils.py::test_strip_ansi",)),
    "more-itertools": (("    if obj is None:\n        return iter(())\n",
                        "    if obj is None:\n        empty = ()\n        return iter(empty)\n"),
                       ("tests/test_more.py::TestAlwaysIterable",)),
}  # fmt: skip
PROJECT, VERSION, MODULE, BREAK = "boltons", "", "", ("", "")
# A harmless change that is code, not a comment: a comment alone changes no definition, and the
# affected stage would (rightly) run nothing, which is not the cost of a typical change.
HARMLESS = "\n\ndef _benchmark_unused():\n    return None\n"
# The configuration a user writes, naming the project's environment (here the bench's venv).
CONFIG = (
    '[routing]\npreset = "single-model"\n[validation]\npython = "{python}"\n[tiers.t]\n'
    '[[tiers.t.providers]]\ntype = "scripted"\nscript = "s.yaml"\nmodel = "m"\n'
    "price = {{ input_per_mtok = 0, output_per_mtok = 0 }}\n"
)


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f} (1, 5, 15 min; {os.cpu_count()} CPUs)"


def fmt(times: list[float]) -> str:
    return "[" + ", ".join(f"{t:.2f}" for t in times) + "]"


def sh(*argv: str, cwd: Path | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)


def prepare(cache: Path) -> tuple[Path, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"{PROJECT}-{VERSION}".replace("-", "_")
    # The checkout lives outside this repository: pytest looks for its rootdir and configuration in
    # the folders above a project without its own (more-itertools has none), and would find ours,
    # naming every test `.cache/...::...` and running under our settings, unlike a user's checkout.
    work = Path(tempfile.gettempdir()) / "milestone-bot-bench"
    src = work / stem
    venv = cache / "venv"
    if not src.exists():
        found = [p for p in (cache / "sdists").glob("*.tar.gz") if p.name.replace("-", "_").startswith(stem)]
        if not found:
            sh(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d",
               str(cache / "sdists"), f"{PROJECT}=={VERSION}")  # fmt: skip
            found = [
                p for p in (cache / "sdists").glob("*.tar.gz") if p.name.replace("-", "_").startswith(stem)
            ]
        work.mkdir(parents=True, exist_ok=True)
        with tarfile.open(found[0]) as tar:
            tar.extractall(work, filter="data")
        unpacked = [p for p in work.iterdir() if p.name.replace("-", "_") == stem and p != src]
        unpacked[0].rename(src)
        for args in (
            ("init", "-q"),
            ("add", "-A"),
            ("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "sdist"),
        ):
            sh("git", *args, cwd=src)
    if not (venv / ".ready").exists():
        sh(sys.executable, "-m", "venv", "--clear", str(venv))
        sh(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pytest<9")
        (venv / ".ready").write_text("ok")
    return src, venv / "bin" / "python"


def change_for(src: Path, text: str, original: str, acceptance: tuple[str, ...] = ()) -> Change:
    """The change from the sdist's module to ``text`` (not from what the last repeat left there)."""
    before = original
    (src / MODULE).write_text(text)
    files = [p.relative_to(src).as_posix() for p in src.rglob("*.py")]
    return Change(
        root=src, files={MODULE: (before, text)}, test_files=test_files_in(files), acceptance=acceptance
    )


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(".cache/realprojects"))
    parser.add_argument("--project", choices=sorted(PROJECTS), action="append")
    parser.add_argument(
        "--first-diagnostic-only", action="store_true", help="skip the overhead figures (part 1)"
    )
    parser.add_argument(
        "--profile", action="store_true", help="only profile the in-process work of one verdict (cProfile)"
    )
    args = parser.parse_args(argv)
    for project in args.project or sorted(PROJECTS):
        global PROJECT, VERSION, MODULE, BREAK
        PROJECT = project
        VERSION, MODULE, BREAK = PROJECTS[project]
        await bench_one(args)
    return 0


async def bench_one(args: argparse.Namespace) -> None:
    src, python = prepare(args.cache.resolve())
    original = (src / MODULE).read_text()
    tools = toolchain(src, python=str(python))
    settings = Settings(timeout_s=900)
    assert tools.test is not None
    # The base's baseline is run once per base commit and cached; the steady state is a warm cache.
    started = time.perf_counter()
    baseline = await run_baseline("base", src, tools.test, settings)
    baseline_s = time.perf_counter() - started
    misnamed = [t for t in baseline.outcomes if t.startswith((".", "/"))]
    assert not misnamed, f"pytest's rootdir is not the checkout: {misnamed[:2]}"
    plain = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    package = src / MODULE.split("/")[0]
    lines = sum(len(p.read_text(errors="replace").splitlines()) for p in package.rglob("*.py"))
    print(f"{PROJECT} {VERSION}: {lines} lines of code; tests: {tools.test.argv if tools.test else None}")
    if args.profile:
        await profile(src, original, tools, settings, baseline)
        return
    try:
        if not args.first_diagnostic_only:
            # 1. Overhead: a harmless change; pipeline vs the same commands by hand. On a shared machine
            # the runs are interleaved (the order alternating each repeat) and medians are compared.
            pipeline_s, by_hand_s, plain_s, in_process_s, whole_s, item_s = [], [], [], [], [], []
            (old, new), acceptance = ITEMS[PROJECT]
            assert original.count(old) == 1, "the item's line was not found once"
            item_verdicts: list[ValidationVerdict] = []
            config = parse_config(CONFIG.format(python=python))
            verdicts: list[ValidationVerdict] = []
            print(f"load average before: {load()}")
            for repeat in range(args.repeat):

                async def piped() -> None:
                    change = change_for(src, original + HARMLESS, original)
                    started = time.perf_counter()
                    verdict = await validate(change, tools, settings=settings, baseline=baseline)
                    pipeline_s.append(time.perf_counter() - started)
                    in_process_s.append(
                        pipeline_s[-1] - sum(s.duration_s for s in verdict.stages if s.command)
                    )
                    assert verdict.accepted, verdict.render()
                    verdicts.append(verdict)

                async def item() -> None:
                    change = change_for(src, original.replace(old, new), original, acceptance)
                    started = time.perf_counter()
                    verdict = await validate(change, tools, settings=settings, baseline=baseline)
                    item_s.append(time.perf_counter() - started)
                    assert verdict.accepted, verdict.render()
                    assert any(s.name == "evidence" and s.status == "passed" for s in verdict.stages)
                    item_verdicts.append(verdict)

                def by_hand() -> None:
                    started = time.perf_counter()
                    for command in (s.command for s in verdicts[-1].stages if s.command):
                        subprocess.run(command, cwd=src, capture_output=True, check=False)
                    by_hand_s.append(time.perf_counter() - started)

                async def whole() -> None:
                    # What `milestone-bot validate` does around it: the base checkout (git worktree),
                    # the environment probe, the baseline from its on-disk cache (warm after the first).
                    change_for(src, original + HARMLESS, original)
                    started = time.perf_counter()
                    verdict = await validate_working_tree(src, base_ref="HEAD", config=config)
                    whole_s.append(time.perf_counter() - started)
                    assert verdict.accepted, verdict.render()

                def one_plain() -> None:
                    started = time.perf_counter()
                    subprocess.run(plain, cwd=src, capture_output=True, check=False)
                    plain_s.append(time.perf_counter() - started)

                if repeat == 0:
                    await whole()  # warms the on-disk baseline cache: one base run per base commit
                    whole_s.clear()
                if repeat % 2:
                    one_plain()
                    await piped()
                else:
                    await piped()
                    one_plain()
                by_hand()
                await whole()
                await item()
            p, h, one = (
                statistics.median(pipeline_s),
                statistics.median(by_hand_s),
                statistics.median(plain_s),
            )
            verdict = verdicts[-1]
            commands = [s.command for s in verdict.stages if s.command]
            print(f"stages run: {', '.join(s.name for s in verdict.stages)} ({len(commands)} commands)")
            for stage in verdict.stages:
                print(f"  {stage.name:<15} {stage.duration_s:7.3f}s  {' '.join(stage.command[3:])[:110]}")
            print(f"baseline of the base commit (once per base, cached): {baseline_s:.3f}s")
            print(f"pipeline runs {fmt(pipeline_s)}; plain runs {fmt(plain_s)}")
            print(f"pipeline {p:.3f}s vs ONE plain pytest run {one:.3f}s: {p / one:.2f}x (target <= 1.3x: "
                  f"{'met' if p / one <= 1.3 else 'NOT met'})")  # fmt: skip
            print(f"pipeline {p:.3f}s vs the same commands by hand {h:.3f}s: overhead {p / h - 1:+.1%}")
            w = statistics.median(whole_s)
            print(f"the whole `milestone-bot validate` path {w:.3f}s {fmt(whole_s)}: {w / one:.2f}x one plain run "
                  f"(git worktree of the base, environment probe, cached baseline: {w - p:+.3f}s)")  # fmt: skip
            print(
                f"in-process work (guard, selection, JUnit parsing, judging): {statistics.median(in_process_s):.3f}s"
            )
            i = statistics.median(item_s)
            stages = ", ".join(f"{s.name} {s.duration_s:.2f}s" for s in item_verdicts[-1].stages if s.duration_s)
            print(f"an item's verdict (acceptance tests {', '.join(acceptance)} traced, evidence stage) "
                  f"{i:.3f}s {fmt(item_s)} vs ONE plain run {one:.3f}s: {i / one:.2f}x (target <= 1.3x: "
                  f"{'met' if i / one <= 1.3 else 'NOT met'}); {stages}")  # fmt: skip

        # 2. Time to first diagnostic with one module broken.
        broken = original.replace(*BREAK)
        assert broken != original, "the line to break was not found"
        affected_s, full_s = [], []
        for _ in range(args.repeat):
            for selects, sink in ((True, affected_s), (False, full_s)):
                change = change_for(src, broken, original)
                started = time.perf_counter()
                verdict = await validate(
                    change, replace(tools, selects_files=selects), settings=settings, baseline=baseline
                )
                sink.append(time.perf_counter() - started)
                failed = [s for s in verdict.stages if s.status == "failed"]
                assert failed and failed[0].diagnostics, verdict.render()
                if selects:
                    first, first_stage = failed[0].diagnostics[0], failed[0].name
        a, f = statistics.median(affected_s), statistics.median(full_s)
        print(f"time to first diagnostic: affected tests first {a:.3f}s {fmt(affected_s)}, "
              f"full suite {f:.3f}s {fmt(full_s)}: {f / a:.1f}x sooner (target >= 3x: "
              f"{'met' if f / a >= 3 else 'NOT met'})")  # fmt: skip
        print(f"first diagnostic: {first.render()[:120]} (stage {first_stage})")
        print(f"load average after: {load()}")
    finally:
        (src / MODULE).write_text(original)


async def profile(src: Path, original: str, tools: Toolchain, settings: Settings, baseline: Baseline) -> None:
    """Where the pipeline's own time goes: Python functions by their own time, waiting for the
    test processes (the event loop's select) left out."""
    import cProfile
    import pstats

    change = change_for(src, original + HARMLESS, original)
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    verdict = await validate(change, tools, settings=settings, baseline=baseline)
    profiler.disable()
    wall = time.perf_counter() - started
    (src / MODULE).write_text(original)
    commands = sum(s.duration_s for s in verdict.stages if s.command)
    print(f"verdict {wall:.3f}s, of which commands {commands:.3f}s, in process {wall - commands:.3f}s")
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
