"""Follow-up commits on a published branch: the repository side of ``/bot fix`` on a pull request.

The items run like any run's (tests first where behaviour changes, validated, escalated), starting
from the branch's tip as fetched now. Their integrated result is then laid on the branch as one
commit per item, on top of whatever is there (human commits included, never rewritten), and pushed
without force. If someone pushed while the bot worked, the push is refused; the bot fetches the
branch again, replays its commits on the new tip, validates that, and pushes once more. If that is
refused too, or the replay conflicts, nothing is pushed and the answer says why.
"""

from __future__ import annotations

from decimal import Decimal

from bot.domain import Checklist, Item, ItemStatus
from bot.errors import PushRejected, WorkspaceError
from bot.events.checks import fetch_branch
from bot.events.handler import RunRequest
from bot.events.pr_followup import FOLLOWUP_CHECK, FollowUpRequest, FollowUpResult
from bot.events.work import RepoWork, conclude
from bot.execution.run import run_milestone, validate_working_tree
from bot.github.git_push import push
from bot.planning.checklist_file import slug
from bot.report.run_report import RunReport
from bot.validation.verdict import ValidationVerdict
from bot.workspace.worktrees import Worktrees


def verdict_line(verdict: ValidationVerdict | None) -> str:
    if verdict is None:
        return "not validated"
    ran = [f"{s.name} {s.status}" for s in verdict.stages if s.status != "skipped"]
    return f"{'accepted' if verdict.accepted else 'rejected'} ({', '.join(ran) or 'no checks ran'})"


_REJECTED = ("[rejected]", "non-fast-forward", "fetch first", "stale info")


class RepoFollowUps(RepoWork):
    """``RepoWork`` that can also follow up on an existing branch (``FollowUps``)."""

    def _fetch(self, branch: str) -> str | None:
        return fetch_branch(self._repo, self._remote, branch, env=self._git_env)

    def _push(self, commit: str, branch: str) -> None:
        """A fast-forward push, with the bot's token for this one command; ``PushRejected`` when
        the branch moved (never forced: commits people added stay)."""
        try:
            push(self._repo, commit, branch, remote=self._remote, token=self._push_token, force=False)
        except WorkspaceError as exc:
            if any(sign in str(exc) for sign in _REJECTED):
                raise PushRejected(f"{branch} moved on {self._remote}: {exc}") from exc
            raise

    async def follow_up(self, request: FollowUpRequest) -> FollowUpResult:
        head = self._fetch(request.branch)
        if head is None:
            raise WorkspaceError(f"branch {request.branch} is not on {self._remote}")
        check = self._gh.create_check_run(name=FOLLOWUP_CHECK, head_sha=head)
        config = self._config_for(
            RunRequest(
                request.checklist, request.key, request.pull, (), budget=request.budget, tier=request.tier
            )
        )
        try:
            outcome = await run_milestone(
                self._repo, request.checklist, config=config, run_id=self._round(request), base_ref=head,
                env=self._env,
            )  # fmt: skip
        except Exception as exc:
            self._gh.finish_check_run(
                check,
                conclusion="failure",
                title="The follow-up failed",
                summary=f"{type(exc).__name__}: {exc}"[:2000],
            )
            raise
        return await self.land(request, outcome.report, head=head, check=check)

    def _round(self, request: FollowUpRequest) -> str:
        return f"{self._run_id}-{slug(request.key)}"

    async def land(
        self, request: FollowUpRequest, report: RunReport, *, head: str, check: int | None = None
    ) -> FollowUpResult:
        """The worked items onto the branch: one commit each on ``head``, validated, pushed without
        force (replayed once if the branch moved). The fan-out's publish job calls this with the
        work jobs' integrated report; ``check`` is the follow-up's check run on ``head``, if open."""
        if check is None:
            check = self._gh.create_check_run(name=FOLLOWUP_CHECK, head_sha=head)
        try:
            return await self._land(request, report, head=head, check=check)
        except Exception as exc:
            # A failure past this point (a push refused for another reason than a moved branch, a
            # lost worktree) must not leave the check spinning on the PR.
            self._gh.finish_check_run(
                check, conclusion="failure", title="The follow-up failed",
                summary=f"{type(exc).__name__}: {exc}"[:2000],
            )  # fmt: skip
            raise

    async def _land(
        self, request: FollowUpRequest, report: RunReport, *, head: str, check: int
    ) -> FollowUpResult:
        trees = Worktrees(self._repo)
        run_id = self._round(request)
        checklist, integration = report.checklist, report.integration
        spent = report.costs.total
        conclusion, title, summary = conclude(report)
        notes = dict(report.notes)
        validated = (
            integration is not None and integration.verdict is not None and integration.verdict.accepted
        )
        if integration is None or not integration.merged or not validated:
            self._gh.finish_check_run(check, conclusion=conclusion, title=title, summary=summary)
            return FollowUpResult(
                checklist,
                {},
                None,
                conclusion,
                summary,
                spent,
                verdict_line(integration.verdict if integration else None),
                notes,
            )
        verdict = integration.verdict
        items = [checklist.item(i) for i in integration.merged]
        commits, tip = self._lay(trees, run_id, head, items, request)
        if tip is None or not trees.same_tree(tip, integration.commit):
            # Laying the items one by one did not give the validated tree: validate what will be pushed.
            verdict = await self._validate(trees, run_id, "laid", head, tip) if tip else None
        if tip is None or verdict is None or not verdict.accepted:
            why = "the items' commits do not apply one after another on the branch"
            return self._unpushed(check, checklist, spent, why, verdict, notes)
        moved = False
        try:
            self._push(tip, request.branch)
        except PushRejected:
            moved = True
            replayed = await self._replay(trees, run_id, request.branch, commits, items)
            if isinstance(replayed, str):
                return self._unpushed(check, checklist, spent, replayed, verdict, notes, moved=True)
            commits, tip, verdict = replayed
        done = len([i for i in checklist.items if i.status is ItemStatus.DONE])
        summary = (
            f"{done} of {len(checklist.items)} item(s) done and pushed to {request.branch} as {tip[:10]}; "
            f"spent ${spent.quantize(Decimal('0.000001'))}."
        )
        # The check belongs on the branch's new head, where reviewers look; the one on the old head ends.
        self._gh.finish_check_run(check, conclusion="neutral", title="Superseded", summary=f"Pushed {tip}.")
        check = self._gh.create_check_run(name=FOLLOWUP_CHECK, head_sha=tip)
        self._gh.finish_check_run(check, conclusion=conclusion, title=title, summary=summary)
        return FollowUpResult(
            checklist, commits, tip, conclusion, summary, spent, verdict_line(verdict), notes, moved
        )

    def _lay(
        self, trees: Worktrees, run_id: str, head: str, items: list[Item], request: FollowUpRequest
    ) -> tuple[dict[str, str], str | None]:
        """One commit per item on top of ``head``, in the integration's order."""
        workspace = trees.create(run_id, "follow-up", head, resume=False)
        commits: dict[str, str] = {}
        try:
            for item in items:
                where = f" (PR #{request.pull})" if request.pull else ""
                commit = trees.squash(workspace.path, item.branch, f"milestone-bot: {item.title}{where}")
                if commit is None:
                    return commits, None
                commits[item.id] = commit
            return commits, trees.head(workspace.path)
        finally:
            trees.remove(workspace)

    async def _validate(
        self, trees: Worktrees, run_id: str, name: str, base: str, tip: str
    ) -> ValidationVerdict:
        workspace = trees.create(run_id, name, tip, resume=False)
        try:
            return await validate_working_tree(workspace.path, base_ref=base, config=self._config)
        finally:
            trees.remove(workspace)

    async def _replay(
        self, trees: Worktrees, run_id: str, branch: str, commits: dict[str, str], items: list[Item]
    ) -> tuple[dict[str, str], str, ValidationVerdict] | str:
        """The branch moved: its new tip, the bot's commits replayed on it and validated, pushed
        once more. A reason (str) when that cannot be done."""
        new_head = self._fetch(branch)
        if new_head is None:
            return f"the branch {branch} was deleted while I worked"
        workspace = trees.create(run_id, "follow-up-replay", new_head, resume=False)
        replayed: dict[str, str] = {}
        try:
            for item in items:
                commit = trees.cherry_pick(workspace.path, commits[item.id])
                if commit is None:
                    return (
                        f"the branch moved while I worked (now {new_head[:10]}) and my change for "
                        f"{item.id} conflicts with the new commits"
                    )
                replayed[item.id] = commit
            tip = trees.head(workspace.path)
        finally:
            trees.remove(workspace)
        verdict = await self._validate(trees, run_id, "replayed", new_head, tip)
        if not verdict.accepted:
            return (
                "the branch moved while I worked and my commits no longer validate on it "
                f"({verdict_line(verdict)})"
            )
        try:
            self._push(tip, branch)
        except PushRejected:
            return "the branch moved again while I replayed my commits on it; nothing was forced over it"
        return replayed, tip, verdict

    def _unpushed(
        self,
        check: int,
        checklist: Checklist,
        spent: Decimal,
        why: str,
        verdict: ValidationVerdict | None,
        notes: dict[str, str],
        *,
        moved: bool = False,
    ) -> FollowUpResult:
        summary = f"Nothing was pushed: {why}."
        self._gh.finish_check_run(check, conclusion="failure", title="Nothing was pushed", summary=summary)
        notes = {**notes, **{i.id: why for i in checklist.items if i.status is ItemStatus.DONE}}
        return FollowUpResult(
            checklist, {}, None, "failure", summary, spent, verdict_line(verdict), notes, moved
        )
