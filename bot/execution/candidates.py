"""diverge-converge in the per-item loop: keep each validated change, converge by evidence, and put
the chosen one back in the worktree.

Attempts of a round share the item's worktree and are applied one at a time, so after the round
the worktree holds whichever was judged last, not necessarily the one to ship. Each validated
candidate's files are therefore kept as validated; the driver asks ``choose`` (cross-checks in
throwaway worktrees, bot/execution/converge.py) when two or more validated, and ``restore``
writes the shipped candidate back before the commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.domain import CallScope
from bot.execution.converge import Candidate, Choice, converge
from bot.models.base import Completion
from bot.validation.detect import Toolchain
from bot.validation.guard import is_test_file
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees

Files = Mapping[str, tuple[str | None, str | None]]


@dataclass
class Candidates:
    trees: Worktrees
    toolchain: Toolchain
    settings: Settings
    base: str
    shared_tests: tuple[str, ...] = ()  # the item's tests, written before: every candidate passed them
    kept: dict[int, tuple[Completion, Files]] = field(default_factory=dict)
    choices: list[Choice] = field(default_factory=list)

    def keep(self, attempt: int, completion: Completion, files: Files) -> None:
        self.kept[attempt] = (completion, dict(files))

    async def choose(self, validated: Sequence[tuple[CallScope, Completion]]) -> int | None:
        candidates = [self._candidate(scope.attempt) for scope, _ in validated]
        choice = await converge(
            candidates, trees=self.trees, base=self.base, toolchain=self.toolchain, settings=self.settings,
            scratch=f"converge-{validated[0][0].item_id}",
        )  # fmt: skip
        self.choices.append(choice)
        return None if choice.chosen is None else [c.name for c in candidates].index(choice.chosen)

    def _candidate(self, attempt: int) -> Candidate:
        files = self.kept[attempt][1]
        added = tuple(
            p
            for p, (before, _) in files.items()
            if is_test_file(p) and before is None and p not in self.shared_tests
        )
        return Candidate(str(attempt), files, added)

    def restore(self, shipped: Completion | None, root: Path) -> None:
        """Put the shipped candidate's files back in the worktree (blocking: run in a thread)."""
        kept = next((files for completion, files in self.kept.values() if completion is shipped), None)
        if kept is None:
            return
        self.trees.reset(root)
        for rel, (_, after) in kept.items():
            target = root / rel
            if after is None:
                target.unlink(missing_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(after, encoding="utf-8")
