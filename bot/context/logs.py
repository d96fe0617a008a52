"""Failures out of logs: failing test ids, messages and stack frames, not text.

Reads GitHub Actions job logs (timestamps, ``##[group]``/``##[error]`` markers, ANSI colours) or
local command output from pytest, unittest, cargo test / rustc, jest / vitest, tsc, eslint and go
test. Log text is untrusted data: it is parsed, never followed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z ?", re.M)
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_MARKER = re.compile(r"^##\[(?:group|endgroup|section|command|debug|warning|notice)\].*$", re.M)


@dataclass(frozen=True)
class Frame:
    file: str
    line: int
    function: str = ""


_NOT_PROJECT = ("site-packages/", "dist-packages/", "/lib/python", "<frozen", "<string>", "node_modules/")


def in_project(frame: Frame) -> bool:
    """A frame in the project's own code, not the interpreter's or an installed package's."""
    return not any(mark in frame.file for mark in _NOT_PROJECT)


@dataclass(frozen=True)
class Failure:
    tool: str
    test_id: str
    message: str  # the full first line of the assertion or exception, never a truncated summary
    frames: tuple[Frame, ...] = ()
    details: tuple[str, ...] = ()  # the assertion's further lines (pytest's diff, "where" lines)

    def project_frames(self) -> tuple[Frame, ...]:
        return tuple(f for f in self.frames if in_project(f)) or self.frames

    def render(self) -> str:
        where = ", ".join(
            f"{f.file}:{f.line}" + (f" in {f.function}" if f.function else "")
            for f in self.project_frames()[-MAX_FRAMES:]
        )
        head = f"{self.test_id}: " if self.test_id else ""
        first = f"[{self.tool}] {head}{self.message}" + (f" (at {where})" if where else "")
        return "\n".join([first, *(f"    {line}" for line in self.details)])


MAX_FRAMES = 8
MAX_DETAILS = 12


def clean_log(text: str) -> str:
    text = _ANSI.sub("", text.replace("\r\n", "\n"))
    text = _TIMESTAMP.sub("", text)
    text = _MARKER.sub("", text)
    return text.replace("##[error]", "")


# -- Python: pytest and unittest --------------------------------------------------------------------
# pytest 9 reports failing subtests as SUBFAILED(i=1) tests/x.py::test - message.
_PYTEST_SUMMARY = re.compile(
    r"^(?:FAILED|ERROR|SUBFAILED(?:\([^)]*\))?) (?P<id>\S*\.py(?:::\S+?)?)(?: - (?P<msg>.*))?$", re.M
)
# Long names get a single underscore of padding: "_ test_x[a-long-param] _".
_PYTEST_SECTION = re.compile(r"^_+ (?P<name>[^_ ].*?) _+$", re.M)
_PYTEST_FRAME = re.compile(
    r"^(?P<file>[^\s:][^:\n]*\.py):(?P<line>\d+):(?: in (?P<func>[\w<>]+)| \w+)?[ \t]*$", re.M
)
_PY_FRAME = re.compile(r'^\s*File "(?P<file>[^"]+)", line (?P<line>\d+), in (?P<func>[\w<>]+)', re.M)
_E_LINE = re.compile(r"^E[ \t]+(?P<msg>.*\S)[ \t]*$", re.M)
_NOT_TESTS = {"FAILURES", "ERRORS", "warnings summary", "short test summary info", "test session starts"}
_UNITTEST = re.compile(r"^(?P<kind>FAIL|ERROR): (?P<test>\w+) \((?P<cls>[\w.]+)\)", re.M)
_SEPARATOR = re.compile(r"^(?:-{20,}|={20,})$", re.M)


def _section_key(name: str) -> str:
    """``TestX.test_y[param] (i=4)`` -> ``TestX.test_y``: parameters and subtest labels dropped."""
    name = re.sub(r"\s*\(.*\)$", "", name.strip())
    return re.sub(r"\[.*\]$", "", name.split(" ")[-1])


def _pytest_failure(test_id: str, summary_message: str, body: str) -> Failure:
    frames = [Frame(f["file"], int(f["line"]), f["func"] or "") for f in _PYTEST_FRAME.finditer(body)]
    frames += [Frame(f["file"], int(f["line"]), f["func"]) for f in _PY_FRAME.finditer(body)]
    e_lines = [e["msg"].strip() for e in _E_LINE.finditer(body)]
    # The E lines hold the whole assertion; the summary line is cut to the terminal's width.
    message = e_lines[0] if e_lines else (summary_message or "failed")
    details = tuple(line for line in e_lines[1 : 1 + MAX_DETAILS] if line.strip())
    return Failure("pytest", test_id, message.strip(), tuple(frames), details)


def _pytest(text: str) -> list[Failure]:
    sections: dict[str, str] = {}
    marks = [m for m in _PYTEST_SECTION.finditer(text) if m["name"].strip() not in _NOT_TESTS]
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        sections.setdefault(_section_key(m["name"]), text[m.end() : end])
    out = []
    used: set[str] = set()
    for m in _PYTEST_SUMMARY.finditer(text):
        test_id = re.sub(r"\[.*\]$", "", m["id"])
        leaf = test_id.split("::")[-1]
        qualified = ".".join(test_id.split("::")[1:])
        key = qualified if qualified in sections else leaf
        used.add(key)
        out.append(_pytest_failure(m["id"], m["msg"] or "", sections.get(key, "")))
    # A log cut before its summary (or run with -rN) still has the failure sections.
    for key, body in sections.items():
        if key not in used and (_E_LINE.search(body) or _PYTEST_FRAME.search(body)):
            out.append(_pytest_failure(key, "", body))
    return out


def _unittest(text: str) -> list[Failure]:
    out = []
    for m in _UNITTEST.finditer(text):
        rest = text[m.end() :]
        stop = [s.start() for s in _SEPARATOR.finditer(rest) if s.start() > 0]
        body = rest[stop[0] : stop[1]] if len(stop) > 1 else rest[: stop[0] if stop else len(rest)]
        frames = tuple(Frame(f["file"], int(f["line"]), f["func"]) for f in _PY_FRAME.finditer(body))
        lines = [x for x in body.strip().splitlines() if x.strip() and not x.startswith((" ", "Traceback"))]
        message = lines[-1] if lines else m["kind"].lower()
        out.append(Failure("unittest", f"{m['cls']}.{m['test']}", message.strip(), frames))
    return out


# -- Rust ---------------------------------------------------------------------------------------------
_CARGO_TEST = re.compile(r"^---- (?P<test>\S+) stdout ----$", re.M)
_PANIC_NEW = re.compile(r"panicked at (?P<file>[^:\s]+):(?P<line>\d+):\d+:\n(?P<msg>.+)")
_PANIC_OLD = re.compile(r"panicked at '(?P<msg>.*)', (?P<file>[^:\s]+):(?P<line>\d+):\d+")
_RUSTC = re.compile(
    r"^error(?:\[(?P<code>E\d+)\])?: (?P<msg>.+)\n\s*--> (?P<file>[^:\s]+):(?P<line>\d+):\d+", re.M
)


def _rust(text: str) -> list[Failure]:
    out = []
    marks = list(_CARGO_TEST.finditer(text))
    for i, m in enumerate(marks):
        body = text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)]
        panic = _PANIC_NEW.search(body) or _PANIC_OLD.search(body)
        if panic:
            frame = (Frame(panic["file"], int(panic["line"])),)
            out.append(Failure("cargo test", m["test"], panic["msg"].strip(), frame))
        else:
            out.append(
                Failure("cargo test", m["test"], body.strip().splitlines()[0] if body.strip() else "failed")
            )
    for m in _RUSTC.finditer(text):
        message = f"{m['code']}: {m['msg']}" if m["code"] else m["msg"]
        out.append(Failure("rustc", "", message.strip(), (Frame(m["file"], int(m["line"])),)))
    return out


# -- JavaScript / TypeScript ----------------------------------------------------------------------------
_JEST = re.compile(r"^\s*● (?P<test>.+?)\s*$", re.M)
_JS_FRAME = re.compile(
    r"at (?:(?P<func>[\w.<>$]+) )?\(?(?P<file>[^\s():]+\.[cm]?[jt]sx?):(?P<line>\d+):\d+\)?"
)
_VITEST = re.compile(r"^\s*(?:FAIL|×)\s+(?P<file>\S+\.[cm]?[jt]sx?) > (?P<test>.+?)\s*$", re.M)
_VITEST_FRAME = re.compile(r"❯ (?P<file>[^\s:]+\.[cm]?[jt]sx?):(?P<line>\d+):\d+")
_TSC = [
    re.compile(r"^(?P<file>[^\s(]+\.tsx?)\((?P<line>\d+),\d+\): error (?P<code>TS\d+): (?P<msg>.+)$", re.M),
    re.compile(r"^(?P<file>[^\s:]+\.tsx?):(?P<line>\d+):\d+ - error (?P<code>TS\d+): (?P<msg>.+)$", re.M),
]
_ESLINT_FILE = re.compile(r"^(?P<file>(?:/|\./|[\w.-]+/)\S+\.[cm]?[jt]sx?)$", re.M)
_ESLINT_ITEM = re.compile(r"^\s+(?P<line>\d+):\d+\s+error\s+(?P<msg>.+?)\s{2,}(?P<rule>[\w@/-]+)\s*$", re.M)


def _javascript(text: str) -> list[Failure]:
    out = []
    jest = list(_JEST.finditer(text))
    for i, m in enumerate(jest):
        body = text[m.end() : jest[i + 1].start() if i + 1 < len(jest) else len(text)]
        frames = tuple(
            Frame(f["file"], int(f["line"]), f["func"] or "")
            for f in _JS_FRAME.finditer(body)
            if "node_modules" not in f["file"]
        )
        lines = [x.strip() for x in body.strip().splitlines() if x.strip()]
        out.append(Failure("jest", m["test"], lines[0] if lines else "failed", frames))
    vitest = list(_VITEST.finditer(text))
    for i, m in enumerate(vitest):
        body = text[m.end() : vitest[i + 1].start() if i + 1 < len(vitest) else len(text)]
        frames = tuple(Frame(f["file"], int(f["line"])) for f in _VITEST_FRAME.finditer(body))
        lines = [x.strip() for x in body.strip().splitlines() if x.strip() and "Error" in x]
        out.append(Failure("vitest", f"{m['file']} > {m['test']}", lines[0] if lines else "failed", frames))
    for pattern in _TSC:
        for m in pattern.finditer(text):
            out.append(Failure("tsc", "", f"{m['code']}: {m['msg']}", (Frame(m["file"], int(m["line"])),)))
    files = list(_ESLINT_FILE.finditer(text))
    for i, f in enumerate(files):
        body = text[f.end() : files[i + 1].start() if i + 1 < len(files) else len(text)]
        for m in _ESLINT_ITEM.finditer(body):
            out.append(Failure("eslint", "", f"{m['rule']}: {m['msg']}", (Frame(f["file"], int(m["line"])),)))
    return out


# -- Go ---------------------------------------------------------------------------------------------
_GO_RUN = re.compile(r"^=== RUN\s+(?P<test>\S+)$", re.M)
_GO_FAIL = re.compile(r"^\s*--- FAIL: (?P<test>\S+)", re.M)
_GO_LINE = re.compile(r"^\s+(?P<file>[\w./-]+\.go):(?P<line>\d+): (?P<msg>.+)$", re.M)
_GO_BUILD = re.compile(r"^(?P<file>\.?/?[\w./-]+\.go):(?P<line>\d+):\d+: (?P<msg>.+)$", re.M)


def _go(text: str) -> list[Failure]:
    failed = {m["test"] for m in _GO_FAIL.finditer(text)}
    out = []
    runs = list(_GO_RUN.finditer(text))
    for i, m in enumerate(runs):
        if m["test"] not in failed:
            continue
        body = text[m.end() : runs[i + 1].start() if i + 1 < len(runs) else len(text)]
        lines = list(_GO_LINE.finditer(body))
        message = lines[0]["msg"] if lines else "failed"
        out.append(
            Failure("go test", m["test"], message, tuple(Frame(x["file"], int(x["line"])) for x in lines))
        )
    for m in _GO_BUILD.finditer(text):
        out.append(Failure("go build", "", m["msg"], (Frame(m["file"].removeprefix("./"), int(m["line"])),)))
    return out


# -- failures as Failure.render writes them (a red-build item's description) --------------------------
_RENDERED = re.compile(
    r"^\[(?P<tool>[\w ]+)\] (?:(?P<id>[^\s:]*(?:::|\.py|/)[^\s]*?): )?(?P<msg>.*?)"
    r"(?: \(at (?P<at>[^()]*)\))?$"
    r"(?P<details>(?:\n    .*)*)",
    re.M,
)
_RENDERED_FRAME = re.compile(r"(?P<file>[^\s,]+?):(?P<line>\d+)(?: in (?P<func>[\w<>]+))?")


def _rendered(text: str) -> list[Failure]:
    out = []
    for m in _RENDERED.finditer(text):
        frames = tuple(
            Frame(f["file"], int(f["line"]), f["func"] or "") for f in _RENDERED_FRAME.finditer(m["at"] or "")
        )
        details = tuple(x.strip() for x in m["details"].splitlines() if x.strip())
        out.append(Failure(m["tool"], m["id"] or "", m["msg"].strip(), frames, details))
    return out


def extract_failures(log: str) -> list[Failure]:
    """Every failure the log shows, de-duplicated, in the order the parsers found them."""
    text = clean_log(log)
    found: list[Failure] = []
    for parse in (_pytest, _unittest, _rust, _javascript, _go):
        found += parse(text)
    if not found:
        found += _rendered(text)
    if (
        not any(f.tool in ("pytest", "unittest") for f in found)
        and "Traceback (most recent call last)" in text
    ):
        frames = tuple(Frame(f["file"], int(f["line"]), f["func"]) for f in _PY_FRAME.finditer(text))
        last = [x for x in text.strip().splitlines() if re.match(r"^\w+(?:\.\w+)*(?:Error|Exception)\b", x)]
        found.append(Failure("python", "", last[-1] if last else "traceback", frames))
    return list(dict.fromkeys(found))
