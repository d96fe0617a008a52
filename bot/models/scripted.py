"""The scripted provider: answers from a script, in process; deterministic tests and the demo."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from bot.errors import MalformedResponse, ProviderUnavailable
from bot.models.base import ChatRequest, Completion, NamedModel
from bot.models.script import Matcher, Query, Script, load_script, rule_usage
from bot.models.status import error_for_status


class ScriptedProvider(NamedModel):
    def __init__(self, script: Script | Path, *, model: str, name: str = "") -> None:
        self._matcher = Matcher(load_script(script) if isinstance(script, Path) else script)
        super().__init__(name=name or f"scripted:{model}", model=model)
        self.requests: list[ChatRequest] = []  # what it was asked, for tests

    async def complete(self, request: ChatRequest) -> Completion:
        self.requests.append(request)
        query = Query(self._model, request.scope.purpose.value, request.scope.item_id, request.prompt_text)
        rule = self._matcher.find(query)  # ScriptError propagates: an unscripted call must fail loudly
        started = time.monotonic()
        if rule.delay_s:
            await asyncio.sleep(rule.delay_s)
        if rule.error is not None:
            raise error_for_status(
                rule.error.status, rule.error.message, provider=self._name, retry_after=rule.error.retry_after
            )
        if rule.fault in ("timeout", "disconnect"):
            raise ProviderUnavailable(f"injected {rule.fault}", provider=self._name)
        if rule.fault in ("truncated", "malformed"):
            raise MalformedResponse(f"injected {rule.fault} response", provider=self._name)
        return Completion(
            text=rule.reply,
            usage=rule_usage(rule, query, max_tokens=request.max_tokens),
            model=self._model,
            finish_reason="stop",
            latency_s=time.monotonic() - started,
        )
