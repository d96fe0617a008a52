"""One index and one retriever per run, shared by its items' context engines.

Items work in their own worktrees, which differ from the run's base in the few files they changed.
Parsing and ranking structures are built once, for the first tree asked about; every later tree
re-parses only files whose blobs are new and overlays only their chunks (``Retriever.updated``).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from pathlib import Path

from bot.context.index import FileEntry, RepoIndex, build_index
from bot.context.retrieval import Retriever


class SharedContext:
    def __init__(self, *, cache: Path | None = None) -> None:
        self._cache = cache  # the disk cache: read for the first build, written by it
        self._lock = threading.Lock()  # items ask from worker threads
        self._entries: dict[str, FileEntry] | None = None  # blob id -> parsed entry
        self._base: Retriever | None = None

    def index(self, root: Path, blobs: Mapping[str, str]) -> RepoIndex:
        with self._lock:
            index = build_index(root, blobs, cache=self._cache, known=self._entries)
            entries = self._entries if self._entries is not None else {}
            entries.update({e.blob: e for e in index.files.values()})
            self._entries = entries
            return index

    def retriever(self, index: RepoIndex) -> Retriever:
        with self._lock:
            if self._base is None:
                self._base = Retriever(index)
                return self._base
            retriever = self._base.updated(index)
            if retriever.is_base:
                self._base = retriever  # too much changed for an overlay: the new build is the base
            return retriever
