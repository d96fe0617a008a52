"""Per-test outcomes from the test runners of other ecosystems, judged like pytest's.

- cargo: libtest's lines ``test NAME ... ok|FAILED|ignored`` (stable Rust), grouped by the target
  cargo names in ``Running unittests src/lib.rs (...)`` / ``Running tests/api.rs (...)`` /
  ``Doc-tests NAME``; a target that said ``running N tests`` and reported fewer before its
  ``test result:`` line (a test called ``process::exit``) makes the run untrustworthy.
- go: ``go test -json`` events (``run``/``pass``/``fail``/``skip`` per test and subtest).
- node: the built-in runner's JUnit report (``--test-reporter=junit``, Node >= 20.10 and 21.3);
  Node 20's report does not name a test's file, so ids are the suite path and the name.

Each gives (cases, problem): problem is why the run cannot be trusted, '' when it can; a run
whose exit code says failure while no test failed (a build error, a crash) is one of those.
"""

from __future__ import annotations

import json
import re

# The XML is the report of the runner we started, written outside the worktree.
import xml.etree.ElementTree as ET

from bot.validation.parsers import Outcome, TestCase

PER_TEST_PARSERS = ("cargo_test", "go_test", "node_test")

_TARGET = re.compile(r"^\s*(?:Running (?:unittests )?(?P<path>\S+)|Doc-tests (?P<doc>\S+))", re.M)
_RUNNING = re.compile(r"^running (\d+) tests?$")
_RESULT = re.compile(r"^test (?P<name>.+?) \.\.\. (?P<outcome>ok|FAILED|ignored)(?:,.*)?$")
_DOC_LINE = re.compile(r" \(line \d+\)$")
_PANIC = re.compile(r"panicked at (?P<file>[^:\s]+):(?P<line>\d+):\d+:\n(?P<msg>.*)")
_CARGO = {"ok": "passed", "FAILED": "failed", "ignored": "skipped"}


def _unique(cases: list[TestCase]) -> list[TestCase]:
    """Ids made unique in order (two doc-tests on one item, two node tests of one name)."""
    seen: dict[str, int] = {}
    out = []
    for case in cases:
        n = seen[case.id] = seen.get(case.id, 0) + 1
        out.append(case if n == 1 else TestCase(f"{case.id}#{n}", *_rest(case)))
    return out


def _rest(case: TestCase) -> tuple[Outcome, str, str, str, int | None, str]:
    return case.outcome, case.message, case.error_type, case.file, case.line, case.text


def _exit_problem(returncode: int, cases: list[TestCase]) -> str:
    bad = sum(1 for c in cases if c.outcome in ("failed", "error"))
    if returncode == 0 and bad:
        return f"exit code 0 while the runner reported {bad} failure(s)"
    if returncode != 0 and not bad:
        return f"exit code {returncode} while no test failed: a build error or the runner stopped"
    return ""


def _sections(output: str) -> list[tuple[str, str]]:
    """(target, its part of the output) per test target cargo ran."""
    heads = list(_TARGET.finditer(output))
    return [
        (h["path"] or f"doc-tests {h['doc']}", output[h.end() : nxt.start() if nxt else len(output)])
        for h, nxt in zip(heads, [*heads[1:], None], strict=False)
    ]


def _cargo_failure(body: str, name: str) -> tuple[str, str, int | None, str]:
    """The panic message, file and line of a failed test, from its ``---- NAME stdout ----`` block."""
    pattern = rf"^---- {re.escape(name)} stdout ----\n(.*?)(?=^---- |^failures:|\Z)"
    block = re.search(pattern, body, re.M | re.S)
    if block is None:
        return "", "", None, ""
    panic = _PANIC.search(block.group(1))
    if panic is None:
        return block.group(1).strip()[:300], "", None, block.group(1)[:4000]
    return panic["msg"].strip(), panic["file"], int(panic["line"]), block.group(1)[:4000]


def cargo_cases(output: str, returncode: int) -> tuple[list[TestCase], str]:
    cases: list[TestCase] = []
    problem = ""
    for target, body in _sections(output):
        expected, seen, finished = 0, 0, False
        for line in body.splitlines():
            running = _RUNNING.match(line)
            result = _RESULT.match(line)
            if running:
                expected = int(running.group(1))
            elif result:
                seen += 1
                # A doc-test's line moves with every edit above it: the id keeps the item.
                name = _DOC_LINE.sub("", result["name"])
                outcome: Outcome = _CARGO[result["outcome"]]  # type: ignore[assignment]
                message, file, at, text = (
                    _cargo_failure(body, result["name"]) if outcome == "failed" else ("", "", None, "")
                )
                cases.append(TestCase(f"{target}::{name}", outcome, message, "", file, at, text))
            elif line.startswith("test result:"):
                finished = True
        if (seen < expected or not finished) and not problem:
            problem = (
                f"{target}: said it runs {expected} test(s), reported {seen} and no result line: "
                "the test binary ended early (process::exit, abort, a crash)"
            )
    cases = _unique(cases)
    return cases, problem or _exit_problem(returncode, cases)


_GO_OUTCOMES: dict[str, Outcome] = {"pass": "passed", "fail": "failed", "skip": "skipped"}
_GO_WHERE = re.compile(r"^\s+(?P<file>[\w./-]+\.go):(?P<line>\d+): (?P<msg>.*)")


def go_cases(output: str, returncode: int) -> tuple[list[TestCase], str]:
    results: dict[str, Outcome] = {}
    said: dict[str, list[str]] = {}
    for line in output.splitlines():
        if not line.startswith("{"):
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(event, dict) or not event.get("Test"):
            continue  # package-level events: the exit code covers a package that failed to build
        test_id = f"{event.get('Package', '')}::{event['Test']}"
        action = event.get("Action")
        if action == "output":
            said.setdefault(test_id, []).append(str(event.get("Output", "")))
        elif action in _GO_OUTCOMES:
            results[test_id] = _GO_OUTCOMES[action]
    cases = []
    for test_id, outcome in results.items():
        text = "".join(said.get(test_id, []))
        where = next((m for m in map(_GO_WHERE.match, text.splitlines()) if m), None)
        message = where["msg"] if where and outcome == "failed" else ""
        file, at = (where["file"], int(where["line"])) if where else ("", None)
        cases.append(TestCase(test_id, outcome, message, "", file, at, text[-4000:]))
    return cases, _exit_problem(returncode, cases)


def _node_walk(node: ET.Element, path: tuple[str, ...], out: list[TestCase]) -> None:
    for child in node:
        name = child.get("name", "")
        if child.tag == "testsuite":
            _node_walk(child, (*path, name), out)
        elif child.tag == "testcase":
            failure, skipped = child.find("failure"), child.find("skipped")
            outcome: Outcome = "passed"
            message = ""
            if skipped is not None:
                # a todo test that fails is reported, not counted, by the runner itself
                outcome, message = "skipped", skipped.get("message", "")
            elif failure is not None:
                outcome, message = "failed", failure.get("message", "")
            text = (failure.text or "") if failure is not None else ""
            out.append(TestCase(" > ".join((*path, name)), outcome, message, "", "", None, text[:4000]))


def node_cases(xml_text: str | None, returncode: int) -> tuple[list[TestCase], str]:
    if xml_text is None:
        return [], "no JUnit report from node's test runner: it ended early or cannot write one"
    try:
        root = ET.fromstring(xml_text)  # noqa: S314 - see the import
    except ET.ParseError:
        return [], "the node test runner's JUnit report is truncated or not XML"
    cases: list[TestCase] = []
    _node_walk(root, (), cases)
    cases = _unique(cases)
    return cases, _exit_problem(returncode, cases)
