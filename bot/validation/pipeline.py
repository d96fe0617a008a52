"""Running validation stages: one command each, through the one subprocess runner, parsed."""

from __future__ import annotations

import ast
import json
import os
import tempfile
import time
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from bot.validation import parsers, runners
from bot.validation import trace as tracing
from bot.validation.detect import Check
from bot.validation.outcomes import PYTEST_NO_TESTS, report_problem
from bot.validation.parsers import Diagnostic, Outcome, TestCase
from bot.validation.verdict import StageResult, Status
from bot.workspace import proc
from bot.workspace.sandbox import SandboxPolicy


@dataclass(frozen=True)
class Settings:
    timeout_s: float = 900.0
    secrets: tuple[str, ...] = ()
    run_all: bool = False  # run every stage even after one fails
    env: Mapping[str, str] = field(default_factory=dict)  # the project's [validation] env
    # Folders of each checkout put first on PYTHONPATH (src/ for src layouts), so an installed copy
    # of the project cannot shadow the code under test; empty: the environment is left alone.
    import_roots: tuple[str, ...] = ()
    # The project's top-level packages: the probe proves they import from the checkout.
    packages: tuple[str, ...] = ()
    python: str = ""  # the validation interpreter (for the probe)
    environment: str = ""  # which environment and why, for the report
    sandbox: SandboxPolicy | None = None  # None: the safe default (isolated, no network)


@dataclass(frozen=True)
class CheckRun:
    result: proc.ProcResult
    diagnostics: tuple[Diagnostic, ...]
    cases: tuple[TestCase, ...]  # pytest only
    # pytest only: why this run's result cannot be trusted (no or truncated report, exit code and
    # report disagree); '' when it can.
    problem: str = ""
    # pytest with a trace request only: what the passing tests ran in the changed files; None when
    # the run wrote no trace.
    trace: tracing.Trace | None = None

    @property
    def no_tests(self) -> bool:
        return self.result.returncode == PYTEST_NO_TESTS and not self.cases

    @property
    def outcomes(self) -> dict[str, Outcome]:
        return {c.id: c.outcome for c in self.cases}


def command_env(settings: Settings, cwd: Path) -> dict[str, str]:
    env = dict(settings.env)
    if settings.import_roots:
        roots = [str((cwd / r).resolve()) for r in settings.import_roots]
        prior = env.get("PYTHONPATH") or os.environ.get("PYTHONPATH", "")
        env["PYTHONPATH"] = os.pathsep.join([*roots, *([prior] if prior else [])])
    return env


def _diagnostics(check: Check, output: str) -> list[Diagnostic]:
    by_parser = {
        "ruff": parsers.parse_ruff_json,
        "mypy": parsers.parse_mypy,
        "tsc": parsers.parse_tsc,
        "eslint": parsers.parse_eslint_json,
        "cargo": parsers.parse_cargo_json,
        "go": parsers.parse_go,
        "go_test": parsers.parse_go,  # build errors; test failures come from the events
    }
    parse = by_parser.get(check.parser)
    return parse(output) if parse else []


def _runner_cases(check: Check, result: proc.ProcResult, report: Path) -> tuple[list[TestCase], str]:
    if result.timed_out:
        return [], "the test run timed out"
    if check.parser == "cargo_test":
        return runners.cargo_cases(result.output, result.returncode)
    if check.parser == "go_test":
        return runners.go_cases(result.output, result.returncode)
    xml = report.read_text(encoding="utf-8", errors="replace") if report.exists() else None
    return runners.node_cases(xml, result.returncode)


async def run_check(
    check: Check,
    *,
    cwd: Path,
    settings: Settings,
    args: Sequence[str] = (),
    root: Path | None = None,
    traced: tracing.TraceRequest | None = None,
) -> CheckRun:
    with tempfile.TemporaryDirectory(prefix="milestone-bot-junit-") as tmp:
        extra: tuple[str, ...] = ()
        report = Path(tmp) / "junit.xml"
        argv = [*check.argv]
        env = command_env(settings, cwd)
        if check.parser == "pytest":
            # xunit1 records each test's file and line; the report lives outside the worktree.
            extra = (f"--junitxml={report}", "-o", "junit_family=xunit1")
            if traced is not None:
                plugin_args, plugin_env = tracing.setup(traced, cwd, Path(tmp))
                extra += tuple(plugin_args)
                prior = env.get("PYTHONPATH") or os.environ.get("PYTHONPATH", "")
                env = {**env, **plugin_env, "PYTHONPATH": os.pathsep.join(x for x in (prior, tmp) if x)}
        elif check.parser == "node_test" and "--test" in argv:
            # Options go before the file patterns; TAP stays on stdout for people and the tail.
            at = argv.index("--test") + 1
            argv[at:at] = [
                "--test-reporter=tap", "--test-reporter-destination=stdout",
                "--test-reporter=junit", f"--test-reporter-destination={report}",
            ]  # fmt: skip
        result = await proc.run(
            [*argv, *extra, *args],
            cwd=cwd,
            root=root or cwd,
            timeout_s=settings.timeout_s,
            extra_secrets=settings.secrets,
            extra_env=env or None,
            sandbox=settings.sandbox,
            writable=(Path(tmp),),  # the JUnit report is written there
        )
        cases: list[TestCase] = []
        problem = ""
        found: tracing.Trace | None = None
        if check.parser == "pytest":
            parsed = (
                parsers.junit_report(report.read_text(encoding="utf-8", errors="replace"))
                if report.exists()
                else None
            )
            cases = parsed or []
            if traced is not None:
                found = tracing.read(Path(tmp), cwd)
            if not (result.returncode == PYTEST_NO_TESTS and parsed is not None and not parsed):
                problem = report_problem(result.returncode, result.output, parsed, timed_out=result.timed_out)
            diagnostics = parsers.junit_diagnostics(cases)
            if problem:
                diagnostics.insert(0, Diagnostic(problem, kind="report"))
        else:
            diagnostics = _diagnostics(check, result.output)
            if check.parser in runners.PER_TEST_PARSERS:
                cases, problem = _runner_cases(check, result, report)
                diagnostics = [*parsers.junit_diagnostics(cases), *diagnostics]
                if problem:
                    diagnostics.insert(0, Diagnostic(problem, kind="report"))
    if not result.ok and not diagnostics:
        diagnostics = parsers.tail(result.output)
    if problem and len(diagnostics) < 3:
        diagnostics += parsers.tail(result.output, 15)
    return CheckRun(result, tuple(diagnostics), tuple(cases), problem, found)


def stage_from(name: str, run: CheckRun, *, note: str = "") -> StageResult:
    """A stage judged by its exit code: only for commands without a per-test report."""
    if run.result.timed_out:
        note = note or f"timed out after {run.result.duration_s:.0f}s"
    if run.result.isolation.startswith("UNSANDBOXED"):  # every report says so
        note = f"{note}; {run.result.isolation}" if note else run.result.isolation
    return StageResult(
        name,
        "passed" if run.result.ok and not run.problem else "failed",
        run.result.duration_s,
        run.diagnostics,
        run.result.argv,
        note,
    )


def syntax_stage(root: Path, changed: Sequence[str]) -> StageResult:
    """Parse changed Python, JSON, TOML and YAML files in process: the cheapest check there is."""
    started = time.monotonic()
    problems: list[Diagnostic] = []
    checked = 0
    for rel in changed:
        path = root / rel
        if not path.is_file():
            continue
        suffix = path.suffix
        if suffix not in (".py", ".json", ".toml", ".yaml", ".yml"):
            continue
        checked += 1
        try:
            text = path.read_text(encoding="utf-8")
            if suffix == ".py":
                ast.parse(text, filename=rel)
            elif suffix == ".json":
                json.loads(text)
            elif suffix == ".toml":
                tomllib.loads(text)
            else:
                yaml.safe_load(text)
        except SyntaxError as exc:
            problems.append(Diagnostic(exc.msg, rel, exc.lineno, "", "SyntaxError", "syntax"))
        except UnicodeDecodeError:
            problems.append(Diagnostic("not UTF-8 text", rel, None, "", "", "syntax"))
        except (ValueError, yaml.YAMLError) as exc:
            problems.append(Diagnostic(str(exc).splitlines()[0], rel, None, "", type(exc).__name__, "syntax"))
    status: Status = "failed" if problems else ("passed" if checked else "skipped")
    note = "" if checked else "no changed file of a parsable kind"
    return StageResult("syntax", status, time.monotonic() - started, tuple(problems), (), note)
