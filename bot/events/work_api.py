"""What the event layer asks of the repository (``Work``) and what it reports (``Outcome``).

Value types and one Protocol, in a module of their own: the handler's parts and the ``Work``
implementations (``events/work.py``, ``events/fanout.py``) import them from here, never from each
other, so there is no import circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from bot.domain import Checklist
from bot.planning.planner import PlanSource


@dataclass(frozen=True)
class RunResult:
    checklist: Checklist
    spent: Decimal
    conclusion: str  # success, failure, neutral
    summary: str  # one paragraph: what happened
    pull: int | None = None


@dataclass(frozen=True)
class RunRequest:
    checklist: Checklist
    key: str  # stable per milestone or issue: the PR's branch and the progress comment's marker
    issue: int | None  # where progress is shown (None: a red build on a push, the check run only)
    closes: tuple[int, ...]
    parallel: int | None = None
    budget: Decimal | None = None
    tier: str | None = None
    start: str = "HEAD"  # the commit the run starts from
    target: str | None = None  # the branch the PR targets (default: the repository's)
    run: str = ""  # one `/bot run` across the waves of a fan-out (its spend and its limit)


class Work(Protocol):
    """What commands do with the repository: plan through the router, run and publish."""

    async def plan(self, source: PlanSource, *, budget: Decimal | None) -> Checklist: ...

    async def run(self, request: RunRequest, *, should_stop: Callable[[], bool]) -> RunResult: ...

    def parent(self, sha: str) -> str | None:
        """The first parent of a commit in the checkout (the base of a push), if known."""
        ...

    async def summarize(self, system: str, prompt: str, *, budget: Decimal) -> tuple[str, Decimal]:
        """One call to the cheap tier within ``budget``: the answer and what it cost."""
        ...

    def committed_checklist(self, key: str) -> Checklist | None:
        """``checklists/<key>.md`` in the checkout (a PR branch the bot pushed), if there is one."""
        ...


@dataclass(frozen=True)
class Outcome:
    """What handling an event did, for the log line, the Action's outputs and tests."""

    action: str  # ignored, replied, planned, ran, refused, error, triaged, reviewed
    detail: str
    conclusion: str = "neutral"
    spent: Decimal = Decimal(0)
    pull: int | None = None
