"""HTTP status -> the error tree; the one rule every adapter follows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from bot.errors import MalformedResponse, ProviderError, ProviderRejected, ProviderUnavailable, RateLimited


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


class _Response(Protocol):
    @property
    def headers(self) -> Mapping[str, str]: ...


class _StatusError(Protocol):
    status_code: int
    message: str

    @property
    def response(self) -> _Response: ...


@dataclass(frozen=True)
class SdkErrors:
    """An SDK's exception classes. The openai and anthropic SDKs are generated from one template,
    so one translation serves both; each adapter passes its own SDK's classes."""

    timeout: type[Exception]
    connection: type[Exception]
    status: type[Exception]
    validation: type[Exception]
    base: type[Exception]


def translate_sdk_error(exc: Exception, sdk: SdkErrors, *, provider: str) -> ProviderError:
    """The one translation of an SDK's exception into the error tree; foreign errors re-raise."""
    if isinstance(exc, sdk.timeout):
        return ProviderUnavailable("request timed out", provider=provider)
    if isinstance(exc, sdk.connection):
        return ProviderUnavailable(f"connection failed: {exc}", provider=provider)
    if isinstance(exc, sdk.status):
        status: _StatusError = exc  # type: ignore[assignment]
        retry_after = parse_retry_after(status.response.headers.get("retry-after"))
        return error_for_status(
            status.status_code, status.message, provider=provider, retry_after=retry_after
        )
    if isinstance(exc, (sdk.validation, ValueError)):
        # ValueError: the SDK could not decode the body (truncated JSON).
        return MalformedResponse(f"unreadable response: {exc}", provider=provider)
    if isinstance(exc, sdk.base):
        return ProviderUnavailable(str(exc), provider=provider)
    raise exc
