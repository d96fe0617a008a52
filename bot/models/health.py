"""Is the local tier usable? Ask the OpenAI-compatible server for its models, then for one tiny
completion, within a timeout. ``milestone-bot runner check`` prints the result; workflows use its
exit code to skip the local tier when the GPU runner's server is down, slow or serving the wrong
model."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from bot.domain import CallScope, Purpose
from bot.errors import ProviderError
from bot.models.base import ChatRequest, Message
from bot.models.openai_compat import OpenAICompatProvider


@dataclass(frozen=True)
class Health:
    usable: bool
    model: str
    detail: str  # why not, or what was measured
    latency_s: float = 0.0
    tokens_per_s: float = 0.0

    def render(self) -> str:
        if not self.usable:
            return f"local tier NOT usable: {self.detail}"
        return (
            f"local tier usable: model {self.model}, latency {self.latency_s:.2f}s, "
            f"{self.tokens_per_s:.1f} tokens/s"
        )


async def check_server(
    base_url: str, model: str, *, api_key: str | None = None, timeout_s: float = 30.0
) -> Health:
    provider = OpenAICompatProvider(
        name="local", model=model, base_url=base_url, api_key=api_key, timeout_s=timeout_s
    )
    started = time.monotonic()
    try:
        async with asyncio.timeout(timeout_s):
            served = await provider.models()
            if model not in served:
                listed = ", ".join(served) or "none"
                return Health(
                    False, model, f"the server at {base_url} does not serve {model!r} (it serves: {listed})"
                )
            request = ChatRequest(
                (Message("user", "Reply with the word ok."),),
                CallScope("runner-check", Purpose.TRIAGE),
                max_tokens=16,
            )
            answer = await provider.complete(request)
    except TimeoutError:
        return Health(False, model, f"no answer from {base_url} within {timeout_s:g}s")
    except ProviderError as exc:
        return Health(False, model, f"{base_url}: {exc}")
    finally:
        await provider.aclose()
    latency = time.monotonic() - started
    if not answer.text.strip():
        return Health(False, model, "the server answered with an empty completion")
    tokens = answer.usage.output_tokens
    return Health(
        True, model, f"{tokens} tokens", latency, tokens / answer.latency_s if answer.latency_s else 0.0
    )
