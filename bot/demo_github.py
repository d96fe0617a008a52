"""``milestone-bot demo --github``: the bot on GitHub, offline, against the GitHub REST simulator.

The same sample project and model script as ``demo``, now driven the way users drive the bot: a
maintainer comments ``/bot plan`` on an issue of the milestone, then ``/bot run --parallel 4``.
The real PyGithub client talks to the simulator on 127.0.0.1; the item branches are integrated and
pushed to a local bare ``origin``. It shows the reactions, the live progress comment, the PR with
the cost table, and the check run, then prints the PR body. Then the review round: a reviewer asks
for a change in an inline comment, the maintainer writes ``/bot fix`` on the PR, and the change
lands as a follow-up commit on the same branch, answered in the thread.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.demo import _sample, write_config
from bot.demo_project import CHECKLIST, SCRIPT
from bot.events.followup_work import RepoFollowUps
from bot.events.handler import EventHandler
from bot.github.pygithub_gateway import PyGithubGateway
from bot.models.script import Script
from bot.planning.checklist_file import parse
from bot.testing.anthropic_server import FakeAnthropicServer
from bot.testing.github_server import BOT_LOGIN, GitHubSimulator
from bot.testing.groq_server import FakeGroqServer
from bot.testing.openai_server import FakeOpenAIServer

MAINTAINER = "mona"
REVIEWER = "rita"
REVIEW = "Please also add neg(a), returning -a."
_MUL = 'def mul(a, b):\n    """The product of a and b."""\n    return a * b\n'
# The review round's answers, matched by the reviewer's words (the item's id is the thread's id).
REVIEW_RULES = [
    {
        "match": {"purpose": "test", "prompt_contains": "returning -a"},
        "reply": "tests/test_neg.py\n<<<<<<< SEARCH\n=======\nimport calc.ops\n\n\n"
        "def test_neg():\n    assert calc.ops.neg(3) == -3\n>>>>>>> REPLACE\n",
    },
    {
        "match": {"purpose": "change", "prompt_contains": "returning -a"},
        "reply": f"calc/ops.py\n<<<<<<< SEARCH\n{_MUL}=======\n{_MUL}\n\n"
        'def neg(a):\n    """Minus a."""\n    return -a\n>>>>>>> REPLACE\n',
    },
]


def _plan_answer() -> str:
    """What the planning model answers: the bundled milestone's items, as the planner's JSON."""
    items = [
        {
            "id": i.id,
            "title": i.title,
            "description": i.description,
            "kind": i.kind.value,
            "depends_on": list(i.depends_on),
            "allowed_files": list(i.allowed_files),
        }
        for i in parse(CHECKLIST).items
    ]
    return json.dumps({"items": items})


def _comment_payload(sim: GitHubSimulator, issue: int, comment: int, milestone: int | None) -> dict[str, Any]:
    stored = sim.comments[comment]
    user = {"login": stored["user"], "id": 7, "type": "User"}
    return {
        "action": "created",
        "repository": {"full_name": sim.full_name, "default_branch": "main", "id": 1},
        "sender": user,
        "issue": {
            "number": issue,
            "title": sim.issues[issue]["title"],
            "body": sim.issues[issue]["body"],
            "user": user,
            "milestone": {"number": milestone, "title": sim.milestones[milestone]["title"]}
            if milestone is not None
            else None,
        },
        "comment": {
            "id": comment,
            "body": stored["body"],
            "user": user,
            "created_at": stored["created_at"],
            "updated_at": stored["updated_at"],
        },
    }


def _origin(repo: Path, root: Path) -> None:
    bare = root / "origin.git"
    for argv in (
        ["git", "init", "-q", "--bare", "-b", "main", str(bare)],
        ["git", "-C", str(repo), "remote", "add", "origin", str(bare)],
        ["git", "-C", str(repo), "push", "-q", "origin", "main"],
    ):
        subprocess.run(argv, check=True, capture_output=True)


async def _run(workdir: Path, out: Callable[[str], None]) -> int:
    started = time.monotonic()
    repo = _sample(workdir)
    _origin(repo, workdir)
    rules = {
        "rules": [{"match": {"purpose": "plan"}, "reply": _plan_answer()}, *REVIEW_RULES, *SCRIPT["rules"]]
    }
    script = Script.model_validate(rules)
    with (
        FakeOpenAIServer(script) as local,
        FakeGroqServer(script) as fast,
        FakeAnthropicServer(script) as premium,
        GitHubSimulator("octo-org/calc", permissions={MAINTAINER: "maintain", REVIEWER: "write"}) as sim,
    ):
        config = write_config(workdir, local.base_url, fast.base_url, premium.base_url)
        gateway = PyGithubGateway(
            sim.full_name,
            token="demo-token",  # noqa: S106 (the simulator takes any token)
            base_url=sim.base_url,
            seconds_between_requests=None,
            seconds_between_writes=None,
        )
        env = {"DEMO_GROQ_KEY": "demo", "DEMO_ANTHROPIC_KEY": "demo"}
        sim.origin = workdir / "origin.git"  # PR heads are read from the pushed branches
        work = RepoFollowUps(
            repo=repo,
            config=config,
            gateway=gateway,
            base_branch="main",
            env=env,
            run_url=f"https://github.com/{sim.full_name}/actions/runs/1",
            summary_path=workdir / "step-summary.md",
        )
        handler = EventHandler(gateway=gateway, config=config, work=work, followups=work)
        milestone = sim.add_milestone("Complete the calculator", "sub, div, safe division and docs")
        issue = sim.add_issue(
            "Complete the calculator",
            "We need subtraction and true division, division by zero as a ValueError, and docs.",
            milestone=milestone,
        )
        out(f"GitHub simulator at {sim.base_url}: {sim.full_name}, milestone #{milestone}, issue #{issue}")
        for body in ("/bot plan", "/bot run --parallel 4"):
            comment = sim.add_comment(issue, body, user=MAINTAINER)
            out(f"\n@{MAINTAINER} comments on #{issue}: {body}")
            outcomes = await handler.handle("issue_comment", _comment_payload(sim, issue, comment, milestone))
            reacted = [r["content"] for r in sim.reactions if r["comment"] == comment]
            out(f"  reactions: {' '.join(reacted)}")
            for outcome in outcomes:
                out(f"  {outcome.action}: {outcome.detail}")
        bot = [c for c in sim.comments_on(issue) if c["user"] == BOT_LOGIN]
        progress = next((c["body"] for c in bot if "<!-- milestone-bot:progress:" in c["body"]), "")
        out("\nThe live progress comment, as it ended:\n")
        out("\n".join(line for line in progress.splitlines() if not line.startswith("<!--")))
        checks = list(sim.check_runs.values())
        for check in checks:
            out(f"check run {check['name']}: {check['status']}, conclusion {check['conclusion']}")
        if not sim.pulls:
            out("no PR was opened")
            return 1
        pull = next(iter(sim.pulls.values()))
        draft = " (draft)" if pull["draft"] else ""
        out(f"\nPR #{pull['number']}{draft}: {pull['title']}  ({pull['head']} -> {pull['base']})\n")
        out(pull["body"])
        followed = await _review_round(sim, handler, pull["number"], workdir / "origin.git", out)
        out(f"done in {time.monotonic() - started:.1f}s; the pushed branch is in {workdir / 'origin.git'}")
        ok = checks and all(c["conclusion"] == "success" for c in checks) and not pull["draft"]
        return 0 if ok and followed else 1


def run_github_demo(workdir: Path | None, out: Callable[[str], None] = print) -> int:
    root = workdir or Path(tempfile.mkdtemp(prefix="milestone-bot-demo-github-"))
    root.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_run(root, out))


def _git(bare: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "--git-dir", str(bare), *args], check=True, capture_output=True, text=True
    ).stdout


async def _review_round(
    sim: GitHubSimulator, handler: EventHandler, number: int, bare: Path, out: Callable[[str], None]
) -> bool:
    """A reviewer asks for a change inline; the maintainer says ``/bot fix``; the bot follows up."""
    branch = sim.pulls[number]["head"]
    before = _git(bare, "rev-parse", f"refs/heads/{branch}").strip()
    thread = sim.add_review_comment(number, REVIEW, user=REVIEWER, path="calc/ops.py", line=8)
    out(f"\n@{REVIEWER} reviews PR #{number}, inline on calc/ops.py line 8: {REVIEW}")
    comment = sim.add_comment(number, "/bot fix", user=MAINTAINER)
    out(f"@{MAINTAINER} comments on PR #{number}: /bot fix")
    payload = _comment_payload(sim, number, comment, None)
    payload["issue"]["pull_request"] = {"url": f"{sim.base_url}/repos/{sim.full_name}/pulls/{number}"}
    for outcome in await handler.handle("issue_comment", payload):
        out(f"  {outcome.action}: {outcome.detail}")
    after = _git(bare, "rev-parse", f"refs/heads/{branch}").strip()
    out(f"\n{branch}: {before[:10]} -> {after[:10]} (no force: the PR's commits are kept)")
    out(_git(bare, "log", "--format=  %h (%an) %s", "--stat=72", f"{before}..{after}").rstrip())
    out("\nThe reply in the review thread:")
    replies = [c for c in sim.review_comments.values() if c["in_reply_to"] == thread]
    for reply in replies:
        text = "\n".join(line for line in reply["body"].splitlines() if not line.startswith("<!--"))
        out(f"  @{reply['user']}: " + text.strip().replace("\n", "\n    "))
    kept = subprocess.run(
        ["git", "--git-dir", str(bare), "merge-base", "--is-ancestor", before, after], check=False
    )
    body = sim.pulls[number]["body"]
    section = body[body.find("### Follow-ups") :].splitlines()
    out("\nThe PR body's follow-up section (checklist and cost, round by round):")
    out("\n".join(f"  {line}" for line in section if line and not line.startswith("<!--")))
    followed = kept.returncode == 0 and before != after
    return followed and len(sim.pulls) == 1 and bool(replies)
