from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.budget.ledger import Ledger
from bot.domain import CallScope, Purpose
from bot.models.base import ChatRequest, Message

SHARED = Path(__file__).resolve().parents[2] / "shared"


class SleepRecorder:
    """Stands in for asyncio.sleep in the router: records waits instead of spending them."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    book = Ledger(tmp_path / "ledger.sqlite")
    yield book
    book.close()


def request(text: str = "hello", *, item: str = "item-1", attempt: int = 0, run: str = "run-1",
            purpose: Purpose = Purpose.CHANGE, max_tokens: int = 256) -> ChatRequest:  # fmt: skip
    return ChatRequest(
        messages=(Message("system", "be brief"), Message("user", text)),
        scope=CallScope(run_id=run, purpose=purpose, item_id=item, attempt=attempt),
        max_tokens=max_tokens,
    )
