"""Parsing model answers into edits, and applying them tolerantly but never wrongly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.errors import UnsafePath
from bot.workspace.apply import apply_edits
from bot.workspace.edits import DeleteFile, Replace, WriteFile, parse_edits
from bot.workspace.paths import check_path

SOURCE = """def add(a, b):
    return a + b


def mul(a, b):
    return a * b
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    (tmp_path / "calc").mkdir()
    (tmp_path / "calc" / "ops.py").write_text(SOURCE)
    return tmp_path


def sr(path: str, search: str, replace: str) -> str:
    return f"{path}\n<<<<<<< SEARCH\n{search}=======\n{replace}>>>>>>> REPLACE\n"


def test_search_replace_blocks_parse_with_paths_and_numbers() -> None:
    answer = (
        "Here is the fix.\n\n`calc/ops.py`\n```python\n<<<<<<< SEARCH\nold\n=======\nnew\n>>>>>>> REPLACE\n```\n"
        + sr("calc/new.py", "", "x = 1\n")
    )
    parsed = parse_edits(answer)
    assert parsed.edits == (
        Replace("calc/ops.py", "old\n", "new\n", 1),
        Replace("calc/new.py", "", "x = 1\n", 2),
    )
    assert parsed.problems == ()


def test_unterminated_block_and_missing_path_are_problems() -> None:
    assert "unterminated" in parse_edits("a.py\n<<<<<<< SEARCH\nx\n=======\ny\n").problems[0]
    assert "no file path" in parse_edits("<<<<<<< SEARCH\nx\n=======\ny\n>>>>>>> REPLACE\n").problems[0]
    assert "no edits found" in parse_edits("I could not find the bug.").problems[0]


def test_unified_diff_parses_to_edits() -> None:
    diff = (
        "--- a/calc/ops.py\n+++ b/calc/ops.py\n@@ -1,2 +1,2 @@\n def add(a, b):\n-    return a + b\n+    return b + a\n"
        "--- /dev/null\n+++ b/calc/sub.py\n@@ -0,0 +1 @@\n+def sub(a, b): return a - b\n"
        "--- a/old.py\n+++ /dev/null\n@@ -1 +0,0 @@\n-x = 1\n"
    )
    edits = parse_edits(diff).edits
    assert edits[0] == Replace(
        "calc/ops.py", "def add(a, b):\n    return a + b\n", "def add(a, b):\n    return b + a\n", 1
    )
    assert edits[1] == WriteFile("calc/sub.py", "def sub(a, b): return a - b\n", 2)
    assert edits[2] == DeleteFile("old.py", 3)


def test_whole_file_answer() -> None:
    edits = parse_edits("calc/ops.py\n```python\nprint('hi')\n```\n").edits
    assert edits == (WriteFile("calc/ops.py", "print('hi')\n", 1),)


def test_exact_then_whitespace_then_fuzzy(repo: Path) -> None:
    exact = parse_edits(sr("calc/ops.py", "    return a + b\n", "    return b + a\n")).edits
    assert apply_edits(repo, exact).ok
    # Quoted with other indentation: matched ignoring whitespace, and the replacement re-indented.
    loose = parse_edits(
        sr("calc/ops.py", "def mul(a, b):\n  return a * b\n", "def mul(a, b):\n  return b * a\n")
    ).edits
    assert apply_edits(repo, loose).ok
    assert "def mul(a, b):\n    return b * a\n" in (repo / "calc" / "ops.py").read_text()
    # A near quote (a typo in the search) matches fuzzily when unique.
    fuzzy = parse_edits(
        sr("calc/ops.py", "def ad(a, b):\n    return b + a\n", "def add(a, b):\n    return a + b + 0\n")
    ).edits
    result = apply_edits(repo, fuzzy)
    assert result.ok, result.problems
    assert "return a + b + 0" in (repo / "calc" / "ops.py").read_text()


def test_ambiguous_and_missing_matches_are_diagnostics_not_edits(repo: Path) -> None:
    (repo / "dup.py").write_text("x = 1\ny = 2\nx = 1\n")
    result = apply_edits(
        repo,
        parse_edits(sr("dup.py", "x = 1\n", "x = 3\n") + sr("calc/ops.py", "nothing like it\n", "z\n")).edits,
    )
    assert not result.ok
    messages = [p.render() for p in result.problems]
    assert (
        messages[0]
        == "block 1 for dup.py: SEARCH matched 2 places; include more surrounding lines so it is unique"
    )
    assert messages[1].startswith("block 2 for calc/ops.py: SEARCH not found in the file")
    assert (repo / "dup.py").read_text() == "x = 1\ny = 2\nx = 1\n"  # all or nothing


def test_new_file_and_delete(repo: Path) -> None:
    result = apply_edits(
        repo,
        [Replace("calc/sub.py", "", "def sub(a, b):\n    return a - b\n", 1), DeleteFile("calc/ops.py", 2)],
    )
    assert result.ok
    assert (repo / "calc" / "sub.py").exists() and not (repo / "calc" / "ops.py").exists()
    assert not apply_edits(repo, [Replace("calc/sub.py", "", "again\n", 1)]).ok  # exists: must quote


@pytest.mark.parametrize(
    ("path", "reason"),
    [
        ("/etc/passwd", "absolute paths are not allowed"),
        ("../outside.py", "'..' would leave the repository"),
        ("calc/../../x.py", "'..' would leave the repository"),
        (".git/config", "the .git folder is never edited"),
        (".github/workflows/ci.yml", "on the deny list"),
        ("package-lock.json", "on the deny list"),
        ("deploy/.env", "on the deny list"),
        ("certs/server.pem", "on the deny list"),
    ],
)
def test_unsafe_paths_are_rejected_and_reported(repo: Path, path: str, reason: str) -> None:
    result = apply_edits(repo, [WriteFile(path, "pwned\n", 1)])
    assert not result.ok
    assert reason in result.problems[0].message


def test_symlink_escape_is_rejected(repo: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    outside = tmp_path_factory.mktemp("outside")
    os.symlink(outside, repo / "link")
    with pytest.raises(UnsafePath, match="resolves outside the repository"):
        check_path(repo, "link/file.py")
    assert not apply_edits(repo, [WriteFile("link/file.py", "x\n", 1)]).ok
    assert list(outside.iterdir()) == []


def test_deny_list_can_be_waived_for_an_item(repo: Path) -> None:
    assert apply_edits(repo, [WriteFile(".github/workflows/ci.yml", "on: push\n", 1)], allow_denied=True).ok


def test_binary_non_utf8_and_huge_files_do_not_crash(repo: Path) -> None:
    (repo / "logo.png").write_bytes(b"\x89PNG\x00\x00binary")
    (repo / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    (repo / "huge.py").write_text("x = 1\n" * 200_000)
    for name, expected in (
        ("logo.png", "binary file"),
        ("latin1.txt", "not UTF-8"),
        ("huge.py", "edit limit"),
    ):
        result = apply_edits(repo, [Replace(name, "x", "y", 1)])
        assert expected in result.problems[0].message


def test_crlf_files_keep_their_line_endings(repo: Path) -> None:
    (repo / "win.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    assert apply_edits(repo, [Replace("win.py", "b = 2\n", "b = 3\n", 1)]).ok
    assert (repo / "win.py").read_bytes() == b"a = 1\r\nb = 3\r\n"
