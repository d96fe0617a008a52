"""A gateway whose check runs go through a second token.

GitHub lets only GitHub Apps create check runs; a personal token (the bot's token when no App is
set up, so that its pushes and PRs start CI) gets 403. With such a token the bot writes everything
with it except check runs, which go through the workflow's own ``GITHUB_TOKEN`` (an App's).
"""

from __future__ import annotations

from bot.github.gateway import CheckRunData, GitHubGateway


class ChecksThrough:
    def __init__(self, main: GitHubGateway, checks: GitHubGateway) -> None:
        self._main = main
        self._checks = checks

    def __getattr__(self, name: str) -> object:
        return getattr(self._main, name)

    def create_check_run(self, *, name: str, head_sha: str) -> int:
        return self._checks.create_check_run(name=name, head_sha=head_sha)

    def finish_check_run(self, check_run_id: int, *, conclusion: str, title: str, summary: str) -> None:
        self._checks.finish_check_run(check_run_id, conclusion=conclusion, title=title, summary=summary)

    def check_runs(self, *, head_sha: str, name: str) -> list[CheckRunData]:
        return self._checks.check_runs(head_sha=head_sha, name=name)
