"""The full suite takes what earlier stages of the same verdict already ran on the same tree.

The new-tests and affected-tests stages run test files or test ids on the very tree the full suite
then runs; running them again costs time and proves nothing more. So the suite leaves out every
selector an earlier trustworthy run covered (``--ignore`` for a file, ``--deselect`` for a node id)
and the outcomes are merged per test id. pytest deselects by node-id *prefix*, so a node id that is
also the prefix of another test's id (``test_a`` and ``test_ab``) is not deselected: that one runs
again and the merge keeps the worse outcome, rather than a test silently disappearing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from bot.validation.outcomes import failing, under
from bot.validation.parsers import TestCase
from bot.validation.pipeline import CheckRun

Earlier = Sequence[tuple[str, CheckRun]]  # (file or node id, the trustworthy run that covered it)


def trusted(earlier: Earlier) -> list[tuple[str, CheckRun]]:
    return [(s, r) for s, r in earlier if not r.problem and r.cases]


def skip_args(earlier: Earlier, known: Iterable[str]) -> list[str]:
    """pytest arguments leaving out what ``earlier`` covered. ``known``: every test id that may
    exist (the base's and the earlier runs'), to find node ids pytest's prefix match would overreach."""
    ids = set(known) | {c.id for _, r in trusted(earlier) for c in r.cases}
    args: list[str] = []
    for selector, _ in trusted(earlier):
        if "::" not in selector:
            args.append(f"--ignore={selector}")
        elif not any(t.startswith(selector) and not under(t, selector) for t in ids):
            args.append(f"--deselect={selector}")
    return list(dict.fromkeys(args))


def _worse(a: TestCase, b: TestCase) -> TestCase:
    return b if failing(b.outcome) and not failing(a.outcome) else a


def merged(earlier: Earlier, suite: CheckRun) -> CheckRun:
    """The suite's run with the earlier runs' outcomes, one case per test id (the worse one when a
    test ran twice); the suite's own result, and its problem unless it merely had nothing left."""
    runs = list({id(r): r for _, r in trusted(earlier)}.values())
    if not runs:
        return suite
    cases: dict[str, TestCase] = {}
    for run in (*runs, suite):
        for case in run.cases:
            cases[case.id] = _worse(cases[case.id], case) if case.id in cases else case
    diagnostics = tuple(dict.fromkeys(d for run in (*runs, suite) for d in run.diagnostics))
    problem = "" if suite.no_tests else suite.problem
    return CheckRun(suite.result, diagnostics, tuple(cases.values()), problem)
