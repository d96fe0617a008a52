"""What ``handle-event --dry-run`` says: the parsed event, its commands, and what the bot would do.
A pure function: nothing is read from GitHub, nothing is written."""

from __future__ import annotations

from bot.config import Config
from bot.events.commands import SPECS, Command, parse_commands
from bot.events.payloads import (
    Event,
    IssueCommentEvent,
    IssuesEvent,
    PullRequestEvent,
    ReviewCommentEvent,
    WorkflowRunEvent,
)


def _command(command: Command, prefix: str, who: str) -> str:
    options = "".join(
        f" --{name} {value}"
        for name, value in (
            ("parallel", command.parallel),
            ("budget", command.budget),
            ("tier", command.tier),
        )
        if value is not None
    )
    target = f" {command.target}" if command.target else ""
    permission = (
        f"only if {who} has write permission (checked first)" if command.needs_write else "for anyone"
    )
    return (
        f"command (line {command.line}): {prefix} {command.verb.value}{target}{options}\n"
        f"  would: {SPECS[command.verb].summary}, {permission}"
    )


def describe(name: str, event: Event | None, config: Config) -> list[str]:
    if event is None:
        return [f"event: {name}: not one the bot handles; it would do nothing"]
    lines = [f"event: {name} ({type(event).__name__}), action {event.action or '-'}"]
    prefix = config.command_prefix
    if isinstance(event, IssueCommentEvent | ReviewCommentEvent):
        who = event.comment.user.login
        if event.comment.user.is_bot:
            return [*lines, f"the comment is by a bot ({who}): it would do nothing"]
        parsed = parse_commands(event.comment.body, prefix=prefix)
        if not parsed:
            return [*lines, f"no {prefix} command in the comment: it would do nothing"]
        for found in parsed:
            if isinstance(found, Command):
                lines.append(_command(found, prefix, who))
            else:
                lines.append(f"not a command (line {found.line}): {found.render(prefix)}; it would reply so")
        return lines
    if isinstance(event, IssuesEvent):
        if event.action in ("milestoned", "demilestoned") and config.github.update_checklist_on_milestoned:
            milestone = event.milestone.title if event.milestone else "its milestone"
            return [*lines, f"would update the checklist of milestone {milestone!r} (no model call)"]
        return [*lines, f"issues/{event.action}: it would do nothing"]
    if isinstance(event, PullRequestEvent):
        if config.github.review_pull_requests and event.action in ("opened", "synchronize", "reopened"):
            return [*lines, f"would post or update the review summary of PR #{event.number}"]
        return [*lines, f"pull_request/{event.action}: it would do nothing"]
    if isinstance(event, WorkflowRunEvent):
        run = event.workflow_run
        if run.conclusion == "failure":
            branch = run.head_branch or "?"
            would = f"would triage the failed run {run.id} on {branch} (flaky? red on the base?"
            return [*lines, f"{would} infrastructure?) and fix a real regression in a PR"]
        return [*lines, f"workflow run ended {run.conclusion or run.status or '?'}: it would do nothing"]
    return [*lines, "the handler decides from the repository's state; no command to show"]
