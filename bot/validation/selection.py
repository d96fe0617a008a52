"""Which test ids inside an affected test file a change reaches: run those first.

A project that keeps most tests in one file (more-itertools' ``tests/test_more.py``) gains nothing
from running affected test *files* first. So the names a change touched are read from the AST of the
changed modules (functions, classes and methods whose definition differs, added or removed), and
in each affected test file the top-level test functions and test classes that mention one of them
are selected by node id. When that cannot be decided (module-level code changed, a helper or fixture
of the test file mentions a changed name, nothing in the file mentions one) the whole file is
selected, as before: selection only orders the work, the full suite still runs the rest.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from pathlib import Path

from bot.validation.guard import is_test_file


def _docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def _span(node: ast.stmt) -> range:
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno, *(d.lineno for d in decorators)])
    return range(first - 1, node.end_lineno or node.lineno)


def _defs(source: str) -> dict[str, str]:
    """Name -> source text of each definition (methods as Class.name); every other module-level
    line but imports, docstrings, comments and blank lines together as ``<module>``: its effect has
    no one name. Text, not AST dumps: dumping a large module costs most of a second; a change of
    formatting inside a definition only selects a few more tests."""
    lines = source.splitlines()
    found: dict[str, str] = {}
    claimed: set[int] = set()
    for node in ast.parse(source).body:
        span = _span(node)
        if isinstance(node, ast.Import | ast.ImportFrom | ast.Pass) or _docstring(node):
            claimed.update(span)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            claimed.update(span)
            found[node.name] = "\n".join(lines[span.start : span.stop])
            for inner in node.body if isinstance(node, ast.ClassDef) else []:
                if isinstance(inner, ast.FunctionDef | ast.AsyncFunctionDef):
                    inner_span = _span(inner)
                    found[f"{node.name}.{inner.name}"] = "\n".join(lines[inner_span.start : inner_span.stop])
    rest = (
        line.strip() for i, line in enumerate(lines) if i not in claimed and not line.strip().startswith("#")
    )
    found["<module>"] = "\n".join(line for line in rest if line)
    return found


def changed_names(before: str | None, after: str | None) -> frozenset[str] | None:
    """Names whose definition a change touched (methods give their own and their class's name);
    None when the change cannot be pinned to names (module-level code, a file that does not parse,
    a new or deleted module)."""
    if before is None or after is None:
        return None
    try:
        old, new = _defs(before), _defs(after)
    except SyntaxError:
        return None
    if old.pop("<module>") != new.pop("<module>"):
        return None
    touched = {n for n in old.keys() | new.keys() if old.get(n) != new.get(n)}
    # A changed method gives its name and its class's: a test may reach it through either.
    return frozenset(part for n in touched for part in n.split("."))


def _mentions(node: ast.AST, names: frozenset[str]) -> bool:
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name) and sub.id in names:
            return True
        if isinstance(sub, ast.Attribute) and sub.attr in names:
            return True
        if isinstance(sub, ast.alias) and (sub.asname or sub.name).split(".")[-1] in names:
            return True
    return False


def _is_test(node: ast.stmt) -> bool:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        return node.name.startswith("test")
    return isinstance(node, ast.ClassDef) and (
        node.name.startswith("Test") or node.name.endswith(("Test", "Tests", "TestCase"))
    )


def reached_tests(path: str, source: str, names: frozenset[str]) -> list[str]:
    """Node ids of the file's top-level tests that mention a name; [path] when the whole file must
    run (a helper, fixture or module-level statement mentions one, or no test does)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return [path]
    picked: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if not _mentions(node, names):
            continue
        if not _is_test(node):
            return [path]  # a helper or fixture: every test using it is affected
        name = node.name  # type: ignore[attr-defined]
        picked.append(f"{path}::{name}")
    return picked or [path]


def select(
    repo: Path, affected_files: Iterable[str], files: Mapping[str, tuple[str | None, str | None]]
) -> list[str]:
    """Affected test files narrowed to the test ids the change's named definitions reach."""
    names: set[str] = set()
    for path, (before, after) in files.items():
        if not path.endswith(".py") or is_test_file(path):
            continue
        found = changed_names(before, after)
        if found is None:
            return list(affected_files)
        names |= found
    if not names:
        # Only comments or blank lines between definitions changed: no test can behave differently;
        # a changed test file still runs first.
        return [t for t in affected_files if t in files]
    out: list[str] = []
    for test in affected_files:
        if test in files:  # a changed test file runs whole
            out.append(test)
            continue
        try:
            source = (repo / test).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            out.append(test)
            continue
        out += reached_tests(test, source, frozenset(names))
    return out
