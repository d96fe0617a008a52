from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main


def test_demo_runs_offline_and_reports_costs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "add-slugify            passed  local:passed" in out
    assert "fix-date-parse         passed  local:failed -> fast:failed -> premium:passed" in out
    assert "handle-empty-config    passed  local:failed -> fast:passed" in out
    assert "premium tier alone (claude-sonnet-4-6) would have cost" in out

    # The demo left a real ledger; `cost` reads it.
    config = str(tmp_path / "milestone-bot.toml")
    assert main(["cost", "--config", config, "--run", "demo", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    rows = {(r["tier"], r["calls"], r["failed"]) for r in report["rows"]}
    assert rows == {("local", 3, 0), ("fast", 4, 2), ("premium", 1, 0)}
    assert float(report["savings_usd"]) > 0
    assert main(["cost", "--config", config, "--since", "1h"]) == 0
    assert "total" in capsys.readouterr().out


def test_console_script_is_installed() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "--help"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0 and "config" in result.stdout and "demo" in result.stdout


def test_cost_rejects_bad_duration(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["cost", "--since", "yesterday"])
    assert "not a duration like 30m" in capsys.readouterr().err
