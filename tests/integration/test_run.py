"""`milestone-bot run` end to end: scripted tiers, real git, real validation, parallel items,
a merge conflict redone on the integrated branch, the checklist file and the report written."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.planning.checklist_file import parse
from tests.integration.sample import PYTHON_PROJECT, git, make_repo

MUL = "def mul(a, b):\n    return a * b\n"


def adds(name: str, body: str) -> str:
    return f"calc/ops.py\n<<<<<<< SEARCH\n{MUL}=======\n{MUL}\n\ndef {name}:\n    {body}\n>>>>>>> REPLACE\n"


def new_test(name: str, test: str) -> str:
    return f"tests/test_{name}.py\n<<<<<<< SEARCH\n=======\nimport calc.ops\n\n\ndef test_{name}():\n    {test}\n>>>>>>> REPLACE\n"


CHECKLIST = """---
format: 1
ref: milestone#7
title: More arithmetic
---

# More arithmetic

- [ ] Add subtraction <!-- milestone-bot: {"id": "add-sub"} -->
- [ ] Add negation <!-- milestone-bot: {"id": "add-neg"} -->
- [ ] Document the operations <!-- milestone-bot: {"id": "docs", "kind": "docs", "depends_on": ["add-sub"]} -->
"""


def test_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    rules = {"rules": [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": new_test("sub", "assert calc.ops.sub(3, 1) == 2")},
        {"match": {"item": "add-sub", "purpose": "change", "model": "local-m"}, "reply": adds("sub(a, b)", "return a + b")},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": adds("sub(a, b)", "return a - b")},
        {"match": {"item": "add-neg", "purpose": "test"}, "reply": new_test("neg", "assert calc.ops.neg(2) == -2")},
        {"match": {"item": "add-neg", "purpose": "change"}, "reply": adds("neg(a)", "return -a")},
        {"match": {"item": "docs"}, "reply": "README.md\n<<<<<<< SEARCH\n=======\ncalc: add, mul, sub.\n>>>>>>> REPLACE\n"},
    ]}  # fmt: skip
    (tmp_path / "script.json").write_text(json.dumps(rules))
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[routing]\npreset = "three-tier"\n[ledger]\npath = "{tmp_path}/ledger.sqlite"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp_path}/script.json"\nmodel = "local-m"\n'
        "price = { gpu_usd_per_hour = 0 }\n"
        f'[tiers.premium]\n[[tiers.premium.providers]]\ntype = "scripted"\nscript = "{tmp_path}/script.json"\n'
        'model = "claude-sonnet-4-6"\n'
    )
    checklist_file = tmp_path / "more.md"
    checklist_file.write_text(CHECKLIST)

    code = main(["run", "--milestone-file", str(checklist_file), "--repo", str(repo), "--parallel", "2",
                 "--config", str(config), "--run-id", "r7"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert "3 of 3 items done" in out
    assert "integrated branch: milestone-bot/r7/integrated" in out

    after = parse(checklist_file.read_text())
    assert all(i.status.value == "done" and i.commit for i in after.items)
    assert after.item("add-sub").attempts == 3  # test, failed change on local, change on premium

    final = git(repo, "show", "milestone-bot/r7/integrated:calc/ops.py")
    assert "return a - b" in final and "return -a" in final
    report = (repo / ".milestone-bot/runs/r7/report.md").read_text()
    assert "3 of 3 items done" in report and "| add-sub |" in report and "premium tier alone" in report
    assert "**add-sub** Add subtraction — done on premium (3 attempts" in report
    assert "  - escalating to premium: local was rejected at " in report  # the escalation and why
    assert "<details><summary>add-sub: 3 attempts</summary>" in report
    assert "UNSANDBOXED" not in report  # validated in the sandbox
    assert "  1. test@local: passed" in report and "  2. change@local: failed (rejected at " in report
    assert "  - tests added: `tests/test_sub.py`" in report and "`calc/ops.py`" in report
    data = json.loads((repo / ".milestone-bot/runs/r7/report.json").read_text())
    assert data["integration"]["accepted"] is True
    assert set(data["integration"]["merged"]) == {"add-sub", "add-neg", "docs"}


def test_a_run_the_config_lets_run_unsandboxed_says_so_in_its_report(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    docs = "README.md\n<<<<<<< SEARCH\n=======\ncalc: add, mul.\n>>>>>>> REPLACE\n"
    (tmp_path / "script.json").write_text(json.dumps({"rules": [{"match": {"item": "docs"}, "reply": docs}]}))
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[routing]\npreset = "single-model"\n[ledger]\npath = "{tmp_path}/ledger.sqlite"\n[validation.sandbox]\nisolation = "off"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp_path}/script.json"\n'
        'model = "local-m"\nprice = { gpu_usd_per_hour = 0 }\n'
    )
    checklist = tmp_path / "docs.md"
    checklist.write_text(CHECKLIST.split("- [ ]")[0] + '- [ ] Document <!-- milestone-bot: {"id": "docs", "kind": "docs"} -->\n')
    code = main(["run", "--checklist", str(checklist), "--repo", str(repo), "--config", str(config), "--run-id", "u1"])
    assert code == 0
    report = (repo / ".milestone-bot/runs/u1/report.md").read_text()
    assert "validation ran UNSANDBOXED (the config turns it off)" in report
    assert "UNSANDBOXED" in (repo / ".milestone-bot/runs/u1/report.json").read_text()


def test_fix_a_red_build_from_a_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    (repo / "calc/text.py").write_text("def shout(s):\n    return s.lower()\n")  # the regression
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "break shout")
    fix = (
        "calc/text.py\n<<<<<<< SEARCH\n    return s.lower()\n=======\n    return s.upper()\n>>>>>>> REPLACE\n"
    )
    (tmp_path / "script.json").write_text(
        json.dumps({"rules": [{"match": {"purpose": "change"}, "reply": fix}]})
    )
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[routing]\npreset = "single-model"\n[ledger]\npath = "{tmp_path}/ledger.sqlite"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp_path}/script.json"\nmodel = "m"\n'
        "price = { input_per_mtok = 0, output_per_mtok = 0 }\n"
    )
    code = main(["fix", "--repo", str(repo), "--config", str(config), "--run-id", "f1",
                 "--cmd", f"{sys.executable} -m pytest -q -p no:cacheprovider"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0, out
    assert (
        "planned 1 item(s)" in out
        and "failure-1: AssertionError" in out
        and "tests/test_text.py::test_shout" in out
    )
    assert "1 of 1 fixed" in out
    assert "return s.upper()" in git(repo, "show", "milestone-bot/f1/integrated:calc/text.py")
    # Nothing failing: nothing to do.
    assert (
        main(["fix", "--repo", str(repo), "--config", str(config), "--cmd", f"{sys.executable} -c pass"]) == 0
    )
    assert "passes: nothing to fix" in capsys.readouterr().out
