"""Ranking rules measured on bench/context.py: the call graph from the failing test reaches the
helpers of what it calls (operators included), a builtin call names dunders only of the classes
the test uses, the head of a split class ranks under its methods, and a test importing the package
imports what the package's __init__ re-exports."""

from __future__ import annotations

from pathlib import Path

from bot.context.engine import ContextEngine, ItemContext
from bot.context.retrieval import SPLIT_CLASS_LINES, same_path
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
