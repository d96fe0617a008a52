"""The byte budget is a ceiling on the whole pack, every header included, at any size."""

from __future__ import annotations

from bot.context.pack import Section, fit_text, pack
from bot.context.retrieval import Chunk, Scored

LINES = {f"m{n}.py": [f"def f{n}_{k}(x):  # é" for k in range(40)] for n in range(6)}
RANKED = [
    Scored(Chunk(path, 1 + 10 * k, 10 * (k + 1), f"f{k}", "function"), 10.0 - k - n)
    for n, path in enumerate(LINES)
    for k in range(4)
]


def lines(chunk: Chunk) -> list[str]:
    return LINES[chunk.path][chunk.start - 1 : chunk.end]


def test_never_over_budget_headers_and_sections_included() -> None:
    sections = [Section("Failures", "x" * 700), Section("Guidance", "ü" * 300), Section("Memory", "y" * 50)]
    for budget in [*range(0, 400, 7), 1000, 2500, 5000, 20_000]:
        packed = pack(RANKED, lines, budget=budget, sections=sections, floor=0.0, min_chunks=0)
        assert packed.size <= budget, budget
        assert packed.text.encode("utf-8").decode("utf-8") == packed.text  # never cut inside a character


def test_fit_text_keeps_its_note_inside_the_budget() -> None:
    for budget in range(0, 80):
        assert len(fit_text("é" * 100, budget).encode("utf-8")) <= budget


def test_the_floor_drops_chunks_far_below_the_top() -> None:
    ranked = [Scored(Chunk("m0.py", 1, 10, "a"), 10.0), Scored(Chunk("m0.py", 11, 20, "b"), 9.0),
              Scored(Chunk("m0.py", 21, 30, "c"), 2.0), Scored(Chunk("m1.py", 1, 10, "d"), 1.0)]  # fmt: skip
    packed = pack(ranked, lines, budget=20_000, floor=0.3, min_chunks=1)
    assert [i.symbol for i in packed.included] == ["a", "b"] and packed.below_floor == 2
    padded = pack(ranked, lines, budget=20_000, floor=0.3, min_chunks=3)
    assert [i.symbol for i in padded.included] == ["a", "b", "c"]  # the best few whatever their scores
