"""Across the stages of one verdict each test id runs once on the change's tree (issue 11, point 8)."""

from __future__ import annotations

from pathlib import Path

from bot.execution.run import validate_working_tree
from tests.integration.sample import PYTHON_PROJECT, make_repo, write

# Every test appends its node id to runs.log beside the tests/ folder of the tree it runs in (the
# base checkout of the baseline logs into its own tree, not this one).
LOGGER = (
    "import pathlib\n\nimport pytest\n\n\n@pytest.fixture(autouse=True)\ndef _log(request):\n"
    "    log = pathlib.Path(__file__).resolve().parents[1] / 'runs.log'\n"
    "    with log.open('a') as out:\n        out.write(request.node.nodeid + '\\n')\n"
)
OPS_TESTS = (
    "import calc.ops\n\n\ndef test_add():\n    assert calc.ops.add(2, 3) == 5\n\n\n"
    "def test_mul():\n    assert calc.ops.mul(2, 3) == 6\n\n\n"
    "def test_mul_large():\n    assert calc.ops.mul(20, 30) == 600\n\n\n"
    "class TestMul:\n    def test_zero(self):\n        assert calc.ops.mul(0, 3) == 0\n"
)
# The new test runs mul too: a change no test of the item runs is refused (evidence.py).
NEW_TEST = "import calc.ops\n\n\ndef test_sub():\n    assert calc.ops.sub(calc.ops.mul(3, 1), 1) == 2\n"


async def test_each_test_id_runs_once_across_new_affected_and_full_suite(tmp_path: Path) -> None:
    files = {**PYTHON_PROJECT, "tests/conftest.py": LOGGER, "tests/test_ops.py": OPS_TESTS}
    files[".gitignore"] = "runs.log\n"
    repo = make_repo(tmp_path / "calc", files)
    ops = (repo / "calc/ops.py").read_text()
    # mul changes (same behaviour) and sub is new, with its new test file
    changed = ops.replace("return a * b", "return b * a") + "\n\ndef sub(a, b):\n    return a - b\n"
    write(repo, "calc/ops.py", changed)
    write(repo, "tests/test_sub.py", NEW_TEST)
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=None)
    assert verdict.accepted, verdict.render()
    by_name = {s.name: s for s in verdict.stages}
    assert [s for s in by_name if s.endswith(("tests", "suite"))] == [
        "new_tests",
        "affected_tests",
        "full_suite",
    ]
    # the affected stage ran the ids mentioning mul, not the whole file
    affected = by_name["affected_tests"].command
    assert "tests/test_ops.py::test_mul" in affected and "tests/test_ops.py::TestMul" in affected
    assert "tests/test_ops.py" not in affected and "tests/test_ops.py::test_add" not in affected
    suite = by_name["full_suite"].command
    assert "--ignore=tests/test_sub.py" in suite and "--deselect=tests/test_ops.py::TestMul" in suite
    assert "--deselect=tests/test_ops.py::test_mul_large" in suite
    # test_mul is a prefix of test_mul_large: deselecting it would lose that one, so it is run again
    assert "--deselect=tests/test_ops.py::test_mul" not in suite
    runs = (repo / "runs.log").read_text().splitlines()
    counts = {t: runs.count(t) for t in runs}
    assert counts == {
        "tests/test_sub.py::test_sub": 1,
        "tests/test_ops.py::test_mul": 2,
        "tests/test_ops.py::test_mul_large": 1,
        "tests/test_ops.py::TestMul::test_zero": 1,
        "tests/test_ops.py::test_add": 1,
        "tests/test_text.py::test_shout": 1,
    }, runs


async def test_a_test_the_affected_stage_ran_still_counts_in_the_full_suite(tmp_path: Path) -> None:
    # Breaking mul: the affected stage fails first; with every stage run, the full suite's merged
    # outcomes still hold the failure although it did not run test_mul_large again.
    from bot.config import parse_config

    files = {**PYTHON_PROJECT, "tests/test_ops.py": OPS_TESTS}
    repo = make_repo(tmp_path / "calc", files)
    write(repo, "calc/ops.py", (repo / "calc/ops.py").read_text().replace("return a * b", "return a + b"))
    config = parse_config(
        '[routing]\npreset = "single-model"\n[tiers.t]\n[[tiers.t.providers]]\n'
        'type = "scripted"\nscript = "s.yaml"\nmodel = "m"\nprice = { input_per_mtok = 0, output_per_mtok = 0 }\n'
    )
    verdict = await validate_working_tree(repo, base_ref="HEAD", config=config, run_all=True)
    by_name = {s.name: s for s in verdict.stages}
    assert by_name["affected_tests"].status == "failed" and by_name["full_suite"].status == "failed"
    failed = {d.test_id for d in by_name["full_suite"].diagnostics}
    assert "tests/test_ops.py::test_mul_large" in failed
    assert "--deselect=tests/test_ops.py::test_mul_large" in by_name["full_suite"].command


async def test_acceptance_tests_in_affected_files_run_first_and_once(tmp_path: Path) -> None:
    import sys

    from bot.validation.baseline import run_baseline
    from bot.validation.detect import detect
    from bot.validation.pipeline import Settings
    from bot.validation.validate import Change, validate

    files = {**PYTHON_PROJECT, "tests/conftest.py": LOGGER, "tests/test_ops.py": OPS_TESTS}
    base, repo = make_repo(tmp_path / "base", files), make_repo(tmp_path / "calc", files)
    before = (repo / "calc/ops.py").read_text()
    after = before.replace("return a * b", "return b * a")
    write(repo, "calc/ops.py", after)
    tools = detect(repo, python=sys.executable)
    assert tools.test is not None
    settings = Settings()
    baseline = await run_baseline("base", base, tools.test, settings)
    acceptance = ("tests/test_ops.py::test_add",)  # does not mention mul: not selected by name
    change = Change(
        root=repo,
        files={"calc/ops.py": (before, after)},
        test_files=("tests/test_ops.py", "tests/test_text.py"),
        acceptance=acceptance,
        intent="mul: multiply in the other order",  # names what test_add does not run (evidence.py)
    )
    verdict = await validate(change, tools, settings=settings, baseline=baseline)
    assert verdict.accepted, verdict.render()
    affected = {s.name: s for s in verdict.stages}["affected_tests"].command
    assert "tests/test_ops.py::test_add" in affected and "tests/test_ops.py::TestMul" in affected
    runs = (repo / "runs.log").read_text().splitlines()
    assert runs.count("tests/test_ops.py::test_add") == 1
    assert runs.count("tests/test_text.py::test_shout") == 1
