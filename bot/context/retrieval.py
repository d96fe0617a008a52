"""Ranking code chunks for a query: BM25 over whole functions and classes, plus evidence boosts.

Chunks are whole top-level functions and classes (big classes split into their methods) and
windows over the lines no symbol covers. The query is the item's text with its failing tests,
messages and frames. BM25 (bot.context.bm25) gives the lexical score; boosts add what a person would look at
first: the frames' functions, files and symbols named in the item, the failing tests' imports,
import-graph neighbours and recently changed files. Equal scores order by path and line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath

import numpy as np
import numpy.typing as npt

from bot.context.bm25 import BM25
from bot.context.index import FileEntry, RepoIndex
from bot.context.logs import Failure

WINDOW = 60
# Measured on bench/context.py: a red build's tests weigh half, and the frame where the failure was
# raised outside the tests weighs more than the frames that led to it.
TEST_WEIGHT = 0.3
HEADER_WEIGHT = 0.5
INNERMOST = 1.0
ON_LINE = 1.0
MISSING_ATTRIBUTE = 2.0
_NO_ATTRIBUTE = re.compile(r"'(\w+)' object has no attribute")
_MISSING = re.compile(r"'(\w+)' object has no attribute '(\w+)'")
_WHERE = re.compile(r"\bwhere .*? = (?:<[^>]*>\.)?([A-Za-z_]\w*)\(")
SPLIT_CLASS_LINES = 150
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_PATHISH = re.compile(r"[\w./-]+\.(?:py|rs|go|js|jsx|ts|tsx|mjs|cjs)\b")
STOP = {
    "self",
    "the",
    "and",
    "for",
    "def",
    "return",
    "none",
    "true",
    "false",
    "this",
    "that",
    "with",
    "from",
    "import",
    "class",
    "is",
    "in",
    "if",
    "else",
    "not",
    "of",
    "to",
    "a",
    "an",
    "it",
    "be",
    "fn",
    "let",
    "const",
    "var",
    "func",
    "pub",
    "use",
}


def tokens(text: str, *, memo: dict[str, list[str]] | None = None) -> list[str]:
    """Identifiers, whole and split on snake_case and camelCase, lowercased. ``memo`` keeps each
    identifier's tokens: a repository repeats its identifiers, and an index build splits them all."""
    out: list[str] = []
    memo = {} if memo is None else memo
    for ident in _IDENT.findall(text):
        found = memo.get(ident)
        if found is None:
            found = memo[ident] = _ident_tokens(ident)
        out += found
    return out


def _ident_tokens(ident: str) -> list[str]:
    lower = ident.lower()
    out = [lower] if len(lower) > 1 and lower not in STOP else []
    parts = [p.lower() for piece in ident.split("_") for p in _CAMEL.findall(piece)]
    if len(parts) > 1:
        out += [p for p in parts if len(p) > 1 and p not in STOP]
    return out


@dataclass(frozen=True)
class Chunk:
    path: str
    start: int  # 1-based, inclusive
    end: int
    symbol: str = ""  # qualified name; empty for a window
    kind: str = "window"

    @property
    def key(self) -> str:
        return f"{self.path}:{self.start}-{self.end}"


@dataclass(frozen=True)
class Scored:
    chunk: Chunk
    score: float
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Query:
    text: str
    failures: tuple[Failure, ...] = ()
    recent: tuple[str, ...] = ()  # recently changed files
    extra_terms: tuple[str, ...] = field(default=())

    def named_paths(self) -> set[str]:
        found = set(_PATHISH.findall(self.text)) | {t for t in self.extra_terms if _PATHISH.fullmatch(t)}
        for f in self.failures:
            found |= {fr.file for fr in f.frames}
            if "::" in f.test_id:
                found.add(f.test_id.split("::")[0])
        return {p.removeprefix("./") for p in found}

    def named_symbols(self) -> set[str]:
        """Normalized names (see ``norm``) the item or the failures point at: backticked or called
        names in the text, functions in stack frames, and the failing tests' own names and class
        names with their Test prefix or suffix removed (``SplitIntoTests`` names ``split_into``)."""
        names = {m for m in re.findall(r"`([A-Za-z_][\w.]*)`|\b([A-Za-z_]\w*)\(", self.text) for m in m if m}
        for f in self.failures:
            names |= {fr.function for fr in f.frames if fr.function and not fr.function.startswith("<")}
            parts = [p for p in re.split(r"::|\.| > | › |/", f.test_id) if p and not p.endswith("py")]
            for part in parts[-2:]:
                names.add(part)
                names.add(re.sub(r"^(?:test_?|Test)|(?:_?tests?|Tests?)$", "", part))
            names |= {n for line in (f.message, *f.details) for n in _IDENT.findall(line) if "_" in n}
        return {norm(n.split(".")[-1]) for n in names if len(n) > 2} - {""}


def norm(name: str) -> str:
    """Names compared loosely: ``SplitInto``, ``split_into`` and ``splitinto`` are one name."""
    return name.lower().replace("_", "")


def same_path(a: str, b: str) -> bool:
    """One file named from two roots (a log's absolute or relative path, the index's): equal, or one
    ends with the other at a folder boundary; test_parse.py is not parse.py."""
    a, b = a.removeprefix("./"), b.removeprefix("./")
    return a == b or a.endswith(f"/{b}") or b.endswith(f"/{a}")


def is_test_path(path: str) -> bool:
    name = PurePosixPath(path).name
    return name.startswith("test") or name.endswith(("_test.py", "_tests.py")) or "/tests/" in f"/{path}"


_CALLED = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
_CONSTRUCTORS = {"init", "new", "postinit"}  # normalized __init__, __new__, __post_init__
# Operators a test uses run these methods of the classes it uses (normalized names).
_OPERATORS = {
    "==": "eq", "!=": "ne", "<=": "le", ">=": "ge", " < ": "lt", " > ": "gt", " in ": "contains",
    "assertEqual": "eq", "assertNotEqual": "ne", "assertIn": "contains", "hash(": "hash", "del ": "delitem",
}  # fmt: skip
_BASES = re.compile(r"^\s*class\s+\w+\s*\(([^)]*)\)")
# A method of a class the failing test does not use, in a file it does not import, merely shares a
# name with what the test calls: its name boosts count this much (measured on bench/context.py).
FAR_METHOD = 0.5
THIRD_HOP = 0.4
STATEMENT_HOP = 0.7  # what the failing statement's callees call; half that one hop further
LEXICAL = 1.0  # the BM25 score's weight (the best chunk scores this much) against the boosts


_STRING = re.compile(r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\"")
_LOOP = re.compile(r"^\s*(?:async\s+)?(?:for|while)\b")
STATEMENT_LINES = 10  # a statement longer than this is cut: its head names what it calls


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _statement_end(lines: Sequence[str], first: int) -> int:
    """The index after the last line of the statement starting at ``first`` (0-based): its
    brackets balanced and no line continuation left open."""
    depth = 0
    for n in range(first, min(len(lines), first + STATEMENT_LINES)):
        text = _STRING.sub("''", lines[n]).split("#")[0]
        depth += sum(text.count(o) for o in "([{") - sum(text.count(c) for c in ")]}")
        if depth <= 0 and not text.rstrip().endswith("\\"):
            return n + 1
    return min(len(lines), first + STATEMENT_LINES)


def _ran(lines: Sequence[str], failing: int) -> Sequence[str]:
    """The lines of a test function that ran up to the failing statement (``failing``, 0-based):
    everything before it and the statement itself, and the rest of any loop holding it (an
    earlier pass ran it); what follows never ran."""
    end = _statement_end(lines, failing)
    if not 0 <= failing < len(lines):
        return lines
    level = _indent(lines[failing])
    for n in range(failing - 1, -1, -1):
        if not lines[n].strip() or _indent(lines[n]) >= level:
            continue
        level = _indent(lines[n])
        if _LOOP.match(lines[n]):
            stop = end
            while stop < len(lines) and (not lines[stop].strip() or _indent(lines[stop]) > level):
                stop += 1
            end = max(end, stop)
    return lines[:end]


def _chunks_of(entry_path: str, lines: int, symbols: Sequence[tuple[str, str, int, int]]) -> list[Chunk]:
    out: list[Chunk] = []
    covered = [False] * (lines + 2)
    tops = [s for s in symbols if "." not in s[0]]
    for name, kind, start, end in tops:
        members = [s for s in symbols if s[0].startswith(name + ".") and s[0].count(".") == 1]
        if kind == "class" and end - start > SPLIT_CLASS_LINES and members:
            first = min(m[2] for m in members)
            out.append(Chunk(entry_path, start, max(start, first - 1), name, "class"))
            out += [Chunk(entry_path, m[2], m[3], m[0], m[1]) for m in members]
        else:
            out.append(Chunk(entry_path, start, end, name, kind))
        for i in range(start, min(end, lines) + 1):
            covered[i] = True
    line = 1
    while line <= lines:
        if covered[line]:
            line += 1
            continue
        stop = line
        while stop <= lines and not covered[stop] and stop - line < WINDOW:
            stop += 1
        out.append(Chunk(entry_path, line, stop - 1))
        line = stop
    return out


def _headers(chunks: Sequence[Chunk]) -> npt.NDArray[np.bool_]:
    """Per chunk: the head of a class split into its methods (docstring and class attributes)."""
    split = {(c.path, c.symbol.split(".")[0]) for c in chunks if c.symbol.count(".") == 1}
    return np.fromiter(
        (c.kind == "class" and (c.path, c.symbol) in split for c in chunks), dtype=bool, count=len(chunks)
    )


def _module_candidates(imported: str) -> list[str]:
    """File paths a dotted or relative import may refer to."""
    dotted = imported.lstrip(".").replace(".", "/")
    return [f"{dotted}.py", f"{dotted}/__init__.py"] if dotted else []


_GONE = Chunk("\x00gone", 1, 0)  # stands in for a chunk of a file changed since the base was built
# Past a tenth of the files (and 20) changed, a fresh build is cheaper than an overlay.
MAX_CHANGED_SHARE = 10
MAX_CHANGED = 20


def _file_chunks(entry: FileEntry, lines: list[str]) -> list[Chunk]:
    symbols = [(s.name, s.kind, s.start, s.end) for s in entry.symbols]
    return [
        c
        for c in _chunks_of(entry.path, len(lines), symbols)
        if any(x.strip() for x in lines[c.start - 1 : c.end])
    ]


def _chunk_tokens(chunk: Chunk, lines: list[str], memo: dict[str, list[str]]) -> list[str]:
    return tokens(f"{chunk.path} {chunk.symbol} " + "\n".join(lines), memo=memo)


class Retriever:
    """Built once per index (chunking and the BM25 index), then asked many queries; ``updated``
    gives the retriever of a tree that differs in a few files without rebuilding the rest."""

    def __init__(self, index: RepoIndex) -> None:
        self.index = index
        self._texts: dict[str, list[str]] = {}
        chunks: list[Chunk] = []
        for entry in index.source_files():
            text = (index.root / entry.path).read_text(encoding="utf-8", errors="replace")
            lines = text.splitlines()
            self._texts[entry.path] = lines
            chunks += _file_chunks(entry, lines)
        self.chunks = chunks
        memo: dict[str, list[str]] = {}
        self._bm25 = BM25([_chunk_tokens(c, self.lines(c), memo) for c in chunks])
        self._base = self  # what ``updated`` overlays: always the full build
        self._index_views()
        self._build_graph()

    @property
    def is_base(self) -> bool:
        """A full build (not an overlay on another retriever)."""
        return self._base is self

    def _index_views(self) -> None:
        self._gone = np.fromiter((c is _GONE for c in self.chunks), dtype=bool, count=len(self.chunks))
        self._by_file: dict[str, list[int]] = {}
        for i, c in enumerate(self.chunks):
            if c is not _GONE:
                self._by_file.setdefault(c.path, []).append(i)
        tests = {p: is_test_path(p) for p in self._by_file}
        self._test = [tests.get(c.path, False) for c in self.chunks]  # per chunk: in a test file
        self._leaves = [norm(c.symbol.split(".")[-1]) if c.symbol else "" for c in self.chunks]
        self._header = _headers(self.chunks)

    def _overlay_views(self, base: Retriever, changed: set[str], first: int) -> None:
        """The base's per-chunk views with the changed files' chunks gone and the added ones
        (from ``first`` on) appended: linear in what changed, not in the repository."""
        gone = [i for p in changed for i in base._by_file.get(p, ())]
        self._gone = np.concatenate([base._gone, np.zeros(len(self.chunks) - first, dtype=bool)])
        self._gone[gone] = True
        self._by_file = {p: members for p, members in base._by_file.items() if p not in changed}
        added = self.chunks[first:]
        for n, c in enumerate(added, start=first):
            self._by_file.setdefault(c.path, []).append(n)
        self._test = base._test + [is_test_path(c.path) for c in added]
        self._leaves = base._leaves + [norm(c.symbol.split(".")[-1]) if c.symbol else "" for c in added]
        self._header = np.concatenate([base._header, _headers(added)])

    def updated(self, index: RepoIndex) -> Retriever:
        """The retriever for ``index``, a tree that differs from this one's base in a few files:
        the base's chunks and BM25 postings are shared, the changed files' chunks replace theirs."""
        base = self._base
        old, new = base.index.files, index.files
        changed = {p for p, e in new.items() if p not in old or old[p].blob != e.blob} | (
            old.keys() - new.keys()
        )
        if not changed:
            return base
        if len(changed) > max(MAX_CHANGED, len(new) // MAX_CHANGED_SHARE):
            return Retriever(index)
        out = object.__new__(Retriever)
        out.index = index
        out._base = base
        out._texts = {p: lines for p, lines in base._texts.items() if p not in changed}
        out.chunks = [_GONE if c.path in changed else c for c in base.chunks]
        added: list[Chunk] = []
        for path in sorted(changed):
            entry = new.get(path)
            if entry is None or not entry.language or entry.skipped:
                continue
            lines = (index.root / path).read_text(encoding="utf-8", errors="replace").splitlines()
            out._texts[path] = lines
            added += _file_chunks(entry, lines)
        out.chunks += added
        out._bm25 = base._bm25.extend([_chunk_tokens(c, out.lines(c), {}) for c in added])
        out._overlay_views(base, changed, len(base.chunks))
        out._update_graph(base, changed)
        return out

    def lines(self, chunk: Chunk) -> list[str]:
        return self._texts.get(chunk.path, [])[chunk.start - 1 : chunk.end]

    def _imports(self, entry: FileEntry, suffixes: dict[str, str]) -> set[str]:
        targets = set()
        for imported in entry.imports:
            for candidate in _module_candidates(imported):
                target = suffixes.get(candidate)
                if target and target != entry.path:
                    targets.add(target)
        return targets

    def _build_graph(self) -> None:
        """Import graph over indexed Python files: what each file imports, and what imports it."""
        self._suffixes: dict[str, str] = {}
        for p in sorted(self._texts):
            parts = PurePosixPath(p).parts
            for i in range(len(parts)):
                self._suffixes.setdefault("/".join(parts[i:]), p)
        self._forward: dict[str, set[str]] = {}
        self._reverse: dict[str, set[str]] = {}
        for entry in self.index.source_files():
            targets = self._forward[entry.path] = self._imports(entry, self._suffixes)
            for t in targets:
                self._reverse.setdefault(t, set()).add(entry.path)

    def _update_graph(self, base: Retriever, changed: set[str]) -> None:
        """The base's graph with the changed files' edges redone (copy on write)."""
        self._suffixes = dict(base._suffixes)
        for p in sorted(changed & self._texts.keys()):
            parts = PurePosixPath(p).parts
            for i in range(len(parts)):
                self._suffixes.setdefault("/".join(parts[i:]), p)
        self._forward = dict(base._forward)
        self._reverse = dict(base._reverse)
        for p in changed:
            for t in self._forward.pop(p, set()):
                self._reverse[t] = self._reverse[t] - {p}
            entry = self.index.files.get(p)
            if entry is None or p not in self._texts:
                continue
            targets = self._forward[p] = self._imports(entry, self._suffixes)
            for t in targets:
                self._reverse[t] = self._reverse.get(t, set()) | {p}

    def _neighbours(self, path: str) -> set[str]:
        return self._forward.get(path, set()) | self._reverse.get(path, set())

    def rank(self, query: Query, *, limit: int = 200) -> list[Scored]:
        if not self.chunks:
            return []
        terms = tokens(
            " ".join([query.text, *query.extra_terms, *(f"{f.test_id} {f.message}" for f in query.failures)])
        )
        terms += [t for f in query.failures for fr in f.frames for t in tokens(fr.function)]
        raw = self._bm25.scores(terms) if terms else np.zeros(len(self.chunks))
        raw[self._gone] = 0.0
        top = float(raw.max()) if raw.size and raw.max() > 0 else 1.0
        scores = LEXICAL * raw / top
        reasons: dict[int, list[str]] = {}

        def boost(i: int, amount: float, why: str) -> None:
            scores[i] += amount
            reasons.setdefault(i, []).append(why)

        paths, names = query.named_paths(), query.named_symbols()
        indexed_paths = {p for p in self._by_file if any(same_path(p, n) for n in paths)}
        frames = [fr for f in query.failures for fr in f.frames]
        framed: list[int] = []
        failing_line: dict[int, int] = {}  # per framed test chunk: its failing line
        # Where each failure was raised in library code: its innermost frame outside the tests.
        innermost = set()
        for f in query.failures:
            library = [fr for fr in f.frames if not is_test_path(fr.file)]
            if library:
                innermost.add((library[-1].file, library[-1].line))
        for i, c in enumerate(self.chunks):
            # A chunk holding several frames (a function and one nested in it) is one frame's worth.
            held = [fr for fr in frames if c.start <= fr.line <= c.end and same_path(fr.file, c.path)]
            if held:
                boost(i, 3.0, f"stack frame {held[0].file}:{held[0].line}")
                if any((fr.file, fr.line) in innermost for fr in held):
                    boost(i, INNERMOST, "where the failure was raised")
                framed.append(i)
                if self._test[i]:
                    failing_line[i] = max(fr.line for fr in held)
        # The failing statement itself: names called on a test frame's line (and the next few, for a
        # statement over several lines) and in pytest's "where" lines name what is under test.
        on_line: set[str] = set()
        line_dunders: set[str] = set()  # operators the failing statement applies
        for fr in frames:
            if not is_test_path(fr.file):
                continue
            text = self._texts.get(next((p for p in self._by_file if same_path(fr.file, p)), ""), [])
            first = max(0, fr.line - 1)
            statement = "\n".join(text[first : _statement_end(text, first)])
            on_line |= {
                norm(n) for n in _CALLED.findall(statement) if n not in STOP and not n.startswith("assert")
            }
            line_dunders |= {name for op, name in _OPERATORS.items() if op in statement}
        for f in query.failures:
            on_line |= {norm(m) for line in f.details for m in _WHERE.findall(line)}
            # "'curry' object has no attribute '_sigspec'": the class did not set it up.
            on_line |= {norm(m) for line in (f.message, *f.details) for m in _NO_ATTRIBUTE.findall(line)}
        # What the failing tests call is what they test: up to the failing statement, as what
        # follows it never ran.
        ran = {
            i: "\n".join(_ran(self.lines(self.chunks[i]), failing_line[i] - self.chunks[i].start))
            for i in framed
            if self._test[i]
        }
        called = {
            norm(n)
            for text in ran.values()
            for n in _CALLED.findall(text)
            if n not in STOP and not n.startswith(("assert", "test"))
        }
        # One hop further: what the tested code calls, and the classes the tests use. A bug is often
        # in a helper of the function the test calls.
        leaves = self._leaves
        used_classes = {norm(c.symbol.split(".")[0]) for c, leaf in zip(self.chunks, leaves, strict=True)
                        if c.kind == "class" and leaf in called}  # fmt: skip
        # Using a class uses the methods it inherits from its bases.
        for i, c in enumerate(self.chunks):
            if (
                c.kind == "class"
                and leaves[i] in used_classes
                and (found := _BASES.match(self.lines(c)[0] if self.lines(c) else ""))
            ):
                used_classes |= {
                    norm(b.strip().split(".")[-1]) for b in found.group(1).split(",") if b.strip()
                }
        test_text = "\n".join(ran.values())
        dunders = {name for op, name in _OPERATORS.items() if op in test_text}
        # Calling a class runs its constructor.
        constructors = {
            i
            for i, c in enumerate(self.chunks)
            if c.symbol.count(".") == 1
            and leaves[i] in _CONSTRUCTORS
            and norm(c.symbol.split(".")[0]) in used_classes
        }

        def runs(i: int, c: Chunk) -> bool:
            """The failing test runs this chunk: called by name (a dunder only of a class it uses,
            operators included), on a frame, or a used class's constructor."""
            if self._test[i]:
                return False
            if i in framed or i in constructors:
                return True
            leaf = leaves[i]
            if not leaf:
                return False
            if "." in c.symbol and c.symbol.endswith("__") and leaf not in _CONSTRUCTORS:
                used = norm(c.symbol.split(".")[0]) in used_classes
                return used and (leaf in called or leaf in on_line or leaf in dunders)
            return leaf in called or leaf in on_line

        second = {
            norm(n)
            for i, c in enumerate(self.chunks)
            if runs(i, c)
            for n in _CALLED.findall("\n".join(self.lines(c)))
            if n not in STOP
        } - called
        # And one more: a method of a used class is often reached through two of its own.
        third = {
            norm(n)
            for i, c in enumerate(self.chunks)
            if not self._test[i] and leaves[i] in second and (leaves[i] not in called)
            for n in _CALLED.findall("\n".join(self.lines(c)))
            if n not in STOP
        } - called - second
        failing_classes = {
            norm(c.symbol) for i, c in enumerate(self.chunks) if c.kind == "class" and leaves[i] in on_line
        }
        framed_set = set(framed)
        test_files = {p for p in indexed_paths if "test" in PurePosixPath(p).name}
        imported = set().union(*(self._neighbours(t) for t in test_files)) if test_files else set()
        # A test importing the package imports what its __init__ re-exports.
        imported |= {m for p in imported if p.endswith("__init__.py") for m in self._forward.get(p, ())}
        # "'X' object has no attribute 'y'": the code of X that sets self.y did not run or is gone.
        for cls, attr in {
            m for f in query.failures for line in (f.message, *f.details) for m in _MISSING.findall(line)
        }:
            sets = re.compile(rf"\bself\.{attr}\s*(?:=|:[^=]*=)")
            for i, c in enumerate(self.chunks):
                if norm(c.symbol.split(".")[0]) != norm(cls):
                    continue
                if sets.search("\n".join(self.lines(c))):
                    boost(i, MISSING_ATTRIBUTE, f"sets the attribute the failure misses: {c.symbol}")
                elif i in constructors or (c.symbol.count(".") == 1 and leaves[i] in _CONSTRUCTORS):
                    # Where attributes are set up: one it no longer sets is gone from there.
                    boost(i, MISSING_ATTRIBUTE, f"sets up the object missing the attribute: {c.symbol}")
        on_statement: set[int] = set()  # what the failing statement runs
        scales: dict[int, float] = {}
        for i, c in enumerate(self.chunks):
            leaf = leaves[i]
            # A builtin call (len, next, str) names a dunder only of a class the test uses.
            if c.symbol.endswith("__") and "." in c.symbol and leaf not in _CONSTRUCTORS:
                owner = norm(c.symbol.split(".")[0])
                if owner not in used_classes and owner not in failing_classes:
                    leaf = ""
            owner = norm(c.symbol.split(".")[0]) if "." in c.symbol else ""
            far = (
                owner
                and owner not in used_classes
                and owner not in failing_classes
                and c.path not in imported
                and c.path not in indexed_paths
            )
            scale = FAR_METHOD if far else 1.0
            if not self._test[i] and (
                (leaf and leaf in on_line)
                or (
                    c.symbol.count(".") == 1
                    and norm(c.symbol.split(".")[0]) in failing_classes
                    and (leaf in _CONSTRUCTORS or (leaf in line_dunders and c.symbol.endswith("__")))
                )
            ):
                boost(i, ON_LINE * scale, f"called by the failing statement: {c.symbol}")
                on_statement.add(i)
            elif (
                not self._test[i]
                and leaf in line_dunders
                and c.symbol.endswith("__")
                and owner in used_classes | failing_classes
            ):
                on_statement.add(i)  # an operator the failing statement applies
            scales[i] = scale
            if i in framed_set:
                pass  # a frame's own function: its frame boost says it all
            elif leaf and leaf in names:
                boost(i, 1.5 * scale, f"names {c.symbol}")
            elif leaf and len(leaf) >= 6 and any(len(n) >= 6 and (n in leaf or leaf in n) for n in names):
                boost(i, 0.6, f"resembles a name in the item or log: {c.symbol}")
            if leaf and not self._test[i] and i not in framed_set:
                if leaf in called:
                    boost(i, 1.2 * scale, f"called by the failing test: {c.symbol}")
                elif leaf in second:
                    boost(i, 0.7 * scale, f"called by code the failing test calls: {c.symbol}")
                elif leaf in third:
                    boost(i, THIRD_HOP * scale, f"three calls from the failing test: {c.symbol}")
                if "." in c.symbol and norm(c.symbol.split(".")[0]) in used_classes:
                    if leaf in dunders and c.symbol.split(".")[-1].startswith("__"):
                        boost(i, 0.7, f"operator the failing test applies: {c.symbol}")
                    else:
                        boost(i, 0.3, f"method of a class the failing test uses: {c.symbol}")
            if c.path in indexed_paths and not self._test[i]:
                boost(i, 0.6, "file named in the item or log")
        # The failing statement's value was computed by what it runs and their helpers: the calls
        # down from it, one and two hops, weigh more than those from the rest of the test.
        reach, seen = set(on_statement), set(on_line)
        for weight in (STATEMENT_HOP, STATEMENT_HOP / 2):
            body = "\n".join("\n".join(self.lines(self.chunks[i])) for i in reach)
            hop = {norm(n) for n in _CALLED.findall(body) if n not in STOP} - seen
            seen |= hop
            reach = {
                i
                for i, leaf in enumerate(leaves)
                if leaf in hop and not self._test[i] and i not in on_statement and not self._gone[i]
            }
            for i in sorted(reach):
                why = f"reached from the failing statement: {self.chunks[i].symbol}"
                boost(i, weight * scales.get(i, 1.0), why)
        neighbours = set().union(*(self._neighbours(p) for p in indexed_paths)) if indexed_paths else set()
        recent = set(query.recent)
        for path in sorted((imported | neighbours | recent) & self._by_file.keys()):
            for i in self._by_file[path]:
                if path in imported:
                    boost(i, 0.5, "imported by the failing tests")
                elif path in neighbours:
                    boost(i, 0.2, "import-graph neighbour")
                if path in recent:
                    boost(i, 0.1, "recently changed")
        if query.failures:
            # A failing test is evidence, seldom the bug: the code it exercises ranks above it.
            scores[np.asarray(self._test, dtype=bool)] *= TEST_WEIGHT
            # Using a class runs its methods, not the head of a split class: that ranks under them.
            scores[self._header] *= HEADER_WEIGHT
        candidates = np.flatnonzero((scores > 0) & ~self._gone)
        if len(candidates) > limit:
            # Only what can make the cut is sorted in Python: everything scoring at least the
            # limit-th best score (ties included, so the order stays deterministic).
            kth = np.partition(scores[candidates], len(candidates) - limit)[len(candidates) - limit]
            candidates = candidates[scores[candidates] >= kth]
        order = sorted(
            candidates.tolist(),
            key=lambda i: (-round(float(scores[i]), 9), self.chunks[i].path, self.chunks[i].start),
        )
        return [Scored(self.chunks[i], float(scores[i]), tuple(reasons.get(i, ()))) for i in order[:limit]]


def render_chunk(chunk: Chunk, lines: Iterable[str]) -> str:
    body = "\n".join(f"{chunk.start + n:>5} | {line}" for n, line in enumerate(lines))
    title = f" ({chunk.symbol})" if chunk.symbol else ""
    return f"### {chunk.path}:{chunk.start}-{chunk.end}{title}\n{body}\n"
