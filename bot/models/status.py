"""HTTP status -> the error tree; the one rule every adapter follows."""

from __future__ import annotations

from bot.errors import ProviderError, ProviderRejected, ProviderUnavailable, RateLimited


def error_for_status(
    status: int, message: str, *, provider: str, retry_after: float | None = None
) -> ProviderError:
    """429 is rate limiting; 408, 409 and 5xx are transient; every other 4xx means the request is wrong."""
    if status == 429:
        return RateLimited(message, provider=provider, retry_after=retry_after)
    if status in (408, 409) or status >= 500:
        return ProviderUnavailable(f"HTTP {status}: {message}", provider=provider, status=status)
    return ProviderRejected(f"HTTP {status}: {message}", provider=provider, status=status)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds form); None when absent or unreadable."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # an HTTP date: rare for APIs, and treated as "no hint"
    return seconds if seconds >= 0 else None
