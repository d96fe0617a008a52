"""Would "changed code the acceptance tests never execute is unproven" tell right fixes from wrong
ones? Measured on the fidelity bench's bugs before it is made a rule.

For each bug's right fix and its wrong ones (partial, special-cased, a regression elsewhere), the
acceptance tests run in the project's environment with a line tracer on the changed file, during
the test calls only (what the failing test's path executes); a changed statement that never runs
there is "unreached". Statements at a module's top level run at import, so they count as reached.
A rule "reject a change with an unreached line" would reject every right fix this prints as
unreached (its false rejections) and catch the wrong ones it prints as unreached.

    python -m bench.reach [--cache .cache/realprojects] [--only six]
"""

from __future__ import annotations

import argparse
import ast
import difflib
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.fidelity import BUGS, Bug, fetch, venv

PLUGIN = """
import json, os, sys
import pytest
TARGET = os.path.realpath(os.environ["REACH_FILE"])
RAN, KNOWN = set(), {}
def _local(frame, event, arg):
    if event == "line":
        RAN.add(frame.f_lineno)
    return _local
def _global(frame, event, arg):
    name = frame.f_code.co_filename
    if name not in KNOWN:
        KNOWN[name] = os.path.realpath(name) == TARGET
    if KNOWN[name]:
        RAN.add(frame.f_lineno)
        return _local
    return None
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    sys.settrace(_global)
    yield
    sys.settrace(None)
def pytest_unconfigure(config):
    with open(os.environ["REACH_OUT"], "w") as f:
        json.dump(sorted(RAN), f)
"""


def changed_statements(before: str, after: str) -> set[int]:
    """Lines of ``after`` that hold a changed statement below the module's top level."""
    tree = ast.parse(after)
    top = {n.lineno for n in tree.body}
    statements = {n.lineno for n in ast.walk(tree) if isinstance(n, ast.stmt)} - top
    lines: set[int] = set()
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    for tag, _, _, b1, b2 in matcher.get_opcodes():
        if tag != "equal":
            lines |= set(range(b1 + 1, b2 + 1))
    return lines & statements


def candidates(bug: Bug, source: str) -> dict[str, str]:
    before = source.replace(bug.good, bug.bad, 1)
    path, old, new = bug.regression
    regression = source.replace(old, new, 1) if path == bug.path else source
    return {
        "right": source,
        "partial": before.replace(bug.bad, bug.partial, 1),
        "special_cased": before.replace(bug.bad, bug.special, 1),
        "regression": regression,
    }


def unreached(bug: Bug, sdist: Path, after: str, work: Path, python: Path, plugin: Path) -> list[int]:
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(sdist, work)
    source = (sdist / bug.path).read_text()
    (work / bug.path).write_text(after)
    out = work / ".reach.json"
    roots = [str(work / "src") if bug.path.startswith("src/") else str(work), str(plugin)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(roots), "REACH_FILE": str(work / bug.path),
           "REACH_OUT": str(out)}  # fmt: skip
    subprocess.run(
        [str(python), "-m", "pytest", "-q", "-p", "reach_plugin", "-p", "no:cacheprovider", *bug.tests],
        cwd=work, env=env, capture_output=True, text=True, check=False, timeout=600,
    )  # fmt: skip
    ran = set(json.loads(out.read_text())) if out.exists() else set()
    return sorted(changed_statements(source.replace(bug.good, bug.bad, 1), after) - ran)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/realprojects"))
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "milestone-bot-reach")
    parser.add_argument("--only", default="", help="one project")
    args = parser.parse_args()
    cache, work = args.cache.resolve(), args.work.resolve()
    python = venv(cache) / "bin" / "python"
    plugin = work / "plugin"
    plugin.mkdir(parents=True, exist_ok=True)
    (plugin / "reach_plugin.py").write_text(PLUGIN)
    hits: dict[str, list[bool]] = defaultdict(list)
    for bug in (b for b in BUGS if not args.only or b.project == args.only):
        sdist = work / "sdists" / f"{bug.project}-{bug.version}"
        if not sdist.exists():
            with tarfile.open(fetch(cache, bug.project, bug.version)) as archive:
                archive.extractall(sdist.parent / "tmp", filter="data")
            [extracted] = [p for p in (sdist.parent / "tmp").iterdir() if p.is_dir()]
            extracted.rename(sdist)
        source = (sdist / bug.path).read_text()
        for kind, after in candidates(bug, source).items():
            lines = unreached(bug, sdist, after, work / "tree", python, plugin)
            hits[kind].append(bool(lines))
            if lines:
                print(f"  {bug.project} {bug.tests[0]} {kind}: changed line(s) {lines} never run by the test")
    print("changed lines the acceptance tests never run (a rule would reject these):")
    for kind, values in hits.items():
        note = "  <- false rejections" if kind == "right" else ""
        print(f"  {kind:<14} {sum(values)}/{len(values)}{note}")


if __name__ == "__main__":
    main()
