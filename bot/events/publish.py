"""Publishing a run's result: the checklist committed on its validated integration, the branch
``milestone-bot/<key>`` pushed (never forced), the PR opened or updated (draft when an item
failed), and the check run's conclusion, never green for nothing."""

from __future__ import annotations

from dataclasses import dataclass

from bot.domain import ItemStatus
from bot.events.checks import pr_branch
from bot.github.bodies import pr_body, pr_title
from bot.github.gateway import GitHubGateway
from bot.github.git_push import push
from bot.planning.checklist_file import render, slug
from bot.report.money import usd
from bot.report.run_report import RunReport
from bot.workspace.worktrees import Worktrees


@dataclass(frozen=True)
class Pushed:
    pull: int
    commit: str


def publish_pull(
    gateway: GitHubGateway,
    trees: Worktrees,
    *,
    run_id: str,
    start: str,
    report: RunReport,
    key: str,
    base: str,
    closes: tuple[int, ...],
    remote: str = "origin",
    ci_token: bool = True,
    token: str | None = None,
) -> Pushed | None:
    """Commit the checklist file on the run's validated integration, push it as
    ``milestone-bot/<key>`` and open or update the PR (draft when an item failed). None when
    there is nothing validated to publish. ``ci_token``: whether the push was made with a token that
    starts workflows (a GitHub App's or a person's); if not, the PR body says CI did not run."""
    checklist, integration = report.checklist, report.integration
    done = [i for i in checklist.items if i.status is ItemStatus.DONE]
    if not done or integration is None or integration.verdict is None or not integration.verdict.accepted:
        return None
    workspace = trees.create(run_id, "integrated", start)  # the integration's worktree, resumed
    path = workspace.path / "checklists" / f"{slug(key)}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(checklist), encoding="utf-8")
    commit = trees.commit(workspace.path, f"milestone-bot: checklist for {checklist.title}")
    branch = pr_branch(key)
    # Never forced: a re-run starts from this branch, so its tip is an ancestor of ``commit``;
    # a refused push means someone pushed meanwhile, and their commits are never overwritten.
    push(trees.repo_path, commit, branch, remote=remote, token=token, force=False)
    body = pr_body(report, closes=closes, key=key, branch=branch)
    if not ci_token:
        body = NO_CI_NOTE + body
    pull = gateway.upsert_pull(
        head=branch,
        base=base,
        title=pr_title(checklist.title),
        body=body,
        draft=len(done) < len(checklist.items),
    )
    return Pushed(pull.number, commit)


NO_CI_NOTE = (
    "> [!WARNING]\n"
    "> **CI did not run on this PR.** It was pushed with the workflow's `GITHUB_TOKEN`, and GitHub\n"
    "> starts no workflows for pushes and PRs made with that token. To get CI on the bot's PRs, give\n"
    "> the bot a GitHub App (`app-id` and `app-private-key`) or a personal token (`token`): see\n"
    '> "Install it on a repository" in milestone-bot\'s README. Until then, close and reopen this PR.\n\n'
)


def conclude(report: RunReport) -> tuple[str, str, str]:
    """The check run's conclusion, title and a one-line summary: never green for nothing."""
    checklist, integration = report.checklist, report.integration
    done = [i for i in checklist.items if i.status is ItemStatus.DONE]
    # Nothing merged this time: the done items came with the start commit (an earlier wave or run
    # validated and published them), so there is nothing new to have failed validation.
    validated = integration is not None and (
        not integration.merged or (integration.verdict is not None and integration.verdict.accepted)
    )
    total = len(checklist.items)
    if not done:
        why = "; ".join(f"{i}: {n}" for i, n in report.notes.items()) or "no item finished"
        return "neutral", "Nothing was produced", f"No item was finished ({why}); nothing to open a PR with."
    if not validated:
        return (
            "failure",
            "The integrated branch did not validate",
            f"{len(done)} of {total} items done, but their integration failed validation.",
        )
    if len(done) < total:
        return (
            "failure",
            f"{len(done)} of {total} items done",
            f"{len(done)} of {total} items done; the PR is a draft.",
        )
    spent = usd(report.costs.total)
    return (
        "success",
        f"All {len(done)} items done",
        f"All {len(done)} items done and validated; spent {spent}.",
    )
