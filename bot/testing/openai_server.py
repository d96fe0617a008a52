"""A fake OpenAI-compatible chat-completions server (what vLLM, Groq and OpenRouter speak)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from bot.models.base import ITEM_HEADER, PURPOSE_HEADER
from bot.models.script import Query, Rule, rule_usage
from bot.testing.fake_http import FakeModelServer, Reply

_ids = itertools.count(1)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


class FakeOpenAIServer(FakeModelServer):
    base_path = "/v1"

    def query(self, path: str, headers: dict[str, str], body: Any) -> Query | Reply:
        if path.rstrip("/") != "/v1/chat/completions":
            return self._json(404, self.error_body(404, f"no route {path}"))
        if not headers.get("authorization", "").startswith("Bearer "):
            return self._json(401, self.error_body(401, "missing bearer token"))
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            return self._json(400, self.error_body(400, "model and messages are required"))
        prompt = "\n".join(_text(m.get("content")) for m in body["messages"] if isinstance(m, dict))
        return Query(
            model=str(body["model"]),
            purpose=headers.get(PURPOSE_HEADER.lower(), ""),
            item=headers.get(ITEM_HEADER.lower(), ""),
            prompt=prompt,
        )

    def success(self, rule: Rule, query: Query, body: Any) -> dict[str, Any]:
        usage = rule_usage(rule, query, max_tokens=int(body.get("max_tokens") or 4096))
        return {
            "id": f"chatcmpl-{next(_ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": query.model,
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": rule.reply}, "finish_reason": "stop"}
            ],
            "usage": {
                "prompt_tokens": usage.input_tokens,
                "completion_tokens": usage.output_tokens,
                "total_tokens": usage.input_tokens + usage.output_tokens,
                "prompt_tokens_details": {"cached_tokens": usage.cache_read_tokens},
            },
        }

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kinds = {400: "invalid_request_error", 401: "authentication_error", 429: "rate_limit_exceeded"}
        return {"error": {"message": message, "type": kinds.get(status, "server_error"), "code": status}}

    def get(self, path: str) -> Reply:
        if path.rstrip("/") == "/v1/models":
            data = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in self.models]
            return self._json(200, {"object": "list", "data": data})
        return super().get(path)
