"""Every model call of a run saved, redacted, so a user can read exactly what was asked and answered.

One Markdown file per call under the run's folder (``.milestone-bot/runs/<run>/calls/``), named by
item, attempt and call number; the run report links each attempt to its files.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

from bot.models.base import ChatRequest, Completion
from bot.untrusted import redact

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


class CallLog:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self._lock = threading.Lock()  # parallel attempts number their calls without clashing
        self._count: dict[tuple[str, int], int] = {}

    def save(self, request: ChatRequest, completion: Completion, *, context_bytes: int) -> str:
        """Write one call; returns its path relative to the run's folder (``calls/<file>.md``)."""
        scope = request.scope
        with self._lock:
            key = (scope.item_id, scope.attempt)
            n = self._count[key] = self._count.get(key, 0) + 1
        item = _UNSAFE.sub("-", scope.item_id) or "run"
        name = f"{item}-attempt{scope.attempt}-call{n}-{scope.purpose.value}.md"
        lines = [
            f"# {scope.item_id} attempt {scope.attempt}, call {n} ({scope.purpose.value})",
            "",
            f"model: {completion.model}; context: {context_bytes} bytes; "
            f"tokens in/out: {completion.usage.input_tokens}/{completion.usage.output_tokens}",
            "",
        ]
        for message in request.messages:
            lines += [f"## {message.role}", "", _block(message.content), ""]
        lines += ["## answer", "", _block(completion.text), ""]
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / name).write_text(redact("\n".join(lines)), encoding="utf-8")
        return f"{self.folder.name}/{name}"


def _block(text: str) -> str:
    """Text in a code fence longer than any backtick run inside it."""
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"
