"""bench/converge_bound.py on a made-up data set whose answers are known by hand."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.converge_bound import LADDERS, Bound, best_under

# Seven models (three local, three fast, one premium) on four tasks.
MODELS = [f"m{i}" for i in range(7)]
TASKS = ["a", "b", "c", "d"]
RESOLVED = {
    "m0": {"a"},  # the first local model resolves a
    "m1": set(), "m2": set(),
    "m3": {"b"},  # the first fast model resolves b
    "m4": {"c"}, "m5": set(),
    "m6": {"a", "b", "c"},  # premium resolves all but d
}  # fmt: skip
COST = {m: {t: (0.0 if i < 3 else 0.01 if i < 6 else 1.0) for t in TASKS} for i, m in enumerate(MODELS)}


def bound(fpr: float = 0.0) -> Bound:
    limited: dict[str, set[str]] = {m: set() for m in MODELS}
    return Bound(TASKS, MODELS, RESOLVED, COST, limited, free=3, tpr=1.0, fpr=fpr,
                 wrong_test_passes_right=0.5, wrong_agree=0.5)  # fmt: skip


def test_three_tier_is_the_ladder_at_tau_one() -> None:
    # A perfect validator: a ships on local, b on fast, c and d go to premium (d fails there).
    name, first, ladder = LADDERS[0]
    p = bound().run(name, first, ladder, 1.0, q=0.5, seeds=2)
    assert (p.success, p.false_ship) == (0.75, 0.0)
    assert p.usd == pytest.approx((0 + 0.01 + 1.01 + 1.01) / 4)


def test_tau_zero_ships_a_lone_candidate_only_when_it_cannot_be_wrong() -> None:
    name, first, ladder = LADDERS[0]
    # A validator that is never fooled: a validated candidate is right, so even tau 0 ships it.
    assert bound().run(name, first, ladder, 0.0, q=0.5, seeds=1).usd == pytest.approx(2.03 / 4)
    # One that can be fooled: no lone candidate is sure, and with one right model per task below
    # premium nothing agrees, so tau 0 pays the top tier on every task.
    p = bound(fpr=0.01).run(name, first, ladder, 0.0, q=0.5, seeds=1)
    assert p.usd == pytest.approx(1.01) and p.success == 0.75


def test_the_cheapest_under_a_false_ship_rate() -> None:
    points = bound().frontier(0.5, seeds=1)
    best = best_under(points, 0.0)
    assert best is not None and best.false_ship == 0.0
    assert all(p.usd >= best.usd for p in points if p.false_ship == 0.0)
