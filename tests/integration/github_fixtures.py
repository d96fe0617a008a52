"""The GitHub simulator with the real PyGithub client pointed at it, for tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bot.github.pygithub_gateway import PyGithubGateway
from bot.testing.github_server import GitHubSimulator

PERMISSIONS = {"alice": "admin", "mona": "maintain", "wendy": "write", "tess": "triage", "rita": "read"}


@contextmanager
def simulated(**kwargs: object) -> Iterator[tuple[GitHubSimulator, PyGithubGateway, list[float]]]:
    sleeps: list[float] = []
    with GitHubSimulator(permissions=PERMISSIONS) as sim:
        gateway = PyGithubGateway(
            sim.full_name, token="t0ken", base_url=sim.base_url, seconds_between_writes=None, seconds_between_requests=None,
            sleep=sleeps.append, **kwargs,  # type: ignore[arg-type]
        )  # fmt: skip
        yield sim, gateway, sleeps
