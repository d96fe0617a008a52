"""Context engine benchmark: real projects, real injected bugs, real test failures.

For each project (PyPI sdists with their own test suites), bugs are injected one at a time into
random library functions (flip a comparison, drop a statement, off by one). A mutation no test
catches is discarded. For each caught bug the project's own pytest output is the log, and the
engine is asked for the context of "Fix the failing build". The fidelity benchmark's real bugs
(bench/fidelity.py's table: a known buggy line and the tests that catch it) are added the same
way. A bug counts only when its failing tests pass on the clean sdist and fail with the bug
(checked once, cached): a flaky test or a bug left behind by an interrupted run is not evidence.
Recall: the buggy function is inside the packed context. Also: index build time cold and warm
(Django-sized tree), peak memory, and issue-text localization on the 7 SWE-bench tasks in
<shared>/data/swebench-small.jsonl (``--shared``; skipped with the reason when absent).

    python bench/context.py [--bugs 40] [--seeds 1 2] [--cache ~/.cache/milestone-bot-bench] [--misses]

Per project: recall (the buggy function inside the pack) at 8, 20 and 50 KB with the relevance
floor, the median pack at 20 KB, how often the buggy chunk ranks first and in the top 3, and the
plain alternative (packing to the budget, no floor) with its median size and the byte ratio.
``--misses`` lists each bug not ranked in the top 3: where it ranked, its score and reasons, and
the chunks above it with theirs.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
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
from bot.context.retrieval import Scored

BUDGETS = (8_000, 20_000, 50_000)
DEFAULT = 20_000
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
SWE_FILE = Path("data") / "swebench-small.jsonl"


REPO = Path(__file__).resolve().parents[1]


def default_shared(repo: Path = REPO) -> Path:
    """The shared folder: the repository's parent's ``shared``, else the nearest ``shared`` beside
    an ancestor (a worktree under /work/wt/<name> finds /work/shared)."""
    for folder in repo.parents:
        if (folder / "shared" / SWE_FILE).exists():
            return folder / "shared"
    return repo.parent / "shared"


def sh(*argv: str, cwd: Path | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    # A src/ layout is tested from its source, not from a copy pytest itself installed (iniconfig).
    env = (
        {**os.environ, "PYTHONPATH": str(cwd / "src")} if cwd is not None and (cwd / "src").is_dir() else None
    )
    return subprocess.run(
        argv, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False, env=env
    )


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
        # A run that was killed while a bug was injected leaves it behind: start from the sdist.
        sh("git", "checkout", "-q", "--", ".", cwd=folder)
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
        (
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.lineno == int(line)
        ),
        None,
    )
    if func is None:  # the file changed under the candidate list (an earlier mutation moved it)
        return None
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
    name: str, version: str, package: str, tests: str, want: int, cache: Path, python: str, seed: int
) -> tuple[list[Bug], int]:
    """The bugs of one project and seed that pass ``verify``, and how many were collected; cached:
    collecting runs the project's tests per mutation."""
    saved = cache / f"bugs-{name}-{version}-seed{seed}-n{want}.json"
    if saved.exists():
        bugs = [Bug(**b) for b in json.loads(saved.read_text())]
    else:
        bugs = _collect(name, version, package, tests, want, cache, python, random.Random(f"{seed}-{name}"))
        saved.write_text(json.dumps([b.__dict__ for b in bugs]))
    checked = saved.with_name(saved.name.replace("bugs-", "verified-", 1))
    if not checked.exists():
        checked.write_text(json.dumps(verify(bugs, fetch_sdist(name, version, cache), python)))
    return [bug for bug, ok in zip(bugs, json.loads(checked.read_text()), strict=True) if ok], len(bugs)


_FAILED_ID = re.compile(r"^(?:FAILED|ERROR|SUBFAILED.*?) (\S+\.py(?:::\S+)?)", re.M)


def verify(bugs: list[Bug], root: Path, python: str) -> list[bool]:
    """Per bug: the failure is its own. Its failing tests pass on the clean sdist (one run for all
    the bugs, per bug when that run cannot be read) and fail with the bug alone. A flaky test, or a
    bug left behind by an interrupted run, fails the first or the second check."""
    ids = [list(dict.fromkeys(_FAILED_ID.findall(bug.log))) for bug in bugs]
    everything = sorted({i for group in ids for i in group})
    clean = _run(python, root, everything) if everything else None
    out = []
    for bug, group in zip(bugs, ids, strict=True):
        if not group:
            out.append(False)
            continue
        if clean is not None and clean.returncode in (0, 1):
            failing = set(_FAILED_ID.findall(clean.stdout))
            passed = not any(t == f or f.startswith(f"{t}::") for t in group for f in failing)
        else:
            run = _run(python, root, group)
            passed = run is not None and run.returncode == 0
        if not passed:
            out.append(False)
            continue
        path = root / bug.path
        original = path.read_text(encoding="utf-8")
        path.write_text(bug.mutated, encoding="utf-8")
        try:
            run = _run(python, root, group)
            out.append(run is not None and run.returncode != 0)
        finally:
            path.write_text(original, encoding="utf-8")
    return out


def _run(python: str, root: Path, ids: list[str]) -> subprocess.CompletedProcess[str] | None:
    try:
        return sh(python, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider", *ids, cwd=root, timeout=300)
    except subprocess.TimeoutExpired:
        return None


def _collect(
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


def fidelity_bugs(cache: Path, python: str) -> tuple[dict[tuple[str, str], list[Bug]], int]:
    """The fidelity benchmark's real bugs (bench/fidelity.py's table, imported): each a known buggy
    line in a real project with the tests that catch it. The log is those tests' pytest output with
    the bug in place; the buggy chunk is the one holding the changed line. Cached like the others,
    and counted only when the tests pass without the bug and fail with it."""
    if str(REPO) not in sys.path:  # run as a script (python bench/context.py): bench is not installed
        sys.path.insert(0, str(REPO))
    from bench.fidelity import BUGS

    saved = cache / f"bugs-fidelity-{len(BUGS)}.json"
    if not saved.exists():
        found = []
        for real in BUGS:
            root = fetch_sdist(real.project, real.version, cache)
            path = root / real.path
            original = path.read_text(encoding="utf-8")
            if real.good not in original:
                raise SystemExit(f"{real.project} {real.version}: the sdist changed ({real.path})")
            mutated = original.replace(real.good, real.bad, 1)
            line = original[: original.index(real.good)].count("\n") + 1
            path.write_text(mutated, encoding="utf-8")
            try:
                run = sh(
                    python, "-m", "pytest", "-q", "-p", "no:cacheprovider", *real.tests, cwd=root, timeout=180
                )
            finally:
                path.write_text(original, encoding="utf-8")
            bug = Bug(real.project, real.path, _enclosing(mutated, line), line, "real", run.stdout, mutated)
            found.append({"version": real.version, "bug": bug.__dict__})
        saved.write_text(json.dumps(found))
    entries = [(e["version"], Bug(**e["bug"])) for e in json.loads(saved.read_text())]
    checked = saved.with_name(saved.name.replace("bugs-", "verified-", 1))
    if not checked.exists():
        verdicts = [
            verify([bug], fetch_sdist(bug.project, version, cache), python)[0] for version, bug in entries
        ]
        checked.write_text(json.dumps(verdicts))
    out: dict[tuple[str, str], list[Bug]] = {}
    for (version, bug), ok in zip(entries, json.loads(checked.read_text()), strict=True):
        if ok:
            out.setdefault((bug.project, version), []).append(bug)
    return out, len(entries)


def _enclosing(text: str, line: int) -> str:
    """The innermost function holding ``line``; ``<module>`` outside any (a window chunk holds it)."""
    holding = [
        node
        for node in ast.walk(ast.parse(text))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.lineno <= line <= (node.end_lineno or 0)
    ]
    return max(holding, key=lambda n: n.lineno).name if holding else "<module>"


@dataclass
class Result:
    hits: dict[int, int]  # budget -> 1 when the buggy function is in the pack (relevance floor on)
    size: int  # the pack's bytes at the default budget
    plain_hit: int  # filled to the budget, no floor: the plain alternative
    plain_size: int
    rank: int  # 1-based position of the buggy chunk in the ranking; 0: not ranked
    miss: str = ""  # for --misses: the bug, its rank and score, and what outranked it


def _is_bug(bug: Bug, path: str, start: int, end: int, symbol: str) -> bool:
    return path == bug.path and (start <= bug.line <= end or symbol.split(".")[-1] == bug.function)


def recall(name: str, version: str, bugs: list[Bug], cache: Path) -> list[Result]:
    root = fetch_sdist(name, version, cache)
    out = []
    for bug in bugs:
        # Re-inject exactly this bug, then ask the engine, whose index sees the mutated file.
        path = root / bug.path
        original = path.read_text(encoding="utf-8")
        path.write_text(bug.mutated, encoding="utf-8")
        try:
            engine = ContextEngine(root, cache=cache / f"index-{name}.json")
            hits = {}
            size = 0
            for budget in BUDGETS:
                pack = engine.for_item(ItemContext("Fix the failing build", log=bug.log, budget=budget))
                hits[budget] = int(any(_is_bug(bug, *_span(i.key), i.symbol) for i in pack.included))
                if budget == DEFAULT:
                    size = pack.size
            request = ItemContext("Fix the failing build", log=bug.log, budget=DEFAULT)
            plain = engine.for_item(request, floor=0.0)
            ranked = engine.rank(request)
            rank = next(
                (
                    n
                    for n, s in enumerate(ranked, start=1)
                    if _is_bug(bug, s.chunk.path, s.chunk.start, s.chunk.end, s.chunk.symbol)
                ),
                0,
            )
            plain_hit = int(any(_is_bug(bug, *_span(i.key), i.symbol) for i in plain.included))
            out.append(Result(hits, size, plain_hit, plain.size, rank, _miss(bug, ranked, rank, engine)))
        finally:
            path.write_text(original, encoding="utf-8")
    return out


def _miss(bug: Bug, ranked: list[Scored], rank: int, engine: ContextEngine) -> str:
    """Why a bug ranked where it did: the failing tests, the bug's score and reasons, and the
    chunks above it with theirs (the first three), for studying the ranking's misses."""
    failures = engine.failures(ItemContext("Fix the failing build", log=bug.log))
    tests = ", ".join(dict.fromkeys(f.test_id for f in failures[:3]))
    message = next((f.message for f in failures if f.message), "")[:120]

    def describe(s: Scored) -> str:
        why = "; ".join(s.reasons) or "text only"
        return f"{s.chunk.path}:{s.chunk.start} {s.chunk.symbol or '(window)'} {s.score:.2f} [{why}]"

    mine = ranked[rank - 1] if rank else None
    above = ranked[: min(3, rank - 1) if rank else 3]
    lines = [
        f"{bug.project} {bug.path}::{bug.function} ({bug.operator}): rank {rank or 'unranked'}",
        f"    failing: {tests} -- {message}",
        f"    bug:     {describe(mine) if mine else 'not in the ranking'}",
        *(f"    above:   {describe(s)}" for s in above),
    ]
    return "\n".join(lines)


def _span(key: str) -> tuple[str, int, int]:
    path, span = key.rsplit(":", 1)
    start, end = span.split("-")
    return path, int(start), int(end)


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


def swebench(cache: Path, tasks: Path) -> list[tuple[str, list[str], list[str], int]]:
    out = []
    for line in tasks.read_text().splitlines():
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


TIMING = r"""
import json, resource, subprocess, sys, time
from pathlib import Path
from bot.context.engine import ContextEngine, ItemContext
from bot.context.retrieval import Scored
from bot.context.shared import SharedContext

def rss():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20

root, cache, changed = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
first_q = ItemContext("QuerySet filter ordering is wrong", budget=20000)
second_q = ItemContext("Form field clean does not strip whitespace", budget=20000)
out = {}
m0 = rss(); t = time.perf_counter()
shared = SharedContext(cache=cache)
e = ContextEngine(root, cache=cache, shared=shared)
e.index
out["index_s"] = time.perf_counter() - t; m1 = rss(); t = time.perf_counter()
e.retriever
out["retriever_s"] = time.perf_counter() - t; out["retriever_mib"] = rss() - m1
t = time.perf_counter(); e.for_item(first_q); out["first_s"] = time.perf_counter() - t
# The second item: its own tree (here the same checkout with one file changed, as an item's
# worktree differs from the base), its own engine, the run's shared index and retriever.
path = root / changed; original = path.read_text()
path.write_text(original + "\n\ndef added_by_the_item():\n    return 1\n")
try:
    m2 = rss(); t = time.perf_counter()
    second = ContextEngine(root, cache=cache, shared=shared)
    second.for_item(second_q)
    out["second_s"] = time.perf_counter() - t; out["second_mib"] = rss() - m2
    assert not second.retriever.is_base
    # The plain alternative: an engine of its own per item (index from the disk cache, full build).
    m3 = rss(); t = time.perf_counter()
    ContextEngine(root, cache=cache).for_item(second_q)
    out["plain_second_s"] = time.perf_counter() - t; out["plain_second_mib"] = rss() - m3
finally:
    path.write_text(original)
out["peak_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def retriever_timing(root: Path, cache_file: Path, changed: str) -> dict[str, float]:
    """In a fresh process with a warm index cache: the retriever's build, a first item's context,
    and a second item's context through the run's shared index and retriever (one file changed),
    with the resident memory each step added; compared with an engine of its own (plain)."""
    sh(sys.executable, "-c", "from pathlib import Path; from bot.context.engine import ContextEngine; "
       f"ContextEngine(Path({str(root)!r}), cache=Path({str(cache_file)!r})).index")  # fmt: skip
    done = sh(sys.executable, "-c", TIMING, str(root), str(cache_file), changed)
    if done.returncode != 0:
        raise SystemExit(done.stderr)
    return dict(json.loads(done.stdout))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--bugs", type=int, default=40, help="injected bugs per project and seed")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--collect-only", action="store_true", help="collect (and cache) the bugs, then stop")
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "milestone-bot-bench")
    parser.add_argument("--skip-large", action="store_true", help="skip the Django timing")
    parser.add_argument("--skip-swebench", action="store_true", help="skip the SWE-bench localization")
    parser.add_argument(
        "--skip-real", action="store_true", help="skip the fidelity benchmark's real bugs (bench/fidelity.py)"
    )
    parser.add_argument(
        "--shared",
        type=Path,
        default=default_shared(),
        help="the shared folder holding data/swebench-small.jsonl (default: the repository's parent's"
        " shared, else the nearest beside an ancestor: %(default)s)",
    )
    parser.add_argument("--projects", nargs="+", help="only these of the small projects (by name)")
    parser.add_argument(
        "--misses", action="store_true", help="list each bug not ranked in the top 3, and what outranked it"
    )
    args = parser.parse_args(argv)
    cache: Path = args.cache
    venv = cache / "venv"
    if not (venv / "bin" / "python").exists():
        sh(sys.executable, "-m", "venv", str(venv))
        sh(str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pytest")
    python = str(venv / "bin" / "python")
    started = time.perf_counter()
    rows = []
    everything: list[Result] = []
    collected = 0
    for name, version, package, tests in PROJECTS:
        if args.projects and name not in args.projects:
            continue
        results: list[Result] = []
        for seed in args.seeds:
            bugs, total = collect_bugs(name, version, package, tests, args.bugs, cache, python, seed)
            collected += total
            if not args.collect_only:
                results += recall(name, version, bugs, cache)
        if args.collect_only:
            continue
        cold, warm, mem, files = index_timing(
            fetch_sdist(name, version, cache), cache / f"timing-{name}.json"
        )
        rows.append((f"{name} {version}", results, cold, warm, mem, files))
        everything += results
    injected = list(everything)
    if not args.skip_real:
        real, total = fidelity_bugs(cache, python)
        for (name, version), bugs in sorted(real.items()):
            if (args.projects and name not in args.projects) or args.collect_only:
                continue
            collected += len(bugs)  # those discarded are counted below, once
            results = recall(name, version, bugs, cache)
            rows.append((f"{name} {version} (real)", results, None, None, None, None))
            everything += results
        collected += total - sum(len(b) for b in real.values())
    if args.collect_only:
        print(f"bugs collected in {time.perf_counter() - started:.0f}s")
        return 0

    def line(label: str, results: list[Result]) -> str:
        rates = " ".join(f"{statistics.mean(r.hits[b] for r in results):>7.1%}" for b in BUDGETS)
        ranks = [r.rank for r in results]
        top1 = statistics.mean(int(k == 1) for k in ranks)
        top3 = statistics.mean(int(0 < k <= 3) for k in ranks)
        med = statistics.median(r.size for r in results)
        plain = statistics.mean(r.plain_hit for r in results)
        plain_med = statistics.median(r.plain_size for r in results)
        return (
            f"{label:<24} {len(results):>5} {rates} {med:>9.0f} {top1:>6.1%} {top3:>6.1%}"
            f" {plain:>9.1%} {plain_med:>9.0f} {plain_med / med if med else 0:>6.2f}x"
        )

    print(
        f"seeds {args.seeds}, {args.bugs} bugs per project and seed, and the fidelity benchmark's real bugs;"
        f" {len(everything)} bugs counted of {collected} collected (a bug counts when its failing tests pass"
        f" on the clean sdist and fail with it); default budget {DEFAULT} B"
    )
    print(
        f"{'project':<24} {'bugs':>5} {'@8KB':>7} {'@20KB':>7} {'@50KB':>7} {'median B':>9} {'top1':>6} {'top3':>6}"
        f" {'plain@20':>9} {'plain B':>9} {'bytes':>7}"
    )
    for label, results, *_ in rows:
        print(line(label, results))
    if injected and len(injected) != len(everything):
        print(line("injected", injected))
    if everything:
        print(line("all", everything))
    if args.misses:
        missed = [r for r in everything if not 0 < r.rank <= 3]
        print(f"\nbugs not ranked in the top 3 ({len(missed)} of {len(everything)}):")
        for r in sorted(missed, key=lambda r: (r.rank == 0, r.rank)):
            print(r.miss)
    print(f"\n{'project':<24} {'files':>6} {'index cold s':>13} {'warm s':>7} {'peak MiB':>9}")
    for label, _results, cold, warm, mem, files in rows:
        if cold is not None:
            print(f"{label:<24} {files:>6} {cold:>13.2f} {warm:>7.2f} {mem:>9.0f}")
    if not args.skip_large:
        root = fetch_sdist(*LARGE, cache)
        cold, warm, mem, files = index_timing(root, cache / "timing-django.json")
        print(f"{'Django ' + LARGE[1]:<24} {files:>6} {cold:>13.2f} {warm:>7.2f} {mem:>9.0f}")
        t = retriever_timing(root, cache / "timing-django.json", "django/forms/fields.py")
        print(
            f"\nDjango {LARGE[1]}, one engine per run: retriever build {t['retriever_s']:.2f}s"
            f" (+{t['retriever_mib']:.0f} MiB), first item's context {t['first_s']:.2f}s,"
            f" second item's context {t['second_s']:.2f}s (+{t['second_mib']:.1f} MiB);"
            f" plain (an engine per item): second item {t['plain_second_s']:.2f}s"
            f" (+{t['plain_second_mib']:.0f} MiB), {t['plain_second_s'] / max(t['second_s'], 1e-9):.0f}x slower;"
            f" peak {t['peak_mib']:.0f} MiB"
        )
    tasks = args.shared / SWE_FILE
    if args.skip_swebench:
        print("\nSWE-bench localization skipped (--skip-swebench)")
    elif not tasks.exists():
        print(f"\nSWE-bench localization skipped: {tasks} not found (pass --shared FOLDER)")
    else:
        print(
            f"\nissue-text localization, SWE-bench small ({tasks}; changed .py files in a 20 KB context"
            " from the problem text alone):"
        )
        for instance, present, found, size in swebench(cache, tasks):
            print(
                f"  {instance:<38} {len(found)}/{len(present)} changed files in context ({size} B): {', '.join(present)}"
            )
    print(f"\nelapsed {time.perf_counter() - started:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
