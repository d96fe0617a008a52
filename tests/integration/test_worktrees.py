from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import WorkspaceError
from bot.workspace.worktrees import Worktrees, branch_name
from tests.integration.sample import PYTHON_PROJECT, git, make_repo, write


@pytest.fixture
def trees(tmp_path: Path) -> Worktrees:
    return Worktrees(make_repo(tmp_path / "calc", PYTHON_PROJECT))


def test_branch_names_are_predictable_and_safe() -> None:
    assert branch_name("run 42", "item/3: fix ..it") == "milestone-bot/run-42/item-3-fix-.it"
    with pytest.raises(WorkspaceError):
        branch_name("run", "///")


def test_create_commit_resume_and_cleanup(trees: Worktrees) -> None:
    ws = trees.create("r1", "add-sub", "main")
    assert ws.branch == "milestone-bot/r1/add-sub" and not ws.resumed
    assert (ws.path / "calc" / "ops.py").exists()
    write(ws.path, "calc/sub.py", "def sub(a, b):\n    return a - b\n")
    assert trees.changed_files(ws.path, ws.base) == ["calc/sub.py"]
    assert "+def sub(a, b):" in trees.diff(ws.path, ws.base)
    sha = trees.commit(ws.path, "add-sub: subtraction")

    # A crash: the process dies, the worktree stays. The next run resumes with the committed work.
    again = trees.create("r1", "add-sub", "main")
    assert again.resumed and again.path == ws.path
    assert git(again.path, "rev-parse", "HEAD").strip() == sha

    # The worktree folder is lost but the branch survives: resumed from the branch.
    trees.remove(ws)
    resumed = trees.create("r1", "add-sub", "main")
    assert resumed.resumed and (resumed.path / "calc" / "sub.py").exists()

    # A fresh start on request throws the old branch away.
    fresh = trees.create("r1", "add-sub", "main", resume=False)
    assert not fresh.resumed and not (fresh.path / "calc" / "sub.py").exists()

    other = trees.create("r2", "x", "main")
    assert trees.leftovers() == sorted([fresh.path, other.path])
    assert trees.cleanup(keep_runs={"r2"}) == [fresh.path]
    assert trees.leftovers() == [other.path]
    # The main checkout does not see the bot's folder as a change.
    assert ".milestone-bot" not in git(trees.repo_path, "status", "--porcelain")


def test_unknown_ref_and_not_a_repo(tmp_path: Path, trees: Worktrees) -> None:
    with pytest.raises(WorkspaceError, match="unknown git ref"):
        trees.create("r", "i", "no-such-branch")
    with pytest.raises(WorkspaceError, match="not a git repository"):
        Worktrees(tmp_path / "nowhere")
