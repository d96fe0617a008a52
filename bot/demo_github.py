"""``milestone-bot demo --github``: the bot on GitHub, offline, against the GitHub REST simulator.

The same sample project and model script as ``demo``, now driven the way users drive the bot: a
maintainer comments ``/bot plan`` on an issue of the milestone, then ``/bot run --parallel 4``.
The real PyGithub client talks to the simulator on 127.0.0.1; the item branches are integrated and
pushed to a local bare ``origin``. It shows the reactions, the live progress comment, the PR with
the cost table, and the check run, then prints the PR body.
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
from bot.events.handler import EventHandler
from bot.events.work import RepoWork
from bot.github.pygithub_gateway import PyGithubGateway
from bot.models.script import Script
from bot.planning.checklist_file import parse
from bot.testing.anthropic_server import FakeAnthropicServer
from bot.testing.github_server import BOT_LOGIN, GitHubSimulator
from bot.testing.groq_server import FakeGroqServer
from bot.testing.openai_server import FakeOpenAIServer

MAINTAINER = "mona"


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


def _comment_payload(sim: GitHubSimulator, issue: int, comment: int, milestone: int) -> dict[str, Any]:
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
            "milestone": {"number": milestone, "title": sim.milestones[milestone]["title"]},
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
    rules = {"rules": [{"match": {"purpose": "plan"}, "reply": _plan_answer()}, *SCRIPT["rules"]]}
    script = Script.model_validate(rules)
    with (
        FakeOpenAIServer(script) as local,
        FakeGroqServer(script) as fast,
        FakeAnthropicServer(script) as premium,
        GitHubSimulator("octo-org/calc", permissions={MAINTAINER: "maintain"}) as sim,
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
        work = RepoWork(
            repo=repo,
            config=config,
            gateway=gateway,
            base_branch="main",
            env=env,
            run_url=f"https://github.com/{sim.full_name}/actions/runs/1",
            summary_path=workdir / "step-summary.md",
        )
        handler = EventHandler(gateway=gateway, config=config, work=work)
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
        out(f"done in {time.monotonic() - started:.1f}s; the pushed branch is in {workdir / 'origin.git'}")
        ok = checks and all(c["conclusion"] == "success" for c in checks) and not pull["draft"]
        return 0 if ok else 1


def run_github_demo(workdir: Path | None, out: Callable[[str], None] = print) -> int:
    root = workdir or Path(tempfile.mkdtemp(prefix="milestone-bot-demo-github-"))
    root.mkdir(parents=True, exist_ok=True)
    return asyncio.run(_run(root, out))
