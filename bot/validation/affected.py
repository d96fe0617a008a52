"""Which tests a change affects: tests importing a changed module, or named after it."""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from bot.validation.guard import is_test_file


def module_names(path: str) -> set[str]:
    """Dotted names a Python file may be imported as (with and without a src/ layout prefix)."""
    parts = list(PurePosixPath(path).with_suffix("").parts)
    if parts and parts[-1] == "__init__":
        parts.pop()
    names = set()
    for start in range(len(parts)):
        names.add(".".join(parts[start:]))
    return {n for n in names if n}


def _imports(source: str) -> set[str]:
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def affected_tests(repo: Path, changed: Iterable[str], test_files: Iterable[str]) -> list[str]:
    changed = [c for c in changed if c.endswith(".py")]
    targets: set[str] = set()
    stems: set[str] = set()
    for path in changed:
        if is_test_file(path):
            continue
        targets |= module_names(path)
        stems.add(PurePosixPath(path).stem)
    out = []
    for test in sorted(set(test_files)):
        name = PurePosixPath(test).stem
        named_after = name.removeprefix("test_").removesuffix("_test") in stems
        try:
            imports = _imports((repo / test).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):
            imports = set()
        if named_after or imports & targets or test in changed:
            out.append(test)
    return out
