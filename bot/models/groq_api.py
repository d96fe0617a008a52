"""Adapter for Groq on its own SDK (``groq``). The wire format is OpenAI's; what this adds is the
rate-limit headers of every answer (and of a 429), kept for the quota tracker so the free tier is
used up to the server's real limit and never past it.

The SDK's own retries are off (``max_retries=0``): the router owns retrying and fallback.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import groq
from groq.types.chat import ChatCompletionMessageParam

from bot.models.base import ITEM_HEADER, PURPOSE_HEADER, ChatRequest, Completion, Message, NamedModel
from bot.models.chat_wire import completion_from
from bot.models.limits import RateLimits
from bot.models.status import SdkErrors, translate_sdk_error

_ERRORS = SdkErrors(
    timeout=groq.APITimeoutError,
    connection=groq.APIConnectionError,
    status=groq.APIStatusError,
    validation=groq.APIResponseValidationError,
    base=groq.GroqError,
)


class GroqProvider(NamedModel):
    def __init__(
        self,
        *,
        name: str,
        model: str,
        base_url: str | None,
        api_key: str | None,
        timeout_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(name=name, model=model)
        self._clock = clock
        self._limits: RateLimits | None = None
        # The SDK refuses to start without a key; a missing one is caught by pre-flight first.
        self._client = groq.AsyncGroq(
            api_key=api_key or "missing", base_url=base_url, timeout=timeout_s, max_retries=0
        )

    def rate_limits(self) -> RateLimits | None:
        """The limits the last answer (or 429) reported; None before the first call."""
        return self._limits

    async def complete(self, request: ChatRequest) -> Completion:
        messages = [_param(m) for m in request.messages]
        started = time.monotonic()
        try:
            raw = await self._client.chat.completions.with_raw_response.create(
                model=self._model,
                messages=messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                extra_headers={
                    PURPOSE_HEADER: request.scope.purpose.value,
                    ITEM_HEADER: request.scope.item_id,
                },
            )
        except groq.APIStatusError as exc:
            self._observe(exc.response.headers)
            raise translate_sdk_error(exc, _ERRORS, provider=self._name) from exc
        except Exception as exc:
            raise translate_sdk_error(exc, _ERRORS, provider=self._name) from exc
        self._observe(raw.headers)
        try:
            response = await raw.parse()
        except Exception as exc:
            raise translate_sdk_error(exc, _ERRORS, provider=self._name) from exc
        return completion_from(response, provider=self._name, latency_s=time.monotonic() - started)

    def _observe(self, headers: object) -> None:
        mapping = dict(headers.items()) if hasattr(headers, "items") else {}
        limits = RateLimits.from_headers(mapping, now=self._clock())
        if limits is not None:
            self._limits = limits

    async def models(self) -> list[str]:
        try:
            page = await self._client.models.list()
        except Exception as exc:
            raise translate_sdk_error(exc, _ERRORS, provider=self._name) from exc
        return [m.id for m in page.data]

    async def aclose(self) -> None:
        await self._client.close()


def _param(message: Message) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "assistant":
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": message.content}


