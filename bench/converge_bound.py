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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

LADDERS: tuple[tuple[str, int, tuple[int, ...]], ...] = (
    # (name, first round drawn at once, indexes into local + fast + premium models)
    ("three-tier ladder: L1 F1 P", 1, (0, 3, 6)),
    ("L1 F1 F2 F3 P", 1, (0, 3, 4, 5, 6)),
    ("L1 L2 L3 F1 F2 F3 P, one at a time", 1, (0, 1, 2, 3, 4, 5, 6)),
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
    """Every random draw (validation, whether a test is right, each cross-check) is made once per
    seed, task and model (pair), so every rule sees the same world: rules are compared pairwise, and
    a check read twice gives the same answer, as rerunning a test would."""

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
        self._worlds: dict[int, list[tuple[list[float], list[float], list[list[float]]]]] = {}

    def _world(self, seed: int) -> list[tuple[list[float], list[float], list[list[float]]]]:
        """Per task: uniforms for each model's validation, its test being right, and each cross-check."""
        if seed not in self._worlds:
            rng, k = random.Random(seed), len(self.models)
            self._worlds[seed] = [
                ([rng.random() for _ in range(k)], [rng.random() for _ in range(k)],
                 [[rng.random() for _ in range(k)] for _ in range(k)])
                for _ in self.tasks
            ]  # fmt: skip
        return self._worlds[seed]

    def run(self, name: str, first: int, ladder: tuple[int, ...], tau: float, q: float, seeds: int) -> Point:
        right = wrong = 0
        usd = 0.0
        per_seed = []
        for seed in range(seeds):
            seed_wrong, seed_usd = wrong, usd
            for task, world in zip(self.tasks, self._world(seed), strict=True):
                shipped, spent = self._task(task, world, first, ladder, tau, q)
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
        world: tuple[list[float], list[float], list[list[float]]],
        first: int,
        ladder: tuple[int, ...],
        tau: float,
        q: float,
    ) -> tuple[Draw | None, float]:
        valid_u, test_u, cross_u = world
        pool: list[Draw] = []
        failed: list[Draw] = []
        spent = 0.0
        top = ladder[-1]

        def passes(code: Draw, test: Draw) -> bool:
            if test.test_right:
                return cross_u[code.model][test.model] < (self.tpr if code.right else self.fpr)
            return cross_u[code.model][test.model] < (self.wtr if code.right else self.wa)

        k, i = first, 0
        while i < len(ladder):
            batch, i, k = ladder[i : i + k], i + k, 1
            for m in batch:
                model = self.models[m]
                right = task in self.resolved[model]
                limited = task in self.limited[model]
                valid = not limited and valid_u[m] < (self.tpr if right else self.fpr)
                draw = Draw(m, right, valid, not valid and not limited, right or test_u[m] < q)
                spent += 0.0 if m < self.free else self.cost[model][task]
                if m == top:  # the last rung: its validated candidate ships, as any preset's would
                    if not draw.valid:
                        return None, spent
                    return (_agreeing([*pool, draw], passes) or draw) if pool else draw, spent
                (pool if draw.valid else failed).append(draw)
            if len(pool) >= 2:
                chosen = _agreeing(pool, passes)
                if chosen is not None:
                    return chosen, spent
            elif len(pool) == 1 and self._posterior_wrong(pool[0], failed, q, passes) <= tau:
                return pool[0], spent  # weighed again after each draw: new witnesses are new evidence
        return None, spent

    def _posterior_wrong(
        self, lone: Draw, failed: list[Draw], q: float, passes: Callable[[Draw, Draw], bool]
    ) -> float:
        """P[wrong | validated, the witnesses' verdicts], weighing witnesses with the true ``q``."""
        p = self.prior[lone.model]
        if p <= 0:
            return 1.0
        odds = (1 - p) * self.fpr / (p * self.tpr)
        pass_wrong, pass_right = q * self.fpr + (1 - q) * self.wa, q * self.tpr + (1 - q) * self.wtr
        for witness in (f for f in failed if f.witness):
            if passes(lone, witness):
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


def _agreeing(pool: list[Draw], passes: Callable[[Draw, Draw], bool]) -> Draw | None:
    """bot/execution/converge.py's rule: the largest group that pass each other's tests, if unique."""
    n = len(pool)
    fails = {(a, b) for a in range(n) for b in range(n) if a != b and not passes(pool[a], pool[b])}
    for size in range(n, 1, -1):
        groups = [
            g for g in itertools.combinations(range(n), size)
            if all((a, b) not in fails and (b, a) not in fails for a, b in itertools.combinations(g, 2))
        ]  # fmt: skip
        if groups:
            return pool[groups[0][0]] if len(groups) == 1 else None
    return None


def best_under(points: list[Point], false_ship: float) -> Point | None:
    """The cheapest point that ships wrong changes no more often than ``false_ship``."""
    ok = [p for p in points if p.false_ship <= false_ship + 1e-12]
    return min(ok, key=lambda p: (p.usd, p.false_ship)) if ok else None
