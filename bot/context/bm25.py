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
        doc_ids: list[list[int]] = []
        tfs: list[list[int]] = []
        lengths = np.fromiter((len(d) for d in docs), dtype=np.float64, count=len(docs))
        self._avgdl = float(lengths.mean()) if len(docs) else 1.0
        for n, doc in enumerate(docs):
            for term, tf in Counter(doc).items():
                tid = self._vocab.get(term)
                if tid is None:
                    tid = self._vocab[term] = len(doc_ids)
                    doc_ids.append([])
                    tfs.append([])
                doc_ids[tid].append(n)
                tfs[tid].append(tf)
        self._docs: list[npt.NDArray[np.int32]] = []
        self._weights: list[npt.NDArray[np.float32]] = []
        norm: npt.NDArray[np.float64] = K1 * (1 - B + B * lengths / self._avgdl)
        for ids, counts in zip(doc_ids, tfs, strict=True):
            idx = np.asarray(ids, dtype=np.int32)
            freq = np.asarray(counts, dtype=np.float64)
            self._docs.append(idx)
            self._weights.append((freq * (K1 + 1) / (freq + norm[idx])).astype(np.float32))
        self._extra: _Extra | None = None

    def idf(self, term: str) -> float:
        tid = self._vocab.get(term)
        df = len(self._docs[tid]) if tid is not None else 0
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
                out[self._docs[tid]] += idf * self._weights[tid]
            if self._extra is not None:
                for n, weights in enumerate(self._extra.weights):
                    w = weights.get(term)
                    if w:
                        out[self._extra.first + n] += idf * w
        return out
