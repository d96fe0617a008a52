"""The validation pipeline: is this change right? Cheap stages first; stop at the first failure.

Order: anti-cheat guard, syntax, build, red proof (new tests fail on the base for a behavioural
reason), new tests (now pass), affected tests, full suite, lint and type check (only findings in
changed files count). Every pytest stage is judged per test id against the base commit's outcomes
(``outcomes.judge``), never by its exit code; other runners say "exit code only" in their note.
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.validation import evidence
from bot.validation.affected import affected_tests
from bot.validation.baseline import EMPTY, Baseline, run_baseline
from bot.validation.detect import Check, Toolchain
from bot.validation.environment import probe
from bot.validation.guard import FindingKind, check_change, is_test_file
from bot.validation.outcomes import Judgement, failing, judge
from bot.validation.parsers import Diagnostic, TestCase
from bot.validation.pipeline import CheckRun, Settings, run_check, stage_from, syntax_stage
from bot.validation.reuse import Earlier, merged, skip_args
from bot.validation.selection import select
from bot.validation.special_cases import special_cased_in
from bot.validation.trace import Trace, TraceRequest
from bot.validation.verdict import StageResult, Status, ValidationVerdict

# A new test failing with one of these on the base proves nothing about behaviour: the test itself
# is broken or cannot be imported (unless what is missing is what the item is to create).
NOT_BEHAVIOURAL = {
    "SyntaxError",
    "IndentationError",
    "ImportError",
    "ModuleNotFoundError",
    "NameError",
    "fixture",
}
_NO_MODULE = re.compile(r"No module named '([\w.]+)'")
_NO_NAME = re.compile(r"cannot import name '(\w+)'")

_MISSING_TOOL = re.compile(r"No module named '?(mypy|ruff|pylint|flake8)'?")
BaselineSource = Callable[[], Awaitable[Baseline]]
EXIT_CODE_ONLY = (
    "exit code only: this runner gives no per-test report (per test: pytest, cargo test, "
    "go test -json, node --test)"
)


@dataclass(frozen=True)
class Change:
    root: Path  # the worktree holding the change
    files: Mapping[str, tuple[str | None, str | None]]  # path -> (before, after) text
    new_tests: tuple[str, ...] = ()  # test files the item added (tests first)
    test_files: tuple[str, ...] = ()  # every test file in the repository, for affected-test search
    allowed: tuple[str, ...] = ()
    allow: frozenset[FindingKind] = field(default_factory=frozenset)
    # Test ids (or files) that must be collected, run and pass: a red build's failing tests.
    acceptance: tuple[str, ...] = ()
    # Tests the change phase may not touch: path -> text at the test-phase commit.
    frozen: Mapping[str, str] = field(default_factory=dict)
    # What the item says it is about (title, description): names it is to create are behavioural.
    intent: str = ""
    # The new tests were proven red already (the item loop's test phase): no red proof again.
    proven: bool = False

    @property
    def changed(self) -> list[str]:
        return sorted(p for p, (_, after) in self.files.items() if after is not None)


def _failing_ids(run: CheckRun) -> list[str]:
    return sorted({c.id for c in run.cases if failing(c.outcome)})


def _to_be_created(case: TestCase, change: Change) -> bool:
    """An import error naming a module or name the item is to create is the missing behaviour."""
    text = f"{case.message}\n{case.text}"
    files = {*change.files, *change.allowed}
    for module in _NO_MODULE.findall(text):
        path = module.replace(".", "/")
        if {f"{path}.py", f"{path}/__init__.py", f"src/{path}.py", f"src/{path}/__init__.py"} & files:
            return True
        if re.search(rf"\b{re.escape(module)}\b", change.intent):
            return True
    return any(re.search(rf"\b{re.escape(n)}\b", change.intent) for n in _NO_NAME.findall(text))


def _behavioural(case: TestCase, change: Change) -> bool:
    if case.outcome == "failed" and case.error_type.split(".")[-1] not in NOT_BEHAVIOURAL:
        return True
    return failing(case.outcome) and _to_be_created(case, change)


async def red_proof(base: Path, change: Change, test: Check, settings: Settings) -> StageResult:
    """Run the new test files on the base: at least one case must fail for a behavioural reason and
    none may fail for another; cases already passing are kept as regression guards."""
    copied: list[Path] = []
    try:
        for rel in change.new_tests:
            target = base / rel
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(change.root / rel, target)
            copied.append(target)
        run = await run_check(test, cwd=base, settings=settings, args=list(change.new_tests))
    finally:
        # The base checkout is the baseline's too: it must stay the base commit.
        for target in copied:
            target.unlink(missing_ok=True)
    problems: list[Diagnostic] = []
    red = [c for c in run.cases if _behavioural(c, change)]
    guards = [c for c in run.cases if c.outcome == "passed"]
    if run.problem and run.cases and not all(failing(c.outcome) for c in run.cases):
        problems.append(Diagnostic(run.problem, kind="report"))
    if not run.cases:
        problems.append(Diagnostic("no new test was collected on the base", kind="red_proof"))
    elif not red:
        problems.append(
            Diagnostic(
                "no new test fails on the base for a behavioural reason: it does not test the change",
                kind="red_proof",
            )
        )
    for case in run.cases:
        if case.outcome == "passed" and not red:
            problems.append(
                Diagnostic(
                    "passes on the base already: it does not test the change", case.file, case.line, case.id
                )
            )
        elif case.outcome == "skipped":
            problems.append(
                Diagnostic("skipped on the base: it proves nothing", case.file, case.line, case.id)
            )
        elif failing(case.outcome) and not _behavioural(case, change):
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
    note = ""
    if not problems:
        note = f"{len(red)} new test(s) fail on the base as they should"
        if guards:
            note += f"; {len(guards)} pass there already (kept as guards: {', '.join(c.id for c in guards)})"
    return StageResult("red_proof", status, run.result.duration_s, tuple(problems), run.result.argv, note)


def _judged(name: str, run: CheckRun, judgement: Judgement | None, *, note: str = "") -> StageResult:
    """A pytest stage: an untrustworthy run or nothing collected fails; else the judgement decides."""
    duration, argv = run.result.duration_s, run.result.argv
    if run.problem:
        return StageResult(name, "failed", duration, run.diagnostics, argv, run.problem)
    if not run.cases:
        return StageResult(
            name, "failed", duration, run.diagnostics, argv, "no test was collected: nothing was proven"
        )
    assert judgement is not None
    if judgement.ok:
        extra = (
            f"{len(judgement.preexisting)} failing on the base too (not counted)"
            if judgement.preexisting
            else ""
        )
        return StageResult(name, "passed", duration, (), argv, "; ".join(x for x in (note, extra) if x))
    by_id = {d.test_id: d for d in run.diagnostics if d.test_id}
    diagnostics = tuple(
        Diagnostic(f"{what}: {by_id[t].message}", by_id[t].file, by_id[t].line, t, by_id[t].code, "failure")
        if t in by_id
        else Diagnostic(what, test_id=t, kind="failure")
        for t, what in judgement.problems
    )
    return StageResult(name, "failed", duration, diagnostics, argv, note or f"{len(diagnostics)} failing")


async def _suite(
    change: Change,
    test: Check,
    settings: Settings,
    baseline: Baseline,
    earlier: Earlier = (),
    traced: TraceRequest | None = None,
) -> tuple[StageResult, tuple[str, ...], tuple[str, ...], Trace | None]:
    """The full suite against the base's outcomes; new failures are rerun once (flaky?).
    ``earlier``: test files and ids an earlier stage of this verdict already ran on this same tree,
    with their runs: the suite leaves them out and merges their outcomes per test id.
    ``traced``: trace the suite's run too (and return what it ran)."""
    skip = skip_args(earlier, baseline.outcomes)
    own = await run_check(test, cwd=change.root, settings=settings, args=skip, traced=traced)
    run = merged(earlier, own)
    acceptance = (*change.acceptance, *change.new_tests)
    if run.problem or not run.cases:
        return _judged("full_suite", run, None), (), (), own.trace
    outcomes = run.outcomes
    judgement = judge(outcomes, baseline.outcomes, expected=baseline.outcomes, acceptance=acceptance)
    flaky: tuple[str, ...] = ()
    duration = run.result.duration_s
    accepted_ids = {t for t in outcomes for a in acceptance if t == a or t.startswith((f"{a}::", f"{a}["))}
    suspects = sorted({t for t, _ in judgement.problems if failing(outcomes.get(t, "passed"))} - accepted_ids)
    if suspects and test.parser == "pytest":  # other runners cannot be given test ids
        rerun = await run_check(test, cwd=change.root, settings=settings, args=suspects)
        duration += rerun.result.duration_s
        if not rerun.problem:
            again = rerun.outcomes
            flaky = tuple(t for t in suspects if again.get(t) == "passed")
            outcomes = {**outcomes, **{t: "passed" for t in flaky}}
            judgement = judge(outcomes, baseline.outcomes, expected=baseline.outcomes, acceptance=acceptance)
    note = "" if baseline.outcomes else "no baseline of the base commit: every failure counts"
    stage = _judged("full_suite", run, judgement, note=note)
    return (
        StageResult(stage.name, stage.status, duration, stage.diagnostics, stage.command, stage.note),
        flaky,
        judgement.preexisting,
        own.trace,
    )


async def _evidence(
    change: Change,
    test: Check,
    settings: Settings,
    plan: evidence.Plan,
    request: TraceRequest,
    traces: Sequence[Trace | None],
) -> StageResult:
    """``evidence.py``'s rules on what the verdict's traced runs executed; the item's acceptance
    tests that no traced run recorded are run once more, traced."""
    started = time.monotonic()
    trace = Trace.pooled(traces)
    missing = [a for a in request.acceptance if not any(evidence.covers(t, a) for t in trace.acceptance)]
    command: tuple[str, ...] = ()
    if missing:
        only = TraceRequest(request.files, request.acceptance)
        run = await run_check(test, cwd=change.root, settings=settings, args=missing, traced=only)
        command = run.result.argv
        if run.trace is not None:
            trace.merge(run.trace)
    duration = time.monotonic() - started
    if not trace.runs:
        note = "not checked: the traced test runs wrote no trace (a plugin conflict, or a killed run)"
        return StageResult("evidence", "skipped", duration, (), command, note)
    problems = evidence.judge(plan, trace, acceptance=request.acceptance, intent=change.intent)
    if problems:
        note = f"{len(problems)} unproven"
        return StageResult("evidence", "failed", duration, tuple(problems), command, note)
    what = [f"{len(plan.units)} changed definition(s) run by the item's tests"]
    if plan.kept:
        what.append(f"{len(plan.kept)} kept branch(es) of old code run by passing tests")
    return StageResult("evidence", "passed", duration, (), command, "; ".join(what))


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


def _exit_code_only(stage: StageResult) -> StageResult:
    note = "; ".join(x for x in (stage.note, EXIT_CODE_ONLY) if x)
    return StageResult(stage.name, stage.status, stage.duration_s, stage.diagnostics, stage.command, note)


async def validate(
    change: Change,
    toolchain: Toolchain,
    *,
    settings: Settings | None = None,
    base: Path | None = None,
    baseline: Baseline | BaselineSource | None = None,
) -> ValidationVerdict:
    """``base``: a checkout of the base commit (red proof; the baseline when none is given).
    ``baseline``: the base's per-test outcomes, or how to get them (a shared cache)."""
    settings = settings or Settings()
    test = toolchain.test
    pytest_like = test is not None and test.parser == "pytest"
    per_test = test is not None and test.per_test  # cargo, go and node's runner too
    known: Baseline | None = baseline if isinstance(baseline, Baseline) else None

    async def base_outcomes() -> Baseline:
        nonlocal known
        if known is None:
            if callable(baseline):
                known = await baseline()
            elif base is not None and test is not None and per_test:
                known = await run_baseline("", base, test, settings)
            else:
                known = EMPTY
        return known

    collected = (await base_outcomes()).files if pytest_like and baseline is not None else frozenset()
    findings = tuple(
        check_change(
            change.files,
            allowed=change.allowed,
            allow=change.allow,
            frozen=change.frozen,
            collected=collected,
        )
    )
    # Items only (their acceptance tests or words): the integration re-checks trees whose items
    # were each judged with their own words, which it does not have.
    if "special_cased" not in change.allow and (change.acceptance or change.intent):
        findings += tuple(
            special_cased_in(
                change.root,
                change.files,
                acceptance=(*change.acceptance, *change.new_tests),
                intent=change.intent,
                tests={*collected, *change.frozen, *change.new_tests},
                red_build=bool(change.acceptance),
            )
        )
    stages: list[StageResult] = []
    flaky: tuple[str, ...] = ()
    preexisting: tuple[str, ...] = ()
    # Items only: what their acceptance tests ran is the evidence that the change is needed and
    # whole (evidence.py). pytest only: the tracer is a pytest plugin.
    acceptance = (*change.acceptance, *change.new_tests)
    plan = evidence.plan(change.files) if pytest_like and acceptance else evidence.Plan()
    request = plan.request(acceptance)
    traces: list[Trace | None] = []

    def verdict() -> ValidationVerdict:
        return ValidationVerdict(
            tuple(stages), findings, flaky, preexisting, environment=settings.environment
        )

    def stop() -> bool:
        return not settings.run_all and (bool(findings) or any(s.status == "failed" for s in stages))

    if stop():
        return verdict()
    if settings.packages and settings.python:
        started = time.monotonic()
        problem = await probe(settings, change.root)
        if problem:
            stages.append(StageResult("environment", "failed", time.monotonic() - started, note=problem))
            return verdict()
    stages.append(syntax_stage(change.root, change.changed))
    if toolchain.build is not None and not stop():
        stages.append(
            stage_from("build", await run_check(toolchain.build, cwd=change.root, settings=settings))
        )
    earlier: list[tuple[str, CheckRun]] = []  # test files and ids already run on this tree
    if test is not None and change.new_tests and toolchain.selects_files:
        if base is not None and not change.proven and not stop():
            stages.append(await red_proof(base, change, test, settings))
        if not stop():
            run = await run_check(
                test, cwd=change.root, settings=settings, args=list(change.new_tests), traced=request
            )
            traces.append(run.trace)
            earlier += [(t, run) for t in change.new_tests]
            stages.append(_judged("new_tests", run, judge(run.outcomes, {}, acceptance=change.new_tests)))
    if test is not None and toolchain.selects_files and not stop():
        known_base = await base_outcomes() if pytest_like else EMPTY
        affected = [
            t
            for t in affected_tests(change.root, change.changed, change.test_files)
            # only files pytest collected on the base: a named-after __init__.py holds no test
            if t not in change.new_tests and (not known_base.files or t in known_base.files)
        ]
        # Only the test ids the change's named definitions reach, when that can be decided, and
        # the item's acceptance tests in those files: they are what the item is about.
        files = affected
        affected = select(change.root, files, change.files) if files else []
        affected += [
            a
            for a in change.acceptance
            if "::" in a and a.split("::", 1)[0] in files and not known_base.covered(a, affected)
        ]
        if affected:
            run = await run_check(test, cwd=change.root, settings=settings, args=affected, traced=request)
            traces.append(run.trace)
            earlier += [(a, run) for a in affected]
            expected = known_base.under(affected)
            mine = tuple(a for a in change.acceptance if known_base.covered(a, affected))
            verdict_here = judge(run.outcomes, known_base.outcomes, expected=expected, acceptance=mine)
            stages.append(_judged("affected_tests", run, verdict_here))
    if test is not None and not stop():
        if per_test:
            # Kept branches no earlier traced run reached: the suite's run looks for them too.
            pooled = Trace.pooled(traces)
            look = request if request and any(not pooled.ran_in(k.path, k.span) for k in plan.kept) else None
            stage, flaky, preexisting, found = await _suite(
                change, test, settings, await base_outcomes(), earlier, traced=look
            )
            traces.append(found)
        else:
            stage = _exit_code_only(
                stage_from("full_suite", await run_check(test, cwd=change.root, settings=settings))
            )
        stages.append(stage)
    if test is not None and request is not None and not stop():
        stages.append(await _evidence(change, test, settings, plan, request, traces))
    for name, check in (("lint", toolchain.lint), ("typecheck", toolchain.typecheck)):
        if check is not None and not stop():
            run = await run_check(check, cwd=change.root, settings=settings)
            missing = _MISSING_TOOL.search(run.result.output) if not run.result.ok else None
            if missing or run.result.returncode == 127:
                # The project's environment does not have the tool: nothing was checked, and that
                # is not the change's fault. Said, not hidden.
                tool = missing.group(1) if missing else check.argv[0]
                note = f"{tool} is not installed in the validation environment"
                stages.append(StageResult(name, "skipped", run.result.duration_s, (), run.result.argv, note))
                continue
            stages.append(_only_changed(stage_from(name, run), change.changed))
    return verdict()


def test_files_in(files: Sequence[str]) -> tuple[str, ...]:
    return tuple(f for f in files if is_test_file(f) and f.endswith(".py"))


__all__ = ["Change", "Settings", "red_proof", "test_files_in", "validate"]
