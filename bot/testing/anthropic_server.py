"""A fake Anthropic Messages API server (the premium tier's wire protocol)."""

from __future__ import annotations

import itertools
from typing import Any

from bot.models.base import ITEM_HEADER, PURPOSE_HEADER
from bot.models.script import Query, Rule, rule_usage
from bot.testing.fake_http import FakeModelServer, Reply

_ids = itertools.count(1)
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    429: "rate_limit_error",
    529: "overloaded_error",
}


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return ""


class FakeAnthropicServer(FakeModelServer):
    def query(self, path: str, headers: dict[str, str], body: Any) -> Query | Reply:
        if path.rstrip("/") != "/v1/messages":
            return self._json(404, self.error_body(404, f"no route {path}"))
        # Older SDKs send x-api-key, newer ones a bearer token; the API takes either.
        if not headers.get("x-api-key") and not headers.get("authorization", "").startswith("Bearer "):
            return self._json(401, self.error_body(401, "x-api-key or bearer authorization is required"))
        if "anthropic-version" not in headers:
            return self._json(400, self.error_body(400, "anthropic-version header is required"))
        if not isinstance(body, dict) or not body.get("model") or not isinstance(body.get("max_tokens"), int):
            return self._json(400, self.error_body(400, "model and max_tokens are required"))
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages or messages[0].get("role") != "user":
            return self._json(400, self.error_body(400, "messages must start with a user message"))
        parts = [_text(body.get("system", ""))] if body.get("system") else []
        parts += [_text(m.get("content")) for m in messages if isinstance(m, dict)]
        return Query(
            model=str(body["model"]),
            purpose=headers.get(PURPOSE_HEADER.lower(), ""),
            item=headers.get(ITEM_HEADER.lower(), ""),
            prompt="\n".join(parts),
        )

    def success(self, rule: Rule, query: Query, body: Any) -> dict[str, Any]:
        usage = rule_usage(rule, query, max_tokens=int(body["max_tokens"]))
        return {
            "id": f"msg_{next(_ids):06d}",
            "type": "message",
            "role": "assistant",
            "model": query.model,
            "content": [{"type": "text", "text": rule.reply}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": {
                # Anthropic reports cached prompt parts apart from input_tokens.
                "input_tokens": usage.input_tokens - usage.cache_read_tokens - usage.cache_write_tokens,
                "output_tokens": usage.output_tokens,
                "cache_read_input_tokens": usage.cache_read_tokens,
                "cache_creation_input_tokens": usage.cache_write_tokens,
            },
        }

    def get(self, path: str) -> Reply:
        """``GET /v1/models``, one page, as the Models API answers it."""
        if path.split("?")[0].rstrip("/") == "/v1/models":
            data = [
                {"type": "model", "id": m, "display_name": m, "created_at": "2025-01-01T00:00:00Z"}
                for m in self.models
            ]
            first, last = (data[0]["id"], data[-1]["id"]) if data else (None, None)
            return self._json(200, {"data": data, "has_more": False, "first_id": first, "last_id": last})
        return super().get(path)

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        kind = _ERROR_TYPES.get(status, "api_error")
        return {"type": "error", "error": {"type": kind, "message": message}}
