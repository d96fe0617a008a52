"""The context engine's one interface: what to send with a model call for an item or a plan.

The per-item loop calls ``for_item`` for every request (each one self-contained: models keep no
memory between calls, and an escalation goes to another model); the planner calls ``for_plan``.
The index and the BM25 ranking are built once per engine and reused across calls until
``refresh`` (after the item committed files, e.g. the test it wrote).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from bot.config import ContextSettings
from bot.context.guidance import guidance_sections
from bot.context.index import RepoIndex, build_index
from bot.context.logs import Failure, extract_failures
from bot.context.pack import FLOOR, MIN_CHUNKS, ContextPack, Section, pack, repo_map
from bot.context.requests import ContextRequest, serve_request
from bot.context.retrieval import Query, Retriever, Scored
from bot.context.shared import SharedContext
from bot.untrusted import fence
from bot.workspace.worktrees import Worktrees

GUIDANCE_SHARE = 4  # guidance takes at most a quarter of the budget


@dataclass(frozen=True)
class ItemContext:
    text: str  # the item's title and description: untrusted, used as a query only
    kind: str = ""
    log: str = ""  # CI log or command output with the failure
    budget: int = 20_000
    diagnostics: str = ""  # validation feedback from the last attempt
    diff: str = ""  # the current change, on a retry
    extra_files: Sequence[str] = field(default=())  # files the model asked for
    # Evidence and memory the caller puts first (earlier attempts, the item's own tests): packed
    # inside the same budget, before guidance and code.
    sections: Sequence[Section] = field(default=())
    shown_files: Sequence[str] = field(default=())  # whole in ``sections``: their chunks are not repeated


class ContextSource(Protocol):
    def for_item(self, request: ItemContext, *, floor: float = FLOOR) -> ContextPack: ...

    def for_plan(self, text: str, *, budget: int) -> ContextPack: ...

    def serve(self, request: ContextRequest, *, budget: int, deny: Sequence[str]) -> str: ...


class ContextEngine:
    def __init__(
        self,
        repo: Path,
        *,
        settings: ContextSettings | None = None,
        cache: Path | None = None,
        shared: SharedContext | None = None,
    ) -> None:
        self._trees = Worktrees(repo)
        self.root = self._trees.repo_path
        self._settings = settings or ContextSettings()
        self._cache = cache or self.root / ".milestone-bot" / "index.json"
        self._shared = shared  # a run's items share one index and retriever
        self._index: RepoIndex | None = None
        self._retriever: Retriever | None = None
        self._building = threading.Lock()  # parallel attempts of an item (threads) build it once

    @property
    def index(self) -> RepoIndex:
        with self._building:
            if self._index is None:
                blobs = self._trees.blob_ids(self.root)
                self._index = (
                    self._shared.index(self.root, blobs)
                    if self._shared is not None
                    else build_index(self.root, blobs, cache=self._cache)
                )
            return self._index

    @property
    def retriever(self) -> Retriever:
        index = self.index
        with self._building:
            if self._retriever is None:
                self._retriever = (
                    self._shared.retriever(index) if self._shared is not None else Retriever(index)
                )
            return self._retriever

    def refresh(self) -> None:
        """Re-read the worktree on the next call: files were committed since (only changed blobs
        are re-parsed, through the index cache)."""
        with self._building:
            self._index = None
            self._retriever = None

    def failures(self, request: ItemContext) -> list[Failure]:
        """Failures in the log and diagnostics, then those the item's text carries (a red-build
        item's description is its failures, rendered)."""
        found = extract_failures("\n".join(x for x in (request.log, request.diagnostics) if x))
        return list(dict.fromkeys([*found, *extract_failures(request.text)]))

    def rank(self, request: ItemContext) -> list[Scored]:
        failures = self.failures(request)
        recent = tuple(self._trees.recently_changed(self.root))
        return self.retriever.rank(Query(request.text, tuple(failures), recent, tuple(request.extra_files)))

    def for_item(self, request: ItemContext, *, floor: float = FLOOR) -> ContextPack:
        """``floor``: the relevance floor (0 packs to the budget; the benchmark's plain baseline)."""
        failures = self.failures(request)
        ranked = [s for s in self.rank(request) if s.chunk.path not in request.shown_files]
        sections = list(request.sections)
        sections += guidance_sections(
            self.root,
            kind=request.kind,
            folder=self._settings.guidance_dir,
            kinds=self._settings.kinds,
            budget=request.budget // GUIDANCE_SHARE,
        )
        # Evidence first; failures the item's own text already shows (a red-build item) not twice.
        evidence = [f.render() for f in failures[:30] if f.render() not in request.text]
        if evidence:
            sections.insert(0, Section("Failures", fence("\n".join(evidence))))
        if request.diagnostics:
            sections.append(Section("Diagnostics from the last attempt", fence(request.diagnostics)))
        if request.diff:
            sections.append(Section("The current change (diff against the base)", fence(request.diff)))
        return pack(
            ranked,
            self.retriever.lines,
            budget=request.budget,
            sections=sections,
            floor=floor,
            min_chunks=MIN_CHUNKS if floor else 0,
        )

    def serve(self, request: ContextRequest, *, budget: int, deny: Sequence[str]) -> str:
        """What the model asked for by name, read from the worktree's last commit."""
        head = self._trees.head(self.root)
        return serve_request(
            request,
            index=self.index,
            read=lambda rel: self._trees.read_at(head, rel),
            budget=budget,
            deny=deny,
        )

    def for_plan(self, text: str, *, budget: int) -> ContextPack:
        sections = guidance_sections(
            self.root, kind="", folder=self._settings.guidance_dir, kinds={}, budget=budget // GUIDANCE_SHARE
        )
        used = sum(len(s.render().encode("utf-8")) for s in sections)
        sections.append(
            Section("Repository map (paths and signatures)", repo_map(self.index, budget=budget - used - 64))
        )
        return pack((), self.retriever.lines, budget=budget, sections=sections)
