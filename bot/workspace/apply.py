"""Applying edits: tolerant of how models quote code, never wrong about where a change goes.

Each SEARCH text is located by exact match, then ignoring whitespace, then by a fuzzy match above a
similarity threshold; a match counts only when it is unique. Anything that cannot be applied
safely (ambiguous, missing, unsafe path, binary or non-UTF-8 or huge file) becomes a diagnostic for
the model's next attempt. Application is all or nothing: one problem and no file is written.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.errors import UnsafePath
from bot.workspace.edits import DeleteFile, Edit, Replace, WriteFile
from bot.workspace.paths import DEFAULT_DENY, check_path

MAX_FILE_BYTES = 1_000_000
FUZZY_THRESHOLD = 0.90
MAX_FUZZY_LINES = 5_000


@dataclass(frozen=True)
class EditProblem:
    path: str
    block: int
    message: str

    def render(self) -> str:
        return f"block {self.block} for {self.path}: {self.message}"


@dataclass(frozen=True)
class Applied:
    changed: tuple[str, ...]  # repository-relative paths written or deleted
    problems: tuple[EditProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


class _NoMatch(Exception):
    pass


def _norm(line: str) -> str:
    return " ".join(line.split())


def _spans(lines: list[str], start: int, count: int) -> tuple[int, int]:
    before = sum(len(x) for x in lines[:start])
    return before, before + sum(len(x) for x in lines[start : start + count])


def _indent_shape(block: list[str]) -> tuple[int, int] | None:
    """(indentation of the first non-blank line, the indent unit), in columns."""
    widths = [len(x) - len(x.lstrip()) for x in block if x.strip() and not x.lstrip().startswith("\t")]
    if not widths:
        return None
    base = widths[0]
    steps = [w - base for w in widths if w > base]
    return base, min(steps) if steps else 0


def _reindent(replace: str, search_block: list[str], file_block: list[str]) -> str:
    """When the model quoted the code with other indentation (an offset, or 2 spaces for 4), map the
    replacement's indentation levels onto the file's."""
    ours, theirs = _indent_shape(search_block), _indent_shape(file_block)
    if ours is None or theirs is None or ours == theirs:
        return replace
    (our_base, our_unit), (their_base, their_unit) = ours, theirs
    out = []
    for line in replace.splitlines(keepends=True):
        body = line.lstrip(" ")
        width = len(line) - len(body)
        if not body.strip() or width < our_base:
            out.append(line)
            continue
        extra = width - our_base
        if our_unit and their_unit and extra % our_unit == 0:
            extra = extra // our_unit * their_unit
        out.append(" " * (their_base + extra) + body)
    return "".join(out)


def locate(content: str, search: str, *, threshold: float = FUZZY_THRESHOLD) -> tuple[int, int, str]:
    """(start, end, how) of the unique region of ``content`` that ``search`` quotes; raises _NoMatch."""
    count = content.count(search)
    if count == 1:
        start = content.index(search)
        return start, start + len(search), "exact"
    if count > 1:
        raise _NoMatch(f"matched {count} places; include more surrounding lines so it is unique")
    lines = content.splitlines(keepends=True)
    wanted = [_norm(x) for x in search.splitlines()]
    while wanted and not wanted[0]:
        wanted.pop(0)
    while wanted and not wanted[-1]:
        wanted.pop()
    if not wanted:
        raise _NoMatch("SEARCH text is blank")
    n = len(wanted)
    normalized = [_norm(x) for x in lines]
    hits = [i for i in range(len(lines) - n + 1) if normalized[i : i + n] == wanted]
    if len(hits) == 1:
        start, end = _spans(lines, hits[0], n)
        return start, end, "whitespace"
    if len(hits) > 1:
        raise _NoMatch(f"matched {len(hits)} places (ignoring whitespace); include more context")
    if len(lines) > MAX_FUZZY_LINES:
        raise _NoMatch("not found, and the file is too long for a fuzzy search; quote the text exactly")
    target = "\n".join(wanted)
    scored = []
    for i in range(len(lines) - n + 1):
        window = "\n".join(normalized[i : i + n])
        matcher = difflib.SequenceMatcher(None, target, window, autojunk=False)
        if matcher.real_quick_ratio() >= threshold and matcher.quick_ratio() >= threshold:
            ratio = matcher.ratio()
            if ratio >= threshold:
                scored.append((ratio, i))
    # Overlapping windows around one region are one candidate; distinct regions make it ambiguous.
    regions: list[tuple[float, int]] = []
    for ratio, i in sorted(scored, key=lambda x: -x[0]):
        if all(abs(i - j) >= n for _, j in regions):
            regions.append((ratio, i))
    if len(regions) == 1:
        start, end = _spans(lines, regions[0][1], n)
        return start, end, f"fuzzy {regions[0][0]:.2f}"
    if len(regions) > 1:
        raise _NoMatch(f"resembles {len(regions)} places; include more context so it is unique")
    raise _NoMatch("not found in the file; quote the current text exactly (re-read the file)")


def _read_text(path: Path, rel: str, block: int, max_bytes: int) -> str | EditProblem:
    data = path.read_bytes()
    if len(data) > max_bytes:
        return EditProblem(rel, block, f"file is {len(data)} bytes, above the {max_bytes}-byte edit limit")
    if b"\x00" in data[:8192]:
        return EditProblem(rel, block, "binary file; it cannot be edited as text")
    try:
        return data.decode("utf-8").replace("\r\n", "\n")
    except UnicodeDecodeError:
        return EditProblem(rel, block, "not UTF-8 text; it cannot be edited safely")


def apply_edits(
    root: Path,
    edits: Sequence[Edit],
    *,
    deny: Sequence[str] = DEFAULT_DENY,
    allow_denied: bool = False,
    max_bytes: int = MAX_FILE_BYTES,
) -> Applied:
    pending: dict[str, str | None] = {}  # new content by path; None deletes
    crlf: dict[str, bool] = {}
    problems: list[EditProblem] = []
    for edit in edits:
        try:
            _prepare(root, edit, deny=deny, allow_denied=allow_denied, pending=pending, crlf=crlf,
                     problems=problems, max_bytes=max_bytes)  # fmt: skip
        except (OSError, ValueError) as exc:  # a name the file system cannot hold, a NUL byte...
            reason = _os_reason(exc) if isinstance(exc, OSError) else str(exc)
            problems.append(EditProblem(edit.path[:200], edit.block, f"cannot apply: {reason}"))
    if problems:
        return Applied((), tuple(problems))
    failure = _write(root.resolve(), pending, crlf)
    if failure is not None:
        return Applied((), (failure,))
    return Applied(tuple(pending), ())


def _os_reason(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _prepare(
    root: Path,
    edit: Edit,
    *,
    deny: Sequence[str],
    allow_denied: bool,
    pending: dict[str, str | None],
    crlf: dict[str, bool],
    problems: list[EditProblem],
    max_bytes: int,
) -> None:
    too_long = _unstorable(edit.path)
    if too_long:
        problems.append(EditProblem(edit.path[:200], edit.block, f"rejected: {too_long}"))
        return
    try:
        target = check_path(root, edit.path, deny=deny, allow_denied=allow_denied)
    except UnsafePath as exc:
        problems.append(EditProblem(edit.path, edit.block, f"rejected: {exc.reason}"))
        return
    rel = target.relative_to(root.resolve()).as_posix()
    if isinstance(edit, DeleteFile):
        if (rel in pending and pending[rel] is None) or not (target.exists() or pending.get(rel)):
            problems.append(EditProblem(rel, edit.block, "cannot delete a file that does not exist"))
        else:
            pending[rel] = None
        return
    if isinstance(edit, WriteFile):
        pending[rel] = edit.content
        return
    current: str | EditProblem | None = pending.get(rel) if rel in pending else None
    if rel not in pending and target.exists():
        raw_crlf = b"\r\n" in target.read_bytes()[:65536] if target.is_file() else False
        crlf[rel] = raw_crlf
        current = _read_text(target, rel, edit.block, max_bytes) if target.is_file() else None
    if isinstance(current, EditProblem):
        problems.append(current)
        return
    problems.extend(_apply_replace(edit, rel, current, pending))


NAME_MAX = 255  # bytes in one path component (ext4, xfs, btrfs, tmpfs)
PATH_MAX = 4096


def _unstorable(path: str) -> str:
    """Why the file system cannot hold ``path`` ('' when it can)."""
    encoded = path.encode("utf-8", errors="surrogateescape")
    if len(encoded) >= PATH_MAX:
        return f"path is {len(encoded)} bytes; file systems hold at most {PATH_MAX - 1}"
    for part in path.split("/"):
        if len(part.encode("utf-8", errors="surrogateescape")) > NAME_MAX:
            return f"a path component is longer than {NAME_MAX} bytes ({part[:40]}...)"
    return ""


def _write(root: Path, pending: dict[str, str | None], crlf: dict[str, bool]) -> EditProblem | None:
    """Write every change or none: on an error, what was written is put back as it was."""
    saved: list[tuple[Path, bytes | None]] = []
    made: list[Path] = []
    for rel, content in pending.items():
        path = root / rel
        try:
            saved.append((path, path.read_bytes() if path.is_file() else None))
            if content is None:
                path.unlink()
                continue
            for parent in reversed(path.parents):
                if root in parent.parents and not parent.exists():
                    parent.mkdir()
                    made.append(parent)
            path.write_bytes((content.replace("\n", "\r\n") if crlf.get(rel) else content).encode("utf-8"))
        except OSError as exc:
            _restore(saved, made)
            return EditProblem(rel, 0, f"cannot write: {_os_reason(exc)}; no file was changed")
    return None


def _restore(saved: list[tuple[Path, bytes | None]], made: list[Path]) -> None:
    for path, data in reversed(saved):
        try:
            if data is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(data)
        except OSError:
            continue  # best effort: the attempt is rejected, and the worktree is reset before the next
    for folder in reversed(made):
        try:
            folder.rmdir()
        except OSError:
            continue


def _apply_replace(
    edit: Replace, rel: str, current: str | None, pending: dict[str, str | None]
) -> list[EditProblem]:
    if not edit.search.strip():
        if current:
            return [
                EditProblem(rel, edit.block, "file exists; the SEARCH part must quote the text to replace")
            ]
        pending[rel] = edit.replace
        return []
    if current is None:
        return [
            EditProblem(rel, edit.block, "file does not exist; to create it, leave the SEARCH part empty")
        ]
    try:
        start, end, how = locate(current, edit.search)
    except _NoMatch as exc:
        return [EditProblem(rel, edit.block, f"SEARCH {exc}")]
    replace = edit.replace
    if how != "exact":
        replace = _reindent(replace, edit.search.splitlines(), current[start:end].splitlines())
        if current[start:end].endswith("\n") and not replace.endswith("\n") and replace:
            replace += "\n"
    pending[rel] = current[:start] + replace + current[end:]
    return []
