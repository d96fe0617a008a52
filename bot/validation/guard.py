"""The anti-cheat guard: a change must not make validation pass by weakening validation.

Rejected unless the item explicitly allows it: deleting tests, adding skip/xfail markers, weakening
assertions (fewer asserts, or comparisons replaced by bare truthiness), editing CI workflows, test
or lint configuration, and touching files outside the item's allowed set. Pure: it reads the
before and after text of each changed file.
"""

from __future__ import annotations

import ast
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
]

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


def check_change(
    files: Mapping[str, tuple[str | None, str | None]],
    *,
    allowed: Sequence[str] = (),
    allow: frozenset[FindingKind] = frozenset(),
) -> list[Finding]:
    """Findings for a change given each changed file's (before, after) text; None means absent."""
    findings: list[Finding] = []
    for path, (before, after) in sorted(files.items()):
        if allowed and not _matches(path, allowed):
            findings.append(
                Finding("outside_allowed", path, f"not among the item's allowed files ({', '.join(allowed)})")
            )
        if _matches(path, CI_PATTERNS):
            findings.append(Finding("ci_edited", path, "edits CI configuration"))
        elif _matches(path, CONFIG_PATTERNS):
            findings.append(Finding("config_edited", path, "edits test or lint configuration"))
        elif PurePosixPath(path).name == "pyproject.toml" and _pyproject_sections(
            before
        ) != _pyproject_sections(after):
            findings.append(Finding("config_edited", path, "edits test or lint settings in pyproject.toml"))
        if not is_test_file(path) and not (before and TEST_DEFS.search(before)):
            continue
        if before is not None and after is None:
            findings.append(Finding("test_deleted", path, "deletes a test file"))
            continue
        old, new = before or "", after or ""
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
    return [f for f in findings if f.kind not in allow]
