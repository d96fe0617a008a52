"""What a pytest run executed in the changed files: the evidence behind ``evidence.py``'s rules.

A small pytest plugin (its source below, written next to the JUnit report, outside the worktree)
traces each test's setup, call and teardown with ``sys.settrace``: in the changed files it records
the lines that ran and, where the interpreter gives column positions (3.11+), the source span of
every instruction that ran, so one branch of a one-line conditional expression can be told from
the other; everywhere it records the names (globals and attributes) the code that ran refers to.
Only tests whose call passed count. The item's acceptance tests are recorded one by one; with
``every_test`` the spans of every passing test are pooled (does *any* test run this code?).

An earlier tracer (coverage's, a debugger's) is chained, not replaced: it keeps its events except
the per-instruction ones it never asked for. Each process writes its own file (xdist workers).

The trace is written by code in the same process as the code under test, so a hostile change can
forge or suppress it: it is evidence against honest mistakes, not a security boundary (the guard,
the sandbox and the JUnit checks are). A missing trace is said, never taken as a pass or a fail.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

PLUGIN_MODULE = "milestone_bot_trace"
Span = tuple[int, int, int, int]  # line, column, end line, end column (1-based lines)

PLUGIN = r'''
"""milestone-bot's tracer (bot/validation/trace.py): what each passing test ran in the changed files."""
import json, os, sys, threading
import pytest

_CONF = json.loads(os.environ["MILESTONE_BOT_TRACE"])
_TARGETS = {os.path.realpath(p): p for p in _CONF["files"]}
_ACCEPT = tuple(_CONF["acceptance"])
_EVERY = bool(_CONF["every_test"])
_COLUMNS = sys.version_info >= (3, 11)
_paths = {}
_state = {}
_out = {"columns": _COLUMNS, "reached": {}, "acceptance": {}, "spawned": False}
_SPAWN = ("subprocess.Popen", "os.system", "os.posix_spawn", "os.exec", "os.spawn", "os.fork")
_spawning = [False]


def _audit(event, args):
    # A test that starts a process may run the changed code there, where no tracer is.
    if event in _SPAWN:
        _spawning[0] = True


sys.addaudithook(_audit)


def _accepted(nodeid):
    return any(nodeid == a or nodeid.startswith((a + "::", a + "[")) for a in _ACCEPT)


def _path(code):
    name = code.co_filename
    found = _paths.get(name)
    if found is None:
        found = _paths[name] = _TARGETS.get(os.path.realpath(name), "")
    return found


def _tracer(lines, offsets, names, seen):
    def local(frame, event, arg):
        if event == "opcode":
            offsets.add((frame.f_code, frame.f_lasti))
        elif event == "line":
            lines.setdefault(_path(frame.f_code), set()).add(frame.f_lineno)
        return local

    def glob(frame, event, arg):
        code = frame.f_code
        if code not in seen:
            seen.add(code)
            names.update(code.co_names)
        if _path(code):
            if _COLUMNS:
                frame.f_trace_opcodes = True
            return local
        return None

    return glob


def _chain(mine, theirs):
    def glob(frame, event, arg):
        a = theirs(frame, event, arg)
        b = mine(frame, event, arg)
        if b is None or a is None:
            return a if b is None else b
        state = [a]

        def both(frame, event, arg):
            if state[0] is not None and event != "opcode":
                state[0] = state[0](frame, event, arg)
            b(frame, event, arg)
            return both

        return both

    return glob


def _spans(offsets):
    spans = {}
    positions = {}
    for code, offset in offsets:
        if code not in positions:
            positions[code] = list(code.co_positions())
        at = positions[code]
        if offset // 2 < len(at):
            line, end, col, end_col = at[offset // 2]
            if None not in (line, end, col, end_col):
                spans.setdefault(_path(code), set()).add((line, col + 1, end, end_col + 1))
    return spans


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    accepted = _accepted(item.nodeid)
    if not (_EVERY or accepted):
        yield
        return
    lines, offsets, names, seen = {}, set(), set(), set()
    _state[item.nodeid] = None
    previous = sys.gettrace()
    previous_threads = getattr(threading, "gettrace", lambda: None)()
    mine = _tracer(lines, offsets, names, seen)
    sys.settrace(mine if previous is None else _chain(mine, previous))
    threading.settrace(mine)  # threads the test starts are traced too
    _spawning[0] = False
    try:
        yield
    finally:
        sys.settrace(previous)
        threading.settrace(previous_threads)
    spawned = _spawning[0]
    if _state.pop(item.nodeid, None) != "passed":
        return
    spans = _spans(offsets) if _COLUMNS else {}
    reached = _out["reached"]
    for path, found in lines.items():
        entry = reached.setdefault(path, {"lines": set(), "spans": set()})
        entry["lines"].update(found)
        entry["spans"].update(spans.get(path, ()))
    _out["spawned"] = _out["spawned"] or spawned
    if accepted:
        _out["acceptance"][item.nodeid] = {
            "lines": {p: sorted(v) for p, v in lines.items()}, "names": sorted(names), "spawned": spawned
        }


def pytest_runtest_logreport(report):
    if report.nodeid in _state and report.when == "call":
        _state[report.nodeid] = report.outcome


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session):
    reached = {
        p: {"lines": sorted(e["lines"]), "spans": sorted(e["spans"])} for p, e in _out["reached"].items()
    }
    data = {**_out, "reached": reached}
    target = os.path.join(_CONF["out"], "trace-%d.json" % os.getpid())
    with open(target, "w", encoding="utf-8") as f:
        json.dump(data, f)
'''


@dataclass(frozen=True)
class TraceRequest:
    files: tuple[str, ...]  # repository-relative paths to trace (the changed non-test Python files)
    acceptance: tuple[str, ...] = ()  # test ids (or files) recorded one by one
    every_test: bool = False  # pool what every passing test ran (kept branches to look for)


@dataclass
class Trace:
    """What the traced runs of one verdict executed, merged."""

    columns: bool = True
    lines: dict[str, set[int]] = field(default_factory=dict)
    spans: dict[str, set[Span]] = field(default_factory=dict)
    # acceptance test id -> (path -> lines it ran, names the code it ran refers to)
    acceptance: dict[str, tuple[dict[str, set[int]], frozenset[str]]] = field(default_factory=dict)
    runs: int = 0
    # A traced passing test started a process (which no tracer follows): anything a test did not
    # run in its own process may have run there. ``spawning``: the acceptance tests that did.
    spawned: bool = False
    spawning: set[str] = field(default_factory=set)

    @classmethod
    def pooled(cls, traces: Iterable[Trace | None]) -> Trace:
        """The traces runs wrote, merged (a run that wrote none adds nothing; ``runs`` counts)."""
        out = cls(runs=0)
        for found in traces:
            if found is not None:
                out.merge(found)
        return out

    def merge(self, other: Trace) -> None:
        self.columns = self.columns and other.columns
        for path, lines in other.lines.items():
            self.lines.setdefault(path, set()).update(lines)
        for path, spans in other.spans.items():
            self.spans.setdefault(path, set()).update(spans)
        self.acceptance.update(other.acceptance)
        self.runs += other.runs
        self.spawned = self.spawned or other.spawned
        self.spawning |= other.spawning

    def ran_in(self, path: str, span: Span) -> bool:
        """Did any passing test run code inside ``span``? Lines only where there are no columns."""
        line, col, end, end_col = span
        if not self.columns:
            return any(line <= n <= end for n in self.lines.get(path, ()))
        return any(
            (line, col) <= (a, b) and (c, d) <= (end, end_col) for a, b, c, d in self.spans.get(path, ())
        )


def setup(request: TraceRequest, root: Path, folder: Path) -> tuple[list[str], dict[str, str]]:
    """Write the plugin into ``folder`` (outside the worktree): pytest arguments and environment."""
    (folder / f"{PLUGIN_MODULE}.py").write_text(PLUGIN, encoding="utf-8")
    out = folder / "traces"
    out.mkdir(exist_ok=True)
    conf = {
        "files": [str((root / f).resolve()) for f in request.files],  # read back relative to root
        "acceptance": list(request.acceptance),
        "every_test": request.every_test,
        "out": str(out),
    }
    return ["-p", PLUGIN_MODULE], {"MILESTONE_BOT_TRACE": json.dumps(conf)}


def read(folder: Path, root: Path) -> Trace | None:
    """The traces the run's processes wrote, merged; None when none was written."""
    files = sorted((folder / "traces").glob("trace-*.json"))
    if not files:
        return None
    resolved = str(root.resolve())
    trace = Trace(runs=1)
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        part = _parse(data, resolved)
        part.runs = 0
        trace.merge(part)
    return trace


def _relative(path: str, root: str) -> str:
    return os.path.relpath(path, root) if path.startswith(root + os.sep) else path


def _parse(data: Mapping[str, object], root: str) -> Trace:
    trace = Trace(columns=bool(data.get("columns")), spawned=bool(data.get("spawned")))
    reached = data.get("reached")
    if isinstance(reached, dict):
        for path, entry in reached.items():
            rel = _relative(str(path), root)
            trace.lines[rel] = {int(n) for n in entry.get("lines", ())}
            trace.spans[rel] = {_span(s) for s in entry.get("spans", ()) if len(s) == 4}
    accepted = data.get("acceptance")
    if isinstance(accepted, dict):
        for test_id, entry in accepted.items():
            lines = {_relative(str(p), root): {int(n) for n in v} for p, v in entry.get("lines", {}).items()}
            trace.acceptance[str(test_id)] = (lines, frozenset(str(n) for n in entry.get("names", ())))
            if entry.get("spawned"):
                trace.spawning.add(str(test_id))
    return trace


def _span(values: Sequence[object]) -> Span:
    a, b, c, d = (int(str(v)) for v in values)
    return a, b, c, d


__all__ = ["PLUGIN", "PLUGIN_MODULE", "Span", "Trace", "TraceRequest", "read", "setup"]
