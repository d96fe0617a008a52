"""A small replay through the benchmark's code, so the benchmark cannot rot unnoticed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import SHARED

DATA = SHARED / "data" / "swebench-verified-outcomes.json"


@pytest.mark.skipif(not DATA.exists(), reason="shared data folder not beside the checkout")
async def test_replay_on_a_subset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from bench import replay

    data = json.loads(DATA.read_text())
    keep = data["instances"][::10]  # 50 tasks across every repository
    data["instances"] = keep
    for run in data["runs"].values():
        run["resolved"] = [t for t in run["resolved"] if t in keep]
    subset = tmp_path / "subset.json"
    subset.write_text(json.dumps(data))

    assert await replay.main(["--seeds", "1", "--data", str(subset)]) == 0
    out = capsys.readouterr().out
    assert "three-tier (local at $0)" in out and "adaptive (local at API price)" in out
    assert "Claude 4.5 Opus medium (20251101)" in out
    # Each pattern's own figures: plans (at several uplifts), converge by evidence beside
    # first-to-validate, speculative escalation's time and money.
    assert "planner-executor, uplift 0.4 (local at $0)" in out
    assert "diverge, first to validate ships (local at $0)" in out
    assert "diverge-converge false-ship" in out and "speculative escalation" in out
    assert "diverge-converge, first round of 2 (local at $0)" in out
    assert "why: agreement between different models needs the premium tier" in out
    # The cheaper converge rules tried, each through the same policy, and the bound on any rule.
    assert "diverge-converge rules tried" in out and "  the same, one rung at a time" in out
    assert "bound (bench/converge_bound.py" in out and "q 0.44" in out
    rows = {line[:58].strip(): line[58:].split() for line in out.splitlines() if "(local at $0)" in line[:58]}
    assert rows["planner-executor (local at $0)"] != rows["three-tier (local at $0)"]
    assert rows["diverge-converge (local at $0)"] != rows["diverge, first to validate ships (local at $0)"]
    # The oracle line is computed from the data: at least as good as any single model.
    oracle = float(out.split("oracle")[1].split("%")[0].split()[-1])
    assert oracle >= 70.0
