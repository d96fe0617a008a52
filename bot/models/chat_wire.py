"""One reading of an OpenAI-style chat completion, for every SDK that returns one (openai, groq).

The SDKs build responses without validating them, so a body of the wrong shape surfaces as odd
attribute types: everything used is checked here, by shape, without importing an SDK. An answer
whose usage is missing or malformed says so (``usage_reported=False``): the ledger then charges
the call's worst case instead of $0.
"""

from __future__ import annotations

from bot.errors import MalformedResponse
from bot.models.base import Completion, Usage


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(raw: object) -> Usage | None:
    prompt = _count(getattr(raw, "prompt_tokens", None))
    completion = _count(getattr(raw, "completion_tokens", None))
    if prompt is None or completion is None:
        return None
    details = getattr(raw, "prompt_tokens_details", None)
    return Usage(
        input_tokens=prompt,
        output_tokens=completion,
        cache_read_tokens=_count(getattr(details, "cached_tokens", None)) or 0,
        cache_write_tokens=_count(getattr(details, "cache_write_tokens", None)) or 0,
    )


def completion_from(response: object, *, provider: str, latency_s: float) -> Completion:
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise MalformedResponse("response has no choices", provider=provider)
    choice = choices[0]
    text = getattr(getattr(choice, "message", None), "content", None)
    if not isinstance(text, str):
        raise MalformedResponse("response message has no text content", provider=provider)
    usage = _usage(getattr(response, "usage", None))
    model = getattr(response, "model", None)
    finish = getattr(choice, "finish_reason", None)
    return Completion(
        text=text,
        usage=usage or Usage(),
        model=model if isinstance(model, str) else "",
        finish_reason=finish if isinstance(finish, str) else "",
        latency_s=latency_s,
        usage_reported=usage is not None,
    )
