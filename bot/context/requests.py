"""A model's request for more context inside an attempt: parsing the ask, serving it safely.

Instead of edits, a model may answer with lines such as ``NEED file: calc/core.py`` or
``NEED symbol: Parser.parse``. The per-item loop serves a small number of these per attempt (each
is one more model call, paid and budgeted like any other), then insists on edits. The names come
from model output, so they are data: paths are checked to stay inside the repository and off the
deny list, and only committed files are read (never a half-applied attempt).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.context.index import RepoIndex
from bot.context.pack import fit_text
from bot.errors import UnsafePath
from bot.untrusted import fence
from bot.workspace.paths import DEFAULT_DENY, check_path

MAX_NAMES = 5  # names served per request; more are listed as not served
_NEED = re.compile(r"^[ \t]*NEED[ \t]+(file|symbol)[ \t]*:[ \t]*(\S[^\n]*?)[ \t]*$", re.I | re.M)
_EDIT_MARK = re.compile(r"^<<<<<<< SEARCH|^--- |^\+\+\+ ", re.M)

HOW_TO_ASK = f"""If you cannot make the change without seeing more code, answer instead with only lines like
NEED file: path/to/file.py
NEED symbol: ClassName.method_name
(at most {MAX_NAMES} names). Ask only when you must: each request costs another call."""


@dataclass(frozen=True)
class ContextRequest:
    files: tuple[str, ...] = ()
    symbols: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.files, *self.symbols)


def parse_context_request(text: str) -> ContextRequest | None:
    """The request in a model answer, or None when the answer is not one (it has edits, or no
    NEED lines). An answer with both edits and NEED lines is treated as edits."""
    if _EDIT_MARK.search(text):
        return None
    files: list[str] = []
    symbols: list[str] = []
    for kind, name in _NEED.findall(text):
        bucket = files if kind.lower() == "file" else symbols
        name = name.strip("`'\"")
        if name and name not in bucket:
            bucket.append(name)
    if not files and not symbols:
        return None
    return ContextRequest(tuple(files), tuple(symbols))


def serve_request(
    request: ContextRequest,
    *,
    index: RepoIndex,
    read: Callable[[str], str | None],
    budget: int,
    deny: Sequence[str] = DEFAULT_DENY,
) -> str:
    """The asked-for code as text for the model, at most ``budget`` bytes.

    ``read`` returns a committed file's text (None when it does not exist). Names that cannot be
    served are listed with why (and the nearest known names), so the model can correct itself.
    """
    parts: list[str] = []
    problems: list[str] = []
    asked = list(request.names)
    served = asked[:MAX_NAMES]
    for name in asked[MAX_NAMES:]:
        problems.append(f"{name}: not served (at most {MAX_NAMES} names per request)")
    for path in request.files:
        if path not in served:
            continue
        try:
            check_path(index.root, path, deny=deny)
        except UnsafePath as exc:
            problems.append(f"{path}: not served ({exc.reason})")
            continue
        text = read(path)
        if text is None:
            near = difflib.get_close_matches(path, list(index.files), n=3)
            problems.append(f"{path}: no such file" + (f"; did you mean {', '.join(near)}?" if near else ""))
            continue
        parts.append(_numbered(path, 1, text.splitlines(), ""))
    for name in request.symbols:
        if name not in served:
            continue
        found = _find_symbol(index, name)
        if not found:
            near = difflib.get_close_matches(name, _symbol_names(index), n=3)
            problems.append(
                f"{name}: no such symbol" + (f"; did you mean {', '.join(near)}?" if near else "")
            )
            continue
        for path, qualified, start, end in found[:3]:
            text = read(path)
            if text is None:
                continue
            parts.append(_numbered(path, start, text.splitlines()[start - 1 : end], qualified))
    if problems:
        # The names come from model output: data, fenced.
        parts.append("## Not served\n" + fence("\n".join(problems)) + "\n")
    return fit_text("".join(parts), budget) if parts else "## Not served\nnothing was asked for\n"


def _numbered(path: str, start: int, lines: Sequence[str], symbol: str) -> str:
    end = start + max(len(lines), 1) - 1
    title = f" ({symbol})" if symbol else ""
    body = "\n".join(f"{start + n:>5} | {line}" for n, line in enumerate(lines))
    return f"### {path}:{start}-{end}{title}\n{body}\n"


def _find_symbol(index: RepoIndex, name: str) -> list[tuple[str, str, int, int]]:
    """Exact qualified name first (``Class.method``), then the last component (``method``)."""
    exact: list[tuple[str, str, int, int]] = []
    tail: list[tuple[str, str, int, int]] = []
    short = name.rsplit(".", 1)[-1]
    for entry in sorted(index.source_files(), key=lambda e: e.path):
        for symbol in entry.symbols:
            row = (entry.path, symbol.name, symbol.start, symbol.end)
            if symbol.name == name or f"{entry.path}:{symbol.name}" == name:
                exact.append(row)
            elif symbol.name.rsplit(".", 1)[-1] == short:
                tail.append(row)
    return exact or tail


def _symbol_names(index: RepoIndex) -> list[str]:
    return sorted({s.name for e in index.source_files() for s in e.symbols})
