from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main


def test_demo_runs_the_whole_product_offline(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    # Two independent items start together; dependants wait for theirs.
    lines = out.splitlines()
    started = [line for line in lines if line.split()[3:5] == ["running", "started"]]
    assert sorted(line.split()[2] for line in started[:2]) == ["add-div", "add-sub"]
    # Progress shows each attempt's phase, tier and verdict as it happens.
    assert any(line.split()[2:6] == ["add-div", "change", "local:", "failed"] for line in lines)
    assert "add-sub    done   test@local:passed -> change@local:passed" in out
    assert "add-div    done   test@local:passed -> change@local:failed -> change@fast:passed" in out
    assert "tests/test_div.py::test_div: failed (a new test): AssertionError: assert 3 == 3.5" in out  # diagnostics shown
    assert (
        "safe-div   done   test@local:passed -> change@local:unparsable -> change@fast:failed -> change@premium:passed"
        in out
    )
    assert "Estimate, premium tier alone (claude-sonnet-4-6): about $" in out and "less." in out
    # Escalations are named, with the reason the tier before was left.
    assert "escalating to premium: fast was rejected at new_tests: tests/test_safe_div.py" in out
    assert "integrated branch: milestone-bot/demo/integrated" in out and "(validated)" in out
    checklist = (tmp_path / "checklists" / "complete-the-calculator.md").read_text()
    assert checklist.count("- [x]") == 4

    # The demo left a real ledger; `cost` reads it.
    config = str(tmp_path / "milestone-bot.toml")
    assert main(["cost", "--config", config, "--run", "demo", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert {r["tier"] for r in report["rows"]} == {"local", "fast", "premium"}
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


def test_demo_on_github_ends_in_a_pr_with_the_cost_table(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--github", "--workdir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert out.count("reactions: eyes rocket") == 2
    assert "planned: 4 items" in out and "ran: All 4 items done and validated" in out
    assert "| `safe-div` | done | premium | 4 |" in out  # the progress comment, as it ended
    assert "check run milestone-bot: completed, conclusion success" in out
    assert (
        "PR #2: milestone-bot: Complete the calculator  (milestone-bot/milestone-1-complete-the-calculator -> main)"
        in out
    )
    assert "Estimate, premium tier alone (claude-sonnet-4-6): about $" in out and "Closes #1" in out
    assert "<details><summary>safe-div: 4 attempts</summary>" in out
    assert "## Complete the calculator" in out  # the title as heading, not a run id
    assert "Branch `milestone-bot/milestone-1-complete-the-calculator`" in out  # the PR's own branch
    assert "red_proof: the new test failed on the base" in out  # the matrix's legend
    # The PR's branch was really pushed, with the checklist committed on it.
    shown = subprocess.run(
        ["git", "-C", str(tmp_path / "origin.git"), "show",
         "milestone-bot/milestone-1-complete-the-calculator:checklists/milestone-1-complete-the-calculator.md"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert shown.count("- [x]") == 4
    assert "add-sub" in (tmp_path / "step-summary.md").read_text()
    # The review round: an inline review comment, /bot fix on the PR, a follow-up commit on the
    # same branch (no force), and the reply in the thread.
    assert "@mona comments on PR #2: /bot fix" in out and "ran: 1 of 1 item(s) done and pushed to" in out
    assert "(no force: the PR's commits are kept)" in out and "tests/test_neg.py" in out
    assert "@github-actions[bot]: Done in " in out and "Validation: accepted" in out


def test_handle_event_runs_a_command_from_the_actions_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.testing.github_server import GitHubSimulator
    from tests.integration.sample import PYTHON_PROJECT, make_repo
    from tests.integration.test_events import comment_event

    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    (repo / ".github" / "milestone-bot.toml").write_text(
        '[routing]\npreset = "single-model"\n[tiers.local]\n[[tiers.local.providers]]\ntype = "scripted"\n'
        'script = "s.yaml"\nmodel = "m"\nprice = { input_per_mtok = 0, output_per_mtok = 0 }\n'
    )
    with GitHubSimulator() as sim:
        issue = sim.add_issue("Add sub")
        comment = sim.add_comment(issue, "/bot help", user="rita")
        event = tmp_path / "event.json"
        event.write_text(json.dumps(comment_event(sim, issue, comment, user="rita")))
        output = tmp_path / "github-output"
        for name, value in {"GITHUB_EVENT_NAME": "issue_comment", "GITHUB_EVENT_PATH": str(event),
                            "GITHUB_REPOSITORY": sim.full_name, "GITHUB_TOKEN": "t", "GITHUB_API_URL": sim.base_url,
                            "GITHUB_OUTPUT": str(output)}.items():  # fmt: skip
            monkeypatch.setenv(name, value)
        assert main(["handle-event", "--repo", str(repo), "--dry-run"]) == 0
        dry = capsys.readouterr().out
        assert "event: issue_comment (IssueCommentEvent), action created" in dry
        assert "command (line 1): /bot help\n  would: this list, for anyone" in dry
        assert "dry run: nothing was done" in dry
        assert sim.comments_on(issue)[-1]["user"] == "rita"  # the dry run wrote nothing
        assert main(["handle-event", "--repo", str(repo)]) == 0
        assert "issue_comment: replied: help" in capsys.readouterr().out
        assert "| `/bot help` | this list | anyone |" in sim.comments_on(issue)[-1]["body"]
        assert "conclusion=neutral" in output.read_text()
        monkeypatch.delenv("GITHUB_TOKEN")
        assert main(["handle-event", "--repo", str(repo)]) == 2
        assert "environment: GITHUB_TOKEN: not set" in capsys.readouterr().err
