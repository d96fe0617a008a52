"""Rate limits a server reports in its response headers (Groq, OpenAI): what is left, and when it
refills. The quota tracker prefers these to the configured guesses."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration(text: str | None) -> float | None:
    """Seconds from Groq's reset format (``2m59.56s``, ``7.66s``, ``120ms``, ``1h2m``) or plain
    seconds; None when absent or unreadable."""
    if text is None or not text.strip():
        return None
    value = text.strip()
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    parts = _DURATION.findall(value)
    if not parts or "".join(n + u for n, u in parts) != value:
        return None
    return sum(float(n) * _UNIT_S[u] for n, u in parts)


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class RateLimits:
    """One response's view of the limits, taken at ``observed_at`` (the tracker's clock)."""

    observed_at: float
    limit_requests: int | None = None
    limit_tokens: int | None = None
    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests_s: float | None = None
    reset_tokens_s: float | None = None
    retry_after_s: float | None = None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str], *, now: float) -> RateLimits | None:
        """None when the response carries none of the headers."""
        get = {k.lower(): v for k, v in headers.items()}.get
        limits = cls(
            observed_at=now,
            limit_requests=_int(get("x-ratelimit-limit-requests")),
            limit_tokens=_int(get("x-ratelimit-limit-tokens")),
            remaining_requests=_int(get("x-ratelimit-remaining-requests")),
            remaining_tokens=_int(get("x-ratelimit-remaining-tokens")),
            reset_requests_s=parse_duration(get("x-ratelimit-reset-requests")),
            reset_tokens_s=parse_duration(get("x-ratelimit-reset-tokens")),
            retry_after_s=parse_duration(get("retry-after")),
        )
        return None if limits == cls(observed_at=now) else limits
