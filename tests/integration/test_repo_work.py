"""RepoWork on a real repository: a draft PR when an item fails, a neutral check when nothing came out;
a killed run continued by the next without paying twice, its spend recorded as its items finished."""

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
        # No PR, so no check run: a check on the base commit would be a mark on the default branch.
        assert sim.check_runs == {}
        [progress] = [c for c in sim.comments_on(issue) if "milestone-bot:progress" in c["body"]]
        assert "Nothing was produced" in progress["body"]


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
        assert sim.check_runs == {}  # no PR yet: nothing to put a check on, nothing left spinning
        [progress] = [c for c in sim.comments_on(issue) if "milestone-bot:progress" in c["body"]]
        assert "publishing failed" in progress["body"]
        # The work itself is kept: the item's branch has its commits.
        branches = subprocess.run(["git", "-C", str(repo), "branch", "--list", "milestone-bot/*/add-sub"],
                                  capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert "add-sub" in branches


NEG_RIGHT = """calc/ops.py
<<<<<<< SEARCH
def add(a, b):
    return a + b
=======
def add(a, b):
    return a + b


def neg(a):
    return -a
>>>>>>> REPLACE
"""
# Its test-first check never ends: the run is killed while it runs.
NEG_HANGS = NEG_TEST.replace("import calc.ops", "import time\n\nimport calc.ops\n\ntime.sleep(600)")

KILLED_RUN = """
import asyncio, sys
from pathlib import Path
from bot.config import load_config
from bot.domain import Checklist, Item, ItemKind
from bot.events.handler import RunRequest
from bot.events.work import RepoWork
from bot.github.pygithub_gateway import PyGithubGateway

repo, config_path, url, issue = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], int(sys.argv[4])
gateway = PyGithubGateway("octo-org/octo-repo", token="t0ken", base_url=url, seconds_between_writes=None,
                          seconds_between_requests=None)
sub = Item("add-sub", "Add subtraction", "calc.ops needs sub(a, b).", kind=ItemKind.FEATURE)
neg = Item("add-neg", "Add negation", "calc.ops needs neg(a).", kind=ItemKind.FEATURE,
           allowed_files=("calc/ops.py", "tests/test_neg.py"), depends_on=("add-sub",))
work = RepoWork(repo=repo, config=load_config(config_path), gateway=gateway, base_branch="main", run_id="first")
asyncio.run(work.run(RunRequest(Checklist("issue#1", "Calc", (sub, neg)), "issue-1", issue, (issue,)),
                     should_stop=lambda: False))
"""


async def test_a_killed_run_is_continued_by_the_next_without_paying_twice(tmp_path: Path) -> None:
    """A run is SIGKILLed while its second item validates. A new run, in a fresh clone, finishes the
    stale check run as a failure, carries the first item from the ref it was pushed to (no model
    call for it), does the second, and opens the PR with both."""
    import os
    import signal
    import sys
    import time

    from bot.budget.ledger import Ledger, Scope
    from bot.execution import spend_state
    from bot.github.bodies import checklist_text
    from bot.planning.checklist_file import parse
    from bot.testing.github_server import BOT_LOGIN

    repo, config = setup(tmp_path, [
        {"match": {"item": "add-sub", "purpose": "test"}, "reply": TEST_ANSWER},
        {"match": {"item": "add-sub", "purpose": "change"}, "reply": RIGHT},
        {"match": {"item": "add-neg", "purpose": "test"}, "reply": NEG_HANGS},
    ])  # fmt: skip
    bare = tmp_path / "origin.git"
    subprocess.run(
        ["git", "-C", str(repo), "push", "-q", "origin", "main", "main:milestone-bot/issue-1"], check=True
    )
    toml = tmp_path / "bot.toml"
    toml.write_text(
        f'[routing]\npreset = "single-model"\nmax_attempts = 1\n[ledger]\npath = "{tmp_path}/l.sqlite"\n'
        f'[tiers.fast]\n[[tiers.fast.providers]]\ntype = "scripted"\nscript = "{tmp_path}/s.json"\nmodel = "m"\n'
        "price = { input_per_mtok = 1, output_per_mtok = 2 }\n"
    )
    pr_head = subprocess.run(["git", "-C", str(bare), "rev-parse", "milestone-bot/issue-1"],
                             capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    with simulated() as (sim, gateway, _):
        issue = sim.add_issue("Calc")
        child = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(repo), str(toml), sim.base_url, str(issue)],
                                 start_new_session=True)  # fmt: skip
        try:
            deadline = time.monotonic() + 240
            while time.monotonic() < deadline:  # until add-sub is done and saved
                done = subprocess.run(["git", "-C", str(bare), "rev-parse", "--verify", "--quiet",
                                       "milestone-bot-items/issue-1/add-sub"], capture_output=True)  # fmt: skip
                comments = [
                    c["body"] for c in sim.comments_on(issue) if "milestone-bot:checklist" in c["body"]
                ]
                if done.returncode == 0 and comments and "- [x]" in comments[-1]:
                    break
                assert child.poll() is None, "the first run ended on its own"
                time.sleep(0.5)
            else:
                raise AssertionError("add-sub was never saved")
        finally:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
        [stale] = sim.check_runs.values()
        assert stale["head_sha"] == pr_head and stale["status"] == "in_progress"  # left spinning

        # The next `/bot run`: a fresh clone, the checklist as the comment has it, a working model.
        (tmp_path / "s.json").write_text(json.dumps({"rules": [
            {"match": {"item": "add-neg", "purpose": "test"}, "reply": NEG_TEST},
            {"match": {"item": "add-neg", "purpose": "change"}, "reply": NEG_RIGHT},
        ]}))  # fmt: skip
        fresh = tmp_path / "fresh"
        subprocess.run(["git", "clone", "-q", str(bare), str(fresh)], check=True)
        [saved] = [c["body"] for c in sim.comments_on(issue)
                   if "milestone-bot:checklist" in c["body"] and c["user"] == BOT_LOGIN]  # fmt: skip
        checklist = parse(checklist_text(saved))
        assert [i.status.value for i in checklist.items] == ["done", "pending"]
        work = RepoWork(repo=fresh, config=config, gateway=gateway, base_branch="main", run_id="second")  # type: ignore[arg-type]
        result = await work.run(RunRequest(checklist, "issue-1", issue, (issue,)), should_stop=lambda: False)
        assert result.conclusion == "success" and result.pull is not None
        assert "CI did not run" not in sim.pulls[result.pull]["body"]  # a token that starts CI
        ledger = Ledger(tmp_path / "l.sqlite")
        try:
            again = ledger.calls(Scope(run_id="second-issue-1"))
        finally:
            ledger.close()
        assert again and {c.item_id for c in again} == {"add-neg"}  # add-sub was not paid for twice
        # The killed run recorded add-sub's spend on the state branch as the item finished; the next
        # run's calls follow. The ledger both runs share did not take the first run's lines twice.
        ledger = Ledger(tmp_path / "l.sqlite")
        try:
            first = ledger.calls(Scope(run_id="first-issue-1"))
            assert ledger.calls(Scope(run_id="carried:first-issue-1")) == []
        finally:
            ledger.close()
        lines = spend_state.read(fresh)
        killed = {(x.at, x.usd) for x in lines if x.job == "first-issue-1"}
        assert {(c.ts, c.cost) for c in first if c.item_id == "add-sub"} <= killed <= {(c.ts, c.cost) for c in first}
        assert sorted(x.usd for x in lines if x.job == "second-issue-1") == sorted(c.cost for c in again)
        checks = {c["id"]: c for c in sim.check_runs.values()}
        assert checks[stale["id"]]["conclusion"] == "failure"
        assert "killed or crashed" in checks[stale["id"]]["output"]["summary"]
        head = subprocess.run(["git", "-C", str(bare), "rev-parse", "milestone-bot/issue-1"],
                              capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
        [final] = [c for c in checks.values() if c["head_sha"] == head]
        assert final["conclusion"] == "success"  # on the PR's head commit
        shown = subprocess.run(["git", "-C", str(bare), "show", f"{head}:calc/ops.py"],
                               capture_output=True, text=True, check=True).stdout  # fmt: skip
        assert "def sub" in shown and "def neg" in shown
