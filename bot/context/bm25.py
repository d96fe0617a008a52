"""BM25 over token lists, built once and then extended without a rebuild.

A run shares one index of the base tree between its items; an item changes a few files. ``extend``
scores the changed files' chunks with the base's statistics (document frequencies, average length)
and leaves the base postings alone, so an item's ranking costs what its own files cost, not what
the repository costs. The weights are BM25's (Lucene's idf, k1 1.5, b 0.75), as bm25s (used before;
it cannot be extended) computes them; the base statistics drift a little as files change, which
does not matter for ranking.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

K1 = 1.5
B = 0.75


@dataclass(frozen=True)
class _Extra:
    """Documents added after the build: per document, term -> weight (without idf)."""

    first: int  # the id of the first added document
    weights: tuple[dict[str, float], ...]


class BM25:
    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        self.size = len(docs)
        self._vocab: dict[str, int] = {}
        # Postings as three flat arrays (term, document, frequency), then grouped by term: a few
        # bytes per posting, where lists of Python ints cost tens.
        terms, ids, freqs = array("i"), array("i"), array("i")
        lengths = np.fromiter((len(d) for d in docs), dtype=np.float64, count=len(docs))
        self._avgdl = float(lengths.mean()) if len(docs) else 1.0
        vocab = self._vocab
        for n, doc in enumerate(docs):
            counts = Counter(doc)
            terms.extend(vocab.setdefault(t, len(vocab)) for t in counts)
            ids.extend([n] * len(counts))
            freqs.extend(counts.values())
        term = np.frombuffer(terms, dtype=np.int32)
        order = np.argsort(term, kind="stable")
        self._ids = np.frombuffer(ids, dtype=np.int32)[order]
        freq = np.frombuffer(freqs, dtype=np.int32)[order].astype(np.float64)
        norm = K1 * (1 - B + B * lengths[self._ids] / self._avgdl)
        self._weights = (freq * (K1 + 1) / (freq + norm)).astype(np.float32)
        self._starts = np.searchsorted(term[order], np.arange(len(vocab) + 1)).astype(np.int64)
        self._extra: _Extra | None = None

    def _postings(self, tid: int) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.float32]]:
        lo, hi = int(self._starts[tid]), int(self._starts[tid + 1])
        return self._ids[lo:hi], self._weights[lo:hi]

    def idf(self, term: str) -> float:
        tid = self._vocab.get(term)
        df = int(self._starts[tid + 1] - self._starts[tid]) if tid is not None else 0
        return math.log(1 + (self.size - df + 0.5) / (df + 0.5))

    def extend(self, docs: Sequence[Sequence[str]]) -> BM25:
        """A copy that also holds ``docs`` (ids from ``size`` on, replacing any added before); the
        base postings are shared, not copied."""
        out = object.__new__(BM25)
        out.__dict__.update(self.__dict__)
        weights = []
        for doc in docs:
            norm = K1 * (1 - B + B * len(doc) / self._avgdl)
            weights.append({t: tf * (K1 + 1) / (tf + norm) for t, tf in Counter(doc).items()})
        out._extra = _Extra(self.size, tuple(weights))
        return out

    @property
    def total(self) -> int:
        return self.size + (len(self._extra.weights) if self._extra else 0)

    def scores(self, terms: Sequence[str]) -> npt.NDArray[np.float64]:
        """One score per document (base and added), for the query ``terms`` (repeats count)."""
        out = np.zeros(self.total, dtype=np.float64)
        for term, count in Counter(terms).items():
            idf = self.idf(term) * count
            tid = self._vocab.get(term)
            if tid is not None:
                ids, posted = self._postings(tid)
                out[ids] += idf * posted
            if self._extra is not None:
                for n, added in enumerate(self._extra.weights):
                    w = added.get(term)
                    if w:
                        out[self._extra.first + n] += idf * w
        return out
