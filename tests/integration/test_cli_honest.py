"""Issue 14 from the user's side: one-line user errors, pre-flight before spending, a clean tree for
`fix`, retry and clean, the bot's folder invisible to the project's tools, the dry run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.planning.checklist_file import parse
from tests.integration.sample import PYTHON_PROJECT, git, make_repo

SCRIPTED = (
    '[routing]\npreset = "single-model"\n[ledger]\npath = "{tmp}/ledger.sqlite"\n'
    '[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp}/script.json"\nmodel = "m"\n'
    "price = {{ input_per_mtok = 0, output_per_mtok = 0 }}\n"
)
CHECKLIST = """---
format: 1
ref: milestone#7
title: More arithmetic
---

# More arithmetic

- [ ] Add subtraction <!-- milestone-bot: {"id": "add-sub"} -->
- [ ] Document it <!-- milestone-bot: {"id": "docs", "kind": "docs", "depends_on": ["add-sub"]} -->
"""
MUL = "def mul(a, b):\n    return a * b\n"
SUB_TEST = (
    "tests/test_sub.py\n<<<<<<< SEARCH\n=======\nimport calc.ops\n\n\ndef test_sub():\n"
    "    assert calc.ops.sub(3, 1) == 2\n>>>>>>> REPLACE\n"
)
SUB = (
    f"calc/ops.py\n<<<<<<< SEARCH\n{MUL}=======\n{MUL}\n\ndef sub(a, b):\n    return a - b\n>>>>>>> REPLACE\n"
)
DOCS = "README.md\n<<<<<<< SEARCH\n=======\ncalc: add, mul, sub.\n>>>>>>> REPLACE\n"


def one_line_error(capsys: pytest.CaptureFixture[str], code: int) -> str:
    captured = capsys.readouterr()
    assert code == 2, captured
    lines = [x for x in captured.err.splitlines() if x.strip()]
    assert len(lines) == 1 and "Traceback" not in captured.err, captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["run", "--checklist", "no/such.md"], "checklist no/such.md does not exist"),
        (["run", "--milestone-file", "no/such.md"], "checklist no/such.md does not exist"),
        (["run"], "the --checklist FILE argument is required"),
        (["run", "--checklist", "x.md", "--parallel", "-3"], "'-3' must be 1 or more"),
        (["run", "--checklist", "x.md", "--budget-usd", "lots"], "is not an amount of USD"),
        (["fix", "--log", "no/such.log"], "log no/such.log does not exist"),
        (["fix", "--issue-file", "no/such.md"], "issue file no/such.md does not exist"),
        (["fix", "--cmd", "nosuchcommand --flag"], "cannot run 'nosuchcommand': not found on PATH"),
        (["fix", "--cmd", "pytest -q | tee out.txt"], "needs a shell ('|')"),
        (["context", "--item", "x", "--log", "no/such.log"], "log no/such.log does not exist"),
        (["retry", "nope", "--checklist", "{checklist}"], "no item 'nope' in the checklist"),
        (["run", "--checklist", "{checklist}", "--resume", "nosuchrun"], "no run 'nosuchrun' to resume"),
        (["cost", "--since", "yesterday"], "not a duration like 30m"),
        (["handle-event", "--event-name", "issues", "--event-path", "no/such.json"], "does not exist"),
        (["config", "init", "--path", "{config}"], "exists; pass --force"),
        (["nosuchcommand"], "invalid choice"),
    ],
)
def test_every_user_error_is_one_line_with_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], expected: str
) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    config = tmp_path / "bot.toml"
    config.write_text(SCRIPTED.format(tmp=tmp_path))
    (tmp_path / "script.json").write_text('{"rules": []}')
    checklist = tmp_path / "more.md"
    checklist.write_text(CHECKLIST)
    filled = [a.format(checklist=checklist, config=config) for a in argv]
    common = ["--repo", str(repo), "--config", str(config)] if argv[0] not in ("nosuchcommand",) else []
    try:
        code = main([*filled, *common])
    except SystemExit as exit_:  # argparse's own errors
        code = int(exit_.code or 0)
    assert expected in one_line_error(capsys, code)


def test_errors_have_no_traceback_in_a_real_process(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bot.cli", "run", "--checklist", str(tmp_path / "none.md"), "-v"],
        capture_output=True, text=True, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    version = subprocess.run([sys.executable, "-m", "bot.cli", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("milestone-bot ")


def test_a_missing_key_stops_before_any_worktree_naming_the_variable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_FOR_TEST", raising=False)
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[routing]\npreset = "local-first"\n[ledger]\npath = "{tmp_path}/ledger.sqlite"\n'
        f'[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\nscript = "{tmp_path}/s.json"\nmodel = "m"\n'
        "price = { input_per_mtok = 0, output_per_mtok = 0 }\n"
        '[tiers.premium]\n[[tiers.premium.providers]]\ntype = "openai_compat"\nbase_url = "http://127.0.0.1:9/v1"\n'
        'model = "gpt-5-mini"\nprice_provider = "openai"\napi_key_env = "NO_SUCH_KEY_FOR_TEST"\n'
    )
    (tmp_path / "s.json").write_text('{"rules": []}')
    checklist = tmp_path / "more.md"
    checklist.write_text(CHECKLIST)
    code = main(["run", "--checklist", str(checklist), "--repo", str(repo), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2
    assert "NO_SUCH_KEY_FOR_TEST is not set" in err and "export NO_SUCH_KEY_FOR_TEST=" in err
    assert "nothing was spent or created" in err and "Traceback" not in err
    assert not (repo / ".milestone-bot" / "worktrees").exists()
    assert not git(repo, "branch", "--list", "milestone-bot/*").strip()
    assert not (tmp_path / "ledger.sqlite").exists()
    # config check says the same, offline; an empty key is as bad as none.
    monkeypatch.setenv("NO_SUCH_KEY_FOR_TEST", "  ")
    assert main(["config", "check", str(config), "--repo", str(repo)]) == 2
    assert "NO_SUCH_KEY_FOR_TEST is empty" in capsys.readouterr().err
    # An optional tier is skipped instead, and the report says so.
    config.write_text(config.read_text().replace("[tiers.premium]\n", "[tiers.premium]\noptional = true\n"))
    assert main(["config", "check", str(config), "--repo", str(repo)]) == 0
    assert "optional tier premium would be skipped" in capsys.readouterr().out


def test_runner_check_checks_the_key_first(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_KEY_FOR_TEST", raising=False)
    code = main(["runner", "check", "--base-url", "http://127.0.0.1:9/v1", "--model", "m",
                 "--api-key-env", "NO_SUCH_KEY_FOR_TEST"])  # fmt: skip
    assert code == 1
    assert "NO_SUCH_KEY_FOR_TEST is not set" in capsys.readouterr().out


def test_fix_refuses_a_dirty_tree(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    (repo / "calc/text.py").write_text("def shout(s):\n    return s.lower()\n")  # uncommitted breakage
    config = tmp_path / "bot.toml"
    config.write_text(SCRIPTED.format(tmp=tmp_path))
    code = main(
        ["fix", "--repo", str(repo), "--config", str(config), "--cmd", f"{sys.executable} -m pytest -q"]
    )
    line = one_line_error(capsys, code)
    assert "1 uncommitted changes (calc/text.py)" in line and "commit or stash them" in line
    assert not (repo / ".milestone-bot" / "runs").exists()


def test_fix_runs_a_command_with_an_environment_prefix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    config = tmp_path / "bot.toml"
    config.write_text(SCRIPTED.format(tmp=tmp_path))
    code = main(["fix", "--repo", str(repo), "--config", str(config),
                 "--cmd", f"CALC_MODE=strict {sys.executable} -c 'import os, sys; sys.exit(os.environ[\"CALC_MODE\"] != \"strict\")'"])  # fmt: skip
    assert code == 0 and "passes: nothing to fix" in capsys.readouterr().out
    # A command that fails without any test failure in its output says so, instead of "no failures".
    code = main(
        [
            "fix",
            "--repo",
            str(repo),
            "--config",
            str(config),
            "--cmd",
            f"{sys.executable} -c 'raise SystemExit(3)'",
        ]
    )
    assert "but no test failure could be read from its output" in one_line_error(capsys, code)


def test_retry_a_failed_item_and_clean_up_finished_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    config = tmp_path / "bot.toml"
    config.write_text(SCRIPTED.format(tmp=tmp_path) + "[cleanup]\nkeep_runs = 1\n")
    script = tmp_path / "script.json"
    # First run: the model cannot make the change (its answer is not an edit).
    script.write_text(json.dumps({"rules": [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": SUB_TEST},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": "I cannot do that."},
        {"match": {"item": "docs"}, "reply": DOCS},
    ]}))  # fmt: skip
    checklist = tmp_path / "more.md"
    checklist.write_text(CHECKLIST)
    base = ["--checklist", str(checklist), "--repo", str(repo), "--config", str(config), "--plain"]
    assert main(["run", *base, "--run-id", "r1"]) == 1
    out = capsys.readouterr().out
    assert "add-sub: failed:" in out and "change@local: unparsable" in out  # the reason, not just "failed"
    assert "docs: skipped: dependency add-sub ended failed" in out
    report = json.loads((repo / ".milestone-bot/runs/r1/report.json").read_text())
    sub = report["items"][0]
    assert sub["reason"] and sub["history"][0]["verdict"] == "passed"
    assert report["items"][0]["stages"]["red_proof"] == "passed"  # the test phase's proof is kept
    # Running again does nothing silently no more: it says how to retry.
    assert main(["run", *base, "--run-id", "r2"]) == 1
    out = capsys.readouterr().out
    assert "retry them with --retry-failed" in out and "nothing to do" in out
    # Retry: the item and the one skipped because of it are worked again.
    script.write_text(json.dumps({"rules": [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": SUB_TEST},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": SUB},
        {"match": {"item": "docs"}, "reply": DOCS},
    ]}))  # fmt: skip
    assert main(["retry", "add-sub", *base, "--run-id", "r3"]) == 0, capsys.readouterr()
    out = capsys.readouterr().out
    assert "retrying add-sub (and docs, skipped because of it)" in out and "2 of 2 items done" in out
    assert all(i.status.value == "done" for i in parse(checklist.read_text()).items)
    # After the run, finished runs beyond the newest one lost their branches; worktrees are gone.
    assert "cleaned up:" in out
    branches = git(repo, "branch", "--list", "milestone-bot/*")
    assert "milestone-bot/r1/" not in branches and "milestone-bot/r3/integrated" in branches
    assert not [p for p in (repo / ".milestone-bot/worktrees").glob("r1/*")]
    # `clean --keep 0` removes the rest; it is idempotent.
    assert main(["clean", "--repo", str(repo), "--keep", "0"]) == 0
    assert "milestone-bot/r3/integrated" in capsys.readouterr().out
    assert not git(repo, "branch", "--list", "milestone-bot/*").strip()
    assert main(["clean", "--repo", str(repo), "--keep", "0"]) == 0
    assert "removed 0 worktrees and 0 branches" in capsys.readouterr().out


def test_run_retry_failed_and_resume(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    config = tmp_path / "bot.toml"
    config.write_text(SCRIPTED.format(tmp=tmp_path))
    (tmp_path / "script.json").write_text(json.dumps({"rules": [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": SUB_TEST},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": SUB},
        {"match": {"item": "docs"}, "reply": DOCS},
    ]}))  # fmt: skip
    checklist = tmp_path / "more.md"
    checklist.write_text(CHECKLIST.replace('{"id": "add-sub"}', '{"id": "add-sub", "status": "failed"}'))
    base = ["--checklist", str(checklist), "--repo", str(repo), "--config", str(config), "--plain"]
    assert main(["run", *base, "--retry-failed", "--run-id", "r9"]) == 0
    assert "retrying 1 items that ended unfinished: add-sub" in capsys.readouterr().out
    assert main(["run", *base, "--resume", "r9"]) == 0  # a known run resumes
    assert "nothing to do" in capsys.readouterr().out


def test_the_bots_folder_is_invisible_to_the_projects_pytest_and_ruff(tmp_path: Path) -> None:
    from bot.workspace.worktrees import Worktrees

    # A project whose own norecursedirs replaces pytest's default (which skips dot-folders).
    files = {**PYTHON_PROJECT, "pyproject.toml": PYTHON_PROJECT["pyproject.toml"].replace(
        'testpaths = ["tests"]\n', 'norecursedirs = ["build"]\n')}  # fmt: skip
    repo = make_repo(tmp_path / "calc", files)
    trees = Worktrees(repo)
    workspace = trees.create("r1", "item", "HEAD")
    (workspace.path / "tests" / "test_broken.py").write_text(
        "import os\n\n\ndef test_broken():\n    assert False\n"
    )
    pytest_run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert pytest_run.returncode == 0, pytest_run.stdout
    assert "3 passed" in pytest_run.stdout and "test_broken" not in pytest_run.stdout
    ruff = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."],
        cwd=repo,
        capture_output=True,
        text=True,
        check=False,
    )
    assert ruff.returncode == 0, ruff.stdout  # the worktree's unused import is not the project's
    assert git(repo, "status", "--porcelain") == ""
    # Inside the worktree (where validation runs) the project's tools still see everything.
    inside = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "."], cwd=workspace.path, capture_output=True,
        text=True, check=False,
    )  # fmt: skip
    assert inside.returncode == 1 and "F401" in inside.stdout


def test_old_flag_names_still_work_and_an_empty_budget_is_none() -> None:
    from bot.cli import build_parser

    parser = build_parser()
    # What the workflows call: the old names, and an empty budget when the run has none of its own.
    work = parser.parse_args(
        ["work", "--checklist", "c.md", "--items", "a", "--job", "j", "--budget", "", "--out", "o"]
    )
    assert work.budget_usd is None
    plan = parser.parse_args(["plan", "--out", "c.md", "--emit-matrix", "--budget", "0.5"])
    assert (plan.checklist, str(plan.budget_usd)) == ("c.md", "0.5")
    ctx = parser.parse_args(["context", "--item", "x", "--budget", "8k", "-v"])
    assert ctx.context_bytes == 8000 and ctx.verbose is True
    run = parser.parse_args(["-v", "run", "--milestone-file", "m.md"])
    assert run.checklist == "m.md" and run.verbose is True
