"""RepoWork on a real repository: a draft PR when an item fails, a neutral check when nothing came out."""

from __future__ import annotations

import json
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest

from bot.config import parse_config
from bot.domain import Checklist, Item, ItemKind
from bot.events.handler import RunRequest
from bot.events.work import RepoWork
from tests.integration.github_fixtures import simulated
from tests.integration.sample import PYTHON_PROJECT, make_repo
from tests.integration.test_item_loop import RIGHT, TEST_ANSWER, WRONG

SUB = Item("add-sub", "Add subtraction", "calc.ops needs sub(a, b).", kind=ItemKind.FEATURE)
NEG = Item("add-neg", "Add negation", "calc.ops needs neg(a).", kind=ItemKind.FEATURE,
           allowed_files=("calc/ops.py", "tests/test_neg.py"))  # fmt: skip
NEG_TEST = (
    TEST_ANSWER.replace("test_sub.py", "test_neg.py")
    .replace("test_sub", "test_neg")
    .replace("calc.ops.sub(3, 1) == 2", "calc.ops.neg(3) == -3")
)


def setup(tmp_path: Path, rules: list[dict[str, object]]) -> tuple[Path, object]:
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    subprocess.run(["git", "-C", str(repo), "remote", "add", "origin", str(bare)], check=True)
    (tmp_path / "s.json").write_text(json.dumps({"rules": rules}))
    config = parse_config(
        f'[routing]\npreset = "single-model"\nmax_attempts = 1\n[ledger]\npath = "{tmp_path}/l.sqlite"\n'
        f'[tiers.fast]\n[[tiers.fast.providers]]\ntype = "scripted"\nscript = "{tmp_path}/s.json"\nmodel = "m"\n'
        "price = { input_per_mtok = 1, output_per_mtok = 2 }\n"
    )
    return repo, config


async def test_a_failed_item_makes_a_draft_pr_and_a_failing_check(tmp_path: Path) -> None:
    repo, config = setup(tmp_path, [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": TEST_ANSWER},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": RIGHT},
        {"match": {"item": "add-neg", "purpose": "test"}, "reply": NEG_TEST},
        {"match": {"item": "add-neg", "purpose": "change"}, "reply": WRONG},  # never makes neg
    ])  # fmt: skip
    with simulated() as (sim, gateway, _):
        issue = sim.add_issue("Calc")
        work = RepoWork(repo=repo, config=config, gateway=gateway, base_branch="main",
                        summary_path=tmp_path / "summary.md")  # type: ignore[arg-type]  # fmt: skip
        request = RunRequest(Checklist("issue#1", "Calc", (SUB, NEG)), "issue-1", issue, (issue,))
        result = await work.run(request, should_stop=lambda: False)
        assert result.conclusion == "failure" and result.pull is not None
        pull = sim.pulls[result.pull]
        assert pull["draft"] and "Not every item is done, so no issue is closed" in pull["body"]
        [check] = sim.check_runs.values()
        assert check["conclusion"] == "failure" and check["output"]["title"] == "1 of 2 items done"
        [progress] = [c for c in sim.comments_on(issue) if "milestone-bot:progress" in c["body"]]
        assert "| `add-neg` | failed |" in progress["body"] and result.spent > Decimal(0)
        assert "add-sub" in (tmp_path / "summary.md").read_text()


async def test_nothing_produced_is_neutral_with_the_reason_and_no_pr(tmp_path: Path) -> None:
    repo, config = setup(tmp_path, [{"match": {"purpose": "test"}, "reply": "I cannot do that."}])
    with simulated() as (sim, gateway, _):
        issue = sim.add_issue("Calc")
        work = RepoWork(repo=repo, config=config, gateway=gateway, base_branch="main")  # type: ignore[arg-type]
        result = await work.run(RunRequest(Checklist("issue#1", "Calc", (SUB,)), "issue-1", issue, (issue,)),
                                should_stop=lambda: False)  # fmt: skip
        assert result.conclusion == "neutral" and result.pull is None and sim.pulls == {}
        assert result.summary.startswith("No item was finished (add-sub:")
        [check] = sim.check_runs.values()
        assert check["conclusion"] == "neutral" and check["output"]["title"] == "Nothing was produced"


async def test_a_failed_push_fails_the_check_instead_of_leaving_it_running(tmp_path: Path) -> None:

    from bot.errors import WorkspaceError

    repo, config = setup(tmp_path, [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": TEST_ANSWER},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": RIGHT},
    ])  # fmt: skip
    subprocess.run(["git", "-C", str(repo), "remote", "remove", "origin"], check=True)
    with simulated() as (sim, gateway, _):
        issue = sim.add_issue("Calc")
        work = RepoWork(repo=repo, config=config, gateway=gateway, base_branch="main")  # type: ignore[arg-type]
        with pytest.raises(WorkspaceError, match="cannot push milestone-bot/issue-1 to origin"):
            await work.run(RunRequest(Checklist("issue#1", "Calc", (SUB,)), "issue-1", issue, (issue,)),
                           should_stop=lambda: False)  # fmt: skip
        [check] = sim.check_runs.values()
        assert check["conclusion"] == "failure" and check["output"]["title"] == "Publishing the result failed"
        # The work itself is kept: the item's branch has its commits.
        branches = subprocess.run(["git", "-C", str(repo), "branch", "--list", "milestone-bot/*/add-sub"],
                                  capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert "add-sub" in branches
