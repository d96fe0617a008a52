"""Adapter for OpenAI-compatible chat completions: vLLM, Groq, OpenRouter, DeepSeek, Cerebras, Ollama.

The SDK's own retries are off (``max_retries=0``): the router owns retrying and fallback, so that
every try is budgeted and recorded.
"""

from __future__ import annotations

import time

import openai
from openai.types.chat import ChatCompletionMessageParam

from bot.models.base import ITEM_HEADER, PURPOSE_HEADER, ChatRequest, Completion, Message, NamedModel
from bot.models.chat_wire import completion_from
from bot.models.status import SdkErrors, translate_sdk_error


class OpenAICompatProvider(NamedModel):
    def __init__(
        self, *, name: str, model: str, base_url: str, api_key: str | None, timeout_s: float
    ) -> None:
        super().__init__(name=name, model=model)
        # Local servers (vLLM, Ollama) accept any key; the SDK insists on one.
        self._client = openai.AsyncOpenAI(
            api_key=api_key or "not-needed", base_url=base_url, timeout=timeout_s, max_retries=0
        )

    async def complete(self, request: ChatRequest) -> Completion:
        messages = [_param(m) for m in request.messages]
        started = time.monotonic()
        try:
            response = await self._client.chat.completions.create(
                model=self._model,
                messages=messages,
                max_tokens=request.max_tokens,
                temperature=request.temperature,
                extra_headers={
                    PURPOSE_HEADER: request.scope.purpose.value,
                    ITEM_HEADER: request.scope.item_id,
                },
            )
        except Exception as exc:
            raise translate_sdk_error(exc, _ERRORS, provider=self._name) from exc
        return completion_from(response, provider=self._name, latency_s=time.monotonic() - started)

    async def models(self) -> list[str]:
        """The model ids the server serves (vLLM: the one it loaded)."""
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


_ERRORS = SdkErrors(
    timeout=openai.APITimeoutError,
    connection=openai.APIConnectionError,
    status=openai.APIStatusError,
    validation=openai.APIResponseValidationError,
    base=openai.OpenAIError,
)


