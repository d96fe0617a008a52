"""The validation pipeline: is this change right? Cheap stages first; stop at the first failure.

Order: anti-cheat guard, syntax, build, red proof (new tests fail on the base for a behavioural
reason), new tests (now pass), affected tests, full suite (failures rerun for flakiness and checked
against the base), lint and type check (only findings in changed files count).
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.validation.affected import affected_tests
from bot.validation.detect import Check, Toolchain
from bot.validation.guard import FindingKind, check_change, is_test_file
from bot.validation.parsers import Diagnostic, TestCase
from bot.validation.pipeline import CheckRun, Settings, run_check, stage_from, syntax_stage
from bot.validation.verdict import StageResult, Status, ValidationVerdict

# A new test failing with one of these on the base proves nothing about behaviour: the test itself
# is broken or cannot be imported.
NOT_BEHAVIOURAL = {
    "SyntaxError",
    "IndentationError",
    "ImportError",
    "ModuleNotFoundError",
    "NameError",
    "fixture",
}


@dataclass(frozen=True)
class Change:
    root: Path  # the worktree holding the change
    files: Mapping[str, tuple[str | None, str | None]]  # path -> (before, after) text
    new_tests: tuple[str, ...] = ()  # test files the item added (tests first)
    test_files: tuple[str, ...] = ()  # every test file in the repository, for affected-test search
    allowed: tuple[str, ...] = ()
    allow: frozenset[FindingKind] = field(default_factory=frozenset)

    @property
    def changed(self) -> list[str]:
        return sorted(p for p, (_, after) in self.files.items() if after is not None)


def _failing_ids(run: CheckRun) -> list[str]:
    return sorted({c.id for c in run.cases if c.outcome in ("failed", "error")})


def _behavioural(case: TestCase) -> bool:
    return case.outcome == "failed" and case.error_type.split(".")[-1] not in NOT_BEHAVIOURAL


async def red_proof(base: Path, change: Change, test: Check, settings: Settings) -> StageResult:
    """Run the new test files on the base: each must be collected and fail for a behavioural reason."""
    for rel in change.new_tests:
        target = base / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(change.root / rel, target)
    run = await run_check(test, cwd=base, settings=settings, args=list(change.new_tests))
    problems: list[Diagnostic] = []
    if not run.cases:
        problems.append(Diagnostic("no new test was collected on the base", kind="red_proof"))
    for case in run.cases:
        if case.outcome == "passed":
            problems.append(
                Diagnostic(
                    "passes on the base already: it does not test the change", case.file, case.line, case.id
                )
            )
        elif case.outcome == "skipped":
            problems.append(
                Diagnostic("skipped on the base: it proves nothing", case.file, case.line, case.id)
            )
        elif not _behavioural(case):
            reason = case.error_type or case.outcome
            problems.append(
                Diagnostic(
                    f"fails on the base with {reason}, not a behavioural failure; make it fail on an "
                    "assertion or on the missing behaviour (import the module, then use the new name)",
                    case.file,
                    case.line,
                    case.id,
                    reason,
                )
            )
    status: Status = "failed" if problems else "passed"
    note = f"{len(run.cases)} new test(s) fail on the base as they should" if not problems else ""
    return StageResult("red_proof", status, run.result.duration_s, tuple(problems), run.result.argv, note)


async def _suite(
    change: Change, toolchain: Toolchain, settings: Settings, base: Path | None
) -> tuple[StageResult, tuple[str, ...], tuple[str, ...]]:
    """The full suite; failures are rerun (flaky?) and tried on the base (pre-existing?)."""
    assert toolchain.test is not None
    run = await run_check(toolchain.test, cwd=change.root, settings=settings)
    if run.no_tests:
        return StageResult("full_suite", "skipped", run.result.duration_s, note="no tests collected"), (), ()
    if run.result.ok or not run.cases:
        return stage_from("full_suite", run), (), ()
    failing = _failing_ids(run)
    rerun = await run_check(toolchain.test, cwd=change.root, settings=settings, args=failing)
    still = set(_failing_ids(rerun))
    flaky = tuple(t for t in failing if t not in still)
    preexisting: tuple[str, ...] = ()
    if still and base is not None:
        on_base = await run_check(toolchain.test, cwd=base, settings=settings, args=sorted(still))
        preexisting = tuple(sorted(still & set(_failing_ids(on_base))))
    regressions = still - set(preexisting)
    duration = run.result.duration_s + rerun.result.duration_s
    diagnostics = tuple(d for d in run.diagnostics if d.test_id in regressions)
    note = f"{len(regressions)} failing" if regressions else "failures were flaky or pre-existing"
    status: Status = "failed" if regressions else "passed"
    return StageResult("full_suite", status, duration, diagnostics, run.result.argv, note), flaky, preexisting


def _only_changed(stage: StageResult, changed: Sequence[str]) -> StageResult:
    """Lint and type findings count only in the files the change touched."""
    if stage.status != "failed" or not stage.diagnostics or not all(d.file for d in stage.diagnostics):
        return stage
    mine = tuple(
        d for d in stage.diagnostics if any(d.file.endswith(c) or c.endswith(d.file) for c in changed)
    )
    if mine:
        return StageResult(stage.name, "failed", stage.duration_s, mine, stage.command, stage.note)
    others = len(stage.diagnostics)
    return StageResult(
        stage.name,
        "passed",
        stage.duration_s,
        (),
        stage.command,
        f"{others} pre-existing, none in changed files",
    )


async def validate(
    change: Change,
    toolchain: Toolchain,
    *,
    settings: Settings | None = None,
    base: Path | None = None,
) -> ValidationVerdict:
    settings = settings or Settings()
    findings = tuple(check_change(change.files, allowed=change.allowed, allow=change.allow))
    stages: list[StageResult] = []
    flaky: tuple[str, ...] = ()
    preexisting: tuple[str, ...] = ()

    def verdict() -> ValidationVerdict:
        return ValidationVerdict(tuple(stages), findings, flaky, preexisting)

    def stop() -> bool:
        return not settings.run_all and (bool(findings) or any(s.status == "failed" for s in stages))

    if stop():
        return verdict()
    stages.append(syntax_stage(change.root, change.changed))
    if toolchain.build is not None and not stop():
        stages.append(
            stage_from("build", await run_check(toolchain.build, cwd=change.root, settings=settings))
        )
    test = toolchain.test
    if test is not None and change.new_tests and toolchain.selects_files:
        if base is not None and not stop():
            stages.append(await red_proof(base, change, test, settings))
        if not stop():
            run = await run_check(test, cwd=change.root, settings=settings, args=list(change.new_tests))
            stages.append(stage_from("new_tests", run))
    if test is not None and toolchain.selects_files and not stop():
        affected = [
            t
            for t in affected_tests(change.root, change.changed, change.test_files)
            if t not in change.new_tests
        ]
        if affected:
            stages.append(
                stage_from(
                    "affected_tests", await run_check(test, cwd=change.root, settings=settings, args=affected)
                )
            )
    if test is not None and not stop():
        stage, flaky, preexisting = await _suite(change, toolchain, settings, base)
        stages.append(stage)
    for name, check in (("lint", toolchain.lint), ("typecheck", toolchain.typecheck)):
        if check is not None and not stop():
            stages.append(
                _only_changed(
                    stage_from(name, await run_check(check, cwd=change.root, settings=settings)),
                    change.changed,
                )
            )
    return verdict()


def test_files_in(files: Sequence[str]) -> tuple[str, ...]:
    return tuple(f for f in files if is_test_file(f) and f.endswith(".py"))


__all__ = ["Change", "Settings", "red_proof", "test_files_in", "validate"]
