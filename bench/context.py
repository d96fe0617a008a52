"""Context engine benchmark: real projects, real injected bugs, real test failures.

For each project (PyPI sdists with their own test suites), bugs are injected one at a time into
random library functions (flip a comparison, drop a statement, off by one). A mutation no test
catches is discarded. For each caught bug the project's own pytest output is the log, and the
engine is asked for the context of "Fix the failing build". Recall: the mutated function is inside
the packed context. Also: index build time cold and warm (Django-sized tree), peak memory, and
issue-text localization on the 7 SWE-bench tasks in ../shared/data/swebench-small.jsonl.

    python bench/context.py [--bugs 40] [--seed 1] [--cache ~/.cache/milestone-bot-bench]
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import random
import re
import statistics
import subprocess
import sys
import tarfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bot.context.engine import ContextEngine, ItemContext

BUDGETS = (8_000, 20_000, 50_000)
# (distribution, version, package folder, test folder)
PROJECTS = [
    ("toolz", "1.2.0", "toolz", "toolz/tests"),
    ("boltons", "26.2.0", "boltons", "tests"),
    ("more-itertools", "11.2.1", "more_itertools", "tests"),
]
LARGE = ("Django", "5.1.4")
# SWE-bench tasks: the last release on or before the task's PR date.
SWE_RELEASES = {
    "pallets__flask-4045": ("Flask", "2.0.0"),
    "pallets__flask-4992": ("Flask", "2.2.3"),
    "pallets__flask-5063": ("Flask", "2.2.3"),
    "marshmallow-code__marshmallow-1359": ("marshmallow", "3.0.0"),
    "marshmallow-code__marshmallow-1343": ("marshmallow", "3.0.0rc9"),
    "psf__requests-2148": ("requests", "2.3.0"),
    "psf__requests-1963": ("requests", "2.2.1"),
}
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "swebench-small.jsonl"


def sh(*argv: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)


def fetch_sdist(name: str, version: str, cache: Path) -> Path:
    """Unpacked sdist as a git repository; from pip, or PyPI's simple index when pip cannot build
    an old package's metadata."""
    folder = next(
        (
            p
            for p in cache.glob(f"*-{version}")
            if p.is_dir() and p.name.lower().replace("_", "-").startswith(name.lower())
        ),
        None,
    )
    if folder is not None:
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    done = sh(
        sys.executable,
        "-m",
        "pip",
        "download",
        "-q",
        "--no-deps",
        "--no-binary",
        ":all:",
        "-d",
        str(cache),
        f"{name}=={version}",
    )
    archives = [
        p
        for p in cache.glob("*.tar.gz")
        if p.name.lower().replace("_", "-").startswith(f"{name.lower()}-{version}")
    ]
    if done.returncode != 0 or not archives:
        page = urllib.request.urlopen(f"https://pypi.org/simple/{name.lower()}/", timeout=60).read().decode()
        href = re.search(
            rf'href="([^"]+/{re.escape(name)}-{re.escape(version)}\.tar\.gz)#sha256=(\w+)"', page, re.I
        )
        if not href:
            raise SystemExit(f"no sdist for {name}=={version}")
        data = urllib.request.urlopen(href.group(1), timeout=120).read()  # noqa: S310
        if hashlib.sha256(data).hexdigest() != href.group(2):
            raise SystemExit(f"checksum mismatch for {name}=={version}")
        archive = cache / f"{name}-{version}.tar.gz"
        archive.write_bytes(data)
        archives = [archive]
    with tarfile.open(archives[0]) as tar:
        top = tar.getnames()[0].split("/")[0]
        tar.extractall(cache, filter="data")
    folder = cache / top
    for args in (
        ("init", "-q"),
        ("add", "-A"),
        ("-c", "user.name=b", "-c", "user.email=b@b", "commit", "-qm", "sdist"),
    ):
        sh("git", *args, cwd=folder)
    return folder


@dataclass
class Bug:
    project: str
    path: str
    function: str
    line: int  # the def line after mutation
    operator: str
    log: str
    mutated: str  # the file's text with the bug, to re-inject it for the engine


_FLIP = {ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt, ast.Gt: ast.LtE, ast.LtE: ast.Gt,
         ast.Is: ast.IsNot, ast.IsNot: ast.Is, ast.In: ast.NotIn, ast.NotIn: ast.In}  # fmt: skip


def mutate(func: ast.FunctionDef | ast.AsyncFunctionDef, rng: random.Random) -> str | None:
    """Mutate ``func`` in place with one random applicable operator; returns its name."""
    compares = [n for n in ast.walk(func) if isinstance(n, ast.Compare) and type(n.ops[0]) in _FLIP]
    numbers = [n for n in ast.walk(func) if isinstance(n, ast.Constant) and type(n.value) is int]
    bodies = [n for n in ast.walk(func) if hasattr(n, "body") and isinstance(getattr(n, "body", None), list)]
    droppable = [(b, i) for b in bodies for i, s in enumerate(b.body)
                 if len(b.body) > 1 and isinstance(s, ast.Expr | ast.Assign | ast.AugAssign) and not (
                     isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]  # fmt: skip
    options = [
        name
        for name, ok in (
            ("flip comparison", compares),
            ("off by one", numbers),
            ("drop statement", droppable),
        )
        if ok
    ]
    if not options:
        return None
    choice = rng.choice(options)
    if choice == "flip comparison":
        node = rng.choice(compares)
        node.ops[0] = _FLIP[type(node.ops[0])]()
    elif choice == "off by one":
        const = rng.choice(numbers)
        const.value = const.value + 1
    else:
        body, index = rng.choice(droppable)
        body.body[index] = ast.Pass()
    return choice


def candidates(root: Path, package: str) -> list[tuple[str, str]]:
    out = []
    for path in sorted((root / package).rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if "/tests/" in f"/{rel}" or path.name.startswith("test_"):
            continue
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                and (node.end_lineno or 0) - node.lineno >= 2
            ):
                out.append((rel, f"{node.name}:{node.lineno}"))
    return out


def inject(root: Path, rel: str, target: str, rng: random.Random) -> tuple[str, str, int] | None:
    """Mutate one function; returns (original text, operator, def line) or None."""
    path = root / rel
    original = path.read_text(encoding="utf-8")
    tree = ast.parse(original)
    _name, line = target.split(":")
    func = next(
        n
        for n in ast.walk(tree)
        if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.lineno == int(line)
    )
    operator = mutate(func, rng)
    if operator is None:
        return None
    start = min([func.lineno, *(d.lineno for d in func.decorator_list)])
    end = func.end_lineno or func.lineno
    indent = " " * func.col_offset
    new = "\n".join(indent + x if x else x for x in ast.unparse(func).splitlines())
    lines = original.splitlines()
    lines[start - 1 : end] = new.splitlines()
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    def_line = start + len(func.decorator_list)
    return original, operator, def_line


def collect_bugs(
    name: str, version: str, package: str, tests: str, want: int, cache: Path, python: str, rng: random.Random
) -> list[Bug]:
    root = fetch_sdist(name, version, cache)
    pool = candidates(root, package)
    rng.shuffle(pool)
    bugs: list[Bug] = []
    tried = 0
    for rel, target in pool:
        if len(bugs) >= want or tried > want * 6:
            break
        tried += 1
        result = inject(root, rel, target, rng)
        if result is None:
            continue
        original, operator, def_line = result
        try:
            run = sh(
                python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", tests, cwd=root, timeout=180
            )
            caught = run.returncode == 1 and ("FAILED" in run.stdout or "ERROR" in run.stdout)
            if caught:
                mutated = (root / rel).read_text(encoding="utf-8")
                bugs.append(Bug(name, rel, target.split(":")[0], def_line, operator, run.stdout, mutated))
        except subprocess.TimeoutExpired:
            pass
        finally:
            (root / rel).write_text(original, encoding="utf-8")
    return bugs


def recall(name: str, version: str, bugs: list[Bug], cache: Path) -> tuple[dict[int, list[int]], list[int]]:
    """Per budget, 1/0 for each bug found in the context; and the context sizes at 20 KB."""
    root = fetch_sdist(name, version, cache)
    hits: dict[int, list[int]] = {b: [] for b in BUDGETS}
    sizes: list[int] = []
    for bug in bugs:
        # Re-inject exactly this bug, then ask the engine, whose index sees the mutated file.
        path = root / bug.path
        original = path.read_text(encoding="utf-8")
        path.write_text(bug.mutated, encoding="utf-8")
        try:
            engine = ContextEngine(root, cache=cache / f"index-{name}.json")
            for budget in BUDGETS:
                pack = engine.for_item(ItemContext("Fix the failing build", log=bug.log, budget=budget))
                found = any(
                    i.key.split(":")[0] == bug.path
                    and int(i.key.split(":")[1].split("-")[0]) <= bug.line <= int(i.key.split("-")[-1])
                    for i in pack.included
                ) or any(
                    i.symbol.split(".")[-1] == bug.function and i.key.startswith(bug.path)
                    for i in pack.included
                )
                hits[budget].append(int(found))
                if budget == 20_000:
                    sizes.append(pack.size)
        finally:
            path.write_text(original, encoding="utf-8")
    return hits, sizes


def index_timing(root: Path, cache_file: Path) -> tuple[float, float, float, int]:
    """Cold and warm index build in a fresh process each; (cold s, warm s, peak MiB, files)."""
    cache_file.unlink(missing_ok=True)
    code = (
        "import json, resource, sys, time; from pathlib import Path; from bot.context.engine import ContextEngine\n"
        f"t = time.perf_counter(); e = ContextEngine(Path({str(root)!r}), cache=Path({str(cache_file)!r})); i = e.index\n"
        "print(json.dumps([time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, len(i.files), i.parsed]))"
    )
    cold = json.loads(sh(sys.executable, "-c", code).stdout)
    warm = json.loads(sh(sys.executable, "-c", code).stdout)
    return cold[0], warm[0], max(cold[1], warm[1]) / 1024, cold[2]


def swebench(cache: Path) -> list[tuple[str, list[str], list[str], int]]:
    out = []
    for line in SHARED.read_text().splitlines():
        task = json.loads(line)
        name, version = SWE_RELEASES[task["instance_id"]]
        root = fetch_sdist(name, version, cache)
        changed = [p for p in re.findall(r"^diff --git a/(\S+)", task["patch"], re.M) if p.endswith(".py")]
        present = [p for p in changed if (root / p).exists()]
        engine = ContextEngine(root, cache=cache / f"index-{name}-{version}.json")
        pack = engine.for_item(ItemContext(task["problem_statement"], budget=20_000))
        files = {i.key.split(":")[0] for i in pack.included}
        out.append((task["instance_id"], present, [p for p in present if p in files], pack.size))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bugs", type=int, default=40, help="injected bugs per project")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "milestone-bot-bench")
    parser.add_argument("--skip-large", action="store_true", help="skip the Django index timing")
    args = parser.parse_args(argv)
    cache: Path = args.cache
    venv = cache / "venv"
    if not (venv / "bin" / "python").exists():
        sh(sys.executable, "-m", "venv", str(venv))
        sh(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pytest")
    python = str(venv / "bin" / "python")
    rng = random.Random(args.seed)
    started = time.perf_counter()
    rows = []
    all_hits: dict[int, list[int]] = {b: [] for b in BUDGETS}
    all_sizes: list[int] = []
    for name, version, package, tests in PROJECTS:
        bugs = collect_bugs(name, version, package, tests, args.bugs, cache, python, rng)
        hits, sizes = recall(name, version, bugs, cache)
        cold, warm, mem, files = index_timing(
            fetch_sdist(name, version, cache), cache / f"timing-{name}.json"
        )
        rows.append((f"{name} {version}", len(bugs), hits, sizes, cold, warm, mem, files))
        for b in BUDGETS:
            all_hits[b] += hits[b]
        all_sizes += sizes
    print(
        f"{'project':<24} {'bugs':>5} {'@8KB':>7} {'@20KB':>7} {'@50KB':>7} {'median B':>9} {'files':>6} {'cold s':>7} {'warm s':>7} {'peak MiB':>9}"
    )
    for label, n, hits, sizes, cold, warm, mem, files in rows:
        rates = " ".join(f"{statistics.mean(hits[b]):>7.1%}" if hits[b] else f"{'-':>7}" for b in BUDGETS)
        med = statistics.median(sizes) if sizes else 0
        print(f"{label:<24} {n:>5} {rates} {med:>9.0f} {files:>6} {cold:>7.2f} {warm:>7.2f} {mem:>9.0f}")
    total = sum(len(v) for v in [all_hits[BUDGETS[0]]])
    rates = " ".join(f"{statistics.mean(all_hits[b]):>7.1%}" for b in BUDGETS)
    print(f"{'all':<24} {total:>5} {rates} {statistics.median(all_sizes):>9.0f}")
    if not args.skip_large:
        root = fetch_sdist(*LARGE, cache)
        cold, warm, mem, files = index_timing(root, cache / "timing-django.json")
        print(
            f"{'Django ' + LARGE[1] + ' (index only)':<24} {'':>5} {'':>7} {'':>7} {'':>7} {'':>9} {files:>6} {cold:>7.2f} {warm:>7.2f} {mem:>9.0f}"
        )
    print(
        "\nissue-text localization, SWE-bench small (changed .py files in a 20 KB context from the problem text alone):"
    )
    for instance, present, found, size in swebench(cache):
        print(
            f"  {instance:<38} {len(found)}/{len(present)} changed files in context ({size} B): {', '.join(present)}"
        )
    print(f"\nelapsed {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
