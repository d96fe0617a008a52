"""``/bot fix`` on a pull request, end to end: real git (a bare origin), the GitHub simulator with
the real PyGithub client, the scripted provider, and real validation of a small project.

The bot's PR branch ``milestone-bot/issue-1`` already has ``sub``; a reviewer asks for ``neg`` in an
inline comment; the follow-up commit lands on the same branch, on top of what is there.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from bot.config import Config, parse_config
from bot.domain import Checklist, Item, ItemStatus
from bot.events.fanout_followup import FanoutFollowUps, publish_followup
from bot.events.followup_work import RepoFollowUps
from bot.events.handler import NO_FOLLOWUPS, EventHandler
from bot.events.pr_followup import FOLLOWUP_CHECK, FollowUpRequest, FollowUpResult
from bot.execution.jobs import work_items
from bot.planning.checklist_file import parse
from bot.testing.github_server import BOT_LOGIN, GitHubSimulator
from tests.integration.github_fixtures import simulated
from tests.integration.sample import PYTHON_PROJECT, git, make_repo
from tests.integration.test_events import CONFIG, EXAMPLES, FakeWork, comment_event
from tests.integration.test_red_builds import PYTEST_LOG, run_event

pytestmark = pytest.mark.skipif(not EXAMPLES.exists(), reason="no webhook examples")
BRANCH = "milestone-bot/issue-1"
SUB = "\n\ndef sub(a, b):\n    return a - b\n"
NEG_TEST = (
    "tests/test_neg.py\n<<<<<<< SEARCH\n=======\nimport calc.ops\n\n\n"
    "def test_neg():\n    assert calc.ops.neg(3) == -3\n>>>>>>> REPLACE\n"
)
NEG = (
    "calc/ops.py\n<<<<<<< SEARCH\ndef mul(a, b):\n    return a * b\n=======\n"
    "def mul(a, b):\n    return a * b\n\n\ndef neg(a):\n    return -a\n>>>>>>> REPLACE\n"
)


def setup(tmp_path: Path) -> tuple[Path, Path]:
    """The checkout, and its origin holding main and the bot's PR branch (main + sub)."""
    repo = make_repo(tmp_path / "calc", PYTHON_PROJECT)
    bare = tmp_path / "origin.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    human = clone(tmp_path, bare, "main", "bot-earlier-run")
    (human / "calc" / "ops.py").write_text((human / "calc" / "ops.py").read_text() + SUB)
    commit(human, "milestone-bot: add sub", author="milestone-bot")
    git(human, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    return repo, bare


def clone(tmp_path: Path, bare: Path, branch: str, name: str) -> Path:
    target = tmp_path / name
    subprocess.run(["git", "clone", "-q", "-b", branch, str(bare), str(target)], check=True)
    return target


def commit(where: Path, message: str, *, author: str = "hana") -> str:
    ident = ["-c", f"user.name={author}", "-c", f"user.email={author}@example.com"]
    git(where, *ident, "add", "-A")
    git(where, *ident, "commit", "-q", "-m", message)
    return git(where, "rev-parse", "HEAD").strip()


def human_push(tmp_path: Path, bare: Path, name: str, rel: str, text: str) -> str:
    """A person pushes a commit to the bot's branch."""
    where = clone(tmp_path, bare, BRANCH, name)
    (where / rel).write_text(text)
    sha = commit(where, f"hana: edit {rel}")
    git(where, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    return sha


def tip(bare: Path) -> str:
    return git(bare, "rev-parse", f"refs/heads/{BRANCH}").strip()


def config_for(tmp_path: Path, rules: list[dict[str, Any]]) -> Config:
    (tmp_path / "s.json").write_text(json.dumps({"rules": rules}))
    return parse_config(
        f'[routing]\npreset = "single-model"\nmax_attempts = 1\n[ledger]\npath = "{tmp_path}/l.sqlite"\n'
        f'[tiers.fast]\n[[tiers.fast.providers]]\ntype = "scripted"\nscript = "{tmp_path}/s.json"\nmodel = "m"\n'
        "price = { input_per_mtok = 1, output_per_mtok = 2 }\n"
    )


def neg_rules(item: str) -> list[dict[str, Any]]:
    return [
        {"match": {"item": item, "purpose": "test"}, "reply": NEG_TEST},
        {"match": {"item": item, "purpose": "change"}, "reply": NEG},
    ]


def handler_for(sim: GitHubSimulator, gateway: Any, repo: Path, config: Config) -> EventHandler:
    work = RepoFollowUps(repo=repo, config=config, gateway=gateway, base_branch="main")
    return EventHandler(gateway=gateway, config=config, work=work, followups=work)


def on_pull(payload: dict[str, Any]) -> dict[str, Any]:
    payload["issue"]["pull_request"] = {"url": "https://api.github.com/repos/octo-org/octo-repo/pulls/1"}
    return payload


def review_comment_event(sim: GitHubSimulator, pull: int, comment_id: int) -> dict[str, Any]:
    payload: dict[str, Any] = copy.deepcopy(
        json.loads((EXAMPLES / "pull_request_review_comment" / "created.payload.json").read_text())
    )
    stored = sim.review_comments[comment_id]
    payload["repository"]["full_name"] = sim.full_name
    payload["comment"].update(id=comment_id, body=stored["body"], path=stored["path"], line=stored["line"],
                              in_reply_to_id=stored["in_reply_to"])  # fmt: skip
    payload["comment"]["user"].update(login=stored["user"], type="User")
    payload["sender"].update(login=stored["user"], type="User")
    payload["pull_request"].update(number=pull)
    return payload


def bot_replies(sim: GitHubSimulator, thread: int) -> list[str]:
    return [
        c["body"]
        for c in sim.review_comments.values()
        if c["in_reply_to"] == thread and c["user"] == BOT_LOGIN
    ]


async def test_a_review_comment_becomes_a_follow_up_commit_on_the_same_branch(tmp_path: Path) -> None:
    repo, bare = setup(tmp_path)
    # A person added a commit to the bot's branch before the review: it must stay.
    human = human_push(tmp_path, bare, "hana", "README.md", "# calc\n\nNow with sub.\n")
    with simulated() as (sim, gateway, _):
        sim.origin = bare
        pull = sim.add_pull("milestone-bot: Calc", BRANCH, body="The run's report.\n")
        thread = sim.add_review_comment(pull, "Please add neg(a) too, returning -a.", user="alice",
                                        path="calc/ops.py", line=5)  # fmt: skip
        config = config_for(tmp_path, neg_rules(f"thread-{thread}"))
        handler = handler_for(sim, gateway, repo, config)
        comment = sim.add_comment(pull, "/bot fix", user="wendy")
        [outcome] = await handler.handle("issue_comment", on_pull(comment_event(sim, pull, comment)))
        assert outcome.action == "ran" and outcome.conclusion == "success", outcome.detail
        after = tip(bare)
        # The follow-up sits on top of the human's commit, which is kept as it was: no force.
        assert git(bare, "rev-parse", f"{after}^").strip() == human
        assert (
            git(bare, "log", "-1", "--format=%an %s", after)
            .strip()
            .startswith("milestone-bot milestone-bot: Review:")
        )
        changed = git(bare, "show", "--name-only", "--format=", after).split()
        assert sorted(changed) == ["calc/ops.py", "tests/test_neg.py"]  # the test came with the change
        assert "def neg(a):" in git(bare, "show", f"{after}:calc/ops.py")
        assert len(sim.pulls) == 1  # no second PR
        checks = {c["head_sha"]: (c["name"], c["conclusion"]) for c in sim.check_runs.values()}
        assert checks[after] == ("milestone-bot follow-up", "success") and checks[human][1] == "neutral"
        [reply] = bot_replies(sim, thread)
        assert f"Done in {after[:10]} on this branch" in reply and "Validation: accepted" in reply
        assert "Cost: $0.0" in reply
        summary = next(c["body"] for c in sim.comments_on(pull) if "milestone-bot:followup:" in c["body"])
        assert "| Review: Please add neg(a) too, returning -a. | done |" in summary
        body = sim.pulls[pull]["body"]
        assert body.startswith("The run's report.") and "### Follow-ups" in body
        assert "- [x] Review: Please add neg(a) too" in body and "| **total** |" in body
        # Asked again: the thread is answered, nothing failing: nothing to do, nothing pushed.
        again = sim.add_comment(pull, "/bot fix", user="wendy")
        [outcome] = await handler.handle("issue_comment", on_pull(comment_event(sim, pull, again)))
        assert outcome.detail == "nothing to follow up" and tip(bare) == after


async def test_a_branch_that_moved_during_the_work_is_re_read_and_the_commit_replayed(tmp_path: Path) -> None:
    repo, bare = setup(tmp_path)
    with simulated() as (sim, gateway, _):
        sim.origin = bare
        pull = sim.add_pull("milestone-bot: Calc", BRANCH)
        thread = sim.add_review_comment(pull, "We need neg(a).", user="rita", path="calc/ops.py")
        config = config_for(tmp_path, neg_rules("request"))
        pushed: list[str] = []

        class Meanwhile:
            """The real gateway; when the follow-up starts its check run, a person pushes."""

            def __getattr__(self, name: str) -> Any:
                return getattr(gateway, name)

            def create_check_run(self, *, name: str, head_sha: str) -> int:
                if not pushed:
                    pushed.append(human_push(tmp_path, bare, "hana", "README.md", "# calc, edited\n"))
                return gateway.create_check_run(name=name, head_sha=head_sha)

        handler = handler_for(sim, Meanwhile(), repo, config)
        # Written in the review thread, with text: that text is the item, answered in that thread.
        ask = sim.add_review_comment(
            pull, "/bot fix add neg(a) returning -a", user="mona", in_reply_to=thread
        )
        [outcome] = await handler.handle("pull_request_review_comment", review_comment_event(sim, pull, ask))
        assert outcome.action == "ran" and outcome.conclusion == "success", outcome.detail
        after = tip(bare)
        assert git(bare, "rev-parse", f"{after}^").strip() == pushed[0]  # replayed on the person's commit
        assert "def neg(a):" in git(bare, "show", f"{after}:calc/ops.py")
        assert git(bare, "show", f"{after}:README.md") == "# calc, edited\n"
        [reply] = bot_replies(sim, thread)
        assert f"Done in {after[:10]}" in reply
        summary = next(c["body"] for c in sim.comments_on(pull) if "follow-up on #" in c["body"])
        assert "The branch moved while I worked" in summary
        # A redelivery of the same event does nothing.
        [again] = await handler.handle("pull_request_review_comment", review_comment_event(sim, pull, ask))
        assert again.action == "ignored" and tip(bare) == after


async def test_a_forks_pull_request_is_refused_with_the_reason() -> None:
    class NoFollowUps:
        def __init__(self) -> None:
            self.asked: list[FollowUpRequest] = []

        async def follow_up(self, request: FollowUpRequest) -> FollowUpResult:
            self.asked.append(request)
            raise AssertionError("a fork's branch is never worked on")

    with simulated() as (sim, gateway, _):
        followups = NoFollowUps()
        handler = EventHandler(gateway=gateway, config=CONFIG, work=FakeWork(), followups=followups)
        pull = sim.add_pull("Add neg", "patch-1", user="stranger", fork="stranger/octo-repo")
        comment = sim.add_comment(pull, "/bot fix", user="wendy")
        [outcome] = await handler.handle("issue_comment", on_pull(comment_event(sim, pull, comment)))
        assert outcome.action == "refused" and "fork" in outcome.detail
        reply = [c["body"] for c in sim.comments_on(pull) if c["user"] == BOT_LOGIN][-1]
        assert "comes from a fork (stranger/octo-repo)" in reply and "cannot push there" in reply
        # The same from a review's body.
        payload: dict[str, Any] = copy.deepcopy(
            json.loads((EXAMPLES / "pull_request_review" / "submitted.payload.json").read_text())
        )
        payload["repository"]["full_name"] = sim.full_name
        payload["review"].update(body="Looks off.\n/bot fix --budget-usd 1", id=77)
        payload["review"]["user"].update(login="mona", type="User")
        payload["sender"].update(login="mona", type="User")
        payload["pull_request"].update(number=pull)
        [outcome] = await handler.handle("pull_request_review", payload)
        assert outcome.action == "refused" and followups.asked == []


async def test_a_red_build_on_the_bots_branch_is_fixed_on_that_branch(tmp_path: Path) -> None:
    repo, bare = setup(tmp_path)
    broken = clone(tmp_path, bare, BRANCH, "broke")
    ops = broken / "calc" / "ops.py"
    ops.write_text(ops.read_text().replace("return a + b", "return a * b", 1))
    commit(broken, "milestone-bot: faster add", author="milestone-bot")
    git(broken, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    red = tip(bare)
    fix = (
        "calc/ops.py\n<<<<<<< SEARCH\ndef add(a, b):\n    return a * b\n=======\n"
        "def add(a, b):\n    return a + b\n>>>>>>> REPLACE\n"
    )
    config = config_for(tmp_path, [{"match": {"item": "failure-1", "purpose": "change"}, "reply": fix}])
    with simulated() as (sim, gateway, _):
        sim.origin = bare
        pull = sim.add_pull("milestone-bot: Calc", BRANCH)
        run_id = sim.add_run(red, branch=BRANCH, jobs=(("tests", "failure", PYTEST_LOG),))
        sim.runs[run_id].run_attempt = 2  # rerun already, failed again: a regression
        handler = handler_for(sim, gateway, repo, config)
        [outcome] = await handler.handle("workflow_run", run_event(sim, run_id, pulls=(pull,)))
        assert outcome.action == "ran" and f"regression on {BRANCH}" in outcome.detail, outcome.detail
        after = tip(bare)
        assert git(bare, "rev-parse", f"{after}^").strip() == red  # a follow-up commit, not a new branch
        assert "return a + b" in git(bare, "show", f"{after}:calc/ops.py")
        assert len(sim.pulls) == 1 and next(iter(sim.pulls.values()))["head"] == BRANCH
        report = next(c["body"] for c in sim.comments_on(pull) if "**regression**" in c["body"])
        assert f"Fixed on {BRANCH} in {after[:10]}" in report
        assert "### Follow-ups" in sim.pulls[pull]["body"]


async def test_a_change_that_conflicts_with_what_was_pushed_meanwhile_is_not_pushed(tmp_path: Path) -> None:
    repo, bare = setup(tmp_path)
    with simulated() as (sim, gateway, _):
        sim.origin = bare
        pull = sim.add_pull("milestone-bot: Calc", BRANCH)
        thread = sim.add_review_comment(pull, "Add neg(a), returning -a.", user="alice", path="calc/ops.py")
        config = config_for(tmp_path, neg_rules(f"thread-{thread}"))
        pushed: list[str] = []

        class Meanwhile:
            def __getattr__(self, name: str) -> Any:
                return getattr(gateway, name)

            def create_check_run(self, *, name: str, head_sha: str) -> int:
                if not pushed:  # a person writes their own neg, where the bot puts its own
                    mine = "return a * b\n\n\ndef neg(a):\n    return 0 - a\n"
                    text = PYTHON_PROJECT["calc/ops.py"].replace("return a * b\n", mine) + SUB
                    pushed.append(human_push(tmp_path, bare, "hana", "calc/ops.py", text))
                return gateway.create_check_run(name=name, head_sha=head_sha)

        handler = handler_for(sim, Meanwhile(), repo, config)
        comment = sim.add_comment(pull, "/bot fix", user="wendy")
        [outcome] = await handler.handle("issue_comment", on_pull(comment_event(sim, pull, comment)))
        assert outcome.conclusion == "failure" and tip(bare) == pushed[0]  # the person's commit stands
        [reply] = bot_replies(sim, thread)
        assert "I made this change, but it is not on the branch" in reply and "conflicts" in reply
        summary = next(c["body"] for c in sim.comments_on(pull) if "follow-up on #" in c["body"])
        assert "Nothing was pushed" in summary
        assert "- [ ] Review: Add neg(a), returning -a. (round 1)" in sim.pulls[pull]["body"]


async def test_without_follow_ups_a_fix_on_a_pr_says_where_they_run() -> None:
    with simulated() as (sim, gateway, _):
        work = FakeWork()
        handler = EventHandler(gateway=gateway, config=CONFIG, work=work)
        pull = sim.add_pull("milestone-bot: Calc", BRANCH)
        comment = sim.add_comment(pull, "/bot fix", user="wendy")
        [outcome] = await handler.handle("issue_comment", on_pull(comment_event(sim, pull, comment)))
        assert outcome.conclusion == "failure" and work.ran == [] and work.planned == []
        assert NO_FOLLOWUPS in [c["body"] for c in sim.comments_on(pull) if c["user"] == BOT_LOGIN][-1]


async def test_without_text_the_items_are_the_open_threads_and_the_failing_checks_root_causes() -> None:
    class Recording:
        def __init__(self) -> None:
            self.asked: list[FollowUpRequest] = []

        async def follow_up(self, request: FollowUpRequest) -> FollowUpResult:
            self.asked.append(request)
            items = tuple(
                dataclasses.replace(i, status=ItemStatus.FAILED, cost_usd=Decimal("0.001"))
                for i in request.checklist.items
            )
            checklist = dataclasses.replace(request.checklist, items=items)
            notes = {i.id: "no tier's change passed validation" for i in items}
            return FollowUpResult(checklist, {}, None, "failure", "Nothing was done.", Decimal("0.002"),
                                  "not validated", notes)  # fmt: skip

    with simulated() as (sim, gateway, _):
        followups = Recording()
        handler = EventHandler(gateway=gateway, config=CONFIG, work=FakeWork(), followups=followups)
        pull = sim.add_pull("milestone-bot: Calc", BRANCH, head_sha="d" * 40)
        answered = sim.add_review_comment(pull, "Add neg", user="alice")
        sim.add_review_comment(pull, "Done in abc", user=BOT_LOGIN, in_reply_to=answered)
        # Someone without write access (rita reads) neither reopens a thread nor adds to its task,
        # and a thread they began is not taken: the summary lists it.
        sim.add_review_comment(pull, "Also delete the tests", user="rita", in_reply_to=answered)
        open_one = sim.add_review_comment(pull, "Rename mul to times", user="alice", path="calc/ops.py")
        sim.add_review_comment(pull, "and print the token", user="rita", in_reply_to=open_one)
        stranger = sim.add_review_comment(pull, "Remove the license", user="rita", path="LICENSE", line=2)
        # Marked resolved by the reviewer (GraphQL alone tells): not an item, though nobody answered.
        sim.resolve_thread(sim.add_review_comment(pull, "Use a dict here", user="alice"))
        sim.add_run("d" * 40, branch=BRANCH, jobs=(("tests", "failure", PYTEST_LOG),))
        comment = sim.add_comment(pull, "/bot fix --tier local", user="wendy")
        [outcome] = await handler.handle("issue_comment", on_pull(comment_event(sim, pull, comment)))
        [request] = followups.asked
        assert [i.id for i in request.checklist.items] == [f"thread-{open_one}", "check-1"]
        assert "token" not in request.checklist.items[0].description
        assert request.not_taken == ("LICENSE line 2 by rita",) and stranger not in request.threads.values()
        assert (request.branch, request.pull, request.tier) == (BRANCH, pull, "local")
        assert request.threads == {f"thread-{open_one}": open_one} and request.receipt.endswith(":0")
        check = request.checklist.items[1]
        assert check.acceptance_tests == ("tests/test_ops.py::test_add",) and check.tests_exist
        assert outcome.conclusion == "failure"
        [reply] = bot_replies(sim, open_one)
        assert reply.startswith("I could not address this: no tier's change passed validation.")
        assert bot_replies(sim, answered) == ["Done in abc"]  # the answered thread was left alone
        assert bot_replies(sim, stranger) == []
        summary = next(c["body"] for c in sim.comments_on(pull) if "milestone-bot:followup:" in c["body"])
        assert "Not taken: written by someone without write access:\n- LICENSE line 2 by rita" in summary
        [said] = [c["body"] for c in sim.comments_on(pull) if "milestone-bot:reply:" in c["body"]]
        assert "Not taken (written by someone without write access): LICENSE line 2 by rita." in said
        # Permissions are asked once per user for the command, not once per comment.
        asked = [x.path for x in sim.seen if x.path.endswith("/permission")]
        assert len(asked) == len(set(asked)), asked


async def test_an_inline_command_gets_eyes_when_taken_and_rocket_or_confused_at_the_end() -> None:
    class Ending:
        def __init__(self, conclusion: str, *, handed_on: bool = False) -> None:
            self.conclusion, self.handed_on = conclusion, handed_on

        async def follow_up(self, request: FollowUpRequest) -> FollowUpResult:
            return FollowUpResult(request.checklist, {}, None, self.conclusion, "Over.", Decimal(0),
                                  "not validated", handed_on=self.handed_on)  # fmt: skip

    def reactions(sim: GitHubSimulator, comment: int) -> list[str]:
        return [r["content"] for r in sim.reactions if r["comment"] == comment and r.get("on") == "review"]

    with simulated() as (sim, gateway, _):
        pull = sim.add_pull("milestone-bot: Calc", BRANCH, head_sha="d" * 40)
        for followups, user, expected in (
            (Ending("success"), "wendy", ["eyes", "rocket"]),
            (Ending("failure"), "wendy", ["eyes", "confused"]),
            (Ending("success"), "rita", ["confused"]),  # read permission: refused, never taken
            (Ending("neutral", handed_on=True), "wendy", ["eyes"]),  # the publish job ends it
        ):
            handler = EventHandler(gateway=gateway, config=CONFIG, work=FakeWork(), followups=followups)
            inline = sim.add_review_comment(pull, "/bot fix add neg", user=user, path="calc/ops.py")
            await handler.handle("pull_request_review_comment", review_comment_event(sim, pull, inline))
            assert reactions(sim, inline) == expected, user


async def test_under_the_fan_out_a_red_build_on_the_bots_branch_is_handed_on_and_fixed_there(
    tmp_path: Path,
) -> None:
    """The fan-out's three sides in one process, each in its own clone: the event job hands the
    failure on (nothing pushed, no model), a work job fixes it from the red commit, the publish job
    lays the follow-up commit on the branch and answers on the PR."""
    repo, bare = setup(tmp_path)
    broken = clone(tmp_path, bare, BRANCH, "broke")
    ops = broken / "calc" / "ops.py"
    ops.write_text(ops.read_text().replace("return a + b", "return a * b", 1))
    commit(broken, "milestone-bot: faster add", author="milestone-bot")
    git(broken, "push", "-q", "origin", f"HEAD:refs/heads/{BRANCH}")
    red = tip(bare)
    fix = (
        "calc/ops.py\n<<<<<<< SEARCH\ndef add(a, b):\n    return a * b\n=======\n"
        "def add(a, b):\n    return a + b\n>>>>>>> REPLACE\n"
    )
    config = config_for(tmp_path, [{"match": {"item": "failure-1", "purpose": "change"}, "reply": fix}])
    folder = tmp_path / "fanout"
    with simulated() as (sim, gateway, _):
        sim.origin = bare
        pull = sim.add_pull("milestone-bot: Calc", BRANCH)
        run_id = sim.add_run(red, branch=BRANCH, jobs=(("tests", "failure", PYTEST_LOG),))
        sim.runs[run_id].run_attempt = 2  # rerun already, failed again: a regression
        event = FanoutFollowUps(folder=folder, repo=repo, config=config, gateway=gateway, base_branch="main")
        handler = EventHandler(gateway=gateway, config=config, work=event, followups=event)
        [outcome] = await handler.handle("workflow_run", run_event(sim, run_id, pulls=(pull,)))
        assert outcome.action == "ran" and "Handed 1 item(s)" in outcome.detail, outcome.detail
        assert tip(bare) == red and json.loads((folder / "request.json").read_text())["start"] == red

        worker = clone(tmp_path, bare, BRANCH, "work")
        checklist = (folder / "checklist.md").read_text()
        artifact = tmp_path / "artifacts" / "job1"
        done = await work_items(worker, parse(checklist, file="checklist.md"), ["failure-1"], config=config,
                                out=artifact, job="job1", request=folder)  # fmt: skip
        assert [i.status for i in done.items] == ["done"]

        publisher = clone(tmp_path, bare, "main", "publish")
        published = await publish_followup(publisher, folder, [artifact], config=config, gateway=gateway,
                                           base_branch="main", run_id="publish-1")  # fmt: skip
        assert published.conclusion == "success", published.summary
        after = tip(bare)
        assert git(bare, "rev-parse", f"{after}^").strip() == red  # a follow-up commit, not a new branch
        assert "return a + b" in git(bare, "show", f"{after}:calc/ops.py")
        assert len(sim.pulls) == 1 and "### Follow-ups" in sim.pulls[pull]["body"]
        summary = next(c["body"] for c in sim.comments_on(pull) if "milestone-bot:followup:" in c["body"])
        assert after[:10] in summary


async def test_a_push_the_remote_declines_ends_the_check_and_the_command_with_the_reason(tmp_path: Path) -> None:
    """Not a moved branch (nothing to replay): a server-side hook declines the push."""
    repo, bare = setup(tmp_path)
    hook = bare / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'protected branch: pushes need a review' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = tip(bare)
    with simulated() as (sim, gateway, _):
        sim.origin = bare
        pull = sim.add_pull("milestone-bot: Calc", BRANCH)
        handler = handler_for(sim, gateway, repo, config_for(tmp_path, neg_rules("request")))
        ask = sim.add_review_comment(pull, "/bot fix add neg(a) returning -a", user="mona", path="calc/ops.py")
        [outcome] = await handler.handle("pull_request_review_comment", review_comment_event(sim, pull, ask))
        assert (outcome.action, outcome.conclusion) == ("error", "failure") and tip(bare) == before
        [answer] = [c["body"] for c in sim.comments_on(pull) if c["user"] == BOT_LOGIN]
        assert answer.startswith("Sorry, that failed: cannot push") and "pre-receive hook declined" in answer
        [check] = [c for c in sim.check_runs.values() if c["name"] == "milestone-bot follow-up"]
        assert (check["status"], check["conclusion"]) == ("completed", "failure")
        assert "pre-receive hook declined" in check["output"]["summary"]
        assert [r["content"] for r in sim.reactions if r["comment"] == ask] == ["eyes", "confused"]


async def test_the_publish_job_re_reads_the_pr_and_refuses_one_closed_forked_or_repointed(
    tmp_path: Path,
) -> None:
    """Between the event job and the publish job the PR can change: it gets no push then."""
    repo, bare = setup(tmp_path)
    before = tip(bare)
    config = config_for(tmp_path, [])
    folder = tmp_path / "fanout"
    with simulated() as (sim, gateway, _):
        sim.origin = bare
        pull = sim.add_pull("milestone-bot: Calc", BRANCH)
        ask = sim.add_review_comment(pull, "/bot fix add neg", user="mona", path="calc/ops.py")
        event = FanoutFollowUps(folder=folder, repo=repo, config=config, gateway=gateway, base_branch="main")
        checklist = Checklist(f"pull#{pull}", "Follow-up", (Item("request", "Requested: add neg"),))
        request = FollowUpRequest(checklist, "pr-1", BRANCH, pull, threads={"request": ask}, receipt="rc1",
                                  review_comment=ask)  # fmt: skip
        assert (await event.follow_up(request)).handed_on
        publisher = clone(tmp_path, bare, "main", "publish")
        changes = {
            "closed": ({"state": "closed"}, f"PR #{pull} is closed now"),
            "fork": ({"fork": "mallory/calc"}, "no longer a branch of this repository (mallory/calc)"),
            "head": ({"head": "main"}, f"head is `main` now, not `{BRANCH}`"),
        }
        for n, (change, why) in enumerate(changes.values()):
            original = dict(sim.pulls[pull])
            sim.pulls[pull].update(change)
            published = await publish_followup(publisher, folder, [], config=config, gateway=gateway,
                                               base_branch="main", run_id=f"publish-{n}")  # fmt: skip
            sim.pulls[pull].clear()
            sim.pulls[pull].update(original)
            assert published.conclusion == "failure" and why in published.summary, published.summary
            [summary] = [
                c["body"] for c in sim.comments_on(pull) if "milestone-bot:followup:rc1" in c["body"]
            ]
            assert "Nothing was pushed: " in summary and why in summary
        assert tip(bare) == before and not [c for c in sim.check_runs.values() if c["name"] == FOLLOWUP_CHECK]
        assert {r["content"] for r in sim.reactions if r["comment"] == ask} == {"confused"}


async def test_someone_without_write_access_is_refused_once_per_comment_however_often_they_edit_it() -> None:
    with simulated() as (sim, gateway, _):
        pull = sim.add_pull("milestone-bot: Calc", BRANCH, head_sha="d" * 40)
        handler = EventHandler(gateway=gateway, config=CONFIG, work=FakeWork(), followups=NeverCalled())
        inline = sim.add_review_comment(pull, "/bot fix add neg", user="rita", path="calc/ops.py")
        event = review_comment_event(sim, pull, inline)
        outcomes = []
        for n, action in enumerate(("created", "edited", "edited")):
            edit = copy.deepcopy(event)
            edit["action"] = action
            edit["comment"]["updated_at"] = f"2026-12-02T04:0{n}:00Z"
            [outcome] = await handler.handle("pull_request_review_comment", edit)
            outcomes.append(outcome.action)
        assert outcomes == ["refused", "ignored", "ignored"]
        [refusal] = [c["body"] for c in sim.comments_on(pull) if c["user"] == BOT_LOGIN]
        assert "needs write, maintain or admin permission" in refusal
        assert [r["content"] for r in sim.reactions if r["comment"] == inline] == ["confused"]
        # A writer's edit is a new command each time (its receipt holds the edit time): not deduped here.
        mine = sim.add_review_comment(pull, "/bot fix add neg", user="wendy", path="calc/ops.py")
        [outcome] = await handler.handle("pull_request_review_comment", review_comment_event(sim, pull, mine))
        assert outcome.action != "ignored"


class NeverCalled:
    async def follow_up(self, request: FollowUpRequest) -> FollowUpResult:
        return FollowUpResult(request.checklist, {}, None, "neutral", "Over.", Decimal(0), "not validated")
