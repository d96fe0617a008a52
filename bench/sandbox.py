"""The sandbox's cost per command: the same commands through the runner, sandboxed and not.

Measures, in one run on this machine:
1. a trivial command (``python -c pass``): the fixed cost of building the sandbox;
2. a small real test suite (a generated package with 200 pytest tests, in a git worktree of
   2,000 files, so the per-run ACL grant under root is part of the figure);
3. optionally a real project's suite (``--project PATH --python PATH``, e.g. the boltons checkout
   and venv that ``bench/validation.py`` caches).

Each figure is the median of ``--repeat`` runs; the ratio is sandboxed over plain.

    python bench/sandbox.py [--repeat 15] [--project DIR --python VENV/bin/python]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bot.workspace import proc
from bot.workspace.sandbox import SandboxPolicy, probe

PLAIN = SandboxPolicy(isolation="off")
SANDBOXED = SandboxPolicy()


def make_project(root: Path, *, tests: int = 200, files: int = 2000) -> Path:
    repo = root / "project"
    (repo / "pkg").mkdir(parents=True)
    (repo / "tests").mkdir()
    (repo / "pkg" / "__init__.py").write_text("def add(a, b):\n    return a + b\n")
    body = "from pkg import add\n\n" + "".join(
        f"def test_add_{n}():\n    assert add({n}, 1) == {n + 1}\n\n" for n in range(tests)
    )
    (repo / "tests" / "test_add.py").write_text(body)
    (repo / "pyproject.toml").write_text('[tool.pytest.ini_options]\npythonpath = ["."]\n')
    data = repo / "data"
    for n in range(files):
        folder = data / f"d{n // 100}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"f{n}.txt").write_text(f"{n}\n")
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "add", "-A"],
        ["git", "-c", "user.name=b", "-c", "user.email=b@b", "commit", "-q", "-m", "base"],
    ):
        subprocess.run(argv, cwd=repo, check=True, capture_output=True)
    return repo


async def timed(argv: list[str], cwd: Path, policy: SandboxPolicy, repeat: int) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = await proc.run(argv, cwd=cwd, root=cwd, timeout_s=600, sandbox=policy)
        times.append(time.perf_counter() - started)
        if not result.ok:
            raise SystemExit(f"{' '.join(argv)} failed ({result.isolation}):\n{result.output[-2000:]}")
    return times


async def compare(name: str, argv: list[str], cwd: Path, repeat: int) -> None:
    await timed(argv, cwd, SANDBOXED, 1)  # warm: the probe, the page cache
    plain = statistics.median(await timed(argv, cwd, PLAIN, repeat))
    boxed = statistics.median(await timed(argv, cwd, SANDBOXED, repeat))
    print(
        f"{name:<34} plain {plain * 1000:8.1f} ms   sandboxed {boxed * 1000:8.1f} ms   "
        f"overhead {(boxed - plain) * 1000:7.1f} ms   ratio {boxed / plain:5.2f}x"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--project", type=Path, help="a real project's checkout (its own git repository)")
    parser.add_argument("--python", default=sys.executable, help="the interpreter with the project's deps")
    args = parser.parse_args()
    capability = probe()
    print(f"sandbox backend: {capability.backend} {capability.reason}".rstrip())
    if not capability.isolated:
        raise SystemExit("this host cannot isolate; nothing to compare")
    with tempfile.TemporaryDirectory(prefix="bench-sandbox-") as tmp:
        repo = make_project(Path(tmp))
        await compare("python -c pass", [sys.executable, "-c", "pass"], repo, args.repeat)
        await compare(
            "pytest, 200 tests, 2,000 files",
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            repo,
            max(3, args.repeat // 3),
        )
    if args.project:
        await compare(
            f"pytest on {args.project.name}",
            [args.python, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider"],
            args.project.resolve(),
            max(3, args.repeat // 5),
        )


if __name__ == "__main__":
    asyncio.run(main())
