"""The per-item loop: context, a failing test first, the change, validation, escalation, commit.

Each phase is a run of the escalation ``Driver``: the policy picks the tier, the router makes the
call, and the phase's validator applies the answer to the item's worktree and judges it. Feedback
(edit problems, guard findings, diagnostics) goes into the next request. Answers are applied one at
a time (a lock), each from a clean worktree, so parallel attempts never trample each other.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import git

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import Ledger, Scope
from bot.config import ContextSettings
from bot.context.engine import ContextEngine, ItemContext
from bot.context.requests import parse_context_request
from bot.context.shared import SharedContext
from bot.domain import CallScope, Item, ItemKind, ItemStatus, Purpose, Verdict
from bot.execution.call_log import CallLog
from bot.execution.candidates import Candidates
from bot.execution.item_plan import PlanStore, plan_item
from bot.execution.prompts import Earlier, Phase, build_request, context_bytes
from bot.models.base import ChatRequest, Completion, Message
from bot.report.reasons import first_diagnostic
from bot.routing.driver import AttemptEvent, Driver, OnAttempt, Task
from bot.routing.policy import EscalationPolicy, Tried
from bot.routing.router import Router
from bot.routing.speculative import SpeculationBudget
from bot.validation.baseline import Baseline, BaselineCache
from bot.validation.detect import Toolchain
from bot.validation.guard import check_change, is_test_file
from bot.validation.pipeline import Settings
from bot.validation.reproduce import reproduce
from bot.validation.validate import Change, red_proof, test_files_in, validate
from bot.validation.verdict import StageResult, ValidationVerdict
from bot.workspace.apply import apply_edits
from bot.workspace.edits import parse_edits
from bot.workspace.paths import DEFAULT_DENY
from bot.workspace.worktrees import Worktrees


@dataclass(frozen=True)
class AttemptRecord:
    phase: Phase
    tier: str
    verdict: Verdict
    cost: Decimal
    feedback: str = ""
    context_bytes: int = 0  # prompt bytes over the attempt's calls
    calls: tuple[str, ...] = ()  # its saved calls, relative to the run's folder
    note: str = ""  # what else a reader must know: a speculative attempt that missed diagnostics


@dataclass(frozen=True)
class ItemResult:
    item: Item
    attempts: tuple[AttemptRecord, ...]
    reason: str
    verdict: ValidationVerdict | None = None  # the last change attempt's validation
    # Where the item's time went, for the parallel benchmark: model calls and validation commands.
    model_s: float = 0.0
    validation_s: float = 0.0
    wall_s: float = 0.0
    files: tuple[str, ...] = ()  # what the item's commits changed, against its base
    tests_added: tuple[str, ...] = ()


class ItemRunner:
    def __init__(
        self,
        *,
        router: Router,
        policy: EscalationPolicy,
        ledger: Ledger,
        guard: BudgetGuard,
        worktrees: Worktrees,
        toolchain: Toolchain,
        settings: Settings,
        run_id: str,
        repo: str = "",
        context_budget: int = 20_000,
        context_requests: int = 2,
        context_settings: ContextSettings | None = None,
        deny: tuple[str, ...] = DEFAULT_DENY,
        max_tokens: int = 4096,
        on_attempt: OnAttempt | None = None,
        calls_dir: Path | None = None,
        speculation: SpeculationBudget | None = None,
        plans_dir: Path | None = None,
    ) -> None:
        # Validation feedback per (item, attempt), so progress views can say why an attempt failed.
        self._feedback: dict[tuple[str, int], str] = {}
        notify = on_attempt or (lambda event: None)

        def with_reason(event: AttemptEvent) -> None:
            if event.verdict is not None and not event.reason:
                why = self._feedback.get((event.item_id, event.attempt), "")
                event = dataclasses.replace(event, reason=why)
            notify(event)

        self._driver = Driver(
            router=router, policy=policy, ledger=ledger, guard=guard, on_attempt=with_reason,
            speculation=speculation,
        )  # fmt: skip
        self._plans = policy.name == "planner-executor"  # the strong tier plans, executors follow
        self._converges = policy.name == "diverge-converge"  # changes ship by evidence, not order
        self._ledger = ledger
        self._trees = worktrees
        self._toolchain = toolchain
        self._settings = settings
        self._run_id = run_id
        self._repo = repo
        self._budget = context_budget
        self._context_requests = context_requests
        self._context_settings = context_settings
        # One index cache for all items' worktrees: entries are keyed by blob id, so an item
        # re-parses only what differs from the last one indexed.
        self._index_cache = worktrees.repo_path / ".milestone-bot" / "index.json"
        # One index and one retriever for the run: each item overlays only the files it changed.
        self._shared = SharedContext(cache=self._index_cache)
        self._deny = deny
        self._max_tokens = max_tokens
        # Every call's prompt and answer, redacted, next to the run's report.
        self._calls = CallLog(calls_dir or worktrees.repo_path / ".milestone-bot" / "runs" / run_id / "calls")
        # planner-executor: each item's plan, kept with the run so a resumed run does not pay again.
        run_dir = worktrees.repo_path / ".milestone-bot" / "runs" / run_id
        self._plan_store = PlanStore(plans_dir or run_dir / "plans")
        # The base commit's per-test outcomes, run once per base and shared by every item, run and
        # the integration (on disk, so a resumed or later run reuses them).
        self.baselines = BaselineCache(worktrees.repo_path / ".milestone-bot" / "baseline")

    async def run(self, item: Item, *, base_ref: str, fresh: bool = False) -> ItemResult:
        """Work ``item`` from ``base_ref``; ``fresh`` discards an earlier branch of it (a redo on top
        of the integrated branch after a merge conflict) instead of resuming it."""
        started = time.monotonic()
        # git and file work blocks: it runs in worker threads so that parallel items do not wait
        # on each other's checkouts and commits (only on the event loop's own bookkeeping).
        workspace = await asyncio.to_thread(
            self._trees.create, self._run_id, item.id, base_ref, resume=not fresh
        )
        if workspace.resumed:
            # A killed run may have left an attempt half applied; only committed work counts.
            await asyncio.to_thread(self._trees.reset, workspace.path)
        base = workspace.base
        base_dir = await asyncio.to_thread(self._trees.detached, f"{self._run_id}-{item.id}-base", base)
        records: list[AttemptRecord] = []
        try:
            engine = ContextEngine(
                workspace.path, settings=self._context_settings, cache=self._index_cache, shared=self._shared
            )
            state = _State(item=item, root=workspace.path, base=base, base_dir=base_dir)
            if self._plans:
                state.plan = await self._plan(state, engine, records)
            wants_test = item.kind in (ItemKind.FEATURE, ItemKind.BUGFIX) and not item.tests_exist
            if item.acceptance_tests and not wants_test and self._toolchain.test is not None:
                # Reproduce before paying: a failure that does not show here cannot be fixed here.
                problem = await reproduce(
                    state.base_dir, item.acceptance_tests, self._toolchain.test, self._settings
                )
                if problem:
                    reason = f"environment: {problem}"
                    return await asyncio.to_thread(
                        self._result, item, records, state, ItemStatus.FAILED, reason
                    )
            # resumed: the test may be committed already
            if wants_test and not await asyncio.to_thread(self._own_tests, state):
                ok, reason = await self._phase("test", state, engine, records)
                if not ok:
                    status = ItemStatus.BUDGET_EXCEEDED if reason.startswith("budget") else ItemStatus.FAILED
                    return await asyncio.to_thread(self._result, item, records, state, status, reason)
                await asyncio.to_thread(
                    self._trees.commit, workspace.path, f"{item.id}: test first — {item.title}"
                )
                engine.refresh()  # the change phase retrieves from the tree with the new test
            state.new_tests = await asyncio.to_thread(self._own_tests, state)
            # The tests the test phase proved red are frozen for the change phase.
            state.frozen = await asyncio.to_thread(self._frozen, state)
            ok, reason = await self._phase("change", state, engine, records)
            if not ok:
                status = ItemStatus.BUDGET_EXCEEDED if reason.startswith("budget") else ItemStatus.FAILED
                return await asyncio.to_thread(self._result, item, records, state, status, reason)
            commit = await asyncio.to_thread(self._trees.commit, workspace.path, f"{item.id}: {item.title}")
            files = await asyncio.to_thread(self._trees.changed_files, workspace.path, base)
            done = dataclasses.replace(
                item,
                status=ItemStatus.DONE,
                branch=workspace.branch,
                commit=commit,
                attempts=item.attempts + len(records),
                cost_usd=item.cost_usd + sum((r.cost for r in records), Decimal(0)),
            )
            return ItemResult(
                done,
                tuple(records),
                "validated",
                state.matrix(),
                state.model_s,
                state.validation_s,
                time.monotonic() - started,
                tuple(files),
                state.new_tests,
            )
        finally:
            await asyncio.to_thread(self._trees.remove, base_dir)

    def _frozen(self, state: _State) -> dict[str, str]:
        head = self._trees.head(state.root)
        texts = {t: self._trees.read_at(head, t) for t in state.new_tests}
        return {t: text for t, text in texts.items() if text is not None}

    async def _plan(self, state: _State, engine: ContextEngine, records: list[AttemptRecord]) -> str:
        """The strong tier's plan for the item (bot/execution/item_plan.py), for every executor prompt;
        the one an earlier run of this run id made, when there is one (paid for then)."""
        item = state.item
        saved = await asyncio.to_thread(self._plan_store.load, item.id)
        if saved is not None:
            return saved.render()
        query = ItemContext(f"{item.title}\n{item.description}", kind=item.kind.value, budget=self._budget)
        plan, outcome = await plan_item(
            self._driver, item, context=lambda: engine.for_item(query).text, run_id=self._run_id,
            repo=self._repo, attempt_offset=len(records), max_tokens=self._max_tokens,
        )  # fmt: skip
        records.extend(AttemptRecord("plan", t.tier, t.verdict, t.cost) for t in outcome.tried)
        if plan is None:
            return ""
        await asyncio.to_thread(self._plan_store.save, item.id, plan)
        return plan.render()

    def _own_tests(self, state: _State) -> tuple[str, ...]:
        changed = self._trees.changed_files(state.root, state.base)
        return tuple(t for t in test_files_in(changed) if self._trees.read_at(state.base, t) is None)

    def _result(
        self, item: Item, records: list[AttemptRecord], state: _State, status: ItemStatus, reason: str
    ) -> ItemResult:
        self._trees.reset(state.root)
        cost = sum((r.cost for r in records), Decimal(0))
        updated = dataclasses.replace(
            item, status=status, attempts=item.attempts + len(records), cost_usd=item.cost_usd + cost
        )
        return ItemResult(updated, tuple(records), reason, state.matrix(), state.model_s, state.validation_s)

    async def _phase(
        self, phase: Phase, state: _State, engine: ContextEngine, records: list[AttemptRecord]
    ) -> tuple[bool, str]:
        purpose = Purpose.TEST if phase == "test" else Purpose.CHANGE
        task = Task(
            self._run_id,
            state.item.id,
            purpose,
            state.item.kind.value,
            self._repo,
            attempt_offset=len(records),
        )

        def make_request(scope: CallScope) -> ChatRequest:
            # The change phase sees the tests this item wrote (committed in its worktree).
            own = {t: self._read(state, t) for t in state.new_tests} if phase == "change" else None
            request, _ = build_request(
                engine,
                state.item,
                phase,
                scope,
                budget=self._budget,
                feedback=state.feedback,
                earlier=tuple(state.earlier),
                own_tests=own,
                context_requests=bool(self._context_requests),
                max_tokens=self._max_tokens,
                plan=state.plan,
            )
            state.last_request[scope.attempt] = request
            state.unrecorded.add(scope.attempt)
            state.saw_feedback[scope.attempt] = state.feedback
            return request

        def follow_up(request: ChatRequest, completion: Completion) -> ChatRequest | None:
            self._record_call(state, request, completion)
            asked = parse_context_request(completion.text)
            if asked is None:
                return None
            state.model_s += completion.latency_s
            state.context_requests += 1
            served = engine.serve(asked, budget=self._budget // 2, deny=self._deny)
            reply = (
                f"The code you asked for (read-only; request {state.context_requests}):\n\n{served}\n"
                "Now answer with SEARCH/REPLACE blocks."
            )
            state.last_request[request.scope.attempt] = more = dataclasses.replace(
                request,
                messages=(*request.messages, Message("assistant", completion.text), Message("user", reply)),
            )
            state.unrecorded.add(request.scope.attempt)
            return more

        candidates = (
            Candidates(self._trees, self._toolchain, self._settings, state.base, state.new_tests)
            if phase == "change" and self._converges
            else None
        )

        async def judge(completion: Completion, scope: CallScope) -> Verdict:
            state.model_s += completion.latency_s
            last = state.last_request.get(scope.attempt)
            if last is not None and scope.attempt in state.unrecorded:
                # The attempt's last call, when follow_up did not see it.
                await asyncio.to_thread(self._record_call, state, last, completion)
            async with state.lock:
                verdict, feedback = await self._judge(phase, state, completion)
                if verdict is not Verdict.PASSED:
                    proposed = await asyncio.to_thread(self._proposed, state, completion)
                    state.earlier.append(
                        Earlier(phase, self._tier_of(scope), verdict.value, proposed, feedback)
                    )
                if candidates is not None and verdict is Verdict.PASSED:  # kept as validated
                    files = await asyncio.to_thread(self._trees.before_after, state.root, state.base)
                    candidates.keep(scope.attempt, completion, files)
            if verdict is Verdict.UNPARSABLE and completion.call_id is not None:
                self._ledger.mark_outcome(completion.call_id, "unparsable")
            state.feedback = feedback
            state.feedback_by_attempt[scope.attempt] = feedback
            self._feedback[(state.item.id, scope.attempt)] = feedback
            return verdict

        outcome = await self._driver.run(
            task,
            make_request=make_request,
            validate=judge,
            follow_up=follow_up,
            max_follow_ups=self._context_requests,
            converge=candidates.choose if candidates is not None else None,
        )
        if candidates is not None:  # the worktree holds the last judged; put the shipped one back
            await asyncio.to_thread(candidates.restore, outcome.shipped, state.root)
        for number, tried in enumerate(outcome.tried, start=len(records)):
            records.append(
                AttemptRecord(
                    phase,
                    tried.tier,
                    tried.verdict,
                    tried.cost,
                    state.feedback_by_attempt.get(number, "") or tried.reason,
                    state.bytes_by_attempt.get(number, 0),
                    tuple(state.calls_by_attempt.get(number, ())),
                    _note(state, number, tried),
                )
            )
        if outcome.verdict is Verdict.PASSED:
            state.feedback = ""
            return True, "validated"
        return False, outcome.reason

    def _read(self, state: _State, rel: str) -> str:
        return (state.root / rel).read_text(encoding="utf-8", errors="replace")

    def _record_call(self, state: _State, request: ChatRequest, completion: Completion) -> None:
        """Save the call, count its prompt bytes for the attempt, the report and the ledger."""
        attempt = request.scope.attempt
        size = context_bytes(request)
        saved = self._calls.save(request, completion, context_bytes=size)
        state.bytes_by_attempt[attempt] = state.bytes_by_attempt.get(attempt, 0) + size
        state.calls_by_attempt.setdefault(attempt, []).append(saved)
        if completion.call_id is not None:
            self._ledger.set_context_bytes(completion.call_id, size)
        state.unrecorded.discard(attempt)

    def _tier_of(self, scope: CallScope) -> str:
        calls = self._ledger.calls(Scope(run_id=scope.run_id, item_id=scope.item_id, attempt=scope.attempt))
        return calls[-1].tier if calls else "?"

    def _proposed(self, state: _State, completion: Completion) -> str:
        """What a rejected attempt proposed: its diff when it applied, else its answer."""
        try:
            diff = self._trees.diff(state.root, "HEAD")
        except git.GitCommandError:  # a worktree that cannot be diffed: show the answer instead
            diff = ""
        return diff or completion.text

    async def _judge(self, phase: Phase, state: _State, completion: Completion) -> tuple[Verdict, str]:
        prepared = await asyncio.to_thread(self._apply, phase, state, completion)
        if not isinstance(prepared, Change):
            return prepared
        change = prepared
        if phase == "test":
            assert self._toolchain.test is not None
            findings = check_change(change.files, allowed=change.allowed)
            if findings:
                return Verdict.FAILED, "\n".join(f"rejected: {f.render()}" for f in findings)
            stage = await red_proof(state.base_dir, change, self._toolchain.test, self._settings)
            state.red = stage
            state.validation_s += stage.duration_s
            if stage.status == "passed":
                return Verdict.PASSED, ""
            return Verdict.FAILED, "\n".join(d.render() for d in stage.diagnostics)
        test = self._toolchain.test

        async def baseline() -> Baseline:
            assert test is not None
            return await self.baselines.get(state.base, state.base_dir, test, self._settings)

        verdict = await validate(
            change,
            self._toolchain,
            settings=self._settings,
            base=state.base_dir,
            baseline=baseline if test is not None and test.parser == "pytest" else None,
        )
        state.verdict = verdict
        state.validation_s += sum(s.duration_s for s in verdict.stages)
        return (Verdict.PASSED, "") if verdict.accepted else (Verdict.FAILED, verdict.feedback())

    def _apply(self, phase: Phase, state: _State, completion: Completion) -> Change | tuple[Verdict, str]:
        """Apply an answer to a clean worktree (blocking git and file work, run in a thread): the
        change to validate, or the verdict and feedback when the answer cannot be used."""
        self._trees.reset(state.root)
        if parse_context_request(completion.text) is not None:
            return Verdict.UNPARSABLE, (
                f"more context was asked for after {self._context_requests} requests in this attempt; "
                "answer with SEARCH/REPLACE blocks using what you have"
            )
        parsed = parse_edits(completion.text)
        if parsed.problems or not parsed.edits:
            return Verdict.UNPARSABLE, "\n".join(parsed.problems) or "no edits in the answer"
        if phase == "test":
            wrong = [e.path for e in parsed.edits if not is_test_file(e.path)]
            if wrong:
                return Verdict.FAILED, f"this step adds tests only; not test files: {', '.join(wrong)}"
        applied = apply_edits(state.root, parsed.edits, deny=self._deny)
        if not applied.ok:
            return Verdict.UNPARSABLE, "\n".join(p.render() for p in applied.problems)
        change = self._change(state)
        if phase == "test":
            new = tuple(
                t for t in test_files_in(list(applied.changed)) if self._trees.read_at(state.base, t) is None
            )
            if not new:
                return (
                    Verdict.FAILED,
                    "add a new test file (tests/test_<topic>.py); existing test files stay as they are here",
                )
            return dataclasses.replace(change, new_tests=new)
        return change

    def _change(self, state: _State) -> Change:
        files = self._trees.before_after(state.root, state.base)
        return Change(
            root=state.root,
            files=files,
            new_tests=state.new_tests,
            test_files=test_files_in(self._trees.files(state.root)),
            allowed=(*state.item.allowed_files, *state.new_tests) if state.item.allowed_files else (),
            acceptance=state.item.acceptance_tests,
            frozen=state.frozen,
            intent=f"{state.item.title}\n{state.item.description}",
            proven=bool(state.frozen),
        )


def _note(state: _State, number: int, tried: Tried) -> str:
    """What an attempt's verdict alone does not say. A held candidate validated, but no other
    agreed with it (diverge-converge). A speculative attempt's request was built before the attempt
    it raced was judged: it saw every earlier attempt's memory but not that one's diagnostics, and
    when those differ from the feedback it did see, its record says so (it was no fair retry)."""
    if tried.held:
        return "validated; held back: no other candidate agreed with it"
    raced = tried.raced
    if raced is None:
        return ""
    missed = state.feedback_by_attempt.get(raced, "")
    if not missed or missed == state.saw_feedback.get(number, ""):
        return ""
    return (
        f"speculative: started while attempt {raced + 1} was validated, so it did not see that "
        f"attempt's diagnostics ({first_diagnostic(missed)})"
    )


@dataclass
class _State:
    item: Item
    root: Path
    base: str
    base_dir: Path
    new_tests: tuple[str, ...] = ()
    frozen: dict[str, str] = dataclasses.field(default_factory=dict)
    plan: str = ""  # planner-executor: the strong tier's plan, rendered for the executors
    feedback: str = ""
    earlier: list[Earlier] = dataclasses.field(default_factory=list)  # rejected attempts, for the next
    # Per attempt: the request its last call sent (follow-ups included), prompt bytes, saved calls.
    last_request: dict[int, ChatRequest] = dataclasses.field(default_factory=dict)
    unrecorded: set[int] = dataclasses.field(default_factory=set)  # its last call is not saved yet
    bytes_by_attempt: dict[int, int] = dataclasses.field(default_factory=dict)
    calls_by_attempt: dict[int, list[str]] = dataclasses.field(default_factory=dict)
    feedback_by_attempt: dict[int, str] = dataclasses.field(default_factory=dict)
    saw_feedback: dict[int, str] = dataclasses.field(default_factory=dict)  # in its request, built
    verdict: ValidationVerdict | None = None
    red: StageResult | None = None  # the test phase's red proof, for the validation matrix
    model_s: float = 0.0
    validation_s: float = 0.0
    context_requests: int = 0  # served to the model, over all attempts of the item
    # Attempts of this item may run in parallel (diverge-converge); they share one worktree, so
    # applying and validating an answer is one at a time, per item.
    lock: asyncio.Lock = dataclasses.field(default_factory=asyncio.Lock)

    def matrix(self) -> ValidationVerdict | None:
        """The change's verdict with the test phase's red proof in front (the report's matrix)."""
        if self.red is None:
            return self.verdict
        if self.verdict is None:
            return ValidationVerdict((self.red,))
        if any(s.name == self.red.name for s in self.verdict.stages):
            return self.verdict
        return dataclasses.replace(self.verdict, stages=(self.red, *self.verdict.stages))
