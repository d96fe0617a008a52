"""Which tests a change affects: tests importing a changed module, or named after it."""

from __future__ import annotations

import re
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


# Import statements found textually, at any indentation: parsing and walking every test file's
# AST cost more than a second on a large suite (more-itertools' tests/test_more.py), on every
# verdict. A match inside a string only adds a file to the affected tests, which run first anyway.
_IMPORT = re.compile(r"^[ \t]*import[ \t]+([\w., \t]+)", re.M)
_FROM = re.compile(r"^[ \t]*from[ \t]+([\w.]+)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
_AS = re.compile(r"[ \t]+as[ \t]+\w+")
_COMMENT = re.compile(r"#[^\n]*")


def _imports(source: str) -> set[str]:
    found: set[str] = set()
    for match in _IMPORT.finditer(source):
        found |= {n.strip() for n in _AS.sub("", match.group(1)).split(",") if n.strip()}
    for module, names in _FROM.findall(source):
        if module.startswith("."):
            continue  # relative: the project's own package-relative import, not a module path
        found.add(module)
        for name in _AS.sub("", _COMMENT.sub("", names)).strip("()\\ \t").replace("\n", ",").split(","):
            if name.strip().isidentifier():
                found.add(f"{module}.{name.strip()}")
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
