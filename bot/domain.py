"""Frozen value types shared across the bot's layers.

They carry no behaviour beyond small derived properties, so every layer can pass them around and
tests can build them directly.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from decimal import Decimal


class Purpose(enum.StrEnum):
    """Why a model is called; routing, scripts and the ledger all key on it."""

    PLAN = "plan"
    TEST = "test"
    CHANGE = "change"
    REVIEW = "review"
    TRIAGE = "triage"


class TaskSize(enum.StrEnum):
    SMALL = "small"
    MEDIUM = "medium"
    LARGE = "large"


class Verdict(enum.StrEnum):
    """What validation said of an attempt; ``NONE`` before the first attempt."""

    NONE = "none"
    PASSED = "passed"
    FAILED = "failed"  # the change was applied and validation rejected it
    UNPARSABLE = "unparsable"  # the model's answer could not be applied at all
    ERROR = "error"  # no answer: every provider of the tier failed


@dataclass(frozen=True)
class CallScope:
    """Where a model call belongs: the ledger rows and budget limits are keyed on these fields."""

    run_id: str
    purpose: Purpose
    item_id: str = ""
    attempt: int = 0
    kind: str = ""  # task kind (feature, bugfix, ...), used by routing history
    repo: str = ""


class ItemKind(enum.StrEnum):
    FEATURE = "feature"
    BUGFIX = "bugfix"
    REFACTOR = "refactor"
    TEST = "test"
    DOCS = "docs"


class ItemStatus(enum.StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # a dependency failed
    BUDGET_EXCEEDED = "budget_exceeded"


@dataclass(frozen=True)
class Item:
    """One checklist entry: what to change, how it is proven, and where it stands."""

    id: str
    title: str
    description: str = ""
    kind: ItemKind = ItemKind.FEATURE
    acceptance_tests: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()
    allowed_files: tuple[str, ...] = ()  # globs; empty: any file not on the deny list
    tier_hint: str | None = None
    tests_exist: bool = False  # tests-first is skipped when the item's tests already exist
    status: ItemStatus = ItemStatus.PENDING
    attempts: int = 0
    cost_usd: Decimal = Decimal(0)
    branch: str = ""
    commit: str = ""


@dataclass(frozen=True)
class Checklist:
    ref: str  # where it came from: "milestone#3", "issue#12", "run#<id>" for a red build
    title: str
    items: tuple[Item, ...]
    budget_usd: Decimal | None = None

    def item(self, item_id: str) -> Item:
        for item in self.items:
            if item.id == item_id:
                return item
        raise KeyError(item_id)


def graph_problems(items: tuple[Item, ...]) -> list[str]:
    """Duplicate ids, unknown dependencies and dependency cycles, each said plainly."""
    problems: list[str] = []
    ids = [i.id for i in items]
    for dup in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(f"item id {dup!r} is used more than once")
    known = set(ids)
    for item in items:
        for dep in item.depends_on:
            if dep not in known:
                problems.append(f"item {item.id!r} depends on unknown item {dep!r}")
            elif dep == item.id:
                problems.append(f"item {item.id!r} depends on itself")
    deps = {i.id: [d for d in i.depends_on if d in known and d != i.id] for i in items}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = [*path[path.index(node) :], node]
            problems.append("dependency cycle: " + " -> ".join(cycle))
            return
        state[node] = 1
        for dep in deps.get(node, []):
            visit(dep, [*path, node])
        state[node] = 2

    for item_id in sorted(deps):
        visit(item_id, [])
    return list(dict.fromkeys(problems))
