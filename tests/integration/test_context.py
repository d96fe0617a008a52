"""The context engine on a sample repository: index and cache, retrieval, packing, self-contained retries."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ContextSettings
from bot.context.engine import ContextEngine, ItemContext
from tests.integration.sample import PYTHON_PROJECT, git, make_repo, write

FILES = {
    **PYTHON_PROJECT,
    "calc/dates.py": "import calc.ops\n\n\ndef parse_day(text):\n    year, month, day = text.split('-')\n"
    "    return int(day) + 1\n\n\ndef parse_month(text):\n    return int(text.split('-')[1])\n",
    "tests/test_dates.py": "from calc.dates import parse_day\n\n\ndef test_parse_day():\n    assert parse_day('2024-01-02') == 2\n",
    "src/lib.rs": "pub fn add(a: i64, b: i64) -> i64 {\n    a + b\n}\n",
    "web/app.ts": "export function greet(name: string): string {\n  return `hi ${name}`;\n}\n",
    "vendor/big.py": "def vendored():\n    pass\n",
    "calc/broken.py": "def broken(:\n",
    "AGENTS.md": "Run tests with pytest. Keep functions small.\n",
    ".github/milestone-bot/context/bugfix.md": "For bug fixes: write the failing test first.\n",
}
LOG = """\
=================================== FAILURES ===================================
________________________________ test_parse_day ________________________________

    def test_parse_day():
>       assert parse_day('2024-01-02') == 2
E       AssertionError: assert 3 == 2

tests/test_dates.py:5: AssertionError
=========================== short test summary info ============================
FAILED tests/test_dates.py::test_parse_day - AssertionError: assert 3 == 2
"""


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = make_repo(tmp_path / "calc", FILES)
    (root / "logo.png").write_bytes(b"\x89PNG\x00\x00\x00")
    git(root, "add", "logo.png")
    git(root, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "logo")
    return root


def test_index_languages_symbols_skips_and_cache(repo: Path, tmp_path: Path) -> None:
    cache = tmp_path / "index.json"
    engine = ContextEngine(repo, cache=cache)
    index = engine.index
    files = index.files
    assert [s.name for s in files["calc/dates.py"].symbols] == ["parse_day", "parse_month"]
    assert files["calc/dates.py"].imports == ("calc.ops",)
    assert files["src/lib.rs"].language == "rust" and files["src/lib.rs"].symbols[0].name == "add"
    assert files["web/app.ts"].symbols[0].name == "greet"
    assert files["vendor/big.py"].skipped == "vendored or build output"
    assert files["logo.png"].skipped == "binary"
    assert files["calc/broken.py"].error.startswith("python:") and files["calc/broken.py"].symbols == ()
    assert index.parsed == len(files)

    warm = ContextEngine(repo, cache=cache).index
    assert warm.parsed == 0 and warm.files == files
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text() + "\n\ndef sub(a, b):\n    return a - b\n")
    changed = ContextEngine(repo, cache=cache).index
    assert changed.parsed == 1
    assert [s.name for s in changed.files["calc/ops.py"].symbols] == ["add", "mul", "sub"]


def test_failing_test_log_ranks_the_buggy_function_first(repo: Path, tmp_path: Path) -> None:
    engine = ContextEngine(repo, cache=tmp_path / "i.json")
    pack = engine.for_item(ItemContext("Fix the failing build", kind="bugfix", log=LOG, budget=4000))
    assert pack.size <= 4000
    keys = [i.key for i in pack.included]
    assert "calc/dates.py:4-6" in keys[:3]  # parse_day: named by the test, imported by the failing test
    assert pack.sections[0] == "Failures"  # evidence first
    assert pack.sections[1] == "Project guidance: .github/milestone-bot/context/bugfix.md"
    assert pack.sections[2] == "Project guidance: AGENTS.md"
    assert "tests/test_dates.py:5" in pack.text and "AssertionError: assert 3 == 2" in pack.text
    assert "    4 | def parse_day(text):" in pack.text  # whole function, with line numbers
    assert "### calc/dates.py:4-6 (parse_day)" in pack.text


def test_budget_is_respected_whole_chunks_and_left_out_listed(repo: Path, tmp_path: Path) -> None:
    engine = ContextEngine(repo, cache=tmp_path / "i.json")
    for budget in (1000, 2000, 8000):
        pack = engine.for_item(ItemContext("parse_day month ops add mul shout", log=LOG, budget=budget))
        assert pack.size <= budget
        for item in pack.included:
            _path, span = item.key.split(":")
            start, end = (int(x) for x in span.split("-"))
            assert f"{start:>5} |" in pack.text and f"{end:>5} |" in pack.text  # never cut mid-chunk
    small = engine.for_item(ItemContext("parse_day month ops add mul shout", log=LOG, budget=350))
    assert small.size <= 350 and small.left_out, "a tight budget leaves chunks out, and says which"
    roomy = engine.for_item(ItemContext("parse_day month ops add mul shout", log=LOG, budget=50_000))
    assert roomy.below_floor > 0 and roomy.size < 5000, "chunks far below the top score are not padding"


def test_a_retry_is_self_contained(repo: Path, tmp_path: Path) -> None:
    """A retry (maybe to another model) carries every chunk the first call had, and the feedback."""
    engine = ContextEngine(repo, cache=tmp_path / "i.json")
    first = engine.for_item(ItemContext("Fix the failing build", kind="bugfix", log=LOG, budget=6000))
    retry = engine.for_item(
        ItemContext("Fix the failing build", kind="bugfix", log=LOG, budget=6000,
                    diagnostics="tests/test_dates.py::test_parse_day: assert 4 == 2", diff="-    return int(day) + 1"),
    )  # fmt: skip
    assert retry.size <= 6000
    assert "### calc/dates.py:4-6 (parse_day)" in retry.text and "    4 | def parse_day(text):" in retry.text
    assert {i.key for i in first.included} <= {i.key for i in retry.included} | {i.key for i in retry.left_out}
    assert "Sent before" not in retry.text
    assert (
        "Diagnostics from the last attempt" in retry.sections
        and "The current change (diff against the base)" in retry.sections
        and "Project guidance: AGENTS.md" in retry.sections
    )


def test_guidance_mapped_by_kind_in_config(repo: Path, tmp_path: Path) -> None:
    write(repo, "docs/infra.md", "Terraform lives in infra/.\n")
    engine = ContextEngine(
        repo, settings=ContextSettings(kinds={"infra": ["docs/infra.md"]}), cache=tmp_path / "i.json"
    )
    pack = engine.for_item(ItemContext("bump the instance size", kind="infra", budget=3000))
    assert pack.sections[0] == "Project guidance: docs/infra.md"


def test_plan_context_is_a_repository_map(repo: Path, tmp_path: Path) -> None:
    engine = ContextEngine(repo, cache=tmp_path / "i.json")
    pack = engine.for_plan("plan the milestone", budget=2000)
    assert pack.size <= 2000
    assert "calc/dates.py\n    def parse_day(text):" in pack.text
    tight = engine.for_plan("plan", budget=1100)
    assert tight.size <= 1100 and "calc/ops.py" in tight.text


def test_ranking_is_deterministic(repo: Path, tmp_path: Path) -> None:
    one = ContextEngine(repo, cache=tmp_path / "a.json").for_item(ItemContext("add", budget=5000))
    two = ContextEngine(repo, cache=tmp_path / "b.json").for_item(ItemContext("add", budget=5000))
    assert one.included == two.included


def test_context_cli(repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "ci.log"
    log.write_text(LOG)
    assert (
        main(["context", "--repo", str(repo), "--item", "Fix the build", "--log", str(log), "--budget", "4k"])
        == 0
    )
    out = capsys.readouterr().out
    assert "context:" in out and "of 4000 bytes" in out and "calc/dates.py:4-6" in out
    assert main(["context", "--repo", str(repo), "--item", "x", "--json", "--budget", "2000"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["budget"] == 2000 and data["size"] <= 2000


def test_one_index_and_retriever_per_run_items_overlay_their_changes(repo: Path, tmp_path: Path) -> None:
    """A second item's engine re-parses and re-chunks only the files it changed, and ranks as a
    fresh build of its tree would."""
    from bot.context.shared import SharedContext
    from bot.workspace.worktrees import Worktrees

    shared = SharedContext(cache=tmp_path / "shared.json")
    first = ContextEngine(repo, cache=tmp_path / "a.json", shared=shared)
    first.for_item(ItemContext("Fix the failing build", log=LOG, budget=4000))
    base = first.retriever
    # A second item, in its own worktree, changed one file and added one.
    other = Worktrees(repo).create("r1", "item-2", "main").path
    write(other, "calc/dates.py", (other / "calc/dates.py").read_text().replace("int(day) + 1", "int(day) - 1"))
    write(other, "calc/weeks.py", "def parse_week(text):\n    return int(text.split('-W')[1])\n")
    second = ContextEngine(other, cache=tmp_path / "b.json", shared=shared)
    request = ItemContext("`parse_week` and `parse_day` give wrong numbers", budget=4000)
    shared_pack = second.for_item(request)
    assert second.retriever is not base and not second.retriever.is_base  # an overlay, not a rebuild
    assert second.index.parsed == 2  # only the changed and the new file were parsed
    fresh = ContextEngine(other, cache=tmp_path / "c.json").for_item(request)
    assert [i.key for i in shared_pack.included] == [i.key for i in fresh.included]
    assert shared_pack.text == fresh.text
    assert "int(day) - 1" in shared_pack.text and "int(day) + 1" not in shared_pack.text
    assert "def parse_week(text):" in shared_pack.text
    # An unchanged tree gets the base itself.
    assert ContextEngine(repo, cache=tmp_path / "d.json", shared=shared).retriever is base
