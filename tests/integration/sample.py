"""Small real projects, created as git repositories in temporary directories."""

from __future__ import annotations

import subprocess
from pathlib import Path

PYTHON_PROJECT = {
    "pyproject.toml": '[project]\nname = "calc"\nversion = "0"\n\n[tool.ruff]\nline-length = 100\n\n'
    '[tool.pytest.ini_options]\ntestpaths = ["tests"]\npythonpath = ["."]\n',
    "calc/__init__.py": "",
    "calc/ops.py": "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n",
    "calc/text.py": "def shout(s):\n    return s.upper()\n",
    "tests/test_ops.py": "import calc.ops\n\n\ndef test_add():\n    assert calc.ops.add(2, 3) == 5\n\n\n"
    "def test_mul():\n    assert calc.ops.mul(2, 3) == 6\n",
    "tests/test_text.py": "from calc.text import shout\n\n\ndef test_shout():\n    assert shout('a') == 'A'\n",
    ".github/workflows/ci.yml": "on: push\njobs: {}\n",
}

RUST_PROJECT = {
    "Cargo.toml": '[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n',
    "src/lib.rs": "pub fn add(a: i64, b: i64) -> i64 {\n    a + b\n}\n\n#[cfg(test)]\nmod tests {\n    use super::*;\n\n"
    "    #[test]\n    fn it_adds() {\n        assert_eq!(add(2, 3), 5);\n    }\n}\n",
    ".gitignore": "target/\n",
}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def make_repo(root: Path, files: dict[str, str]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "base")
    return root


def write(repo: Path, rel: str, text: str) -> None:
    (repo / rel).parent.mkdir(parents=True, exist_ok=True)
    (repo / rel).write_text(text)


NODE_PROJECT = {
    "package.json": '{"name": "calc", "version": "0.0.0", "private": true, "scripts": {"test": "node --test"}}\n',
    "add.js": "exports.add = (a, b) => a + b;\n",
    "add.test.js": "const test = require('node:test');\nconst assert = require('node:assert');\n"
    "const { add } = require('./add');\n\ntest('adds', () => { assert.strictEqual(add(2, 3), 5); });\n",
}
