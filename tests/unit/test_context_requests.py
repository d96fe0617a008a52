"""Parsing and serving a model's request for more context: names are data, paths stay inside."""

from __future__ import annotations

from pathlib import Path

from bot.context.index import FileEntry, RepoIndex
from bot.context.requests import MAX_NAMES, ContextRequest, parse_context_request, serve_request
from bot.context.symbols import Symbol

FILES = {
    "calc/ops.py": "def add(a, b):\n    return a + b\n\n\nclass Box:\n    def size(self):\n        return 1\n",
    ".env": "TOKEN=hunter2\n",
}


def index(root: Path) -> RepoIndex:
    entries = {
        "calc/ops.py": FileEntry(
            "calc/ops.py", "python", "b1", 80, 7,
            (Symbol("add", "function", 1, 2, "def add(a, b)"), Symbol("Box.size", "method", 6, 7, "def size(self)")),
        ),
        ".env": FileEntry(".env", "", "b2", 14, 1),
    }  # fmt: skip
    return RepoIndex(root, entries, parsed=0, seconds=0.0)


def serve(request: ContextRequest, root: Path, budget: int = 10_000) -> str:
    return serve_request(request, index=index(root), read=FILES.get, budget=budget)


def test_parse_needs_lines_and_nothing_else() -> None:
    assert parse_context_request("NEED file: calc/ops.py\n  need SYMBOL: `Box.size`\n") == ContextRequest(
        ("calc/ops.py",), ("Box.size",)
    )
    assert parse_context_request("Here is the fix, no requests.") is None
    # Edits win: an answer that has edits is judged as edits even if it also asks.
    assert (
        parse_context_request("NEED file: a.py\na.py\n<<<<<<< SEARCH\n=======\nx\n>>>>>>> REPLACE\n") is None
    )
    assert parse_context_request("NEED file: a.py\nNEED file: a.py\n") == ContextRequest(("a.py",), ())


def test_files_and_symbols_are_served_with_line_numbers(tmp_path: Path) -> None:
    text = serve(ContextRequest(("calc/ops.py",), ("size",)), tmp_path)
    assert "### calc/ops.py:1-7\n    1 | def add(a, b):" in text
    assert "### calc/ops.py:6-7 (Box.size)\n    6 |     def size(self):\n    7 |         return 1" in text
    assert "Not served" not in text


def test_unsafe_or_unknown_names_are_refused_with_a_reason(tmp_path: Path) -> None:
    text = serve(
        ContextRequest(("../../etc/passwd", "/etc/passwd", ".env", "calc/opz.py"), ("Bx.sise",)), tmp_path
    )
    assert "../../etc/passwd: not served ('..' would leave the repository)" in text
    assert "/etc/passwd: not served (absolute paths" in text
    assert ".env: not served (on the deny list" in text and "hunter2" not in text
    assert "calc/opz.py: no such file; did you mean calc/ops.py?" in text
    assert "Bx.sise: no such symbol; did you mean Box.size?" in text


def test_names_and_bytes_are_bounded(tmp_path: Path) -> None:
    many = tuple(f"f{i}.py" for i in range(MAX_NAMES + 2))
    text = serve(ContextRequest(many, ()), tmp_path)
    assert f"f{MAX_NAMES}.py: not served (at most {MAX_NAMES} names per request)" in text
    assert len(serve(ContextRequest(("calc/ops.py",), ()), tmp_path, budget=60).encode()) <= 60
