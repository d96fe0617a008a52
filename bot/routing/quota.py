"""Free-tier quotas (requests and tokens per minute and per day), tracked per provider.

Windows are rolling. The day window is seeded from the ledger, so a quota spent by earlier runs on
the same runner is still respected.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from bot.config import Quota

MINUTE = 60.0
DAY = 86_400.0


class QuotaTracker:
    def __init__(
        self,
        quota: Quota | None,
        *,
        clock: Callable[[], float] = time.time,
        history: Iterable[tuple[float, int]] = (),
    ) -> None:
        self._quota = quota or Quota()
        self._clock = clock
        self._events: deque[tuple[float, int]] = deque(history)

    def _window(self, seconds: float) -> tuple[int, int]:
        start = self._clock() - seconds
        while self._events and self._events[0][0] < self._clock() - DAY:
            self._events.popleft()
        inside = [tokens for ts, tokens in self._events if ts >= start]
        return len(inside), sum(inside)

    def blocked(self, tokens: int) -> str | None:
        """Why a call of ``tokens`` would break a quota now, or None if it fits."""
        q = self._quota
        for seconds, label, max_requests, max_tokens in (
            (MINUTE, "minute", q.requests_per_minute, q.tokens_per_minute),
            (DAY, "day", q.requests_per_day, q.tokens_per_day),
        ):
            if max_requests is None and max_tokens is None:
                continue
            requests, used = self._window(seconds)
            if max_requests is not None and requests + 1 > max_requests:
                return f"request quota per {label} reached ({requests}/{max_requests})"
            if max_tokens is not None and used + tokens > max_tokens:
                return f"token quota per {label} reached ({used}+{tokens} > {max_tokens})"
        return None

    def record(self, tokens: int) -> None:
        self._events.append((self._clock(), tokens))
