"""Free-tier quotas (requests and tokens per minute and per day), tracked per provider.

Windows are rolling. The day window is seeded from the ledger, so a quota spent by earlier runs on
the same runner is still respected. A provider that reports its limits in response headers (Groq)
is also held to what the server said: requests and tokens remaining until the reset, and a
``retry-after`` — the configured numbers are guesses, the headers are the truth.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Iterable

from bot.config import Quota
from bot.models.limits import RateLimits

ServerLimits = Callable[[], RateLimits | None]

MINUTE = 60.0
DAY = 86_400.0


class QuotaTracker:
    def __init__(
        self,
        quota: Quota | None,
        *,
        clock: Callable[[], float] = time.time,
        history: Iterable[tuple[float, int]] = (),
        server: ServerLimits | None = None,
    ) -> None:
        self._server = server or (lambda: None)
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
        return self._server_blocked(tokens)

    def _server_blocked(self, tokens: int) -> str | None:
        limits = self._server()
        if limits is None:
            return None
        now = self._clock()
        elapsed = now - limits.observed_at
        if limits.retry_after_s is not None and elapsed < limits.retry_after_s:
            return f"the server asked to wait {limits.retry_after_s - elapsed:.1f}s (retry-after)"
        # Calls made since the answer that carried the headers use up what it said was left; the
        # first one recorded after it is that answer itself, already counted by the server.
        since = [t for ts, t in self._events if ts >= limits.observed_at][1:]
        if (
            limits.remaining_requests is not None
            and (limits.reset_requests_s is None or elapsed < limits.reset_requests_s)
            and limits.remaining_requests - len(since) < 1
        ):
            wait = f" for {limits.reset_requests_s - elapsed:.1f}s" if limits.reset_requests_s else ""
            return f"the server reports no requests left{wait} (x-ratelimit-remaining-requests)"
        if (
            limits.remaining_tokens is not None
            and (limits.reset_tokens_s is None or elapsed < limits.reset_tokens_s)
            and limits.remaining_tokens - sum(since) < tokens
        ):
            left = limits.remaining_tokens - sum(since)
            wait = f" for {limits.reset_tokens_s - elapsed:.1f}s" if limits.reset_tokens_s else ""
            return (
                f"the server reports {left} tokens left{wait}, the call needs up to {tokens}"
                " (x-ratelimit-remaining-tokens)"
            )
        return None

    def record(self, tokens: int) -> None:
        self._events.append((self._clock(), tokens))
