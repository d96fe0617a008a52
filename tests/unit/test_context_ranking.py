"""Ranking rules measured on bench/context.py: the call graph from the failing test reaches the
helpers of what it calls (operators included), a builtin call names dunders only of the classes
the test uses, the head of a split class ranks under its methods, and a test importing the package
imports what the package's __init__ re-exports."""

from __future__ import annotations

from pathlib import Path

from bot.context.engine import ContextEngine, ItemContext
from bot.context.retrieval import SPLIT_CLASS_LINES, _ran, _statement_end, same_path
from tests.integration.sample import make_repo

DOC = "".join(f"    line {n} of a long description of the tally.\n" for n in range(SPLIT_CLASS_LINES))
FILES = {
    "pyproject.toml": '[project]\nname = "pkg"\nversion = "0"\n',
    "pkg/__init__.py": "from pkg.tally import Tally\n",
    "pkg/tally.py": (
        'class Tally:\n    """\n' + DOC + '    """\n\n'
        "    def __init__(self):\n        self.counts = {}\n\n"
        "    def _bump(self, key):\n        self.counts[key] = self.counts.get(key, 0) + 2\n\n"
        "    def feed(self, keys):\n        for key in keys:\n            self._bump(key)\n\n"
        "    def __len__(self):\n        return sum(self.counts.values())\n"
    ),
    "pkg/stream.py": (
        "class Stream:\n    def __init__(self, items):\n        self.items = list(items)\n\n"
        "    def __len__(self):\n        return len(self.items)\n\n"
        "    def __next__(self):\n        return self.items.pop()\n"
    ),
    "tests/test_tally.py": (
        "from pkg import Tally\n\n\ndef test_feed():\n    tally = Tally()\n    tally.feed('aab')\n"
        "    assert len(tally) == 3\n"
    ),
}
LOG = """\
=================================== FAILURES ===================================
__________________________________ test_feed ___________________________________

    def test_feed():
        tally = Tally()
        tally.feed('aab')
>       assert len(tally) == 3
E       assert 6 == 3
E        +  where 6 = len(<pkg.tally.Tally object at 0x7f>)

tests/test_tally.py:7: AssertionError
=========================== short test summary info ============================
FAILED tests/test_tally.py::test_feed - assert 6 == 3
"""


def test_the_helper_of_what_the_test_calls_ranks_high_and_unrelated_dunders_do_not(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "pkg", FILES)
    engine = ContextEngine(repo, cache=tmp_path / "i.json")
    ranked = engine.rank(ItemContext("Fix the failing build", log=LOG))
    symbols = [s.chunk.symbol for s in ranked]
    by_symbol = {s.chunk.symbol: s for s in ranked}
    # The buggy helper: the test calls feed, feed calls _bump; above everything of a class it never uses.
    assert "Tally._bump" in symbols[:5], symbols
    assert all(symbols.index("Tally._bump") < n for n, x in enumerate(symbols) if x.startswith("Stream"))
    assert any("called by code the failing test calls" in r for r in by_symbol["Tally._bump"].reasons)
    # len(tally) runs Tally.__len__, not the __len__ of a class the test never uses.
    assert any("called by the failing statement" in r for r in by_symbol["Tally.__len__"].reasons)
    stream_len = by_symbol.get("Stream.__len__")
    assert stream_len is None or not any("called by" in r for r in stream_len.reasons)
    # The class's head (its long docstring) ranks under the methods the test runs.
    assert symbols.index("Tally") > max(symbols.index("Tally.feed"), symbols.index("Tally.__len__"))
    # The test imports pkg; pkg/__init__ re-exports pkg/tally.py.
    assert any(r == "imported by the failing tests" for r in by_symbol["Tally._bump"].reasons)


def test_a_test_files_frame_is_not_the_module_its_name_ends_with() -> None:
    # A frame in tests/test_parse.py once matched parse.py's chunk at the same line (six, parse).
    assert not same_path("tests/test_parse.py", "parse.py")
    assert not same_path("test_six.py", "six.py")
    assert same_path("/home/runner/work/p/p/pkg/mod.py", "pkg/mod.py")
    assert same_path("./pkg/mod.py", "pkg/mod.py") and same_path("pkg/mod.py", "/abs/pkg/mod.py")


COUNTER = {
    "pyproject.toml": '[project]\nname = "cnt"\nversion = "0"\n',
    "cnt/__init__.py": "from cnt.counter import Counter\n",
    "cnt/counter.py": (
        'class Counter:\n    """\n' + DOC + '    """\n\n'  # long enough to be split into its methods
        "    def __init__(self):\n        self.seen = []\n\n"
        "    def add(self, n):\n        self.seen.append(n)\n\n"
        "    def _sum(self):\n        return sum(self.seen) * 2\n\n"
        "    def total(self):\n        return self._sum()\n\n"
        "    def reset(self):\n        self.seen = []\n"
    ),
    "tests/test_counter.py": (
        "from cnt import Counter\n\n\ndef test_total():\n    c = Counter()\n    c.add(1)\n"
        "    assert c.total() == (\n        1\n    )\n    c.reset()\n"
    ),
}
COUNTER_LOG = """\
=================================== FAILURES ===================================
__________________________________ test_total __________________________________

    def test_total():
        c = Counter()
        c.add(1)
>       assert c.total() == (
            1
        )
E       assert 2 == 1

tests/test_counter.py:7: AssertionError
=========================== short test summary info ============================
FAILED tests/test_counter.py::test_total - assert 2 == 1
"""


def test_what_ran_before_the_failing_statement_counts_and_its_callees_rank_first(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "cnt", COUNTER)
    engine = ContextEngine(repo, cache=tmp_path / "i.json")
    ranked = engine.rank(ItemContext("Fix the failing build", log=COUNTER_LOG))
    by_symbol = {s.chunk.symbol: s for s in ranked}
    # add ran before the failing statement; reset comes after it and never ran.
    assert any(r.startswith("called by the failing test") for r in by_symbol["Counter.add"].reasons)
    reset = by_symbol.get("Counter.reset")
    assert reset is None or not any(r.startswith("called by the failing test") for r in reset.reasons)
    # The statement calls total, total calls _sum: the helper the failing value came from.
    assert any(r.startswith("reached from the failing statement") for r in by_symbol["Counter._sum"].reasons)
    assert [s.chunk.symbol for s in ranked].index("Counter._sum") < 3


def test_the_statements_that_ran_end_at_the_failing_one_unless_a_loop_repeats_it() -> None:
    body = [
        "def test_x():",
        "    a = make(",
        "        ')('",  # a bracket in a string does not open a statement
        "    )",
        "    for n in range(3):",
        "        check(a, n)",
        "        step(a)",
        "    after(a)",
    ]
    assert _statement_end(body, 1) == 4
    assert _ran(body, 1) == body[:4]
    # check failed on a later pass: step ran on the earlier ones; after never did.
    assert _ran(body, 5) == body[:7]
