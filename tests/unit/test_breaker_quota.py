from __future__ import annotations

from bot.config import Quota
from bot.routing.breaker import CircuitBreaker
from bot.routing.quota import QuotaTracker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_after_threshold_and_half_opens_after_cooldown() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown_s=60, clock=clock)
    for _ in range(2):
        breaker.record_failure()
        assert breaker.allow()
    breaker.record_failure()
    assert breaker.state == "open" and not breaker.allow()
    clock.now += 61
    assert breaker.state == "half-open"
    assert breaker.allow() and not breaker.allow()  # one trial call only
    breaker.record_failure()  # the trial failed: open again
    assert breaker.state == "open"
    clock.now += 61
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state == "closed" and breaker.allow()


def test_success_resets_the_failure_count() -> None:
    breaker = CircuitBreaker(failures=2, cooldown_s=60, clock=Clock())
    breaker.record_failure()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state == "closed"


def test_trip_keeps_provider_out_for_retry_after() -> None:
    clock = Clock()
    breaker = CircuitBreaker(failures=3, cooldown_s=10, clock=clock)
    breaker.trip(3600)
    clock.now += 1800
    assert not breaker.allow() and round(breaker.retry_in()) == 1800


def test_quota_counts_requests_and_tokens_in_rolling_windows() -> None:
    clock = Clock()
    quota = QuotaTracker(Quota(requests_per_minute=2, tokens_per_day=1000), clock=clock)
    assert quota.blocked(100) is None
    quota.record(100)
    quota.record(100)
    assert quota.blocked(100) == "request quota per minute reached (2/2)"
    clock.now += 61
    assert quota.blocked(100) is None
    assert quota.blocked(900) == "token quota per day reached (200+900 > 1000)"
    clock.now += 86_400
    assert quota.blocked(900) is None


def test_quota_is_seeded_from_earlier_runs() -> None:
    clock = Clock()
    quota = QuotaTracker(Quota(requests_per_day=3), clock=clock, history=[(clock.now - 10, 5)] * 3)
    assert quota.blocked(1) == "request quota per day reached (3/3)"
