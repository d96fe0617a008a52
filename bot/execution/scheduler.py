"""The scheduler: a DAG of items, run concurrently up to ``parallel`` at a time.

Ready items (dependencies done) start as soon as a slot is free, except that two items whose
allowed files overlap never run at once. An item whose dependency did not finish is skipped, with
the reason. Items already done (a resumed run) are not run again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
from collections.abc import Callable, Coroutine
from typing import Any

from bot.domain import Checklist, Item, ItemStatus

RunItem = Callable[[Item], Coroutine[Any, Any, Item]]
OnUpdate = Callable[[Item, str], None]

_FINISHED = {ItemStatus.DONE, ItemStatus.FAILED, ItemStatus.SKIPPED, ItemStatus.BUDGET_EXCEEDED}


def overlap(a: Item, b: Item) -> bool:
    """Whether two items may touch the same files. Items that name no files are not held back."""
    if not a.allowed_files or not b.allowed_files:
        return False
    return any(
        x == y or fnmatch.fnmatchcase(x, y) or fnmatch.fnmatchcase(y, x)
        for x in a.allowed_files
        for y in b.allowed_files
    )


async def run_checklist(
    checklist: Checklist,
    *,
    run_item: RunItem,
    parallel: int,
    on_update: OnUpdate | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Checklist:
    """Run the ready items; ``should_stop`` (asked before starting items) ends the run early: items
    in flight finish, the rest stay pending for a later run to resume."""
    items = {
        i.id: (i if i.status in _FINISHED else dataclasses.replace(i, status=ItemStatus.PENDING))
        for i in checklist.items
    }
    running: dict[str, asyncio.Task[Item]] = {}
    notify = on_update or (lambda item, note: None)

    def ready() -> list[Item]:
        out = []
        for item in items.values():
            if item.status is not ItemStatus.PENDING or item.id in running:
                continue
            deps = [items[d] for d in item.depends_on]
            blocked = [d for d in deps if d.status in _FINISHED and d.status is not ItemStatus.DONE]
            if blocked:
                reason = f"dependency {blocked[0].id} ended {blocked[0].status.value}"
                items[item.id] = dataclasses.replace(item, status=ItemStatus.SKIPPED)
                notify(items[item.id], reason)
                return ready()  # skipping may unblock the scan
            if all(d.status is ItemStatus.DONE for d in deps):
                out.append(item)
        return out

    stopping = False
    while True:
        if not stopping and should_stop is not None and should_stop():
            stopping = True
            for item in items.values():
                if item.status is ItemStatus.PENDING and item.id not in running:
                    notify(item, "not started: the run was asked to stop")
        for item in [] if stopping else ready():
            if len(running) >= parallel:
                break
            if any(overlap(item, items[other]) for other in running):
                continue
            items[item.id] = dataclasses.replace(item, status=ItemStatus.RUNNING)
            notify(items[item.id], "started")
            running[item.id] = asyncio.create_task(run_item(items[item.id]), name=item.id)
        if not running:
            break
        done, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            item_id = task.get_name()
            del running[item_id]
            try:
                result = task.result()
            except Exception as exc:
                result = dataclasses.replace(items[item_id], status=ItemStatus.FAILED)
                notify(result, f"crashed: {type(exc).__name__}: {exc}")
            else:
                notify(result, result.status.value)
            items[item_id] = result
    return dataclasses.replace(checklist, items=tuple(items[i.id] for i in checklist.items))
