"""Adapter for Anthropic's Messages API (the premium tier).

As with the OpenAI adapter, the SDK does not retry; the router does, and records every try.
"""

from __future__ import annotations

import time

import anthropic
from anthropic.types import Message as AnthropicMessage
from anthropic.types import MessageParam, TextBlock

from bot.errors import MalformedResponse
from bot.models.base import ITEM_HEADER, PURPOSE_HEADER, ChatRequest, Completion, NamedModel, Usage
from bot.models.status import SdkErrors, translate_sdk_error


class AnthropicProvider(NamedModel):
    def __init__(
        self, *, name: str, model: str, base_url: str | None, api_key: str | None, timeout_s: float
    ) -> None:
        super().__init__(name=name, model=model)
        self._client = anthropic.AsyncAnthropic(
            api_key=api_key or "not-set", base_url=base_url, timeout=timeout_s, max_retries=0
        )

    async def complete(self, request: ChatRequest) -> Completion:
        # System text goes in the request's own field; the conversation alternates user/assistant.
        messages: list[MessageParam] = [
            {"role": "assistant", "content": m.content}
            if m.role == "assistant"
            else {"role": "user", "content": m.content}
            for m in request.messages
            if m.role != "system"
        ]
        started = time.monotonic()
        try:
            response = await self._client.messages.create(
                model=self._model,
                max_tokens=request.max_tokens,
                messages=messages,
                extra_headers={
                    PURPOSE_HEADER: request.scope.purpose.value,
                    ITEM_HEADER: request.scope.item_id,
                },
                system=request.system or anthropic.omit,
            )
        except Exception as exc:
            raise translate_sdk_error(exc, _ERRORS, provider=self._name) from exc
        return _completion(response, provider=self._name, latency_s=time.monotonic() - started)

    async def aclose(self) -> None:
        await self._client.close()


_ERRORS = SdkErrors(
    timeout=anthropic.APITimeoutError,
    connection=anthropic.APIConnectionError,
    status=anthropic.APIStatusError,
    validation=anthropic.APIResponseValidationError,
    base=anthropic.AnthropicError,
)


def _completion(response: AnthropicMessage, *, provider: str, latency_s: float) -> Completion:
    # The SDK builds responses without validating them, so a body of the wrong shape surfaces as
    # odd attribute types; check what is used.
    content = getattr(response, "content", None)
    u = getattr(response, "usage", None)
    if not isinstance(content, list):
        raise MalformedResponse("response is not a Messages API message", provider=provider)
    texts = [block.text for block in content if isinstance(block, TextBlock)]
    if not texts:
        raise MalformedResponse("response has no text content", provider=provider)
    # An answer without token counts was still billed: the router charges its worst case.
    reported = u is not None and isinstance(getattr(u, "input_tokens", None), int)
    usage = Usage()
    if reported and u is not None:
        cache_read = u.cache_read_input_tokens or 0
        cache_write = u.cache_creation_input_tokens or 0
        usage = Usage(
            # Anthropic counts cached parts apart from input_tokens; the bot's Usage includes them.
            input_tokens=u.input_tokens + cache_read + cache_write,
            output_tokens=u.output_tokens if isinstance(u.output_tokens, int) else 0,
            cache_read_tokens=cache_read,
            cache_write_tokens=cache_write,
        )
    return Completion(
        text="".join(texts),
        usage=usage,
        model=response.model,
        finish_reason=response.stop_reason or "",
        latency_s=latency_s,
        usage_reported=reported,
    )
