"""Validation pipeline benchmark on a real open-source project (boltons, from its PyPI sdist).

Measures:
1. overhead: the pipeline's wall time over running the very commands it ran, by hand;
2. time to first diagnostic when one module is broken: affected tests first versus the full suite.

The project is downloaded with pip (a package registry) into a cache folder, with a virtual
environment holding pytest; later runs reuse both.

    python bench/validation.py [--repeat 5] [--cache ~/.cache/milestone-bot-bench]
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

from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.validation.validate import Change, test_files_in, validate

PROJECT, VERSION = "boltons", "26.2.0"
MODULE = "boltons/strutils.py"
BREAK = ("    return cleaned\n", "    return text\n")  # strip_ansi stops stripping


def sh(*argv: str, cwd: Path | None = None) -> None:
    subprocess.run(argv, cwd=cwd, check=True, capture_output=True)


def prepare(cache: Path) -> tuple[Path, Path]:
    cache.mkdir(parents=True, exist_ok=True)
    src = cache / f"{PROJECT}-{VERSION}"
    venv = cache / "venv"
    if not src.exists():
        sh(sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(cache),
           f"{PROJECT}=={VERSION}")  # fmt: skip
        with tarfile.open(next(cache.glob(f"{PROJECT}-{VERSION}.tar.gz"))) as tar:
            tar.extractall(cache, filter="data")
        for args in (
            ("init", "-q"),
            ("add", "-A"),
            ("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "sdist"),
        ):
            sh("git", *args, cwd=src)
    if not (venv / "bin" / "python").exists():
        sh(sys.executable, "-m", "venv", str(venv))
        sh(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pytest")
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
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "milestone-bot-bench")
    args = parser.parse_args(argv)
    src, python = prepare(args.cache)
    original = (src / MODULE).read_text()
    tools = toolchain(src, python=str(python))
    settings = Settings(timeout_s=600)
    lines = sum(len(p.read_text(errors="replace").splitlines()) for p in (src / PROJECT).rglob("*.py"))
    print(f"{PROJECT} {VERSION}: {lines} lines of code; tests: {tools.test.argv if tools.test else None}")
    try:
        # 1. Overhead: a harmless change; pipeline vs the same commands by hand.
        pipeline_s, by_hand_s, commands = [], [], []
        for _ in range(args.repeat):
            change = change_for(src, original + "\n# benchmark: harmless change\n")
            started = time.perf_counter()
            verdict = await validate(change, tools, settings=settings)
            pipeline_s.append(time.perf_counter() - started)
            assert verdict.accepted, verdict.render()
            commands = [s.command for s in verdict.stages if s.command]
            started = time.perf_counter()
            for command in commands:
                subprocess.run(command, cwd=src, capture_output=True, check=False)
            by_hand_s.append(time.perf_counter() - started)
        p, h = statistics.median(pipeline_s), statistics.median(by_hand_s)
        print(f"stages run: {', '.join(s.name for s in verdict.stages)} ({len(commands)} commands)")
        print(f"pipeline {p:.3f}s vs the same commands by hand {h:.3f}s: ", end="")
        print(f"overhead {p / h - 1:+.1%} (target <= 10%)")

        # 2. Time to first diagnostic with one module broken.
        broken = original.replace(*BREAK)
        assert broken != original, "the line to break was not found"
        affected_s, full_s = [], []
        for _ in range(args.repeat):
            for selects, sink in ((True, affected_s), (False, full_s)):
                change = change_for(src, broken)
                started = time.perf_counter()
                verdict = await validate(change, replace(tools, selects_files=selects), settings=settings)
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
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
