"""The ``milestone-bot`` check run: on the PR's head commit, never left spinning.

A check run belongs on the commit a reviewer looks at: the head of the bot's PR branch. While a
re-run works, its check sits on the PR's current head; a first run has no PR yet, so its check is
created on the commit it pushes. A run that was killed leaves its check ``in_progress``; the next
run on that PR, and the workflow's ``if: failure()`` step, finish such checks as failures with the
reason.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

from bot.github.gateway import GitHubGateway
from bot.planning.checklist_file import slug

CHECK_NAME = "milestone-bot"


def pr_branch(key: str) -> str:
    return f"milestone-bot/{slug(key)}"


def fetch_branch(repo: Path, remote: str, branch: str, *, env: Mapping[str, str] | None = None) -> str | None:
    """The branch's commit on ``remote``, fetched into the checkout; None when it does not exist."""
    local = f"refs/remotes/{remote}/{branch}"
    fetched = subprocess.run(
        ["git", "-C", str(repo), "-c", "core.hooksPath=/dev/null", "fetch", "--quiet", remote,
         f"+refs/heads/{branch}:{local}"],
        capture_output=True, text=True, check=False, env={**os.environ, **env} if env else None,
    )  # fmt: skip
    if fetched.returncode != 0:
        return None
    shown = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", local], capture_output=True, text=True, check=False
    )
    return shown.stdout.strip() or None


def end_stale(gateway: GitHubGateway, head_sha: str, reason: str) -> list[int]:
    """Finish every unfinished ``milestone-bot`` check on ``head_sha`` as a failure with ``reason``."""
    ended = []
    for check in gateway.check_runs(head_sha=head_sha, name=CHECK_NAME):
        if check.status != "completed":
            gateway.finish_check_run(
                check.id, conclusion="failure", title="The run ended without reporting", summary=reason
            )
            ended.append(check.id)
    return ended
