"""The workflow's last word when a job failed (``if: failure()``): finish the run's unfinished
``milestone-bot`` check runs as failures with the reason, so nothing is left ``in_progress``.

Run as ``python -m bot.events.closeout`` with ``KEY`` (the run's key) and ``REASON`` in the
environment, besides what Actions sets. It never raises: a failing job must keep its own error.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

from bot.errors import BotError
from bot.events.checks import end_stale, fetch_branch, pr_branch
from bot.github.gateway import GitHubGateway
from bot.github.git_push import git_env


def close_out(gateway: GitHubGateway, repo: Path, *, key: str, reason: str, token: str | None,
              remote: str = "origin") -> list[int]:  # fmt: skip
    """Finish the unfinished checks on the PR head of ``key``; the ids it finished."""
    head = fetch_branch(repo, remote, pr_branch(key), env=git_env(repo, remote, token))
    return end_stale(gateway, head, reason) if head else []


def main(env: Mapping[str, str] = os.environ) -> int:
    from bot.github.pygithub_gateway import PyGithubGateway

    key, reason = env.get("KEY", "").strip(), env.get("REASON", "").strip() or "The workflow failed."
    token = env.get("GITHUB_TOKEN", "")
    if not key or not token or not env.get("GITHUB_REPOSITORY"):
        print("closeout: no KEY, GITHUB_TOKEN or GITHUB_REPOSITORY: nothing to close", file=sys.stderr)
        return 0
    try:
        gateway = PyGithubGateway(
            env["GITHUB_REPOSITORY"],
            token=token,
            base_url=env.get("GITHUB_API_URL", "https://api.github.com"),
        )
        ended = close_out(gateway, Path.cwd(), key=key, reason=reason, token=token)
    except BotError as exc:
        print(f"closeout: {exc}", file=sys.stderr)
        return 0
    print(f"closeout: finished {len(ended)} check run(s) of {key} as failures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
