"""Drives one task through the escalation policy: decide, call, validate, record, repeat.

The policy chooses tiers, the router makes the calls, and a caller-supplied validator judges each
answer. The per-item loop of a run builds on this; the demo and the replay benchmark use it as is.
Two patterns live here because they change how attempts follow each other: speculative escalation
(the next attempt starts while one is validated) and converging a diverge round by evidence.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import assert_never

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import Ledger, Scope
from bot.domain import CallScope, Purpose, TaskSize, Verdict
from bot.errors import BudgetExceeded, RoutingError
from bot.models.base import ChatRequest, Completion
from bot.routing.policy import Attempt, EscalationContext, EscalationPolicy, ShipHeld, Stop, Tried
from bot.routing.router import Router
from bot.routing.speculative import SpeculationBudget

MakeRequest = Callable[[CallScope], ChatRequest]
Validate = Callable[[Completion, CallScope], Awaitable[Verdict]]
# Given an answer and the request it answered: the next request of the same attempt (the model
# asked for more context), or None when the answer is to be judged.
FollowUp = Callable[[ChatRequest, Completion], ChatRequest | None]
# Given two or more validated candidates: the index of the one to ship, or None when the evidence
# does not single one out (then none ships, and they wait for the next tier's candidate).
Converge = Callable[[Sequence[tuple[CallScope, Completion]]], Awaitable[int | None]]


@dataclass(frozen=True)
class TaskOutcome:
    verdict: Verdict
    # Every attempt in attempt-number order; a speculative one that was not needed has verdict
    # NONE and what it cost (bot/routing/speculative.py).
    tried: tuple[Tried, ...]
    reason: str
    shipped: Completion | None = None

    @property
    def cost(self) -> Decimal:
        return sum((t.cost for t in self.tried), Decimal(0))


@dataclass(frozen=True)
class AttemptEvent:
    """An attempt starting (``verdict`` None) or judged, for progress views."""

    item_id: str
    purpose: Purpose
    tier: str
    attempt: int
    verdict: Verdict | None = None
    cost: Decimal = Decimal(0)
    reason: str = ""  # why it was not accepted: the first diagnostic, or the transport error


OnAttempt = Callable[[AttemptEvent], None]


@dataclass(frozen=True)
class Task:
    run_id: str
    item_id: str
    purpose: Purpose = Purpose.CHANGE
    kind: str = "bugfix"
    repo: str = ""
    size: TaskSize = TaskSize.MEDIUM
    attempt_offset: int = 0  # attempts already made on this item in earlier phases


@dataclass
class _Ahead:
    """A speculative attempt already running while the one before it is validated."""

    tier: str
    scope: CallScope
    call: asyncio.Task[Completion | None]
    started: float
    raced: int  # the attempt being validated when it started


class Driver:
    def __init__(
        self,
        *,
        router: Router,
        policy: EscalationPolicy,
        ledger: Ledger,
        guard: BudgetGuard,
        on_attempt: OnAttempt | None = None,
        speculation: SpeculationBudget | None = None,
    ) -> None:
        self._notify = on_attempt or (lambda event: None)
        self._router = router
        self._policy = policy
        self._ledger = ledger
        self._guard = guard
        self._speculation = speculation

    async def run(
        self,
        task: Task,
        *,
        make_request: MakeRequest,
        validate: Validate,
        follow_up: FollowUp | None = None,
        max_follow_ups: int = 0,
        converge: Converge | None = None,
    ) -> TaskOutcome:
        """``follow_up`` may turn an answer into another call of the same attempt, at most
        ``max_follow_ups`` times; every such call is budgeted and recorded like the first.
        Without ``converge`` the first answer that validates ships. With it, a diverge round ships
        only when two of its candidates agree (``converge`` chooses among them); candidates that
        validated without agreement are kept, and a later attempt that validates ships only if
        ``converge`` finds it agrees with one of them. With no agreement by the end of the ladder
        nothing ships."""
        run = _Run(task, make_request, validate, follow_up, max_follow_ups, converge)
        try:
            return await self._drive(run)
        finally:
            if run.ahead is not None:
                run.ahead.call.cancel()

    async def _drive(self, run: _Run) -> TaskOutcome:
        task = run.task
        while True:
            ctx = self._context(task, run.tried)
            decision = self._policy.decide(ctx)
            if isinstance(decision, ShipHeld) and len(run.pool) == 1:
                # The policy judged corroboration not worth its cost: the lone held candidate ships,
                # as any other preset would have shipped it when it validated.
                await self._drop(run)
                scope, lone = run.pool[0]
                self._unhold(run, scope.attempt)
                return TaskOutcome(Verdict.PASSED, tuple(run.everything), decision.reason, lone)
            if isinstance(decision, Stop | ShipHeld):
                await self._drop(run)
                verdict = run.tried[-1].verdict if run.tried else Verdict.NONE
                reason = decision.reason
                if run.pool:
                    reason += f"; {len(run.pool)} validated without agreement, none shipped"
                return TaskOutcome(verdict, tuple(run.everything), reason)
            if isinstance(decision, Attempt):
                try:
                    if decision.parallel == 1:
                        shipped = await self._single(run, decision.tier, ctx)
                    else:
                        await self._drop(run)
                        shipped = await self._round(run, decision, ctx)
                except BudgetExceeded as exc:
                    await self._drop(run)
                    return TaskOutcome(Verdict.ERROR, tuple(run.everything), f"budget_exceeded: {exc}")
                if shipped is not None:
                    await self._drop(run)
                    return TaskOutcome(Verdict.PASSED, tuple(run.everything), "validated", shipped)
                continue
            assert_never(decision)

    def _context(self, task: Task, tried: list[Tried]) -> EscalationContext:
        scope = CallScope(task.run_id, task.purpose, task.item_id, 0, task.kind, task.repo)
        return EscalationContext(
            purpose=task.purpose,
            tiers=self._router.tier_names,
            tried=tuple(tried),
            size=task.size,
            kind=task.kind,
            spent=sum((t.cost for t in tried), Decimal(0)),
            remaining=self._guard.remaining(scope),
            history=self._ledger.history(repo=task.repo, kind=task.kind),
        )

    async def _single(self, run: _Run, tier: str, ctx: EscalationContext) -> Completion | None:
        ahead = run.ahead
        if ahead is not None and ahead.tier == tier:
            run.ahead = None
            scope, call = ahead.scope, ahead.call
            run.raced[scope.attempt] = ahead.raced
            if self._speculation is not None:
                self._speculation.note_adopted(time.monotonic() - ahead.started)
        else:
            await self._drop(run)
            scope = run.scope()
            call = asyncio.create_task(self._call(tier, scope, run))
        self._notify(AttemptEvent(run.task.item_id, run.task.purpose, tier, scope.attempt))
        completion = await call
        if completion is not None:
            self._speculate(run, tier, ctx, scope.attempt)
        verdict = Verdict.ERROR if completion is None else await run.validate(completion, scope)
        shipped = None
        if verdict is Verdict.PASSED and completion is not None:
            if run.converge is None:
                shipped = completion
            else:
                last = self._last(ctx, [tier])
                shipped = await self._converge(run, [(scope, completion)], last=last)
        # Validated but held back for want of agreement: the policy must not stop on it.
        self._record(run, tier, scope, verdict, held=shipped is None and verdict is Verdict.PASSED)
        return shipped

    def _speculate(self, run: _Run, tier: str, ctx: EscalationContext, raced: int) -> None:
        """Start the attempt the policy would make if this one (``raced``) failed, within the cap.
        Its request is built now: it carries what is known now, not ``raced``'s diagnostics."""
        budget = self._speculation
        if budget is None:
            return
        cost = self._ledger.spent(Scope(run.task.run_id, run.task.item_id, run.next_number - 1))
        failed = dataclasses.replace(ctx, tried=(*ctx.tried, Tried(tier, Verdict.FAILED, cost)))
        nxt = self._policy.decide(failed)
        if not isinstance(nxt, Attempt) or nxt.parallel != 1 or not budget.allows(nxt.tier, ctx.history):
            return
        scope = run.scope()
        budget.started += 1
        call = asyncio.create_task(self._call(nxt.tier, scope, run))
        run.ahead = _Ahead(nxt.tier, scope, call, time.monotonic(), raced)

    async def _drop(self, run: _Run) -> None:
        """Cancel a speculative attempt that is not needed; what it cost is counted."""
        ahead, run.ahead = run.ahead, None
        if ahead is None:
            return
        ahead.call.cancel()
        with contextlib.suppress(asyncio.CancelledError, BudgetExceeded):
            await ahead.call
        cost = self._ledger.spent(Scope(run.task.run_id, run.task.item_id, ahead.scope.attempt))
        if self._speculation is not None:
            self._speculation.note_cancelled(cost)
        run.everything.append(Tried(ahead.tier, Verdict.NONE, cost))
        self._notify(
            AttemptEvent(
                run.task.item_id, run.task.purpose, ahead.tier, ahead.scope.attempt, Verdict.NONE, cost
            )
        )

    async def _round(self, run: _Run, decision: Attempt, ctx: EscalationContext) -> Completion | None:
        scopes = [run.scope() for _ in range(decision.parallel)]
        for s in scopes:
            self._notify(AttemptEvent(run.task.item_id, run.task.purpose, decision.tier, s.attempt))
        results = await asyncio.gather(*(self._attempt(decision.tier, s, run) for s in scopes))
        passed = [(s, c) for s, (v, c) in zip(scopes, results, strict=True) if v is Verdict.PASSED and c]
        if run.converge is None:
            shipped = passed[0][1] if passed else None
        elif passed:
            last = self._last(ctx, [decision.tier] * decision.parallel)
            shipped = await self._converge(run, passed, last=last)
        else:
            shipped = None
        for scope, (verdict, _) in zip(scopes, results, strict=True):
            # Validated but not chosen for want of agreement: the policy must not stop on it.
            held = verdict is Verdict.PASSED and shipped is None
            self._record(run, decision.tier, scope, verdict, held=held)
        return shipped

    async def _converge(
        self, run: _Run, new: list[tuple[CallScope, Completion]], *, last: bool
    ) -> Completion | None:
        """What ships of ``new`` (validated) and the candidates held back before: the one
        ``converge`` finds agreement for; else, when no draw is left after these (nothing could
        corroborate), the newest, the strongest tier's, as any other preset would ship it; else
        None: they are held and the policy draws again."""
        assert run.converge is not None
        pool = [*run.pool, *new]
        chosen = await run.converge(pool) if len(pool) > 1 else None
        if chosen is not None:
            return pool[chosen][1]
        run.pool = pool
        return new[-1][1] if last else None

    def _last(self, ctx: EscalationContext, tiers: list[str]) -> bool:
        """Whether the policy would stop were these attempts validated and held: no draw is left."""
        held = (*ctx.tried, *(Tried(t, Verdict.FAILED, held=True) for t in tiers))
        return isinstance(self._policy.decide(dataclasses.replace(ctx, tried=held)), Stop | ShipHeld)

    def _unhold(self, run: _Run, attempt: int) -> None:
        """Record the held attempt that ships as what it was: validated."""
        held = run.records[attempt]
        shipped = dataclasses.replace(held, verdict=Verdict.PASSED, held=False)
        for records in (run.tried, run.everything):
            records[next(i for i, t in enumerate(records) if t is held)] = shipped

    def _record(
        self, run: _Run, tier: str, scope: CallScope, verdict: Verdict, *, held: bool = False
    ) -> None:
        task = run.task
        cost = self._ledger.spent(Scope(task.run_id, task.item_id, scope.attempt))
        error = run.errors.get(scope.attempt, "")
        seen = Verdict.FAILED if held else verdict
        tried = Tried(tier, seen, cost, error, held, run.raced.get(scope.attempt))
        run.records[scope.attempt] = tried
        run.tried.append(tried)
        run.everything.append(tried)
        self._notify(AttemptEvent(task.item_id, task.purpose, tier, scope.attempt, verdict, cost, error))
        self._ledger.record_attempt(
            run_id=task.run_id,
            item_id=task.item_id,
            attempt=scope.attempt,
            repo=task.repo,
            kind=task.kind,
            tier=tier,
            verdict=verdict.value,
            cost=cost,
        )

    async def _attempt(self, tier: str, scope: CallScope, run: _Run) -> tuple[Verdict, Completion | None]:
        completion = await self._call(tier, scope, run)
        if completion is None:
            return Verdict.ERROR, None
        return await run.validate(completion, scope), completion

    async def _call(self, tier: str, scope: CallScope, run: _Run) -> Completion | None:
        """The attempt's model calls (its follow-ups included); None when the tier could not serve."""
        # Building a request (context retrieval, git) is blocking work: off the event loop, so
        # other items' calls and subprocesses go on meanwhile.
        request = await asyncio.to_thread(run.make_request, scope)
        try:
            completion = await self._router.complete(request, tier=tier)
            for _ in range(run.max_follow_ups if run.follow_up is not None else 0):
                assert run.follow_up is not None
                more = await asyncio.to_thread(run.follow_up, request, completion)
                if more is None:
                    break
                request = more
                completion = await self._router.complete(request, tier=tier)
        except RoutingError as exc:
            run.errors[scope.attempt] = str(exc)  # the transport error is the attempt's reason
            return None
        return completion


@dataclass
class _Run:
    """One task's drive: its callbacks, and the attempts so far."""

    task: Task
    make_request: MakeRequest
    validate: Validate
    follow_up: FollowUp | None
    max_follow_ups: int
    converge: Converge | None = None
    # Validated candidates held back for want of agreement, to cross-check later ones against.
    pool: list[tuple[CallScope, Completion]] = field(default_factory=list)
    # Transport errors by attempt number: the reason an attempt that never got an answer failed.
    errors: dict[int, str] = field(default_factory=dict)
    # Adopted speculative attempts by number: the attempt each started during the validation of.
    raced: dict[int, int] = field(default_factory=dict)
    tried: list[Tried] = field(default_factory=list)  # what the policy sees
    records: dict[int, Tried] = field(default_factory=dict)  # the judged attempts by number
    # Every attempt in number order, cancelled speculative ones too (verdict NONE), for costs.
    everything: list[Tried] = field(default_factory=list)
    ahead: _Ahead | None = None
    next_number: int = -1

    def __post_init__(self) -> None:
        self.next_number = self.task.attempt_offset

    def scope(self) -> CallScope:
        t = self.task
        scope = CallScope(t.run_id, t.purpose, t.item_id, self.next_number, t.kind, t.repo)
        self.next_number += 1
        return scope
