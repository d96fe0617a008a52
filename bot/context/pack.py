"""Fitting context into a byte budget: whole chunks, file headers, line numbers, what was left out."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.context.index import RepoIndex
from bot.context.retrieval import Chunk, Scored, render_chunk


@dataclass(frozen=True)
class Included:
    key: str
    symbol: str
    bytes: int
    score: float
    reasons: tuple[str, ...]
    digest: str = ""  # of the rendered text, to tell whether two calls saw the same code


@dataclass(frozen=True)
class Section:
    """A titled block of context (guidance, diagnostics, a diff) that is not a code chunk."""

    title: str
    text: str

    def render(self) -> str:
        return f"## {self.title}\n{self.text.rstrip()}\n"


@dataclass(frozen=True)
class ContextPack:
    """What one model call gets: self-contained, whatever an earlier call or another model got."""

    text: str
    included: tuple[Included, ...]
    left_out: tuple[Included, ...]
    sections: tuple[str, ...]  # titles of the non-code sections, in order
    budget: int
    below_floor: int = 0  # ranked chunks not sent because their score fell under the floor

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))


def fit_text(text: str, budget: int, *, note: str = "[cut to fit the context budget]") -> str:
    """``text`` in at most ``budget`` bytes (the note included); empty when not even the note fits."""
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text
    room = budget - len(note.encode("utf-8")) - 1
    if room <= 0:
        return ""
    return data[:room].decode("utf-8", "ignore").rstrip() + "\n" + note


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


# Relevance floor: a chunk is sent only while its score is at least this share of the top score.
# Measured on bench/context.py (see its docstring): past it chunks are padding, not evidence.
FLOOR = 0.3
MIN_CHUNKS = 3  # the best few are sent whatever their scores (a flat ranking has no clear winner)


def pack(
    ranked: Sequence[Scored],
    lines: Callable[[Chunk], list[str]],
    *,
    budget: int,
    sections: Sequence[Section] = (),
    floor: float = FLOOR,
    min_chunks: int = MIN_CHUNKS,
    max_left_out: int = 20,
) -> ContextPack:
    """Sections first (they are small and specific), then the best chunks, whole, while they are
    relevant (the floor) and fit (the budget). The budget is a ceiling on the whole text, every
    header included; a section that does not fit is cut, a chunk that does not fit is left out."""
    parts: list[str] = []
    used = 0
    titles = []
    for section in sections:
        rendered = section.render()
        size = len(rendered.encode("utf-8"))
        if used + size > budget:
            rendered = fit_text(rendered, budget - used)
            size = len(rendered.encode("utf-8"))
        if size:
            parts.append(rendered)
            used += size
            titles.append(section.title)
    included: list[Included] = []
    left: list[Included] = []
    chosen: list[Scored] = []
    top = max((s.score for s in ranked), default=0.0)
    below = 0
    for scored in ranked:
        chunk = scored.chunk
        if len(chosen) >= min_chunks and scored.score < floor * top:
            below += 1
            continue
        text = render_chunk(chunk, lines(chunk))
        size = len(text.encode("utf-8"))
        score = round(scored.score, 4)
        record = Included(chunk.key, chunk.symbol, size, score, scored.reasons, _digest(text))
        if used + size <= budget:
            chosen.append(scored)
            included.append(record)
            used += size
        elif len(left) < max_left_out:
            left.append(record)
    # Present code grouped by file, files in order of their best chunk, chunks in line order.
    order: dict[str, int] = {}
    for s in chosen:
        order.setdefault(s.chunk.path, len(order))
    for s in sorted(chosen, key=lambda s: (order[s.chunk.path], s.chunk.start)):
        parts.append(render_chunk(s.chunk, lines(s.chunk)))
    return ContextPack("".join(parts), tuple(included), tuple(left), tuple(titles), budget, below)


def repo_map(index: RepoIndex, *, budget: int) -> str:
    """Paths and signatures only, for planning; signatures dropped before paths when it is tight."""
    files = sorted(index.files.values(), key=lambda f: f.path)
    full = []
    for f in files:
        full.append(f.path)
        full += [f"    {s.signature}" for s in f.symbols if s.kind in ("function", "class")]
    text = "\n".join(full) + "\n"
    if len(text.encode("utf-8")) <= budget:
        return text
    paths = "\n".join(f.path for f in files) + "\n"
    if len(paths.encode("utf-8")) <= budget:
        # Signatures for as many files as fit, paths for all.
        out, used = [], len(paths.encode("utf-8"))
        for f in files:
            sigs = [f"    {s.signature}" for s in f.symbols if s.kind in ("function", "class")]
            extra = len("\n".join(sigs).encode("utf-8")) + 1 if sigs else 0
            out.append(f.path)
            if sigs and used + extra <= budget:
                out += sigs
                used += extra
        return "\n".join(out) + "\n"
    return fit_text(paths, budget, note=f"[... {len(files)} files in all; map cut to fit the budget]")
