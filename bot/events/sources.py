"""What a run is about, read from GitHub: one issue, or a milestone and its issues.

A ``Target`` carries the plan source, the key that names everything of the run (the PR branch
``milestone-bot/<key>``, the progress comment, the checklist comment), the issues the PR closes,
and a short ``spec`` (``issue:12``, ``milestone:3``) that workflow jobs pass to each other.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.errors import PlanningError
from bot.github.gateway import GitHubGateway, IssueData
from bot.planning.checklist_file import slug
from bot.planning.planner import IssueText, PlanSource


@dataclass(frozen=True)
class Target:
    source: PlanSource
    key: str
    closes: tuple[int, ...]
    spec: str


def issue_target(issue: IssueData) -> Target:
    text = IssueText(issue.number, issue.title, issue.body, issue.labels)
    return Target(
        PlanSource(f"issue#{issue.number}", issue.title, "", (text,)),
        f"issue-{issue.number}",
        (issue.number,),
        f"issue:{issue.number}",
    )


def milestone_target(gateway: GitHubGateway, number: int, title: str, description: str) -> Target:
    issues = [i for i in gateway.milestone_issues(number) if not i.is_pull_request]
    texts = tuple(IssueText(i.number, i.title, i.body, i.labels) for i in issues)
    return Target(
        PlanSource(f"milestone#{number}", title, description, texts),
        f"milestone-{number}-{slug(title)}",
        tuple(i.number for i in issues),
        f"milestone:{number}",
    )


def milestone_by_title(gateway: GitHubGateway, title: str) -> Target:
    for milestone in gateway.milestones():
        if milestone.title.lower() == title.lower():
            return milestone_target(gateway, milestone.number, milestone.title, milestone.description)
    raise PlanningError(
        f"no milestone titled {title!r} in this repository; name one by its exact title, or an issue as #N"
    )


def resolve(gateway: GitHubGateway, spec: str) -> Target:
    """``issue:12`` or ``milestone:3`` (what ``handle-event`` hands the plan job)."""
    kind, _, number = spec.partition(":")
    if not number.isdigit() or kind not in ("issue", "milestone"):
        raise PlanningError(f"{spec!r} is not issue:N or milestone:N")
    if kind == "issue":
        return issue_target(gateway.issue(int(number)))
    for milestone in gateway.milestones():
        if milestone.number == int(number):
            return milestone_target(gateway, milestone.number, milestone.title, milestone.description)
    raise PlanningError(f"no milestone number {number} in this repository")
