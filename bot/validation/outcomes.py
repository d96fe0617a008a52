"""Per-test outcomes of a pytest run, judged against the base commit's: never by the exit code.

A run is trusted only when its JUnit report is there, parses, and agrees with the exit code and with
the summary line pytest printed: a test process that ends itself with ``os._exit(0)`` (no report) or
an ``atexit`` hook that forces exit code 0 (a report holding failures) is rejected, not believed.
Then every test that passed on the base must still pass (not fail, skip, xfail or disappear), the
item's acceptance tests must be collected, run and pass, and tests failing on the base already
(pre-existing, or another item's acceptance tests) are not counted against the change.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from bot.validation.parsers import Outcome, TestCase

PYTEST_OK, PYTEST_FAILED, PYTEST_NO_TESTS = 0, 1, 5

_SUMMARY = re.compile(r"^[= ]*(?P<body>(?:\d+ \w+(?:, )?)+) in [\d.]+s", re.M)
_COUNT = re.compile(r"(\d+) (\w+)")


def failing(outcome: Outcome) -> bool:
    return outcome in ("failed", "error")


def printed_failures(output: str) -> int | None:
    """Failures and errors on pytest's last summary line (None when there is none)."""
    found = list(_SUMMARY.finditer(output))
    if not found:
        return None
    counts = {word: int(n) for n, word in _COUNT.findall(found[-1].group("body"))}
    return counts.get("failed", 0) + counts.get("error", 0) + counts.get("errors", 0)


def report_problem(
    returncode: int, output: str, cases: Sequence[TestCase] | None, *, timed_out: bool = False
) -> str:
    """Why a pytest run's result cannot be trusted; '' when report, exit code and output agree.

    ``cases`` is None when the JUnit report is missing or does not parse."""
    if timed_out:
        return "the test run timed out"
    if cases is None:
        return (
            "no complete JUnit report: the test process ended before pytest finished "
            "(os._exit, a crash, a kill) or the report was truncated"
        )
    bad = sum(1 for c in cases if failing(c.outcome))
    if returncode == PYTEST_OK and bad:
        return f"exit code 0 while the report holds {bad} failure(s)"
    if returncode == PYTEST_FAILED and not bad:
        return "exit code 1 while the report holds no failure"
    if returncode not in (PYTEST_OK, PYTEST_FAILED, PYTEST_NO_TESTS):
        return f"pytest stopped with exit code {returncode} (interrupted, internal or usage error)"
    shown = printed_failures(output)
    if shown is not None and shown != bad:
        return f"the report holds {bad} failure(s) but pytest printed {shown}"
    return ""


def _matches(test_id: str, wanted: str) -> bool:
    """An acceptance test names one test id, a parametrized family, a class or a whole file."""
    return test_id == wanted or test_id.startswith((f"{wanted}::", f"{wanted}["))


def under(test_id: str, selector: str) -> bool:
    """Whether running ``selector`` (a file, a class, a test, a parametrized family) runs ``test_id``."""
    return _matches(test_id, selector)


@dataclass(frozen=True)
class Judgement:
    problems: tuple[tuple[str, str], ...]  # (test id, what is wrong with it)
    preexisting: tuple[str, ...]  # failing here and on the base: not the change's fault
    regressed: tuple[str, ...]  # ids that passed on the base and do not pass now

    @property
    def ok(self) -> bool:
        return not self.problems


def judge(
    now: Mapping[str, Outcome],
    base: Mapping[str, Outcome],
    *,
    expected: Iterable[str] = (),
    acceptance: Sequence[str] = (),
) -> Judgement:
    """``expected``: base test ids this run must hold (the ones it selected). Each one that passed on
    the base must pass now; a new test that fails counts; a test failing on the base does not."""
    problems: list[tuple[str, str]] = []
    regressed: list[str] = []
    for test_id in sorted(set(expected)):
        if base.get(test_id) != "passed":
            continue
        outcome = now.get(test_id)
        if outcome != "passed":
            regressed.append(test_id)
            what = "disappeared (not collected or deselected)" if outcome is None else outcome
            problems.append((test_id, f"{what}; it passed on the base"))
    preexisting: list[str] = []
    for test_id, outcome in sorted(now.items()):
        if not failing(outcome) or test_id in regressed:
            continue
        if test_id in base and failing(base[test_id]):
            preexisting.append(test_id)
        elif test_id not in base or base[test_id] == "skipped":
            problems.append((test_id, f"{outcome} (a new test)"))
        elif test_id not in regressed:
            regressed.append(test_id)
            problems.append((test_id, f"{outcome}; it passed on the base"))
    for wanted in acceptance:
        hits = [t for t in now if _matches(t, wanted)]
        if not hits:
            problems.append((wanted, "acceptance test not collected (missing or deselected)"))
        for test_id in hits:
            if now[test_id] != "passed":
                problems.append((test_id, f"acceptance test {now[test_id]}; it must run and pass"))
                preexisting = [p for p in preexisting if p != test_id]
    unique = tuple(dict.fromkeys(problems))
    return Judgement(unique, tuple(preexisting), tuple(regressed))
