"""Integration of item branches with real git: dependency order, conflicts redone, whole validated."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from bot.domain import Checklist, Item, ItemStatus
from bot.execution.integrate import dependency_order, integrate
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees
from tests.integration.sample import PYTHON_PROJECT, git, make_repo, write


def done_item(trees: Worktrees, item: Item, edit: tuple[str, str], base: str = "main") -> Item:
    ws = trees.create("r1", item.id, base, resume=False)
    write(ws.path, *edit)
    commit = trees.commit(ws.path, f"{item.id}: {item.title}")
    return dataclasses.replace(item, status=ItemStatus.DONE, branch=ws.branch, commit=commit)


def test_dependency_order() -> None:
    items = (Item("c", "C", depends_on=("b",)), Item("a", "A"), Item("b", "B", depends_on=("a",)))
    assert [i.id for i in dependency_order(items)] == ["a", "b", "c"]


async def test_merge_conflict_is_redone_on_top_and_the_whole_validated(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    trees = Worktrees(repo)
    ops = (repo / "calc/ops.py").read_text()
    a = done_item(
        trees, Item("sub", "Add sub"), ("calc/ops.py", ops + "\n\ndef sub(a, b):\n    return a - b\n")
    )
    b = done_item(trees, Item("neg", "Add neg"), ("calc/ops.py", ops + "\n\ndef neg(a):\n    return -a\n"))
    c = done_item(trees, Item("docs", "Docs"), ("README.md", "calc\n"))
    failed = Item("broken", "Never finished", status=ItemStatus.FAILED)
    checklist = Checklist("milestone#1", "m", (a, b, c, failed))
    redone: list[tuple[str, str]] = []

    async def redo(item: Item, base: str) -> Item:
        redone.append((item.id, base))
        current = git(repo, "show", f"{base}:calc/ops.py")
        return done_item(
            trees, item, ("calc/ops.py", current + "\n\ndef neg(a):\n    return -a\n"), base=base
        )

    result, integration = await integrate(
        checklist,
        trees=trees,
        run_id="r1",
        base_ref="main",
        redo=redo,
        toolchain=toolchain(repo),
        settings=Settings(timeout_s=120),
    )
    assert integration.merged == ("sub", "neg", "docs")
    assert integration.redone == ("neg",) and redone[0][0] == "neg"
    assert integration.verdict is not None and integration.verdict.accepted, integration.verdict.render()
    final = git(repo, "show", f"{integration.branch}:calc/ops.py")
    assert "def sub(a, b)" in final and "def neg(a)" in final
    assert result.item("broken").status is ItemStatus.FAILED
    assert integration.branch == "milestone-bot/r1/integrated"


async def test_one_item_whose_tree_is_the_integration_reuses_its_verdict(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    trees = Worktrees(repo)
    ops = (repo / "calc/ops.py").read_text()
    only = done_item(
        trees, Item("sub", "Add sub"), ("calc/ops.py", ops + "\n\ndef sub(a, b):\n    return a - b\n")
    )

    async def redo(item: Item, base: str) -> Item:  # pragma: no cover - no conflict with one item
        raise AssertionError("nothing to redo")

    _, integration = await integrate(
        Checklist("milestone#1", "m", (only,)),
        trees=trees,
        run_id="r1",
        base_ref="main",
        redo=redo,
        toolchain=toolchain(repo),
        settings=Settings(timeout_s=120),
    )
    assert integration.merged == ("sub",)
    assert integration.verdict is not None and integration.verdict.accepted
    assert [s.name for s in integration.verdict.stages] == ["reused"]  # no pytest run at all
    assert "sub" in integration.verdict.stages[0].note
