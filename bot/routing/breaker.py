"""A circuit breaker per provider: after repeated failures, keep it out of rotation for a cooldown."""

from __future__ import annotations

import time
from collections.abc import Callable


class CircuitBreaker:
    """Closed (calls flow) -> open after ``failures`` consecutive failures (calls skip the provider)
    -> half-open after ``cooldown_s`` (one trial call; success closes, failure re-opens)."""

    def __init__(
        self, *, failures: int, cooldown_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = failures
        self._cooldown = cooldown_s
        self._clock = clock
        self._consecutive = 0
        self._open_until: float | None = None
        self._trial_out = False

    @property
    def state(self) -> str:
        if self._open_until is None:
            return "closed"
        return "open" if self._clock() < self._open_until else "half-open"

    def allow(self) -> bool:
        state = self.state
        if state == "closed":
            return True
        if state == "half-open" and not self._trial_out:
            self._trial_out = True
            return True
        return False

    def record_success(self) -> None:
        self._consecutive = 0
        self._open_until = None
        self._trial_out = False

    def record_failure(self) -> None:
        self._consecutive += 1
        if self.state == "half-open" or self._consecutive >= self._threshold:
            self.trip(self._cooldown)

    def trip(self, seconds: float) -> None:
        """Open now for ``seconds`` (also used when a 429 asks for a wait longer than the cap)."""
        until = self._clock() + seconds
        self._open_until = max(until, self._open_until or until)
        self._trial_out = False

    def retry_in(self) -> float:
        return 0.0 if self._open_until is None else max(0.0, self._open_until - self._clock())
