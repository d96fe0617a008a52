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
import statistics
import subprocess
import sys
import tarfile
import time
from dataclasses import replace
from pathlib import Path

from bot.validation.baseline import run_baseline
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.validation.validate import Change, test_files_in, validate

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
PROJECT, VERSION, MODULE, BREAK = "boltons", "", "", ("", "")


def sh(*argv: str, cwd: Path | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)


def prepare(cache: Path) -> tuple[Path, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    stem = f"{PROJECT}-{VERSION}".replace("-", "_")
    src = cache / "bench" / stem
    venv = cache / "venv"
    if not src.exists():
        sh(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(cache / "sdists"),
           f"{PROJECT}=={VERSION}")  # fmt: skip
        found = [p for p in (cache / "sdists").glob("*.tar.gz") if p.name.replace("-", "_").startswith(stem)]
        with tarfile.open(found[0]) as tar:
            tar.extractall(cache / "bench", filter="data")
        unpacked = [p for p in (cache / "bench").iterdir() if p.name.replace("-", "_") == stem]
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


def change_for(src: Path, text: str) -> Change:
    before = (src / MODULE).read_text()
    (src / MODULE).write_text(text)
    files = [p.relative_to(src).as_posix() for p in src.rglob("*.py")]
    return Change(root=src, files={MODULE: (before, text)}, test_files=test_files_in(files))


async def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=Path(".cache/realprojects"))
    parser.add_argument("--project", choices=sorted(PROJECTS), action="append")
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
    plain = [str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
    package = src / MODULE.split("/")[0]
    lines = sum(len(p.read_text(errors="replace").splitlines()) for p in package.rglob("*.py"))
    print(f"{PROJECT} {VERSION}: {lines} lines of code; tests: {tools.test.argv if tools.test else None}")
    try:
        # 1. Overhead: a harmless change; pipeline vs the same commands by hand.
        pipeline_s, by_hand_s, plain_s, commands = [], [], [], []
        for _ in range(args.repeat):
            change = change_for(src, original + "\n# benchmark: harmless change\n")
            started = time.perf_counter()
            verdict = await validate(change, tools, settings=settings, baseline=baseline)
            pipeline_s.append(time.perf_counter() - started)
            assert verdict.accepted, verdict.render()
            commands = [s.command for s in verdict.stages if s.command]
            started = time.perf_counter()
            for command in commands:
                subprocess.run(command, cwd=src, capture_output=True, check=False)
            by_hand_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            subprocess.run(plain, cwd=src, capture_output=True, check=False)
            plain_s.append(time.perf_counter() - started)
        p, h, one = statistics.median(pipeline_s), statistics.median(by_hand_s), statistics.median(plain_s)
        print(f"stages run: {', '.join(s.name for s in verdict.stages)} ({len(commands)} commands)")
        print(f"baseline of the base commit (once per base, cached): {baseline_s:.3f}s")
        print(f"pipeline {p:.3f}s vs ONE plain pytest run {one:.3f}s: {p / one:.2f}x (target <= 1.3x)")
        print(f"pipeline {p:.3f}s vs the same commands by hand {h:.3f}s: overhead {p / h - 1:+.1%}")

        # 2. Time to first diagnostic with one module broken.
        broken = original.replace(*BREAK)
        assert broken != original, "the line to break was not found"
        affected_s, full_s = [], []
        for _ in range(args.repeat):
            for selects, sink in ((True, affected_s), (False, full_s)):
                change = change_for(src, broken)
                started = time.perf_counter()
                verdict = await validate(
                    change, replace(tools, selects_files=selects), settings=settings, baseline=baseline
                )
                sink.append(time.perf_counter() - started)
                failed = [s for s in verdict.stages if s.status == "failed"]
                assert failed and failed[0].diagnostics, verdict.render()
        a, f = statistics.median(affected_s), statistics.median(full_s)
        print(f"time to first diagnostic: affected tests first {a:.3f}s, full suite {f:.3f}s: ", end="")
        print(f"{f / a:.1f}x sooner (target >= 3x)")
        first = verdict.stages[-1].diagnostics[0]
        print(f"first diagnostic: {first.render()[:120]}")
    finally:
        (src / MODULE).write_text(original)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
