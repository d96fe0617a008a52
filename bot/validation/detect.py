"""Which commands validate a repository: from config, or detected per ecosystem.

Python: pytest, ruff and mypy when the project configures them. Rust: cargo check / test / clippy.
Node: npm test, eslint and tsc when configured. Go: go build / test / vet. Each command says how
its output is parsed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tomllib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from bot.config import Validation

Parser = Literal[
    "pytest", "ruff", "mypy", "tsc", "eslint", "cargo", "cargo_test", "go", "go_test", "node_test", "plain"
]


@dataclass(frozen=True)
class Check:
    argv: tuple[str, ...]
    parser: Parser = "plain"

    @property
    def per_test(self) -> bool:
        """Whether its runner reports an outcome per test (judged per test id, baseline and all)."""
        return self.parser in ("pytest", "cargo_test", "go_test", "node_test")

    def with_args(self, *args: str) -> Check:
        return replace(self, argv=(*self.argv, *args))


@dataclass(frozen=True)
class Toolchain:
    name: str
    build: Check | None = None
    test: Check | None = None
    lint: Check | None = None
    typecheck: Check | None = None
    # Whether ``test`` accepts test files as arguments, for running new and affected tests alone.
    selects_files: bool = False


def _parser_for(argv: list[str]) -> Parser:
    joined = " ".join(argv)
    if "pytest" in joined:
        return "pytest"
    if "ruff" in joined:
        return "ruff"
    if "mypy" in joined:
        return "mypy"
    if "tsc" in joined:
        return "tsc"
    if "eslint" in joined:
        return "eslint"
    if "cargo test" in joined:
        return "cargo_test"
    if "cargo" in joined:
        return "cargo"
    if argv[:2] == ["go", "test"] and "-json" in argv:
        return "go_test"
    if argv and argv[0] == "go":
        return "go"
    if argv[:2] == ["node", "--test"] and not any(a.startswith("--test-reporter") for a in argv):
        return "node_test"
    return "plain"


def _pyproject(repo: Path) -> dict[str, object]:
    try:
        return tomllib.loads((repo / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}


def _python(repo: Path, python: str) -> Toolchain:
    tool = _pyproject(repo).get("tool", {})
    tools = tool if isinstance(tool, dict) else {}
    ruff_configured = "ruff" in tools or (repo / "ruff.toml").exists() or (repo / ".ruff.toml").exists()
    mypy_configured = "mypy" in tools or (repo / "mypy.ini").exists() or (repo / ".mypy.ini").exists()
    # The project's ruff first, then one on PATH, then the bot's own.
    candidates = (Path(python).parent / "ruff", shutil.which("ruff"), Path(sys.executable).parent / "ruff")
    found = [str(c) for c in candidates if c is not None and Path(c).exists()]
    has_ruff = bool(found)
    ruff = found[0] if found else "ruff"
    return Toolchain(
        name="python",
        test=Check((python, "-m", "pytest", "-q", "-p", "no:cacheprovider"), "pytest"),
        lint=Check((ruff, "check", "--output-format=json", "."), "ruff")
        if ruff_configured and has_ruff
        else None,
        typecheck=Check((python, "-m", "mypy", "."), "mypy") if mypy_configured else None,
        selects_files=True,
    )


def _node_test(script: str) -> Check:
    """``node --test ...`` run directly, with a JUnit report, when the script is just that and this
    node has the junit reporter; anything else through npm, judged by its exit code only."""
    words = script.split()
    plain = Check(("npm", "test", "--silent"))
    if words[:2] != ["node", "--test"] or any(c in script for c in "&|;<>$`'\"\\"):
        return plain
    if _parser_for(words) != "node_test" or not _node_has_junit():
        return plain
    return Check(tuple(words), "node_test")


def _node_has_junit() -> bool:
    """Whether this node's test runner has the junit reporter (checked, not guessed from a version)."""
    node = shutil.which("node")
    if node is None:
        return False
    try:
        out = subprocess.run(
            [node, "-p", "typeof require('node:test/reporters').junit"],
            capture_output=True, text=True, timeout=20, check=False,
        )  # fmt: skip
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.stdout.strip() == "function"


def _node(repo: Path) -> Toolchain:
    try:
        scripts = json.loads((repo / "package.json").read_text()).get("scripts", {})
    except (OSError, json.JSONDecodeError):
        scripts = {}
    eslint = any(
        (repo / n).exists()
        for n in ("eslint.config.js", "eslint.config.mjs", ".eslintrc.json", ".eslintrc.js")
    )
    return Toolchain(
        name="node",
        build=Check(("npm", "run", "build")) if "build" in scripts else None,
        test=_node_test(str(scripts.get("test", ""))) if "test" in scripts else None,
        lint=Check(("npx", "--no-install", "eslint", "-f", "json", "."), "eslint") if eslint else None,
        typecheck=Check(("npx", "--no-install", "tsc", "--noEmit"), "tsc")
        if (repo / "tsconfig.json").exists()
        else None,
    )


def detect(repo: Path, *, python: str = sys.executable) -> Toolchain:
    if (repo / "Cargo.toml").exists():
        return Toolchain(
            name="rust",
            build=Check(("cargo", "check", "--quiet", "--message-format=json"), "cargo"),
            # libtest's own lines give per-test outcomes; every target runs, not only up to a failure.
            test=Check(("cargo", "test", "--no-fail-fast"), "cargo_test"),
            lint=Check(
                ("cargo", "clippy", "--quiet", "--message-format=json", "--", "-D", "warnings"), "cargo"
            ),
        )
    if (repo / "go.mod").exists():
        return Toolchain(
            name="go",
            build=Check(("go", "build", "./..."), "go"),
            test=Check(("go", "test", "-json", "./..."), "go_test"),
            lint=Check(("go", "vet", "./..."), "go"),
        )
    if (repo / "package.json").exists():
        return _node(repo)
    return _python(repo, python)


def toolchain(repo: Path, config: Validation | None = None, *, python: str = sys.executable) -> Toolchain:
    """Detected commands, with every command named in config taking precedence."""
    found = detect(repo, python=python)
    if config is None:
        return found

    def pick(argv: list[str] | None, default: Check | None) -> Check | None:
        return Check(tuple(argv), _parser_for(argv)) if argv else default

    test = pick(config.test, found.test)
    return Toolchain(
        name=found.name,
        build=pick(config.build, found.build),
        test=test,
        lint=pick(config.lint, found.lint),
        typecheck=pick(config.typecheck, found.typecheck),
        selects_files=test is not None and test.parser == "pytest",
    )
