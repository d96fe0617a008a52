"""How cheap can converging by evidence be at three-tier's false-ship? A bound, not a preset.

bench/replay.py measures the product's diverge-converge rules through the real driver and policy.
This asks the question behind them: is there ANY rule, using the evidence the bot can have, that
ships wrong changes no more often than three-tier and costs less? Every rule here is given more
than the product knows, so what none of them reaches, no product rule reaches either:

- It knows each model's true resolve rate on these 500 tasks (the product could at best learn a
  tier's pass rate from its ledger), hence the exact prior that a validated candidate is wrong.
- It weighs the evidence optimally: a lone validated candidate ships when its posterior
  probability of being wrong is at most ``tau`` (a likelihood-ratio test, the most powerful rule
  for each decision), for every ``tau``, on several ladders (orders and numbers of draws).
- Evidence: two validated candidates that pass each other's tests agree (as
  bot/execution/converge.py), and idea (c) of issue 17: each sibling whose own change failed
  validation wrote a test proven red on the base; the lone candidate is run against it. Such a
  test is right with probability ``q`` (the data does not say; SWT-bench Verified's best
  reproduction-test generator is fail-to-pass on 43.6% of tasks, AssertFlip, Khatib et al. 2025,
  and a test by a model whose own fix failed can only be worse), so ``q`` is printed at several
  values. A right test passes right code at the validator's TPR and wrong code at its FPR; a wrong
  test passes right code with ``wrong_test_passes_right`` and wrong code with ``wrong_agree``.

Three-tier is one point of this family (ladder local, fast, premium; tau 1: a lone candidate
always ships), simulated on the same draws, so the comparison is like for like.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Sequence
from dataclasses import dataclass

LADDERS: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    # (name, first round drawn at once, indexes into local + fast + premium models)
    ("three-tier ladder: L1 F1 P", 1, (0, 3, 6)),
    ("L1 L2 L3 F1 P, one at a time", 1, (0, 1, 2, 3, 6)),
    ("L1-L3 at once, F1 P", 3, (0, 1, 2, 3, 6)),
    ("L1 L2 L3 F1 F2 P, one at a time", 1, (0, 1, 2, 3, 4, 6)),
    ("L1-L3 at once, F1 F2 P", 3, (0, 1, 2, 3, 4, 6)),
    ("L1 F1 F2 P", 1, (0, 3, 4, 6)),
    ("L1-L3 at once, F1 F2 F3 P", 3, (0, 1, 2, 3, 4, 5, 6)),
)
TAUS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.08, 0.12, 0.2, 0.3, 1.0)


@dataclass(frozen=True)
class Point:
    ladder: str
    tau: float
    success: float
    false_ship: float
    usd: float
    per_seed: tuple[tuple[float, float], ...] = ()  # (false-ship, USD per task) of each seed


def paired(a: Point, b: Point) -> tuple[float, float, float, float]:
    """Mean and standard error over seeds of a - b in false-ship and in USD per task (same draws)."""
    out: list[float] = []
    for k in (0, 1):
        diffs = [x[k] - y[k] for x, y in zip(a.per_seed, b.per_seed, strict=True)]
        mean = sum(diffs) / len(diffs)
        var = sum((d - mean) ** 2 for d in diffs) / max(len(diffs) - 1, 1)
        out += [mean, (var / len(diffs)) ** 0.5]
    return out[0], out[1], out[2], out[3]


@dataclass(frozen=True)
class Draw:
    model: int
    right: bool
    valid: bool
    witness: bool  # it failed validation and left a red-proven test (not cut off by the limits)
    test_right: bool


class Bound:
    def __init__(
        self,
        instances: Sequence[str],
        models: Sequence[str],
        resolved: dict[str, set[str]],
        cost: dict[str, dict[str, float]],
        limited: dict[str, set[str]],
        *,
        free: int,  # the first ``free`` models cost nothing (the local tier at $0)
        tpr: float,
        fpr: float,
        wrong_test_passes_right: float,
        wrong_agree: float,
    ) -> None:
        self.tasks = list(instances)
        self.models = list(models)
        self.resolved, self.cost, self.limited, self.free = resolved, cost, limited, free
        self.tpr, self.fpr, self.wtr, self.wa = tpr, fpr, wrong_test_passes_right, wrong_agree
        n = len(self.tasks)
        self.prior = [len(resolved[m] & set(self.tasks)) / n for m in models]

    def run(self, name: str, first: int, ladder: tuple[int, ...], tau: float, q: float, seeds: int) -> Point:
        right = wrong = 0
        usd = 0.0
        top = ladder[-1]
        per_seed = []
        for seed in range(seeds):
            rng = random.Random(seed)
            seed_wrong, seed_usd = wrong, usd
            for task in self.tasks:
                shipped, spent = self._task(task, first, ladder, top, tau, q, rng)
                usd += spent
                if shipped is not None:
                    right += shipped.right
                    wrong += not shipped.right
            per_seed.append(((wrong - seed_wrong) / len(self.tasks), (usd - seed_usd) / len(self.tasks)))
        n = seeds * len(self.tasks)
        return Point(name, tau, right / n, wrong / n, usd / n, tuple(per_seed))

    def _task(
        self,
        task: str,
        first: int,
        ladder: tuple[int, ...],
        top: int,
        tau: float,
        q: float,
        rng: random.Random,
    ) -> tuple[Draw | None, float]:
        pool: list[Draw] = []
        failed: list[Draw] = []
        spent = 0.0
        held = False  # a lone candidate that was not shipped stays held: it needs agreement now
        k, i = first, 0
        while i < len(ladder):
            batch, i, k = ladder[i : i + k], i + k, 1
            for m in batch:
                draw = self._draw(task, m, q, rng)
                spent += 0.0 if m < self.free else self.cost[self.models[m]][task]
                if m == top:  # the last rung: its validated candidate ships, as any preset's would
                    if not draw.valid:
                        return None, spent
                    return (self._agreeing([*pool, draw], rng) or draw) if pool else draw, spent
                (pool if draw.valid else failed).append(draw)
            if len(pool) >= 2:
                chosen = self._agreeing(pool, rng)
                if chosen is not None:
                    return chosen, spent
                held = True
            elif len(pool) == 1 and not held:
                if self._posterior_wrong(pool[0], failed, q, rng) <= tau:
                    return pool[0], spent
                held = True
        return None, spent

    def _draw(self, task: str, m: int, q: float, rng: random.Random) -> Draw:
        model = self.models[m]
        limited = task in self.limited[model]
        right = task in self.resolved[model]
        valid = not limited and rng.random() < (self.tpr if right else self.fpr)
        test_right = right or rng.random() < q
        return Draw(m, right, valid, not valid and not limited, test_right)

    def _passes(self, code: Draw, test: Draw, rng: random.Random) -> bool:
        if test.test_right:
            return rng.random() < (self.tpr if code.right else self.fpr)
        return rng.random() < (self.wtr if code.right else self.wa)

    def _agreeing(self, pool: list[Draw], rng: random.Random) -> Draw | None:
        """bot/execution/converge.py's rule: the largest group that pass each other's tests, if unique."""
        fails = {
            (a, b)
            for a in range(len(pool))
            for b in range(len(pool))
            if a != b and not self._passes(pool[a], pool[b], rng)
        }
        for size in range(len(pool), 1, -1):
            groups = [
                g for g in itertools.combinations(range(len(pool)), size)
                if all((a, b) not in fails and (b, a) not in fails for a, b in itertools.combinations(g, 2))
            ]  # fmt: skip
            if groups:
                return pool[groups[0][0]] if len(groups) == 1 else None
        return None

    def _posterior_wrong(self, lone: Draw, failed: list[Draw], q: float, rng: random.Random) -> float:
        """P[wrong | validated, the witnesses' verdicts], weighing witnesses with the true ``q``."""
        p = self.prior[lone.model]
        if p <= 0:
            return 1.0
        odds = (1 - p) * self.fpr / (p * self.tpr)
        pass_wrong, pass_right = q * self.fpr + (1 - q) * self.wa, q * self.tpr + (1 - q) * self.wtr
        for witness in (f for f in failed if f.witness):
            if self._passes(lone, witness, rng):
                odds *= pass_wrong / pass_right
            else:
                odds *= (1 - pass_wrong) / max(1 - pass_right, 1e-9)
        return odds / (1 + odds)

    def frontier(self, q: float, seeds: int) -> list[Point]:
        return [
            self.run(name, first, ladder, tau, q, seeds)
            for name, first, ladder in LADDERS
            for tau in (TAUS if name != LADDERS[0][0] else (1.0, *TAUS))
        ]


def best_under(points: list[Point], false_ship: float) -> Point | None:
    """The cheapest point that ships wrong changes no more often than ``false_ship``."""
    ok = [p for p in points if p.false_ship <= false_ship + 1e-12]
    return min(ok, key=lambda p: (p.usd, p.false_ship)) if ok else None
