"""Drives one task through the escalation policy: decide, call, validate, record, repeat.

The policy chooses tiers, the router makes the calls, and a caller-supplied validator judges each
answer. The per-item loop of a run builds on this; the demo and the replay benchmark use it as is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import assert_never

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import Ledger, Scope
from bot.domain import CallScope, Purpose, TaskSize, Verdict
from bot.errors import BudgetExceeded, RoutingError
from bot.models.base import ChatRequest, Completion
from bot.routing.policy import Attempt, EscalationContext, EscalationPolicy, Stop, Tried
from bot.routing.router import Router

MakeRequest = Callable[[CallScope], ChatRequest]
Validate = Callable[[Completion, CallScope], Awaitable[Verdict]]
# Given an answer and the request it answered: the next request of the same attempt (the model
# asked for more context), or None when the answer is to be judged.
FollowUp = Callable[[ChatRequest, Completion], ChatRequest | None]


@dataclass(frozen=True)
class TaskOutcome:
    verdict: Verdict
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


class Driver:
    def __init__(
        self,
        *,
        router: Router,
        policy: EscalationPolicy,
        ledger: Ledger,
        guard: BudgetGuard,
        on_attempt: OnAttempt | None = None,
    ) -> None:
        self._notify = on_attempt or (lambda event: None)
        self._router = router
        self._policy = policy
        self._ledger = ledger
        self._guard = guard

    async def run(
        self,
        task: Task,
        *,
        make_request: MakeRequest,
        validate: Validate,
        follow_up: FollowUp | None = None,
        max_follow_ups: int = 0,
    ) -> TaskOutcome:
        """``follow_up`` may turn an answer into another call of the same attempt, at most
        ``max_follow_ups`` times; every such call is budgeted and recorded like the first."""
        tried: list[Tried] = []
        base_scope = CallScope(task.run_id, task.purpose, task.item_id, 0, task.kind, task.repo)
        while True:
            ctx = EscalationContext(
                purpose=task.purpose,
                tiers=self._router.tier_names,
                tried=tuple(tried),
                size=task.size,
                kind=task.kind,
                spent=sum((t.cost for t in tried), Decimal(0)),
                remaining=self._guard.remaining(base_scope),
                history=self._ledger.history(repo=task.repo, kind=task.kind),
            )
            decision = self._policy.decide(ctx)
            if isinstance(decision, Stop):
                return TaskOutcome(
                    tried[-1].verdict if tried else Verdict.NONE, tuple(tried), decision.reason
                )
            if isinstance(decision, Attempt):
                first = task.attempt_offset + len(tried)
                scopes = [
                    CallScope(task.run_id, task.purpose, task.item_id, first + i, task.kind, task.repo)
                    for i in range(decision.parallel)
                ]
                for s in scopes:
                    self._notify(AttemptEvent(task.item_id, task.purpose, decision.tier, s.attempt))
                try:
                    results = await asyncio.gather(
                        *(
                            self._attempt(decision.tier, s, make_request, validate, follow_up, max_follow_ups)
                            for s in scopes
                        )
                    )
                except BudgetExceeded as exc:
                    return TaskOutcome(Verdict.ERROR, tuple(tried), f"budget_exceeded: {exc}")
                shipped: Completion | None = None
                for scope, (verdict, completion, error) in zip(scopes, results, strict=True):
                    cost = self._ledger.spent(Scope(task.run_id, task.item_id, scope.attempt))
                    tried.append(Tried(decision.tier, verdict, cost, error))
                    self._notify(
                        AttemptEvent(
                            task.item_id, task.purpose, decision.tier, scope.attempt, verdict, cost, error
                        )
                    )
                    self._ledger.record_attempt(
                        run_id=task.run_id,
                        item_id=task.item_id,
                        attempt=scope.attempt,
                        repo=task.repo,
                        kind=task.kind,
                        tier=decision.tier,
                        verdict=verdict.value,
                        cost=cost,
                    )
                    if verdict is Verdict.PASSED and shipped is None:
                        shipped = completion
                if shipped is not None:
                    return TaskOutcome(Verdict.PASSED, tuple(tried), "validated", shipped)
                continue
            assert_never(decision)

    async def _attempt(
        self,
        tier: str,
        scope: CallScope,
        make_request: MakeRequest,
        validate: Validate,
        follow_up: FollowUp | None,
        max_follow_ups: int,
    ) -> tuple[Verdict, Completion | None, str]:
        # Building a request (context retrieval, git) is blocking work: off the event loop, so
        # other items' calls and subprocesses go on meanwhile.
        request = await asyncio.to_thread(make_request, scope)
        try:
            completion = await self._router.complete(request, tier=tier)
            for _ in range(max_follow_ups if follow_up is not None else 0):
                assert follow_up is not None
                more = await asyncio.to_thread(follow_up, request, completion)
                if more is None:
                    break
                request = more
                completion = await self._router.complete(request, tier=tier)
        except RoutingError as exc:
            return Verdict.ERROR, None, str(exc)
        return await validate(completion, scope), completion, ""
