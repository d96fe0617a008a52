"""The anti-cheat guard: a change must not make validation pass by weakening validation.

Existing tests are immutable: any change to an existing test file, fixture or conftest, compared on
the AST (formatting does not count), is a finding naming the changed lines; only new test functions
appended under new names are let through. In the change phase the tests the test phase wrote are
frozen too. Protected without exception: ``.github/`` (the bot's own config included), CODEOWNERS,
pytest's configuration files, ``conftest.py``, ``sitecustomize.py``/``usercustomize.py``, ``*.pth``
and new ``pytest_plugins``. Added ``noqa``/``type: ignore`` and friends weaken lint. Test code that
patches the code under test outside pytest's undoable ``monkeypatch`` is a finding too.

A change that special-cases the tested input (``if x == 3: return 7``) is read against the
acceptance tests by ``special_cases.py`` (kind ``special_cased``), not here.
Pure: it reads the before and after text of each changed file.
"""

from __future__ import annotations

import ast
import configparser
import difflib
import fnmatch
import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Literal

FindingKind = Literal[
    "test_deleted",
    "tests_removed",
    "skip_added",
    "assertions_weakened",
    "ci_edited",
    "config_edited",
    "outside_allowed",
    "test_changed",
    "protected",
    "plugin_added",
    "lint_weakened",
    "code_patched",
    "special_cased",  # found by special_cases.py, which reads the change against its tests
]
# What naming a test file in an item's allowed files lifts for that file (never protected files).
TEST_EDITS: frozenset[str] = frozenset(
    {"test_changed", "tests_removed", "skip_added", "assertions_weakened", "test_deleted"}
)
# Never lifted by an item's allowances: they change what validation itself does.
UNALLOWABLE: frozenset[str] = frozenset({"protected", "plugin_added"})

TEST_FILE_PATTERNS = (
    "test_*.py",
    "*_test.py",
    "tests/*",
    "test/*",
    "*/tests/*",
    "*/test/*",
    "*_test.go",
    "*.test.js",
    "*.test.ts",
    "*.test.tsx",
    "*.test.jsx",
    "*.spec.js",
    "*.spec.ts",
    "*.spec.tsx",
    "__tests__/*",
    "*/__tests__/*",
)
CI_PATTERNS = (
    ".github/workflows/*",
    ".gitlab-ci.yml",
    ".circleci/*",
    "azure-pipelines.yml",
    ".ci/*",
    "Jenkinsfile",
)
CONFIG_PATTERNS = (
    "pytest.ini",
    "tox.ini",
    "setup.cfg",
    "conftest.py",
    "*/conftest.py",
    ".coveragerc",
    "noxfile.py",
    "ruff.toml",
    ".ruff.toml",
    ".flake8",
    "mypy.ini",
    ".mypy.ini",
    ".pylintrc",
    "pylintrc",
    "jest.config.*",
    "vitest.config.*",
    ".mocharc*",
    "karma.conf.*",
    ".eslintrc*",
    "eslint.config.*",
    "tsconfig*.json",
    ".prettierrc*",
    "clippy.toml",
    ".clippy.toml",
    "rustfmt.toml",
    ".golangci*",
    ".pre-commit-config.yaml",
)
PYPROJECT_SECTIONS = ("pytest", "ruff", "mypy", "coverage", "pylint", "black", "isort")

SKIP_MARKERS = re.compile(
    r"@pytest\.mark\.(?:skip|skipif|xfail)\b|\bpytest\.(?:skip|xfail)\(|@unittest\.(?:skip\w*|expectedFailure)\b"
    r"|#\[ignore\]|\b(?:it|test|describe)\.(?:skip|todo)\(|\bx(?:it|describe|test)\(|\bt\.Skip(?:Now|f)?\("
)
TEST_DEFS = re.compile(
    r"^\s*(?:async\s+)?def test\w*\(|#\[test\]|^func Test\w+\(|\b(?:it|test)\(\s*['\"`]", re.M
)


@dataclass(frozen=True)
class Finding:
    kind: FindingKind
    path: str
    detail: str

    def render(self) -> str:
        return f"{self.path}: {self.detail} ({self.kind})"


def _matches(path: str, patterns: Sequence[str]) -> bool:
    name = PurePosixPath(path).name
    return any(fnmatch.fnmatchcase(path, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def is_test_file(path: str) -> bool:
    return _matches(path, TEST_FILE_PATTERNS)


def _strength(source: str) -> dict[str, tuple[int, int]]:
    """Per Python test function: (asserts, strong asserts). Strong: a comparison, or an
    assert*/raises call, rather than bare truthiness."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return {}
    out: dict[str, tuple[int, int]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test"):
            total = strong = 0
            for sub in ast.walk(node):
                if isinstance(sub, ast.Assert):
                    total += 1
                    strong += isinstance(sub.test, ast.Compare)
                elif isinstance(sub, ast.Call):
                    func = sub.func
                    name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                    if name.startswith("assert") or name in ("raises", "warns", "approx"):
                        total += 1
                        strong += 1
            out[node.name] = (total, strong)
    return out


def _pyproject_sections(text: str | None) -> dict[str, object]:
    if not text:
        return {}
    try:
        tool = tomllib.loads(text).get("tool", {})
    except tomllib.TOMLDecodeError:
        return {}
    return {k: v for k, v in tool.items() if k in PYPROJECT_SECTIONS} if isinstance(tool, dict) else {}


PROTECTED_NAMES = (
    "CODEOWNERS",
    "pytest.ini",
    ".pytest.ini",
    "pytest.toml",
    ".pytest.toml",
    "tox.ini",
    "conftest.py",
    "sitecustomize.py",
    "usercustomize.py",
    "*.pth",
)
# Sections of files pytest (or its plugins' entry points) read, in files that also hold other things.
SETUP_CFG_SECTIONS = ("tool:pytest", "pytest", "options.entry_points", "coverage:run", "flake8", "mypy")
LINT_OFF = re.compile(
    r"#\s*noqa\b|#\s*type:\s*ignore\b|#\s*ruff:\s*noqa\b|#\s*mypy:\s*ignore-errors\b|#\s*pylint:\s*disable"
    r"|#\s*pyright:\s*ignore|eslint-disable|@ts-ignore|@ts-nocheck|#\[allow\(|//\s*nolint"
)
PLUGINS = re.compile(r"^\s*pytest_plugins\b|\bpytest11\b", re.M)


def is_protected(path: str) -> bool:
    return path.startswith(".github/") or _matches(path, PROTECTED_NAMES)


def _ast(text: str | None) -> ast.Module | None:
    try:
        return ast.parse(text or "")
    except (SyntaxError, ValueError):
        return None


def _dump(node: ast.AST) -> str:
    return ast.dump(node)  # no line numbers: formatting does not count


def _changed_lines(before: str, after: str) -> str:
    """The lines that differ, in the changed file's numbering (the base's when only deletions)."""
    spans: list[str] = []
    matcher = difflib.SequenceMatcher(a=before.splitlines(), b=after.splitlines(), autojunk=False)
    for tag, a1, a2, b1, b2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if b2 > b1:
            spans.append(f"{b1 + 1}" if b2 == b1 + 1 else f"{b1 + 1}-{b2}")
        else:
            spans.append(f"base {a1 + 1}" if a2 == a1 + 1 else f"base {a1 + 1}-{a2}")
    return ", ".join(spans[:8]) + (" ..." if len(spans) > 8 else "")


def _imported(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {a.asname or a.name for a in node.names}
    return names


def _patches(tree: ast.Module) -> list[int]:
    """Lines where test code rebinds an attribute of imported code for good (not through
    pytest's ``monkeypatch``, which undoes itself), or declares an autouse fixture."""
    imported = _imported(tree)
    lines: list[int] = []
    for node in ast.walk(tree):
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = list(node.targets) if isinstance(node, ast.Assign) else [node.target]
        elif isinstance(node, ast.Delete):
            targets = list(node.targets)
        for target in targets:
            root = target
            while isinstance(root, ast.Attribute | ast.Subscript):
                root = root.value
            if target is not root and isinstance(root, ast.Name) and root.id in imported | {"sys"}:
                lines.append(getattr(node, "lineno", 0))
        if isinstance(node, ast.Call):
            func = node.func
            name = (
                func.id
                if isinstance(func, ast.Name)
                else func.attr
                if isinstance(func, ast.Attribute)
                else ""
            )
            rebinds = name in ("setattr", "delattr") and isinstance(func, ast.Name)
            started = (
                name == "start" and isinstance(func, ast.Attribute) and "patch" in ast.unparse(func.value)
            )
            autouse = name == "fixture" and any(
                k.arg == "autouse" and isinstance(k.value, ast.Constant) and k.value.value
                for k in node.keywords
            )
            if rebinds or started or autouse:
                lines.append(node.lineno)
    return sorted(set(lines))


_HARMLESS_DECORATORS = re.compile(r"^pytest\.mark\.(?:parametrize|usefixtures|timeout|asyncio|anyio)\b")


def _appended_tests_only(old: ast.Module, new: ast.Module) -> bool:
    """True when ``new`` is ``old`` plus new test functions/classes under new names (and imports):
    the one edit to an existing test file that cannot change what the old tests prove."""
    old_dumps = [_dump(n) for n in old.body]
    new_dumps = [_dump(n) for n in new.body]
    remaining = list(new_dumps)
    for d in old_dumps:
        if d not in remaining:
            return False
        remaining.remove(d)
    old_names = {
        n.name for n in old.body if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    }
    old_names |= {
        t.id for n in old.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)
    }
    for node in new.body:
        if _dump(node) not in remaining:
            continue
        remaining.remove(_dump(node))
        if isinstance(node, ast.Import | ast.ImportFrom):
            continue
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            return False
        if node.name in old_names or not node.name.lower().startswith("test"):
            return False
        if any(not _HARMLESS_DECORATORS.match(ast.unparse(d)) for d in node.decorator_list):
            return False
    return True


def _setup_cfg_sections(text: str | None) -> dict[str, dict[str, str]]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text or "")
    except configparser.Error:
        return {"<unreadable>": {}}
    return {s: dict(parser[s]) for s in parser.sections() if s in SETUP_CFG_SECTIONS}


def _pyproject_plugins(text: str | None) -> object:
    if not text:
        return None
    try:
        project = tomllib.loads(text).get("project", {})
    except tomllib.TOMLDecodeError:
        return "<unreadable>"
    entry = project.get("entry-points", {}) if isinstance(project, dict) else {}
    return entry.get("pytest11") if isinstance(entry, dict) else None


def _config_findings(path: str, before: str | None, after: str | None) -> list[Finding]:
    name = PurePosixPath(path).name
    if is_protected(path):
        what = (
            "the bot's configuration and CI"
            if path.startswith(".github/")
            else "what pytest reads before tests run"
        )
        return [Finding("protected", path, f"protected file: it decides {what}; never changed by an item")]
    if _matches(path, CI_PATTERNS):
        return [Finding("ci_edited", path, "edits CI configuration")]
    if name == "pyproject.toml":
        if _pyproject_plugins(before) != _pyproject_plugins(after):
            return [Finding("protected", path, "changes pytest's plugin entry points (pytest11)")]
        if _pyproject_sections(before).get("pytest") != _pyproject_sections(after).get("pytest"):
            return [Finding("protected", path, "edits [tool.pytest] in pyproject.toml (pytest settings)")]
        if _pyproject_sections(before) != _pyproject_sections(after):
            return [Finding("config_edited", path, "edits test or lint settings in pyproject.toml")]
        return []
    if name == "setup.cfg":
        if _setup_cfg_sections(before) != _setup_cfg_sections(after):
            return [Finding("protected", path, "edits pytest, lint or entry-point sections of setup.cfg")]
        return []
    if _matches(path, CONFIG_PATTERNS):
        return [Finding("config_edited", path, "edits test or lint configuration")]
    return []


def _legacy_test_findings(path: str, old: str, new: str) -> list[Finding]:
    """Counted weakenings: tests removed, skips added, assertions loosened."""
    findings: list[Finding] = []
    removed = len(TEST_DEFS.findall(old)) - len(TEST_DEFS.findall(new))
    if removed > 0:
        findings.append(Finding("tests_removed", path, f"removes {removed} test(s)"))
    added = len(SKIP_MARKERS.findall(new)) - len(SKIP_MARKERS.findall(old))
    if added > 0:
        findings.append(Finding("skip_added", path, f"adds {added} skip/xfail marker(s)"))
    if path.endswith(".py"):
        before_s, after_s = _strength(old), _strength(new)
        for name, (total, strong) in before_s.items():
            if name in after_s:
                new_total, new_strong = after_s[name]
                if new_total < total or new_strong < strong:
                    findings.append(
                        Finding(
                            "assertions_weakened",
                            path,
                            f"{name}: assertions {total} -> {new_total}, "
                            f"comparisons {strong} -> {new_strong}",
                        )
                    )
    return findings


def _test_file_findings(path: str, before: str | None, after: str, *, frozen: bool) -> list[Finding]:
    """An existing (or frozen) test file changed: counted weakenings first, then any AST change."""
    old = before or ""
    findings = _legacy_test_findings(path, old, after)
    if path.endswith(".py"):
        old_tree, new_tree = _ast(old), _ast(after)
        same = old_tree is not None and new_tree is not None and _dump(old_tree) == _dump(new_tree)
        if same:
            return findings
        if (
            not findings
            and not frozen
            and old_tree is not None
            and new_tree is not None
            and _appended_tests_only(old_tree, new_tree)
        ):
            return []
    elif old.split() == after.split():
        return findings
    if findings:
        return findings  # the named weakening says more than "changed"
    whose = "the test phase's test (frozen for the change)" if frozen else "an existing test file"
    findings.append(Finding("test_changed", path, f"changes {whose} at lines {_changed_lines(old, after)}"))
    return findings


def check_change(
    files: Mapping[str, tuple[str | None, str | None]],
    *,
    allowed: Sequence[str] = (),
    allow: frozenset[FindingKind] = frozenset(),
    frozen: Mapping[str, str] | None = None,
    collected: frozenset[str] = frozenset(),
) -> list[Finding]:
    """Findings for a change given each changed file's (before, after) text; None means absent.

    ``frozen``: test files written by the test phase (path -> text then), immutable in the change
    phase. ``collected``: the test files pytest collected on the base, so ``test.py`` counts."""
    frozen = frozen or {}
    findings: list[Finding] = []
    for path, (before, after) in sorted(files.items()):
        if allowed and not _matches(path, allowed):
            findings.append(
                Finding("outside_allowed", path, f"not among the item's allowed files ({', '.join(allowed)})")
            )
        findings += _config_findings(path, before, after)
        old, new = before or "", after or ""
        if len(PLUGINS.findall(new)) > len(PLUGINS.findall(old)):
            findings.append(Finding("plugin_added", path, "adds pytest_plugins: a plugin changes what runs"))
        lint_off = len(LINT_OFF.findall(new)) - len(LINT_OFF.findall(old))
        if lint_off > 0:
            findings.append(
                Finding("lint_weakened", path, f"adds {lint_off} lint/type suppression comment(s)")
            )
        test_like = is_test_file(path) or path in collected or path in frozen
        if path in frozen:
            if after is None:
                findings.append(Finding("test_deleted", path, "deletes the test phase's test"))
            elif new != frozen[path]:
                findings += _test_file_findings(path, frozen[path], new, frozen=True)
            continue
        if not test_like and not (before and TEST_DEFS.search(before)):
            continue
        if before is not None and after is None:
            findings.append(Finding("test_deleted", path, "deletes a test file"))
            continue
        if before is not None and test_like:
            findings += _test_file_findings(path, before, new, frozen=False)
        elif before is not None:
            findings += _legacy_test_findings(path, old, new)
        if path.endswith(".py") and after is not None:
            tree = _ast(new)
            old_patches = len(_patches(_ast(old) or ast.Module(body=[], type_ignores=[])))
            patched = _patches(tree) if tree is not None else []
            if len(patched) > old_patches:
                lines = ", ".join(map(str, patched[:8]))
                findings.append(
                    Finding(
                        "code_patched",
                        path,
                        f"test code rebinds imported code for good at lines {lines} "
                        "(use the monkeypatch fixture)",
                    )
                )
    # A test file named exactly (no wildcard) in the item's allowed files may be edited on purpose.
    explicit = {a for a in allowed if not any(c in a for c in "*?[")}
    on_purpose = {p for p in files if p in explicit and p not in frozen}
    return [
        f
        for f in findings
        if (f.kind not in allow or f.kind in UNALLOWABLE)
        and not (f.kind in TEST_EDITS and f.path in on_purpose)
    ]
