"""Events that carry a saved checklist on: an issue added to a milestone joins its checklist, and
the next wave of a fanned-out run continues from the checklist committed on the PR branch."""

from __future__ import annotations

import dataclasses

from bot.config import Config
from bot.events.conversation import Conversation
from bot.events.payloads import IssuesEvent, WorkflowDispatchEvent
from bot.events.sources import resolve
from bot.events.work_api import Outcome, RunRequest, Work
from bot.github.bodies import checklist_text
from bot.github.gateway import GitHubGateway, marker
from bot.planning.checklist_file import parse, slug
from bot.planning.planner import IssueText, PlanSource


class ChecklistEvents:
    def __init__(self, *, gateway: GitHubGateway, config: Config, work: Work, talk: Conversation) -> None:
        self._gh = gateway
        self._config = config
        self._work = work
        self._talk = talk

    async def on_milestoned(self, event: IssuesEvent) -> Outcome:
        milestone = event.milestone or event.issue.milestone
        if milestone is None:
            return Outcome("ignored", "issues.milestoned without a milestone")
        if not self._config.github.update_checklist_on_milestoned:
            return Outcome("ignored", "checklist updates on milestoned are turned off")
        run_key = f"milestone-{milestone.number}-{slug(milestone.title)}"
        # One pass: the checklist comment, and the issue it is on (where the update goes).
        found = next(
            ((i.number, c) for i in self._gh.milestone_issues(milestone.number)
             for c in self._talk.own(i.number) if marker("checklist", run_key) in c.body),
            None,
        )  # fmt: skip
        if found is None:
            return Outcome("ignored", f"milestone {milestone.title!r} has no checklist yet")
        owner_issue, host = found
        current = parse(checklist_text(host.body), file="the milestone's checklist comment")
        if any(f"#{event.issue.number}" in (i.description or "") or i.id == f"issue-{event.issue.number}"
               for i in current.items):  # fmt: skip
            return Outcome("ignored", f"#{event.issue.number} is in the checklist already")
        issue = self._gh.issue(event.issue.number)
        source = PlanSource(
            f"issue#{issue.number}",
            issue.title,
            "",
            (IssueText(issue.number, issue.title, issue.body, issue.labels),),
        )
        added = await self._work.plan(source, budget=None)
        taken = {i.id for i in current.items}
        renamed = {i.id: (i.id if i.id not in taken else f"{i.id}-{issue.number}") for i in added.items}
        new_items = tuple(
            dataclasses.replace(
                i,
                id=renamed[i.id],
                depends_on=tuple(renamed.get(d, d) for d in i.depends_on),
                description=f"{i.description}\n\n(from #{issue.number})".strip(),
            )
            for i in added.items
        )
        updated = dataclasses.replace(current, items=(*current.items, *new_items))
        self._talk.save_checklist(owner_issue, run_key, updated)
        return Outcome(
            "planned", f"added {len(new_items)} item(s) from #{issue.number} to {milestone.title!r}"
        )

    async def on_dispatch(self, event: WorkflowDispatchEvent) -> Outcome:
        """The publish job dispatches the workflow on the PR branch with the run's key when items
        wait for a later wave: continue from the checklist committed there."""
        key = str((event.inputs or {}).get("key", "")).strip()
        if not key:
            return Outcome("ignored", "workflow_dispatch without a key: not the bot's next wave")
        checklist = self._work.committed_checklist(key)
        if checklist is None:
            return Outcome("ignored", f"no checklists/{key}.md on {event.ref or 'this ref'}")
        ref, _, number = checklist.ref.partition("#")
        spec = f"{ref}:{number}" if ref in ("issue", "milestone") and number.isdigit() else ""
        target = resolve(self._gh, spec) if spec else None
        closes = target.closes if target else ()
        issue = closes[0] if closes else None
        if issue is not None and self._talk.stopped(issue):
            return Outcome(
                "ignored", f"the run of {key} was stopped (`{self._talk.prefix} stop`): no next wave"
            )
        request = RunRequest(
            checklist, key, issue, closes, start="HEAD", target=event.repository.default_branch,
            run=str((event.inputs or {}).get("run", "")).strip(),
        )  # fmt: skip
        result = await self._work.run(request, should_stop=lambda: False)
        return Outcome(
            "ran", f"next wave of {key}: {result.summary}", result.conclusion, result.spent, result.pull
        )
