"""Parsing a model's answer into edits: SEARCH/REPLACE blocks, unified diffs, or whole files.

The prompts ask for SEARCH/REPLACE blocks (docs/edit-format.md); diffs and whole files are accepted
because models produce them anyway. Parsing never touches the disk: what an edit may change is
decided when it is applied (bot/workspace/apply.py).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SEARCH, DIVIDER, REPLACE = "<<<<<<< SEARCH", "=======", ">>>>>>> REPLACE"
_FENCE = re.compile(r"^\s*(```|~~~)")
_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+\d+(?:,\d+)? @@")
_PATHLIKE = re.compile(r"^[\w.\-/]+\.[\w]+$|^[\w.\-/]*/[\w.\-]+$")


@dataclass(frozen=True)
class Replace:
    """Replace ``search`` with ``replace`` in ``path``; an empty ``search`` creates a new file."""

    path: str
    search: str
    replace: str
    block: int  # 1-based number of the block in the answer, for diagnostics


@dataclass(frozen=True)
class WriteFile:
    path: str
    content: str
    block: int


@dataclass(frozen=True)
class DeleteFile:
    path: str
    block: int


Edit = Replace | WriteFile | DeleteFile


@dataclass(frozen=True)
class Parsed:
    edits: tuple[Edit, ...]
    problems: tuple[str, ...]  # malformed blocks, reported back to the model


def _clean_path(line: str) -> str:
    text = line.strip().strip("`*").strip()
    for prefix in ("File:", "file:", "Path:", "path:", "#"):
        text = text.removeprefix(prefix).strip()
    return text.strip("`*").strip()


def _search_replace(lines: list[str]) -> Parsed:
    edits: list[Edit] = []
    problems: list[str] = []
    i, block, path = 0, 0, ""
    while i < len(lines):
        if lines[i].rstrip() != SEARCH:
            if lines[i].strip() and not _FENCE.match(lines[i]):
                path = _clean_path(lines[i])
            i += 1
            continue
        block += 1
        start = i
        try:
            divider = next(j for j in range(i + 1, len(lines)) if lines[j].rstrip() == DIVIDER)
            end = next(j for j in range(divider + 1, len(lines)) if lines[j].rstrip() == REPLACE)
        except StopIteration:
            problems.append(
                f"block {block}: unterminated SEARCH/REPLACE block (needs {DIVIDER} and {REPLACE})"
            )
            break
        if not path:
            problems.append(f"block {block}: no file path on the line before {SEARCH}")
        else:
            search = "".join(line + "\n" for line in lines[start + 1 : divider])
            replace = "".join(line + "\n" for line in lines[divider + 1 : end])
            edits.append(Replace(path, search, replace, block))
        i = end + 1
    return Parsed(tuple(edits), tuple(problems))


def _diff_path(line: str) -> str:
    raw = line[4:].split("\t")[0].strip()
    if raw == "/dev/null":
        return raw
    return raw[2:] if raw[:2] in ("a/", "b/") else raw


def _unified_diff(lines: list[str]) -> Parsed:
    edits: list[Edit] = []
    problems: list[str] = []
    i, block = 0, 0
    while i < len(lines):
        if not (lines[i].startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")):
            i += 1
            continue
        old, new = _diff_path(lines[i]), _diff_path(lines[i + 1])
        i += 2
        while i < len(lines) and _HUNK.match(lines[i]):
            block += 1
            i += 1
            before: list[str] = []
            after: list[str] = []
            while i < len(lines) and not _HUNK.match(lines[i]) and not lines[i].startswith("--- "):
                line = lines[i]
                if line.startswith("\\"):  # "\ No newline at end of file"
                    i += 1
                    continue
                tag, body = (line[:1], line[1:]) if line else (" ", "")
                if tag in (" ", "-"):
                    before.append(body)
                if tag in (" ", "+"):
                    after.append(body)
                if tag not in (" ", "-", "+"):
                    break
                i += 1
            text_before = "".join(x + "\n" for x in before)
            text_after = "".join(x + "\n" for x in after)
            if new == "/dev/null":
                edits.append(DeleteFile(old, block))
            elif old == "/dev/null":
                edits.append(WriteFile(new, text_after, block))
            else:
                edits.append(Replace(new, text_before, text_after, block))
    return Parsed(tuple(edits), tuple(problems))


def _whole_files(lines: list[str]) -> Parsed:
    """A path line, then a fenced block holding the file's whole new content."""
    edits: list[Edit] = []
    i, block = 0, 0
    while i < len(lines) - 1:
        path = _clean_path(lines[i])
        if _PATHLIKE.match(path) and _FENCE.match(lines[i + 1]):
            fence = _FENCE.match(lines[i + 1]).group(1)  # type: ignore[union-attr]
            end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == fence), None)
            if end is not None:
                block += 1
                edits.append(WriteFile(path, "".join(x + "\n" for x in lines[i + 2 : end]), block))
                i = end + 1
                continue
        i += 1
    return Parsed(tuple(edits), ())


def parse_edits(answer: str) -> Parsed:
    """Edits in the answer, trying SEARCH/REPLACE, then unified diff, then whole files."""
    lines = answer.replace("\r\n", "\n").split("\n")
    if any(line.rstrip() == SEARCH for line in lines):
        return _search_replace(lines)
    if any(line.startswith("+++ ") for line in lines) and any(_HUNK.match(line) for line in lines):
        return _unified_diff(lines)
    whole = _whole_files(lines)
    if whole.edits:
        return whole
    return Parsed(
        (), ("no edits found: answer with SEARCH/REPLACE blocks (see the format in the instructions)",)
    )
