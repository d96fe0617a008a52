"""The base commit's per-test outcomes: one full run per base commit and test command, cached.

Every pytest stage of every item, run and integration on the same base is judged against it, so the
base suite runs once, not once per verdict. The cache is a JSON file per (commit, command) under
``.milestone-bot/baseline/``, written atomically; concurrent items in one process share one run.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from bot.validation.detect import Check
from bot.validation.outcomes import under
from bot.validation.parsers import Outcome
from bot.validation.pipeline import Settings, run_check

_OUTCOMES: frozenset[str] = frozenset({"passed", "failed", "error", "skipped"})


@dataclass(frozen=True)
class Baseline:
    commit: str
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    problem: str = ""  # why the base run is not trustworthy ('' when it is)
    duration_s: float = 0.0
    cached: bool = False

    @property
    def passed(self) -> frozenset[str]:
        return frozenset(t for t, o in self.outcomes.items() if o == "passed")

    @property
    def files(self) -> frozenset[str]:
        """The test files pytest collected on the base: what counts as a test file."""
        return frozenset(t.split("::", 1)[0] for t in self.outcomes if "::" in t)

    def in_files(self, files: set[str] | frozenset[str]) -> list[str]:
        return [t for t in self.outcomes if t.split("::", 1)[0] in files]

    def under(self, selectors: Sequence[str]) -> list[str]:
        """The base's test ids a run of these files or node ids selects."""
        return [t for t in self.outcomes if any(under(t, s) for s in selectors)]

    @staticmethod
    def covered(test_id: str, selectors: Sequence[str]) -> bool:
        """Whether a run of ``selectors`` runs ``test_id`` (a test, a class or a file)."""
        return any(under(test_id, s) or under(s, test_id) for s in selectors)


EMPTY = Baseline("")


def _key(commit: str, check: Check) -> str:
    digest = hashlib.sha256("\0".join(check.argv).encode()).hexdigest()[:12]
    return f"{commit}-{digest}"


async def run_baseline(commit: str, base_dir: Path, check: Check, settings: Settings) -> Baseline:
    run = await run_check(check, cwd=base_dir, settings=settings)
    return Baseline(commit, run.outcomes, run.problem, run.result.duration_s)


class BaselineCache:
    """Baselines by base commit; ``directory`` None keeps them in memory only."""

    def __init__(self, directory: Path | None = None) -> None:
        self._dir = directory
        self._memory: dict[str, Baseline] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self.runs = 0  # how many base suites this cache actually ran

    def _path(self, key: str) -> Path | None:
        return self._dir / f"{key}.json" if self._dir is not None else None

    def _load(self, key: str) -> Baseline | None:
        path = self._path(key)
        if path is None or not path.is_file():
            return None
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            outcomes = {str(k): v for k, v in data["outcomes"].items() if v in _OUTCOMES}
            return Baseline(str(data["commit"]), outcomes, str(data.get("problem", "")), 0.0, True)
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _save(self, key: str, baseline: Baseline) -> None:
        path = self._path(key)
        if path is None or baseline.problem:
            return  # an untrustworthy base run is retried next time, not remembered
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        data = {"commit": baseline.commit, "outcomes": baseline.outcomes, "problem": baseline.problem}
        tmp.write_text(json.dumps(data, sort_keys=True), encoding="utf-8")
        tmp.replace(path)

    async def get(self, commit: str, base_dir: Path, check: Check, settings: Settings) -> Baseline:
        key = _key(commit, check)
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key in self._memory:
                return self._memory[key]
            found = self._load(key)
            if found is None:
                self.runs += 1
                found = await run_baseline(commit, base_dir, check, settings)
                self._save(key, found)
            self._memory[key] = found
            return found
