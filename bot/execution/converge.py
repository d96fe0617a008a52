"""Converge by evidence: choose among several validated candidates without trusting arrival order.

Each candidate of a diverge round is the code change and the new tests one model wrote for the
item. Every candidate already passed validation, which a wrong change slips through at the
validator's false-positive rate; three cheap draws triple that chance if the first to validate is
kept. The candidates are therefore cross-checked: each candidate's new tests run against every
other candidate's code, in a throwaway git worktree at the base, with the project's real test
command.

- A candidate whose code fails a sibling's new test is suspect: the sibling expected a behaviour
  it does not have (or an interface it does not offer).
- Candidates that pass each other's tests agree: they are behaviourally equivalent on every test
  either wrote. The largest group that agrees two by two is the evidence to ship; the smallest
  change in it is chosen (least to review, least to go wrong elsewhere).
- With several candidates and no agreement there is no evidence which is right: the caller
  escalates instead of shipping any of them, and keeps them to cross-check the next tier's
  candidate against (bot/routing/driver.py). A lone candidate has nobody to disagree with and is
  chosen as any other preset's validated attempt would be; in a diverge round, though, the driver
  ships only on agreement, so a lone validated candidate there waits for the next tier's.

Only validated candidates' tests are evidence: a candidate whose own change failed validation
may have misread the item, and its tests would veto right changes at random.

This is the selection of CodeT (Chen et al., 2022: "dual execution agreement" of generated code
and generated tests) and of the reproduction-test filtering in Agentless (Xia et al., 2024),
applied to whole changes in a real repository.
"""

from __future__ import annotations

import asyncio
import difflib
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.validation.detect import Toolchain
from bot.validation.guard import is_test_file
from bot.validation.pipeline import Settings, run_check
from bot.workspace.worktrees import Worktrees


@dataclass(frozen=True)
class Candidate:
    """One validated change: every file it touched, as (before, after) text; None: absent."""

    name: str
    files: Mapping[str, tuple[str | None, str | None]]
    new_tests: tuple[str, ...]  # test files this candidate added

    @property
    def code(self) -> dict[str, str | None]:
        return {p: after for p, (_, after) in self.files.items() if not is_test_file(p)}

    @property
    def size(self) -> int:
        """Changed lines of non-test code: what a reviewer must read and what can break."""
        total = 0
        for before, after in self.code_pairs():
            a, b = (before or "").splitlines(), (after or "").splitlines()
            total += sum(
                max(i2 - i1, j2 - j1)
                for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b).get_opcodes()
                if tag != "equal"
            )
        return total

    def code_pairs(self) -> list[tuple[str | None, str | None]]:
        return [pair for p, pair in self.files.items() if not is_test_file(p)]


@dataclass(frozen=True)
class CrossCheck:
    code: str  # the candidate whose code ran
    tests: str  # the candidate whose new tests ran
    passed: bool
    detail: str = ""


@dataclass(frozen=True)
class Choice:
    chosen: str | None  # None: no agreement, escalate
    reason: str
    checks: tuple[CrossCheck, ...] = ()
    suspects: tuple[str, ...] = ()
    agreeing: tuple[str, ...] = ()


def decide(candidates: Sequence[Candidate], checks: Sequence[CrossCheck]) -> Choice:
    """The choice from the cross-check matrix alone (pure, so the rule is tested without git).

    Two candidates agree when each passes the other's tests. The largest group in which every two
    agree is the evidence (a wrong candidate among several cannot veto the right ones that agree
    with each other); the smallest change in it is chosen. No group of two, or two different
    groups of the same size, is no agreement."""
    names = [c.name for c in candidates]
    if len(candidates) == 1:
        return Choice(names[0], "the only validated candidate", tuple(checks), (), (names[0],))
    failed = {(c.code, c.tests) for c in checks if not c.passed}

    def agree(a: str, b: str) -> bool:
        return (a, b) not in failed and (b, a) not in failed

    groups = [
        group
        for size in range(len(names), 1, -1)
        for group in itertools.combinations(names, size)
        if all(agree(a, b) for a, b in itertools.combinations(group, 2))
    ]
    largest = [g for g in groups if len(g) == len(groups[0])] if groups else []
    if len(largest) != 1:
        why = "no two candidates agree" if not largest else f"{len(largest)} groups agree among themselves"
        suspects = tuple(n for n in names if any((n, o) in failed for o in names if o != n))
        return Choice(
            None, f"{why}; each fails another's tests: {', '.join(suspects)}", tuple(checks), suspects
        )
    agreeing = largest[0]
    # Suspect: fails the tests of a candidate in the agreeing group.
    suspects = tuple(n for n in names if n not in agreeing and any((n, o) in failed for o in agreeing))
    best = min((c for c in candidates if c.name in agreeing), key=lambda c: (c.size, names.index(c.name)))
    reason = f"{len(agreeing)} candidates agree ({', '.join(agreeing)}); "
    reason += f"smallest change: {best.name} ({best.size} lines)"
    if suspects:
        reason += f"; suspect: {', '.join(suspects)}"
    return Choice(best.name, reason, tuple(checks), suspects, agreeing)


async def converge(
    candidates: Sequence[Candidate],
    *,
    trees: Worktrees,
    base: str,
    toolchain: Toolchain,
    settings: Settings,
    scratch: str = "converge",
) -> Choice:
    """Cross-check ``candidates`` (each one's new tests on each other's code) and choose."""
    if len(candidates) < 2 or toolchain.test is None:
        only = [c.name for c in candidates]
        reason = "the only validated candidate" if len(only) == 1 else "no test command to cross-check with"
        return Choice(only[0] if len(only) == 1 else None, reason)
    checks: list[CrossCheck] = []
    for code in candidates:
        path = await asyncio.to_thread(trees.detached, f"{scratch}-{code.name}", base)
        try:
            for tests in candidates:
                if tests.name == code.name or not tests.new_tests:
                    continue
                checks.append(await _cross(path, code, tests, trees, toolchain, settings))
        finally:
            await asyncio.to_thread(trees.remove, path)
    return decide(candidates, checks)


async def _cross(
    path: Path, code: Candidate, tests: Candidate, trees: Worktrees, toolchain: Toolchain, settings: Settings
) -> CrossCheck:
    assert toolchain.test is not None
    await asyncio.to_thread(trees.reset, path)
    writes = {**code.code, **{t: tests.files[t][1] for t in tests.new_tests}}
    await asyncio.to_thread(_write, path, writes)
    args = tests.new_tests if toolchain.selects_files else ()
    run = await run_check(toolchain.test, cwd=path, settings=settings, args=args)
    detail = "" if run.result.ok else "\n".join(d.render() for d in run.diagnostics[:5])
    return CrossCheck(code.name, tests.name, run.result.ok, detail)


def _write(root: Path, files: Mapping[str, str | None]) -> None:
    for rel, text in files.items():
        target = root / rel
        if text is None:
            target.unlink(missing_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
