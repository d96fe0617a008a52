"""Pushes with a token that only the push command sees.

The publish job checks out with ``persist-credentials: false``: no token in ``.git/config``, where
code the models wrote (re-validated in the same job) could read it. The token reaches git for one
command, as an ``Authorization`` header for the remote's host, through git's environment config
(``GIT_CONFIG_COUNT``); hooks are off for that command.
"""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

from bot.errors import WorkspaceError


def auth_env(url: str, token: str) -> dict[str, str]:
    host = re.match(r"(https?://[^/]+/)", re.sub(r"^(\w+://)[^/@]+@", r"\1", url))
    prefix = host.group(1) if host else "https://github.com/"
    basic = base64.b64encode(f"x-access-token:{token}".encode()).decode()
    return {
        "GIT_CONFIG_COUNT": "1",
        "GIT_CONFIG_KEY_0": f"http.{prefix}.extraheader",
        "GIT_CONFIG_VALUE_0": f"AUTHORIZATION: basic {basic}",
        "GIT_TERMINAL_PROMPT": "0",
    }


def git_env(repo: Path, remote: str, token: str | None) -> dict[str, str]:
    """The extra environment of one git command that talks to ``remote``."""
    if not token:
        return {}
    url = subprocess.run(
        ["git", "-C", str(repo), "remote", "get-url", remote], capture_output=True, text=True, check=False
    ).stdout.strip()
    return auth_env(url, token) if url.startswith(("http://", "https://")) else {}


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
