"""Tool output -> structured diagnostics, so the model gets file:line:message, not a wall of log.

pytest through JUnit XML, ruff and eslint through JSON, cargo through its JSON messages, mypy and
tsc through their one-line formats. Output no parser understands falls back to a capped tail.
"""

from __future__ import annotations

import json
import re

# The XML is the report of our own pytest run, not foreign input.
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Literal

Outcome = Literal["passed", "failed", "error", "skipped"]


@dataclass(frozen=True)
class Diagnostic:
    message: str
    file: str = ""
    line: int | None = None
    test_id: str = ""
    code: str = ""  # rule or error code: E501, TS2322, E0308 ...
    kind: str = ""  # failure, error, lint, type, build

    def render(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else self.file
        head = " ".join(x for x in (where, self.test_id, self.code) if x)
        return f"{head}: {self.message}" if head else self.message


@dataclass(frozen=True)
class TestCase:
    id: str  # file::Class::test, as pytest names it
    outcome: Outcome
    message: str = ""
    error_type: str = ""  # the exception's type, when the report names it
    file: str = ""
    line: int | None = None
    text: str = ""  # the report's traceback text, capped: what red proof reads import errors from


def _pytest_id(classname: str, name: str, file: str) -> str:
    if file:
        module_path = file
        dotted = file.removesuffix(".py").replace("/", ".")
        rest = classname[len(dotted) :].lstrip(".") if classname.startswith(dotted) else ""
        return "::".join(x for x in (module_path, *(rest.split(".") if rest else []), name) if x)
    parts = classname.split(".")
    return f"{'/'.join(parts)}.py::{name}" if parts else name


_TB_LOCATION = re.compile(r"^([^\s:][^:\n]*\.py):(\d+): (\w+(?:Error|Exception|Exit)?)", re.M)
_E_LINE = re.compile(r"^E\s+(\w+(?:\.\w+)*(?:Error|Exception)):?", re.M)


def parse_junit(xml_text: str) -> list[TestCase]:
    """pytest's ``--junitxml`` report. ``error`` is a setup or collection error; ``failure`` a test
    that ran and failed."""
    return junit_report(xml_text) or []


def junit_report(xml_text: str) -> list[TestCase] | None:
    """The report's test cases; None when it is not a complete report (truncated, not XML, no
    test suite element), which a verdict must never read as "nothing failed"."""
    try:
        root = ET.fromstring(xml_text)  # noqa: S314 - see the import
    except ET.ParseError:
        return None
    if root.tag != "testsuite" and root.find("testsuite") is None:
        return None
    cases: list[TestCase] = []
    for case in root.iter("testcase"):
        file = case.get("file", "")
        test_id = _pytest_id(case.get("classname", ""), case.get("name", ""), file)
        line = int(case.get("line", "0")) + 1 if case.get("line") else None
        outcome: Outcome = "passed"
        message = error_type = details = ""
        for tag, value in (("failure", "failed"), ("error", "error"), ("skipped", "skipped")):
            node = case.find(tag)
            if node is not None:
                outcome = value  # type: ignore[assignment]
                message = node.get("message", "") or (node.text or "")[:500]
                text = node.text or ""
                details = text[:4000]
                error_type = node.get("type", "")
                if not error_type or error_type == "pytest.error":
                    match = _E_LINE.search(text) or _TB_LOCATION.search(text)
                    error_type = match.group(match.lastindex or 1) if match else ""
                tb = list(_TB_LOCATION.finditer(text))
                if tb:
                    file, line = tb[-1].group(1), int(tb[-1].group(2))
                break
        cases.append(TestCase(test_id, outcome, message.strip(), error_type, file, line, details))
    return cases


def junit_diagnostics(cases: list[TestCase]) -> list[Diagnostic]:
    out = []
    for c in cases:
        if c.outcome in ("failed", "error"):
            # pytest's message usually starts with the exception type already; do not say it twice.
            code = "" if c.message.startswith(c.error_type) else c.error_type
            out.append(
                Diagnostic(c.message or c.error_type or c.outcome, c.file, c.line, c.id, code, c.outcome)
            )
    return out


def parse_ruff_json(text: str) -> list[Diagnostic]:
    try:
        items = json.loads(text[text.index("[") :]) if "[" in text else []
    except (ValueError, json.JSONDecodeError):
        return []
    return [
        Diagnostic(
            i.get("message", ""),
            i.get("filename", ""),
            (i.get("location") or {}).get("row"),
            "",
            i.get("code") or "",
            "lint",
        )
        for i in items
        if isinstance(i, dict)
    ]


_MYPY = re.compile(
    r"^(?P<file>[^:\n]+):(?P<line>\d+)(?::\d+)?: error: (?P<msg>.*?)(?:  \[(?P<code>[\w-]+)\])?$", re.M
)
_TSC = re.compile(r"^(?P<file>[^(\n]+)\((?P<line>\d+),\d+\): error (?P<code>TS\d+): (?P<msg>.*)$", re.M)
_GO = re.compile(r"^(?P<file>[\w./-]+\.go):(?P<line>\d+)(?::\d+)?: (?P<msg>.*)$", re.M)


def parse_mypy(text: str) -> list[Diagnostic]:
    return [
        Diagnostic(m["msg"], m["file"], int(m["line"]), "", m["code"] or "", "type")
        for m in _MYPY.finditer(text)
    ]


def parse_tsc(text: str) -> list[Diagnostic]:
    return [
        Diagnostic(m["msg"], m["file"], int(m["line"]), "", m["code"], "type") for m in _TSC.finditer(text)
    ]


def parse_go(text: str) -> list[Diagnostic]:
    return [Diagnostic(m["msg"], m["file"], int(m["line"]), "", "", "build") for m in _GO.finditer(text)]


def parse_eslint_json(text: str) -> list[Diagnostic]:
    try:
        files = json.loads(text[text.index("[") :]) if "[" in text else []
    except (ValueError, json.JSONDecodeError):
        return []
    out = []
    for f in files:
        for m in f.get("messages", []) if isinstance(f, dict) else []:
            out.append(
                Diagnostic(
                    m.get("message", ""),
                    f.get("filePath", ""),
                    m.get("line"),
                    "",
                    m.get("ruleId") or "",
                    "lint",
                )
            )
    return out


def parse_cargo_json(text: str) -> list[Diagnostic]:
    out = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        message = item.get("message") if item.get("reason") == "compiler-message" else None
        if not isinstance(message, dict) or message.get("level") not in ("error", "warning"):
            continue
        spans = [s for s in message.get("spans", []) if s.get("is_primary")]
        span = spans[0] if spans else {}
        code = (message.get("code") or {}).get("code", "") if message.get("code") else ""
        out.append(
            Diagnostic(
                message.get("message", ""),
                span.get("file_name", ""),
                span.get("line_start"),
                "",
                code,
                "build",
            )
        )
    return out


_CARGO_TEST_FAIL = re.compile(r"^---- (?P<test>\S+) stdout ----\n(?P<body>.*?)(?=^---- |\Z)", re.M | re.S)
_PANIC = re.compile(r"panicked at (?P<file>[^:\s]+):(?P<line>\d+):\d+:\n(?P<msg>.*)")


def parse_cargo_test(text: str) -> list[Diagnostic]:
    out = []
    for m in _CARGO_TEST_FAIL.finditer(text):
        panic = _PANIC.search(m["body"])
        if panic:
            out.append(
                Diagnostic(panic["msg"].strip(), panic["file"], int(panic["line"]), m["test"], "", "failure")
            )
        else:
            out.append(Diagnostic(m["body"].strip()[:300], "", None, m["test"], "", "failure"))
    return out


def tail(text: str, lines: int = 40) -> list[Diagnostic]:
    """The fallback: the last lines of output, when no parser understood it."""
    kept = [x for x in text.splitlines() if x.strip()][-lines:]
    return [Diagnostic("\n".join(kept), kind="output")] if kept else []
