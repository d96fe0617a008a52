"""`milestone-bot validate --help` does not import what it does not need (issue 11, point 8).

The time is measured by bench/startup.py, never here; this says which modules the help path loads.
"""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from bot.cli import main
try:
    main(["validate", "--help"])
except SystemExit:
    pass
heavy = ("pydantic", "bot.config", "bot.budget.ledger", "sqlite3", "openai", "anthropic", "httpx")
print("LOADED:" + " ".join(m for m in heavy if m in sys.modules))
"""


def test_help_path_imports_no_config_ledger_or_sdk() -> None:
    out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert "usage:" in out.stdout
    loaded = [line for line in out.stdout.splitlines() if line.startswith("LOADED:")]
    assert loaded == ["LOADED:"], loaded


def test_the_cli_default_config_path_is_the_configs() -> None:
    from bot import cli, config

    assert cli.DEFAULT_CONFIG_PATH == config.DEFAULT_CONFIG_PATH
