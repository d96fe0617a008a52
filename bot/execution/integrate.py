"""Integration: merge finished item branches into the run's branch in dependency order, redo an
item on top of the integrated branch when its merge conflicts, then validate the whole."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.domain import Checklist, Item, ItemStatus
from bot.validation.baseline import BaselineCache
from bot.validation.detect import Toolchain
from bot.validation.pipeline import Settings
from bot.validation.validate import Change, test_files_in, validate
from bot.validation.verdict import StageResult, ValidationVerdict
from bot.workspace.worktrees import Workspace, Worktrees

Redo = Callable[[Item, str], Awaitable[Item]]  # (item, base commit) -> the item redone there


@dataclass(frozen=True)
class Integration:
    branch: str
    path: Path
    commit: str
    merged: tuple[str, ...]
    redone: tuple[str, ...]  # items re-run on top of the integrated branch after a conflict
    verdict: ValidationVerdict | None


def dependency_order(items: tuple[Item, ...]) -> list[Item]:
    placed: list[Item] = []
    seen: set[str] = set()
    pending = list(items)
    while pending:
        progress = False
        for item in list(pending):
            if all(d in seen or d not in {i.id for i in items} for d in item.depends_on):
                placed.append(item)
                seen.add(item.id)
                pending.remove(item)
                progress = True
        if not progress:  # a cycle cannot get here (checked at parse), but never loop forever
            placed += pending
            break
    return placed


async def integrate(
    checklist: Checklist,
    *,
    trees: Worktrees,
    run_id: str,
    base_ref: str,
    redo: Redo,
    toolchain: Toolchain,
    settings: Settings,
    baselines: BaselineCache | None = None,
) -> tuple[Checklist, Integration]:
    workspace: Workspace = trees.create(run_id, "integrated", base_ref)
    items = {i.id: i for i in checklist.items}
    merged: list[str] = []
    redone: list[str] = []
    for item in dependency_order(
        tuple(i for i in checklist.items if i.status is ItemStatus.DONE and i.branch)
    ):
        conflicts = trees.merge(workspace.path, item.branch, f"Merge {item.id}: {item.title}")
        if conflicts:
            again = await redo(item, trees.head(workspace.path))
            redone.append(item.id)
            conflicts = (
                trees.merge(workspace.path, again.branch, f"Merge {item.id}: {item.title}")
                if again.status is ItemStatus.DONE
                else conflicts
            )
            item = again if not conflicts else dataclasses.replace(again, status=ItemStatus.FAILED)
        items[item.id] = item
        if not conflicts:
            merged.append(item.id)
    verdict = None
    only = items[merged[0]] if len(merged) == 1 and not redone else None
    if only is not None and only.branch and trees.same_tree(trees.head(workspace.path), only.branch):
        # The integrated tree is the one item's own tree, which its verdict (same stages, same base
        # baseline) accepted: validating it again would repeat that run and prove nothing new.
        note = f"the integrated tree equals item {only.id}'s, accepted by its own verdict"
        verdict = ValidationVerdict((StageResult("reused", "passed", 0.0, note=note),))
    elif merged:
        base = workspace.base
        files = trees.before_after(workspace.path, base)
        changed = list(files)
        change = Change(
            root=workspace.path,
            files=files,
            test_files=test_files_in(trees.files(workspace.path)),
            new_tests=tuple(
                r for r in test_files_in(changed) if files[r][0] is None and files[r][1] is not None
            ),
        )
        test = toolchain.test
        if baselines is not None and test is not None and test.per_test:
            # The same per-test baseline of the base commit the items were judged against (cached),
            # so a sibling's or a pre-existing failure does not sink the integration either.
            base_dir = trees.detached(f"{run_id}-integration-base", base)
            try:
                baseline = await baselines.get(base, base_dir, test, settings)
            finally:
                trees.remove(base_dir)
            verdict = await validate(change, toolchain, settings=settings, baseline=baseline)
        else:
            verdict = await validate(change, toolchain, settings=settings)
    result = Integration(
        workspace.branch, workspace.path, trees.head(workspace.path), tuple(merged), tuple(redone), verdict
    )
    return dataclasses.replace(checklist, items=tuple(items[i.id] for i in checklist.items)), result
