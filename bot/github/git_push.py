"""Pushes with a token that only the push command sees.

The publish job checks out with ``persist-credentials: false``: no token in ``.git/config``, where
code the models wrote (re-validated in the same job) could read it. The token reaches git for one
command, as an ``Authorization`` header for the remote's host, through git's environment config
(``GIT_CONFIG_COUNT``); hooks are off for that command.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.errors import WorkspaceError
from bot.workspace.worktrees import HARDENING, config_env, push_env


def auth_env(url: str, token: str) -> dict[str, str]:
    """The token as an auth header for ``url``'s host only, with the bot's git hardening (no
    hooks, no fsmonitor, no credential helper): one implementation, the workspace layer's."""
    return push_env(url, token)


def git_env(repo: Path, remote: str, token: str | None) -> dict[str, str]:
    """The extra environment of one git command that talks to ``remote``."""
    if not token:
        return config_env(HARDENING)
    url = subprocess.run(
        ["git", "-C", str(repo), *_HARDENING_ARGS, "remote", "get-url", remote],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return auth_env(url, token) if url.startswith(("http://", "https://")) else config_env(HARDENING)


_HARDENING_ARGS = [arg for key, value in HARDENING for arg in ("-c", f"{key}={value}")]


def push(repo: Path, commit: str, branch: str, *, remote: str = "origin", token: str | None = None,
         force: bool = True) -> None:  # fmt: skip
    import os

    args = ["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", "push", "--quiet", remote,
            f"{commit}:refs/heads/{branch}"] + (["--force"] if force else [])  # fmt: skip
    done = subprocess.run(
        args, env={**os.environ, **git_env(repo, remote, token)}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise WorkspaceError(f"cannot push {branch} to {remote}: {done.stderr.strip()}")
