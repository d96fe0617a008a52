"""The one contract every model provider meets, and the request/response values it speaks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from bot.domain import CallScope

Role = Literal["system", "user", "assistant"]

# Headers the adapters send so that the in-tree fake servers can match script rules on the call's
# purpose and item; real providers ignore unknown headers.
PURPOSE_HEADER = "X-Milestone-Bot-Purpose"
ITEM_HEADER = "X-Milestone-Bot-Item"


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatRequest:
    messages: tuple[Message, ...]
    scope: CallScope
    max_tokens: int = 4096
    temperature: float = 0.0

    @property
    def system(self) -> str:
        return "\n\n".join(m.content for m in self.messages if m.role == "system")

    @property
    def prompt_text(self) -> str:
        """All message text, for matching script rules and estimating prompt size."""
        return "\n".join(m.content for m in self.messages)


@dataclass(frozen=True)
class Usage:
    """Token counts normalized across APIs.

    ``input_tokens`` is the whole prompt, cached parts included; ``cache_read_tokens`` and
    ``cache_write_tokens`` are the parts of it read from or written to a prompt cache. This is the
    convention genai-prices uses, so usage can be priced without conversion.
    """

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.input_tokens + other.input_tokens,
            self.output_tokens + other.output_tokens,
            self.cache_read_tokens + other.cache_read_tokens,
            self.cache_write_tokens + other.cache_write_tokens,
        )


@dataclass(frozen=True)
class Completion:
    text: str
    usage: Usage
    model: str
    finish_reason: str = ""
    latency_s: float = 0.0
    # False when the answer came without token counts: the router then charges the worst case.
    usage_reported: bool = True
    # Filled in by the router: which ledger row holds this call, so a caller that finds the answer
    # unusable can mark it so.
    call_id: int | None = field(default=None, compare=False)


class Provider(Protocol):
    """One model at one endpoint. Implementations raise only ``ProviderError`` subclasses."""

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str: ...

    async def complete(self, request: ChatRequest) -> Completion: ...


class NamedModel:
    """The identity every provider has: its display name and the model it serves."""

    def __init__(self, *, name: str, model: str) -> None:
        self._name = name
        self._model = model

    @property
    def name(self) -> str:
        return self._name

    @property
    def model(self) -> str:
        return self._model
