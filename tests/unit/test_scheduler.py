"""The scheduler's ordering, parallelism, file-overlap exclusion and skipping."""

from __future__ import annotations

import asyncio
import dataclasses

from bot.domain import Checklist, Item, ItemStatus
from bot.execution.scheduler import run_checklist


def checklist(*items: Item) -> Checklist:
    return Checklist("milestone#1", "m", items)


class Recorder:
    def __init__(self, fail: set[str] = frozenset(), delay: float = 0.05) -> None:  # type: ignore[assignment]
        self.fail = fail
        self.delay = delay
        self.running: set[str] = set()
        self.most = 0
        self.order: list[str] = []
        self.together: list[set[str]] = []

    async def __call__(self, item: Item) -> Item:
        self.running.add(item.id)
        self.together.append(set(self.running))
        self.most = max(self.most, len(self.running))
        await asyncio.sleep(self.delay)
        self.running.discard(item.id)
        self.order.append(item.id)
        status = ItemStatus.FAILED if item.id in self.fail else ItemStatus.DONE
        return dataclasses.replace(item, status=status)


async def test_dependencies_run_in_order_and_independents_in_parallel() -> None:
    rec = Recorder()
    c = checklist(
        Item("a", "A"),
        Item("b", "B", depends_on=("a",)),
        Item("c", "C"),
        Item("d", "D", depends_on=("b", "c")),
    )
    result = await run_checklist(c, run_item=rec, parallel=4)
    assert all(i.status is ItemStatus.DONE for i in result.items)
    assert rec.order.index("a") < rec.order.index("b") < rec.order.index("d")
    assert rec.order.index("c") < rec.order.index("d")
    assert rec.most == 2  # a and c together


async def test_parallelism_is_bounded() -> None:
    rec = Recorder()
    c = checklist(*(Item(f"i{n}", f"I{n}") for n in range(10)))
    await run_checklist(c, run_item=rec, parallel=3)
    assert rec.most == 3


async def test_items_with_overlapping_files_do_not_run_together() -> None:
    rec = Recorder()
    c = checklist(
        Item("a", "A", allowed_files=("src/cache/*",)), Item("b", "B", allowed_files=("src/cache/store.py",)),
        Item("c", "C", allowed_files=("docs/*",)),
    )  # fmt: skip
    await run_checklist(c, run_item=rec, parallel=3)
    assert not any({"a", "b"} <= group for group in rec.together)
    assert any({"a", "c"} <= group for group in rec.together)


async def test_a_failed_item_skips_its_dependants_and_others_go_on() -> None:
    notes: list[tuple[str, str]] = []
    rec = Recorder(fail={"a"})
    c = checklist(
        Item("a", "A"), Item("b", "B", depends_on=("a",)), Item("c", "C", depends_on=("b",)), Item("x", "X")
    )
    result = await run_checklist(
        c, run_item=rec, parallel=2, on_update=lambda i, note: notes.append((i.id, note))
    )
    states = {i.id: i.status for i in result.items}
    assert states == {
        "a": ItemStatus.FAILED,
        "b": ItemStatus.SKIPPED,
        "c": ItemStatus.SKIPPED,
        "x": ItemStatus.DONE,
    }
    assert ("b", "dependency a ended failed") in notes
    assert ("c", "dependency b ended skipped") in notes


async def test_done_items_are_not_rerun_and_a_crash_is_contained() -> None:
    async def crashy(item: Item) -> Item:
        if item.id == "boom":
            raise RuntimeError("worktree vanished")
        return dataclasses.replace(item, status=ItemStatus.DONE)

    notes: list[tuple[str, str]] = []
    c = checklist(
        Item("old", "Old", status=ItemStatus.DONE, commit="abc"),
        Item("boom", "Boom"),
        Item("new", "New", depends_on=("old",)),
    )
    result = await run_checklist(
        c, run_item=crashy, parallel=2, on_update=lambda i, note: notes.append((i.id, note))
    )
    assert result.item("old").commit == "abc"
    assert result.item("boom").status is ItemStatus.FAILED and result.item("new").status is ItemStatus.DONE
    assert ("boom", "crashed: RuntimeError: worktree vanished") in notes
    assert not any(i == "old" for i, _ in notes)
