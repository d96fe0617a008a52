"""Evidence that a change is needed and complete, from what the item's tests ran (``trace.py``).

A wrong change can pass every test a project has. Two shapes of it are found here, from the change
read against what the tests executed (the line-coverage rule "every changed line must run" was
measured and refused: it rejects right fixes whose defensive branch no test reaches, see
``bench/reach.py``):

- **Old code kept for untested inputs.** The change makes the fixed code conditional and keeps the
  very code it replaced in the other branch (``options[i - 1] if i > 1 else options[i - 0]``, where
  ``options[i - 0]`` was the line before). That is a right fix when the old code is right for those
  other inputs, which some test then shows by running it (a guard ``x[0] if x else None`` keeps
  ``x[0]`` for the inputs every other test passes). When no passing test runs the kept branch,
  nothing shows the old code right for any input and the failing test showed it wrong for some:
  the change is a partial fix. Found on the AST: replacing the new conditional by one of its
  branches gives back the old definition exactly.
- **A change the item's tests never use.** A changed function that no acceptance test runs, or a
  changed module-level statement (``int2byte = struct.Struct(">b").pack``) whose names no code the
  acceptance tests ran refers to, is not needed to make them pass and is proven by nothing the
  item brought: a break slipped in elsewhere, or scope the item did not ask for. A definition the
  item names in its own words is exempt (it asked for it); so is one given the very edit a
  definition the tests do run was given (the same slip fixed in a sibling), and one a new test that
  fails on the base runs (it then is an acceptance test). A function module-level code calls or
  applies (a table builder, a decorator) runs at import, before the tracer looks: it counts as
  used. ``__all__`` and other dunders are bookkeeping.

Pure but for ``judge``'s inputs: the plan is made from the change's texts, the trace by pytest.
"""

from __future__ import annotations

import ast
import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from bot.validation.guard import is_test_file
from bot.validation.parsers import Diagnostic
from bot.validation.special_cases import changed_spans, parse_module, prose
from bot.validation.trace import Span, Trace, TraceRequest

Kind = Literal["function", "statement"]
_COMPOUND = (ast.If, ast.Try, ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)
_FUNCTION = (ast.FunctionDef, ast.AsyncFunctionDef)


@dataclass(frozen=True)
class Unit:
    """A changed definition: a function (by qualified name) or a module- or class-level statement."""

    path: str
    name: str
    kind: Kind
    first: int  # lines in the changed file, decorators included
    last: int
    names: frozenset[str] = frozenset()  # what a statement defines
    # The lines it lost and gained (stripped), when it had a counterpart before: the same edit
    # made in a definition the tests do run (a fix applied to its siblings too) is not unproven.
    edit: tuple[tuple[str, ...], tuple[str, ...]] = ((), ())
    # Called or applied by module-level code (a table builder, a decorator): it runs at import,
    # before any test, where the tracer does not look; the tests use what it made.
    import_time: bool = False

    def where(self) -> str:
        return f"{self.path} line {self.first}"


@dataclass(frozen=True)
class Kept:
    """Old code the change keeps in one branch of a new conditional."""

    path: str
    span: Span  # of the kept code in the changed file (1-based columns)
    code: str
    condition: str  # when it still runs
    unit: str


@dataclass(frozen=True)
class Plan:
    units: tuple[Unit, ...] = ()
    kept: tuple[Kept, ...] = ()

    @property
    def files(self) -> tuple[str, ...]:
        return tuple(sorted({u.path for u in self.units} | {k.path for k in self.kept}))

    def request(self, acceptance: Sequence[str]) -> TraceRequest | None:
        if not self.files or not (acceptance or self.kept):
            return None
        return TraceRequest(self.files, tuple(acceptance), every_test=bool(self.kept))


def _units(body: Sequence[ast.stmt], prefix: str = "") -> Iterator[tuple[str, ast.stmt]]:
    """(qualified name, node) of each function and each other statement outside functions."""
    for node in body:
        if isinstance(node, _FUNCTION):
            yield f"{prefix}{node.name}", node
        elif isinstance(node, ast.ClassDef):
            yield from _units(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, _COMPOUND):
            blocks = [getattr(node, f, []) for f in ("body", "orelse", "finalbody")]
            blocks += [h.body for h in getattr(node, "handlers", [])]
            for block in blocks:
                yield from _units(block, prefix)
        elif not _bookkeeping(node):
            yield f"{prefix}<statement>", node


def _bookkeeping(node: ast.stmt) -> bool:
    """Docstrings, ``pass`` and dunder assignments (``__all__``): no behaviour to prove."""
    if isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
        return True
    names = _defined(node)
    return bool(names) and all(n.startswith("__") and n.endswith("__") for n in names)


def _defined(node: ast.stmt) -> frozenset[str]:
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = list(node.targets)
    elif isinstance(node, ast.AnnAssign | ast.AugAssign):
        targets = [node.target]
    elif isinstance(node, ast.Import | ast.ImportFrom):
        return frozenset((a.asname or a.name).split(".")[0] for a in node.names)
    return frozenset(_names_in(targets))


def _names_in(nodes: Sequence[ast.AST]) -> set[str]:
    """Every name and attribute name in ``nodes``."""
    names: set[str] = set()
    for node in nodes:
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name):
                names.add(sub.id)
            elif isinstance(sub, ast.Attribute):
                names.add(sub.attr)
    return names


def _import_time_names(body: Sequence[ast.stmt]) -> set[str]:
    """Names module-level code refers to: statements outside function bodies, decorators, default
    values, bases and class bodies, the tests of module-level ``if``/``try``/``with`` blocks."""
    names: set[str] = set()
    for node in body:
        parts: list[ast.AST]
        if isinstance(node, _FUNCTION):
            parts = [*node.decorator_list, *node.args.defaults]
        elif isinstance(node, ast.ClassDef):
            parts = [*node.decorator_list, *node.bases, *node.keywords]
            names |= _import_time_names(node.body)
        elif isinstance(node, _COMPOUND):
            parts = [getattr(node, f) for f in ("test", "iter") if hasattr(node, f)]
            parts += [item.context_expr for item in getattr(node, "items", [])]
            for block in ("body", "orelse", "finalbody"):
                names |= _import_time_names(getattr(node, block, []))
            for handler in getattr(node, "handlers", []):
                names |= _import_time_names(handler.body)
        else:
            parts = [node]
        names |= _names_in(parts)
    return names


def _first(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _dump(node: ast.AST) -> str:
    """The AST without positions; a function less its docstring. A body is rendered as ast.dump
    renders any statement list, so a statement inside it can be replaced by others textually."""
    if isinstance(node, _FUNCTION):
        body = node.body[1:] if node.body and _bookkeeping(node.body[0]) else node.body
        head = ", ".join(ast.dump(d) for d in node.decorator_list)
        return f"[{head}] {ast.dump(node.args)} [{', '.join(ast.dump(s) for s in body)}]"
    return ast.dump(node)


def _edit(
    old_lines: Sequence[str], new_lines: Sequence[str], old_node: ast.stmt | None, first: int, last: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The lines a definition lost and gained (stripped, blank ones left out)."""
    if old_node is None:
        return (), ()
    a = [x.strip() for x in old_lines[_first(old_node) - 1 : old_node.end_lineno or old_node.lineno]]
    b = [x.strip() for x in new_lines[first - 1 : last]]
    ops = difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes()
    lost = tuple(x for tag, i1, i2, _, _ in ops if tag != "equal" for x in a[i1:i2] if x)
    gained = tuple(x for tag, _, _, j1, j2 in ops if tag != "equal" for x in b[j1:j2] if x)
    return lost, gained


def plan(files: Mapping[str, tuple[str | None, str | None]]) -> Plan:
    """The changed definitions and kept branches of the change's non-test Python files."""
    units: list[Unit] = []
    kept: list[Kept] = []
    for path, (before, after) in sorted(files.items()):
        if not path.endswith(".py") or is_test_file(path) or after is None:
            continue
        new = parse_module(after)
        old = parse_module(before) if before is not None else ast.Module(body=[], type_ignores=[])
        if new is None or old is None:
            continue
        spans = changed_spans(before, after)
        old_lines, new_lines = (before or "").splitlines(), after.splitlines()
        at_import = _import_time_names(new.body)
        previous: dict[str, list[ast.stmt]] = {}
        for name, node in _units(old.body):
            previous.setdefault(name, []).append(node)
        seen: dict[str, int] = {}
        for name, node in _units(new.body):
            index = seen[name] = seen.get(name, -1) + 1
            first, last = _first(node), node.end_lineno or node.lineno
            if not any(first <= b and a <= last for a, b in spans):
                continue
            dump = _dump(node)
            if isinstance(node, _FUNCTION):
                olds = previous.get(name, [])
                counterpart = olds[index] if index < len(olds) else None
                if counterpart is not None and _dump(counterpart) == dump:
                    continue
                edit = _edit(old_lines, new_lines, counterpart, first, last)
                early = name.split(".")[-1] in at_import
                units.append(Unit(path, name, "function", first, last, edit=edit, import_time=early))
                olds_here = [counterpart] if counterpart is not None else []
            else:
                same = [o for o in previous.get(name, []) if _dump(o) == dump]
                if same:
                    continue
                defined = _defined(node)
                label = ", ".join(sorted(defined)) or name
                olds_here = [o for o in previous.get(name, []) if _defined(o) & defined]
                was = olds_here[0] if len(olds_here) == 1 else None
                units.append(
                    Unit(
                        path,
                        label,
                        "statement",
                        first,
                        last,
                        defined,
                        _edit(old_lines, new_lines, was, first, last),
                    )
                )
            for old_node in olds_here:
                kept += _kept(path, name, node, _dump(old_node))
    return Plan(tuple(units), tuple(kept))


def _kept(path: str, unit: str, node: ast.stmt, old_dump: str) -> Iterator[Kept]:
    """Branches of new conditionals in ``node`` that are the old code: replacing the conditional by
    that branch gives back ``old_dump``."""
    whole = _dump(node)
    for sub in ast.walk(node):
        if not isinstance(sub, ast.IfExp | ast.If):
            continue
        here = ast.dump(sub)
        if here in old_dump or whole.count(here) != 1:
            continue  # not new, or ambiguous to replace
        branches: list[tuple[list[ast.AST], str]] = []
        test = ast.unparse(sub.test)
        if isinstance(sub, ast.IfExp):
            branches = [([sub.body], test), ([sub.orelse], f"not ({test})")]
        else:
            branches = [(list(sub.body), test)]
            if sub.orelse:
                branches.append((list(sub.orelse), f"not ({test})"))
        for nodes, condition in branches:
            replaced = whole.replace(here, ", ".join(ast.dump(n) for n in nodes), 1)
            if replaced != old_dump:
                continue
            first, last = nodes[0], nodes[-1]
            span = (
                first.lineno,  # type: ignore[attr-defined]
                first.col_offset + 1,  # type: ignore[attr-defined]
                last.end_lineno or last.lineno,  # type: ignore[attr-defined]
                (last.end_col_offset or 0) + 1,  # type: ignore[attr-defined]
            )
            code = "; ".join(ast.unparse(n) for n in nodes)
            yield Kept(path, span, code, condition, unit)


def _short(text: str, limit: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def judge(
    plan: Plan,
    trace: Trace,
    *,
    acceptance: Sequence[str],
    intent: str = "",
) -> list[Diagnostic]:
    """What the traces do not show: kept old code no passing test ran; changed definitions the
    item's passing acceptance tests never used."""
    problems: list[Diagnostic] = []
    for kept in plan.kept:
        # No test ran the file in its own process and one started a process: it may run there.
        unseen = trace.spawned and not trace.lines.get(kept.path)
        if not unseen and not trace.ran_in(kept.path, kept.span):
            problems.append(
                Diagnostic(
                    f"keeps the old `{_short(kept.code)}` for inputs where `{_short(kept.condition)}`, "
                    "and no passing test runs it: the failing tests showed that code wrong and nothing "
                    "shows it right for those inputs (a partial fix); fix it for every input, or add a "
                    "test that runs that branch",
                    kept.path,
                    kept.span[0],
                    kind="kept_code",
                )
            )
    mine = sorted(t for t in trace.acceptance if any(covers(t, a) for a in acceptance))
    ran = [trace.acceptance[t] for t in mine]
    if not ran:
        return problems
    words = prose(intent)
    in_process = {p for lines, _ in ran for p, found in lines.items() if found}
    spawned = any(t in trace.spawning for t in mine)

    def used(unit: Unit) -> bool:
        if unit.import_time:
            return True
        if unit.kind == "function":
            return any(
                any(unit.first <= n <= unit.last for n in lines.get(unit.path, ())) for lines, _ in ran
            )
        return not unit.names or any(unit.names & names for _, names in ran)

    proven = {u.edit for u in plan.units if used(u) and u.edit != ((), ())}
    for unit in plan.units:
        if _named(unit, words) or unit.edit in proven or (spawned and unit.path not in in_process):
            continue
        if not used(unit):
            tests = ", ".join(mine[:3]) + (f" and {len(mine) - 3} more" if len(mine) > 3 else "")
            what = "runs" if unit.kind == "function" else "uses"
            problems.append(
                Diagnostic(
                    f"changes `{_short(unit.name, 60)}`, which none of the item's tests ({tests}) {what}: "
                    "a change they do not need, proven by nothing the item brought (a break "
                    "elsewhere, or work the item did not ask for); leave it out, or add a test that "
                    "fails on the base without it",
                    unit.path,
                    unit.first,
                    kind="untested_change",
                )
            )
    return problems


def covers(test_id: str, wanted: str) -> bool:
    return test_id == wanted or test_id.startswith((f"{wanted}::", f"{wanted}["))


def _named(unit: Unit, words: str) -> bool:
    names = unit.names or frozenset({unit.name.split(".")[-1]})
    return any(re.search(rf"(?<![\w]){re.escape(n)}(?![\w])", words) for n in names)


__all__ = ["Kept", "Plan", "Unit", "covers", "judge", "plan"]
