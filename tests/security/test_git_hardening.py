"""The bot's own git never runs repository code, never races on a shared commit message, and never
stores the push token where model-written code runs."""

from __future__ import annotations

import base64
import threading
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from bot.errors import WorkspaceError
from bot.workspace.worktrees import Worktrees, init_repository
from tests.integration.sample import PYTHON_PROJECT, git, make_repo

HOOKS = (
    "pre-commit", "prepare-commit-msg", "commit-msg", "post-commit", "post-checkout", "pre-merge-commit",
    "post-merge", "pre-push", "reference-transaction", "post-rewrite", "pre-auto-gc", "post-index-change",
)  # fmt: skip


def plant_hooks(repo: Path, marker: Path) -> None:
    hooks = repo / ".git" / "hooks"
    for name in HOOKS:
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\necho {name} >> {marker}\nenv >> {marker}\n")
        hook.chmod(0o755)


def test_planted_hooks_never_run_in_the_bots_git(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo", PYTHON_PROJECT)
    marker = tmp_path / "hooks-ran"
    plant_hooks(repo, marker)
    # fsmonitor is another way to make git run a command: set it in the repository's config.
    git(repo, "config", "core.fsmonitor", f"sh -c 'echo fsmonitor >> {marker}'")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))

    trees = Worktrees(repo)
    one = trees.create("run", "item-1", "HEAD")
    two = trees.create("run", "item-2", "HEAD")
    (one.path / "calc" / "new.py").write_text("X = 1\n")
    commit = trees.commit(one.path, "item 1")
    (two.path / "calc" / "other.py").write_text("Y = 2\n")
    trees.commit(two.path, "item 2")
    assert trees.merge(one.path, two.branch, "merge item 2") == []
    trees.reset(one.path)
    trees.changed_files(one.path, one.base)
    trees.diff(one.path, one.base)
    trees.push(commit, "milestone-bot/run", remote="origin")
    trees.remove(two, delete_branch=True)

    assert not marker.exists(), marker.read_text()
    assert git(bare, "rev-parse", "refs/heads/milestone-bot/run").strip() == commit


def test_parallel_commits_keep_their_own_messages(tmp_path: Path) -> None:
    """Commit messages go to each commit command; nothing is shared in ``.git`` (the issue saw 21 of
    400 commits fail or take another item's message)."""
    repo = make_repo(tmp_path / "repo", PYTHON_PROJECT)
    shared = repo / ".git" / "COMMIT_EDITMSG"  # the setup's own `git commit` wrote it
    before = shared.read_text()
    trees = Worktrees(repo)
    spaces = [trees.create("run", f"item-{n}", "HEAD") for n in range(8)]

    def work(n: int) -> list[tuple[str, str]]:
        made = []
        for k in range(6):
            (spaces[n].path / f"file_{n}_{k}.txt").write_text(f"{n} {k}\n")
            message = f"item {n} change {k}"
            made.append((trees.commit(spaces[n].path, message), message))
        return made

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [c for batch in pool.map(work, range(8)) for c in batch]
    assert len(results) == 48
    for commit, message in results:
        assert git(repo, "log", "-1", "--format=%s", commit).strip() == message
    assert shared.read_text() == before
    assert not list((repo / ".git" / "worktrees").glob("*/COMMIT_EDITMSG"))


def test_commit_of_an_unchanged_tree_is_no_commit(tmp_path: Path) -> None:
    repo = tmp_path / "fresh"
    repo.mkdir()
    (repo / "a.txt").write_text("a\n")
    first = init_repository(repo, "first")
    trees = Worktrees(repo)
    assert trees.commit(repo, "nothing") == first
    assert (
        git(repo, "log", "--format=%an <%ae>").strip()
        == "milestone-bot <milestone-bot@users.noreply.github.com>"
    )


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.headers.get("Authorization", ""))
        self.send_response(403)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def test_push_token_goes_to_the_push_command_only(tmp_path: Path) -> None:
    """A real git push over HTTP: the server sees the token; ``.git/config`` never holds it, and the
    error text does not repeat it."""
    seen: list[str] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        repo = make_repo(tmp_path / "repo", PYTHON_PROJECT)
        url = f"http://127.0.0.1:{server.server_address[1]}/o/r.git"
        git(repo, "remote", "add", "origin", url)
        trees = Worktrees(repo)
        token = "ghs_" + "s3cr3t" * 6
        with pytest.raises(WorkspaceError) as raised:
            trees.push(trees.resolve("HEAD"), "milestone-bot/x", token=token)
    finally:
        server.shutdown()
        server.server_close()
    expected = "basic " + base64.b64encode(f"x-access-token:{token}".encode()).decode()
    assert any(h.lower() == expected.lower() or h == f"Basic {expected[6:]}" for h in seen), seen
    assert token not in str(raised.value)
    for path in (repo / ".git").rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    assert "extraheader" not in git(repo, "config", "--list")
