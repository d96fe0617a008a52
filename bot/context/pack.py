"""Fitting context into a byte budget: whole chunks, file headers, line numbers, what was left out."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
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
    digest: str = ""  # of the rendered text: a retry skips chunks the model already has unchanged


@dataclass(frozen=True)
class Section:
    """A titled block of context (guidance, diagnostics, a diff) that is not a code chunk."""

    title: str
    text: str

    def render(self) -> str:
        return f"## {self.title}\n{self.text.rstrip()}\n"


@dataclass(frozen=True)
class ContextPack:
    text: str
    included: tuple[Included, ...]
    left_out: tuple[Included, ...]
    sections: tuple[str, ...]  # titles of the non-code sections, in order
    budget: int
    bytes_saved: int = 0  # differential context: bytes not resent
    section_digests: tuple[str, ...] = ()

    def sent(self) -> dict[str, str]:
        """What the model has from this pack: chunk key -> digest, for the next (differential) call."""
        return {i.key: i.digest for i in self.included}

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8"))


def fit_text(text: str, budget: int, *, note: str = "[cut to fit the context budget]") -> str:
    data = text.encode("utf-8")
    if len(data) <= budget:
        return text
    room = max(0, budget - len(note) - 1)
    return data[:room].decode("utf-8", "ignore").rstrip() + "\n" + note


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def pack(
    ranked: Sequence[Scored],
    lines: Callable[[Chunk], list[str]],
    *,
    budget: int,
    sections: Sequence[Section] = (),
    already: Mapping[str, str] | None = None,
    already_sections: frozenset[str] = frozenset(),
    max_left_out: int = 20,
) -> ContextPack:
    """Sections first (they are small and specific), then the best chunks that fit, whole.

    ``already`` (chunk key -> digest) and ``already_sections`` are what an earlier attempt sent:
    unchanged, they are referred to by name instead of resent, and the bytes saved are counted.
    """
    already = already or {}
    parts: list[str] = []
    used = 0
    saved = 0
    titles = []
    digests = []
    for section in sections:
        rendered = section.render()
        digest = _digest(rendered)
        if digest in already_sections:
            saved += len(rendered.encode("utf-8"))
            continue
        digests.append(digest)
        size = len(rendered.encode("utf-8"))
        if used + size > budget:
            rendered = fit_text(rendered, max(0, budget - used))
            size = len(rendered.encode("utf-8"))
        if size:
            parts.append(rendered)
            used += size
            titles.append(section.title)
    included: list[Included] = []
    left: list[Included] = []
    chosen: list[Scored] = []
    unchanged: list[str] = []
    for scored in ranked:
        chunk = scored.chunk
        text = render_chunk(chunk, lines(chunk))
        size = len(text.encode("utf-8"))
        record = Included(
            chunk.key, chunk.symbol, size, round(scored.score, 4), scored.reasons, _digest(text)
        )
        if already.get(chunk.key) == record.digest:
            unchanged.append(chunk.key)
            saved += size
            continue
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
    if unchanged:
        parts.append(Section("Sent before and unchanged (not repeated)", "\n".join(unchanged)).render())
    return ContextPack(
        "".join(parts), tuple(included), tuple(left), tuple(titles), budget, saved, tuple(digests)
    )


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
