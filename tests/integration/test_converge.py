"""Converge by evidence on a real sample project: each candidate's new tests run with real pytest
against its siblings' code in throwaway git worktrees; the choice follows the evidence, not order."""

from __future__ import annotations

from pathlib import Path

from bot.execution.converge import Candidate, CrossCheck, converge, decide
from bot.validation.detect import toolchain
from bot.validation.pipeline import Settings
from bot.workspace.worktrees import Worktrees
from tests.integration.sample import PYTHON_PROJECT, git, make_repo

OPS = PYTHON_PROJECT["calc/ops.py"]


def candidate(name: str, body: str, test_name: str, asserts: str) -> Candidate:
    after = OPS + f"\n\ndef sub(a, b):\n{body}"
    test = f"import calc.ops\n\n\ndef test_sub():\n{asserts}"
    path = f"tests/{test_name}.py"
    return Candidate(name, {"calc/ops.py": (OPS, after), path: (None, test)}, (path,))


# Wrong, but its own test cannot tell: |3 - 1| == 2. It comes first, so order would ship it.
WRONG = candidate("wrong", "    return abs(a - b)\n", "test_sub_w", "    assert calc.ops.sub(3, 1) == 2\n")
RIGHT = candidate("right", "    return a - b\n", "test_sub_r", "    assert calc.ops.sub(2, 5) == -3\n")
# Right too, in more lines; its test expects the same behaviour in other words.
RIGHT_LONG = candidate(
    "right-long",
    "    result = a\n    result -= b\n    return result\n",
    "test_sub_l",
    "    assert calc.ops.sub(10, 4) == 6\n    assert calc.ops.sub(0, 1) == -1\n",
)


async def test_a_wrong_candidate_that_fails_a_siblings_test_is_not_chosen(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    trees = Worktrees(repo)
    base = git(repo, "rev-parse", "HEAD").strip()
    choice = await converge(
        [WRONG, RIGHT, RIGHT_LONG], trees=trees, base=base, toolchain=toolchain(repo), settings=Settings(timeout_s=120)
    )  # fmt: skip
    by_pair = {(c.code, c.tests): c.passed for c in choice.checks}
    assert len(by_pair) == 6  # every candidate's tests on every sibling's code, really run
    assert by_pair[("wrong", "right")] is False and by_pair[("wrong", "right-long")] is False
    assert "test_sub" in next(c.detail for c in choice.checks if c.code == "wrong")  # pytest's own failure
    assert by_pair[("right", "wrong")] and by_pair[("right-long", "right")]
    assert choice.suspects == ("wrong",)
    assert choice.agreeing == ("right", "right-long")
    assert choice.chosen == "right"  # the smaller of the two that agree
    assert trees.leftovers() == [] or all("_base" not in str(p) for p in trees.leftovers())


async def test_no_agreement_means_no_choice(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    base = git(repo, "rev-parse", "HEAD").strip()
    # Adds instead of subtracting; its own test (2 - 0 == 2) passes on it and on the right code.
    adds = candidate("adds", "    return a + b\n", "test_sub_a", "    assert calc.ops.sub(2, 0) == 2\n")
    choice = await converge(
        [adds, RIGHT], trees=Worktrees(repo), base=base, toolchain=toolchain(repo), settings=Settings(timeout_s=120)
    )  # fmt: skip
    assert choice.chosen is None and choice.suspects == ("adds",)
    assert "no two candidates agree" in choice.reason


def test_the_rule_on_a_matrix() -> None:
    a, b, c = RIGHT, RIGHT_LONG, WRONG
    every_pass = [CrossCheck(x.name, y.name, True) for x in (a, b, c) for y in (a, b, c) if x != y]
    # All agree: the smallest change wins wherever it stands; between equal sizes, order breaks the tie
    # (the tests could not tell abs(a - b) from a - b, so nothing else could).
    assert decide([b, c, a], every_pass).chosen == "wrong"
    agree = [CrossCheck("right", "right-long", True), CrossCheck("right-long", "right", True)]
    assert decide([b, a], agree).chosen == "right"
    # Each fails the other's test: nobody is trusted.
    split = [CrossCheck("right", "right-long", False), CrossCheck("right-long", "right", False)]
    assert decide([a, b], split).chosen is None
    assert decide([a], []).chosen == "right"
    assert a.size == 4 and b.size == 6  # with the blank lines before the def


def test_a_wrong_candidate_cannot_veto_two_that_agree() -> None:
    a, b, c = RIGHT, RIGHT_LONG, WRONG
    checks = [
        CrossCheck("right", "right-long", True),
        CrossCheck("right-long", "right", True),
        CrossCheck("wrong", "right", False),
        CrossCheck("right", "wrong", False),  # the wrong candidate's test rejects right code
        CrossCheck("right-long", "wrong", True),
        CrossCheck("wrong", "right-long", False),
    ]
    choice = decide([c, b, a], checks)
    assert (
        choice.chosen == "right"
        and choice.agreeing == ("right-long", "right")
        and choice.suspects == ("wrong",)
    )
    # Two pairs that each agree, and disagree with each other: no evidence which pair is right.
    d = candidate("other", "    return a - b  # same\n", "test_sub_o", "    assert True\n")
    pairs = {("right", "right-long"), ("right-long", "right"), ("wrong", "other"), ("other", "wrong")}
    names = ("right", "right-long", "wrong", "other")
    split = [CrossCheck(x, y, (x, y) in pairs) for x in names for y in names if x != y]
    assert decide([a, b, c, d], split).chosen is None
