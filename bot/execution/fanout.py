"""Fan-out across runners: GitHub Actions' matrix is the distributed engine.

``plan --emit-matrix`` groups the ready items into jobs (items that may touch the same files share
a job, so their branches never conflict across runners); each ``work`` job runs its items and
leaves an artifact folder (a git bundle of its branch, the result, its own ledger); ``publish``
reads them all back. This module holds the pure grouping and the artifact format.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from pathlib import Path

from bot.domain import Checklist, Item, ItemStatus
from bot.errors import WorkspaceError
from bot.execution.scheduler import overlap

MAX_JOBS = 256  # GitHub's limit on the jobs of one matrix
BUNDLE = "items.bundle"
RESULT = "result.json"
LEDGER = "ledger.sqlite"


def ready(checklist: Checklist) -> list[Item]:
    """Items still to do whose dependencies are all done: this wave's work. Failed items are not
    retried by a later wave on their own (``/bot retry`` does that)."""
    done = {i.id for i in checklist.items if i.status is ItemStatus.DONE}
    waiting = (ItemStatus.PENDING, ItemStatus.RUNNING)
    return [i for i in checklist.items if i.status in waiting and all(d in done for d in i.depends_on)]


def groups(items: Sequence[Item], *, max_jobs: int = MAX_JOBS) -> list[list[Item]]:
    """Items into jobs: those whose allowed files overlap end up together (transitively); then, past
    ``max_jobs``, the smallest jobs are merged."""
    parent = list(range(len(items)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a in range(len(items)):
        for b in range(a + 1, len(items)):
            if overlap(items[a], items[b]):
                parent[find(a)] = find(b)
    jobs: dict[int, list[Item]] = {}
    for index, item in enumerate(items):
        jobs.setdefault(find(index), []).append(item)
    out = sorted(jobs.values(), key=lambda g: items.index(g[0]))
    while len(out) > max_jobs:
        out.sort(key=len)
        smallest = out.pop(0)
        out[0] = out[0] + smallest
    return out


@dataclass(frozen=True)
class Grant:
    """What the plan job gave one matrix job: its items and its slice of the budget (None: none)."""

    items: tuple[str, ...]
    budget: Decimal | None


def grants(checklist: Checklist, *, budget: Decimal | None, max_jobs: int = MAX_JOBS) -> dict[str, Grant]:
    """This wave's jobs by name, as the plan job makes them; the publish job recomputes them from
    the same checklist and budget, so it need not believe what a work job says it was given."""
    jobs = groups(ready(checklist), max_jobs=max_jobs)
    slice_ = (budget / len(jobs)).quantize(Decimal("0.0001")) if budget is not None and jobs else None
    return {
        f"job{n}": Grant(tuple(i.id for i in group), slice_ or None) for n, group in enumerate(jobs, start=1)
    }


def matrix(checklist: Checklist, *, budget: Decimal | None, max_jobs: int = MAX_JOBS) -> dict[str, object]:
    """The ``strategy.matrix`` for this wave, each job with its items and its slice of the budget."""
    return {
        "include": [
            {"job": job, "items": " ".join(grant.items), "budget": str(grant.budget) if grant.budget else ""}
            for job, grant in grants(checklist, budget=budget, max_jobs=max_jobs).items()
        ]
    }


@dataclass(frozen=True)
class ItemOutcome:
    id: str
    status: str
    attempts: int
    cost_usd: str
    commit: str
    reason: str
    history: tuple[tuple[str, str, str, str], ...]  # (phase, tier, verdict, cost) per attempt
    stages: tuple[tuple[str, str], ...] = ()  # (stage, status) of the last validation, for the PR's matrix
    # (context bytes, saved calls relative to the artifact) per attempt, for the publish report
    context: tuple[tuple[int, tuple[str, ...]], ...] = ()


@dataclass(frozen=True)
class JobResult:
    job: str
    branch: str  # the branch in the bundle holding the job's integrated items
    commit: str
    spent_usd: str
    items: tuple[ItemOutcome, ...]

    def write(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / RESULT).write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")

    @classmethod
    def read(cls, folder: Path) -> JobResult:
        try:
            raw = json.loads((folder / RESULT).read_text(encoding="utf-8"))
            items = tuple(
                ItemOutcome(
                    **{
                        **i,
                        "history": tuple(tuple(h) for h in i["history"]),
                        "stages": tuple(tuple(x) for x in i.get("stages", ())),
                        "context": tuple((int(b), tuple(c)) for b, c in i.get("context", ())),
                    }
                )
                for i in raw["items"]
            )
            return cls(raw["job"], raw["branch"], raw["commit"], raw["spent_usd"], items)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise WorkspaceError(f"{folder}: not a work artifact ({RESULT} unreadable: {exc})") from exc
