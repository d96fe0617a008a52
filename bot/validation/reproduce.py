"""Reproduce before paying: an item's failing tests must fail on the base, here, before any model
is called. A failure that does not show in this environment cannot be fixed or proven here."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from bot.validation.detect import Check
from bot.validation.outcomes import failing
from bot.validation.pipeline import Settings, run_check

_COLLECTION = ("collection failure", "ImportError while importing", "ModuleNotFoundError")


def _matches(test_id: str, wanted: str) -> bool:
    return test_id == wanted or test_id.startswith((f"{wanted}::", f"{wanted}["))


async def reproduce(base: Path, acceptance: Sequence[str], test: Check, settings: Settings) -> str:
    """'' when every acceptance test is collected on the base and at least one fails on its
    behaviour; else why the failure does not reproduce (the item then stops, unpaid)."""
    if test.parser != "pytest":
        return ""  # no per-test report: nothing to compare with
    run = await run_check(test, cwd=base, settings=settings, args=[a.split("[")[0] for a in acceptance])
    if not run.cases:
        return f"the acceptance tests were not collected on the base ({run.problem or 'no test ran'})"
    missing = [a for a in acceptance if not any(_matches(c.id, a) for c in run.cases)]
    if missing:
        return f"not collected on the base: {', '.join(missing)}"
    broken = [
        c
        for c in run.cases
        if c.outcome == "error" and any(m in f"{c.message}\n{c.text}" for m in _COLLECTION)
    ]
    if broken:
        return (
            f"collection or import error on the base, not the reported failure: {broken[0].id}: "
            f"{broken[0].message[:200]} (is the project installed in the validation environment?)"
        )
    wanted = [c for c in run.cases if any(_matches(c.id, a) for a in acceptance)]
    if not any(failing(c.outcome) for c in wanted):
        return "the acceptance tests already pass on the base: the failure does not reproduce here"
    return ""
