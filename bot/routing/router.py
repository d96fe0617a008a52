"""The router: every model call goes through here.

Within a tier it handles transport trouble: retries with backoff (tenacity) on transient errors,
honours Retry-After up to a cap (past the cap it skips the provider instead of stalling the job),
falls back to the tier's next provider, keeps failing providers out with a circuit breaker, and
respects free-tier quotas. Which tier to call is not decided here: that is escalation, a policy
over validation results (bot/routing/policy.py).

Every try reserves its worst-case cost with the budget guard first and is recorded in the ledger
after, whatever its outcome.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from bot.budget.guard import BudgetGuard
from bot.budget.ledger import CallRecord, Ledger
from bot.budget.pricing import call_cost, worst_case_cost
from bot.config import GpuPrice, ProviderConfig, Routing
from bot.errors import (
    BotError,
    BudgetExceeded,
    DeadlineExceeded,
    MalformedResponse,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
    RoutingError,
)
from bot.models.base import ChatRequest, Completion, Provider, Usage
from bot.routing.breaker import CircuitBreaker
from bot.routing.quota import QuotaTracker

log = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]

# A call billed more than this many times its reservation marks its provider as misreporting.
OVERRUN_LIMIT = 2
# The whole call's deadline is the provider's timeout_s plus this.
DEADLINE_GRACE_S = 1.0


def estimate_prompt_tokens(request: ChatRequest) -> int:
    """An upper bound on the prompt's tokens: no tokenizer packs less than a byte into a token,
    plus room for the chat template's wrapping."""
    return sum(len(m.content.encode("utf-8")) + 16 for m in request.messages) + 32


def outcome_of(exc: BaseException) -> str:
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, ProviderRejected):
        return "rejected"
    if isinstance(exc, MalformedResponse):
        return "malformed"
    if isinstance(exc, ProviderUnavailable):
        return "unavailable"
    return "error"


@dataclass
class Slot:
    """One provider in a tier, with its health and load."""

    config: ProviderConfig
    provider: Provider
    breaker: CircuitBreaker
    quota: QuotaTracker
    in_flight: int = 0
    disabled: str | None = None  # why it can never serve in this run (e.g. its API key is not set)
    # Reservations are the estimated worst case times this: raised when the provider bills more.
    estimate_factor: Decimal = Decimal(1)

    @property
    def name(self) -> str:
        return self.config.display_name


@dataclass
class TierSlots:
    name: str
    balance: str
    slots: list[Slot]
    turn: int = field(default=0)


class Router:
    def __init__(
        self,
        tiers: Sequence[TierSlots],
        *,
        routing: Routing,
        guard: BudgetGuard,
        ledger: Ledger,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._tiers: Mapping[str, TierSlots] = {t.name: t for t in tiers}
        self._routing = routing
        self._guard = guard
        self._ledger = ledger
        self._sleep = sleep

    @property
    def tier_names(self) -> tuple[str, ...]:
        return tuple(self._tiers)

    def providers(self, tier: str) -> list[Slot]:
        return list(self._tier(tier).slots)

    def _tier(self, tier: str) -> TierSlots:
        try:
            return self._tiers[tier]
        except KeyError:
            raise RoutingError(f"unknown tier {tier!r}; tiers are: {', '.join(self._tiers)}") from None

    def _order(self, tier: TierSlots) -> list[Slot]:
        slots = tier.slots
        if tier.balance == "round_robin" and slots:
            start = tier.turn % len(slots)
            tier.turn += 1
            return slots[start:] + slots[:start]
        if tier.balance == "least_busy":
            return sorted(slots, key=lambda s: s.in_flight)  # stable: config order breaks ties
        return list(slots)

    async def complete(self, request: ChatRequest, *, tier: str) -> Completion:
        """Answer ``request`` from ``tier``; raises ``BudgetExceeded`` or ``RoutingError``."""
        tier_slots = self._tier(tier)
        tokens = estimate_prompt_tokens(request) + request.max_tokens
        errors: list[BotError] = []
        skipped: list[str] = []
        refusal: BudgetExceeded | None = None
        for slot in self._order(tier_slots):
            if slot.disabled:
                skipped.append(f"{slot.name}: {slot.disabled}")
                continue
            if not slot.breaker.allow():
                skipped.append(f"{slot.name}: circuit open for {slot.breaker.retry_in():.0f}s more")
                continue
            blocked = slot.quota.blocked(tokens)
            if blocked:
                skipped.append(f"{slot.name}: {blocked}")
                continue
            try:
                return await self._with_retries(slot, request, tier)
            except BudgetExceeded as exc:
                refusal = refusal or exc  # a cheaper provider of the tier may still fit
            except ProviderError as exc:
                log.warning("tier %s: provider %s failed: %s; falling back", tier, slot.name, exc)
                errors.append(exc)
        if refusal is not None:
            raise refusal
        detail = f" (skipped: {'; '.join(skipped)})" if skipped else ""
        raise RoutingError(f"tier {tier!r}: no provider could serve the call{detail}", errors=tuple(errors))

    async def _with_retries(self, slot: Slot, request: ChatRequest, tier: str) -> Completion:
        cap = self._routing.retry_after_cap_s
        backoff = wait_exponential_jitter(
            multiplier=self._routing.backoff_initial_s,
            max=self._routing.backoff_max_s,
            jitter=self._routing.backoff_initial_s,
        )

        def retryable(exc: BaseException) -> bool:
            if isinstance(exc, RateLimited) and exc.retry_after is not None and exc.retry_after > cap:
                return False
            transient = isinstance(exc, (ProviderUnavailable, MalformedResponse, RateLimited))
            return transient and slot.breaker.state == "closed"

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            if isinstance(exc, RateLimited) and exc.retry_after is not None:
                return exc.retry_after  # at most the cap, or it would not be retried
            return float(backoff(state))

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._routing.retries + 1),
            retry=retry_if_exception(retryable),
            wait=wait,
            sleep=self._sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._try_once(slot, request, tier)
        raise AssertionError("unreachable: tenacity re-raises the last error")  # pragma: no cover

    async def _try_once(self, slot: Slot, request: ChatRequest, tier: str) -> Completion:
        scope = request.scope
        base = worst_case_cost(
            slot.config, prompt_tokens=estimate_prompt_tokens(request), max_tokens=request.max_tokens
        )
        worst = base * slot.estimate_factor
        reservation = self._guard.reserve(scope, worst)
        slot.in_flight += 1
        started = time.monotonic()
        # A second past the SDK's own timeout, so a server silent for ``timeout_s`` still fails as
        # the SDK's timeout (nothing came: unbilled), even on a loaded machine; a deadline cut
        # means an answer was under way.
        deadline = slot.config.timeout_s + DEADLINE_GRACE_S
        try:
            try:
                # One deadline for the whole call (connect, first byte, every byte after): the SDKs'
                # timeouts are per read, which a server sending a byte a second never trips.
                async with asyncio.timeout(deadline):
                    completion = await slot.provider.complete(request)
            except TimeoutError:
                raise DeadlineExceeded(
                    f"no complete answer within the {deadline:.3g}s deadline", provider=slot.name
                ) from None
        except ProviderError as exc:
            latency = time.monotonic() - started
            self._on_failure(slot, exc)
            # A self-hosted model burned GPU time even on a failed call; APIs do not bill errors,
            # but one cut off mid-answer may have billed it all: that is charged its worst case.
            cost = (
                call_cost(slot.config, Usage(), latency_s=latency)
                if isinstance(slot.config.price, GpuPrice)
                else worst
                if isinstance(exc, DeadlineExceeded)
                else None
            )
            self._record(slot, request, tier, Usage(), cost, latency, outcome_of(exc), str(exc), reservation)
            raise
        except asyncio.CancelledError:
            # Cancelled in flight (a speculative attempt no longer needed): the request was sent
            # and a provider finishes and bills a non-streamed answer even when the client has
            # gone, so the call is recorded at its worst case (a GPU's at the time it took).
            latency = time.monotonic() - started
            gpu = isinstance(slot.config.price, GpuPrice)
            spent = call_cost(slot.config, Usage(), latency_s=latency) if gpu else worst
            note = "cancelled in flight"
            self._record(slot, request, tier, Usage(), spent, latency, "cancelled", note, reservation)
            raise
        except BaseException:
            self._guard.release(
                reservation
            )  # nothing was sent or nothing was billed: a script error (a cancel is above)
            raise
        finally:
            slot.in_flight -= 1
        latency = time.monotonic() - started
        slot.breaker.record_success()
        cost = call_cost(slot.config, completion.usage, latency_s=latency)
        note = ""
        if not completion.usage_reported:
            # No token counts: the call was billed all the same. Charge the most it could cost.
            cost, note = max(cost, worst), "answer had no usage; charged its worst case"
        elif cost > worst:
            # Only a provider counting tokens unlike the estimate gets here. The cost is recorded
            # in full, and its estimate is corrected (scaled by what it billed) before it is called
            # again, so later reservations hold the limits. One billing far above what was
            # reserved is misreporting: that provider is not called again in this run.
            note = f"usage above the reserved worst case (${worst}); charged in full"
            corrected = cost / base if base > 0 else Decimal(OVERRUN_LIMIT)
            slot.estimate_factor = max(slot.estimate_factor, corrected)
            if base <= 0 or cost > worst * OVERRUN_LIMIT:
                slot.disabled = (
                    f"reported usage costing ${cost}, over {OVERRUN_LIMIT}x the ${worst} worst case "
                    "reserved for it; not called again in this run (correct its price or limits)"
                )
            log.error("%s: call cost $%s, above its worst case $%s; usage %s", slot.name, cost, worst,
                      completion.usage)  # fmt: skip
        call_id = self._record(slot, request, tier, completion.usage, cost, latency, "ok", note, reservation)
        return dataclasses.replace(completion, call_id=call_id, latency_s=latency)

    def _on_failure(self, slot: Slot, exc: ProviderError) -> None:
        cap = self._routing.retry_after_cap_s
        if isinstance(exc, RateLimited) and exc.retry_after is not None and exc.retry_after > cap:
            log.warning(
                "%s asks to wait %.0fs (cap %.0fs): skipping it until then", slot.name, exc.retry_after, cap
            )
            slot.breaker.trip(exc.retry_after)
        elif isinstance(exc, ProviderRejected) and exc.status not in (401, 403):
            return  # the request was wrong, not the provider: no strike against its health
        else:
            slot.breaker.record_failure()

    def _record(
        self,
        slot: Slot,
        request: ChatRequest,
        tier: str,
        usage: Usage,
        cost: Decimal | None,
        latency: float,
        outcome: str,
        error: str,
        reservation: int,
    ) -> int:
        scope = request.scope
        slot.quota.record(usage.input_tokens + usage.output_tokens)
        record = CallRecord(
            run_id=scope.run_id,
            item_id=scope.item_id,
            attempt=scope.attempt,
            purpose=scope.purpose.value,
            tier=tier,
            provider=slot.name,
            model=slot.provider.model,
            usage=usage,
            cost=cost if cost is not None else Decimal(0),
            latency_s=latency,
            outcome=outcome,
            error=error,
        )
        call_id = self._ledger.record_call(record, reservation=reservation)
        self._guard.note_spend(scope)
        return call_id
