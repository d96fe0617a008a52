"""Reopening checklist items for another try (``retry ITEM``, ``run --retry-failed``): the items
go back to pending, and so do the items skipped because of them, transitively."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from bot.domain import Checklist, ItemStatus
from bot.errors import UsageError

RETRYABLE = (ItemStatus.FAILED, ItemStatus.BUDGET_EXCEEDED, ItemStatus.SKIPPED)


def unfinished(checklist: Checklist) -> list[str]:
    """Items a plain run leaves as they are: they ended without being done."""
    return [i.id for i in checklist.items if i.status in RETRYABLE]


def reopen(checklist: Checklist, ids: Iterable[str]) -> tuple[Checklist, list[str]]:
    """The checklist with ``ids`` and their skipped dependants pending again, and the ids reopened."""
    wanted = list(dict.fromkeys(ids))
    known = {i.id for i in checklist.items}
    unknown = [i for i in wanted if i not in known]
    if unknown:
        raise UsageError(f"no item {unknown[0]!r} in the checklist; its items: {', '.join(sorted(known))}")
    reopened = set(wanted)
    changed = True
    while changed:  # dependants skipped because of a reopened item come back too
        changed = False
        for item in checklist.items:
            if (
                item.id not in reopened
                and item.status is ItemStatus.SKIPPED
                and reopened & set(item.depends_on)
            ):
                reopened.add(item.id)
                changed = True
    items = tuple(
        dataclasses.replace(i, status=ItemStatus.PENDING) if i.id in reopened else i for i in checklist.items
    )
    return dataclasses.replace(checklist, items=items), [i.id for i in checklist.items if i.id in reopened]
