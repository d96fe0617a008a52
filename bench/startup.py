"""Start-up cost of the CLI: `milestone-bot validate --help` against a bare `python -c pass`, and
which model SDKs the `validate` path and the item loop import (they must import none: the SDKs cost
about a second each and neither path calls a model through them).

    python bench/startup.py [--runs 7]

Target (issue 11, point 8): `validate --help` under 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

SDKS = ("openai", "anthropic", "groq", "github")
# What `milestone-bot validate` imports on its way to a verdict, and the item loop.
PATHS = {
    "validate": "import bot.cli, bot.execution.run",
    "item loop": "import bot.execution.item_loop",
}


def wall(argv: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def sdks_imported(statement: str) -> list[str]:
    probe = f"{statement}\nimport sys\nprint(' '.join(m for m in {SDKS!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    return out.split()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    plain = wall([sys.executable, "-c", "pass"], args.runs)
    helped = wall([sys.executable, "-m", "bot.cli", "validate", "--help"], args.runs)
    print(f"startup: median of {args.runs} runs")
    print(f"  python -c pass                    {plain:.3f}s")
    print(
        f"  milestone-bot validate --help     {helped:.3f}s   ({helped / plain:.1f}x the bare interpreter; "
        f"target < 0.5 s: {'met' if helped < 0.5 else 'NOT met'})"
    )
    for name, statement in PATHS.items():
        found = sdks_imported(statement)
        print(f"  model SDKs imported by {name:<10} {', '.join(found) if found else 'none'}")


if __name__ == "__main__":
    main()
