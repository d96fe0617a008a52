"""A fake Groq API: OpenAI's wire format under ``/openai/v1``, plus Groq's rate-limit headers on
every answer, counted down for real: when the requests or tokens run out it answers 429 with
``retry-after`` until the window resets. The real ``groq`` SDK talks to it through ``base_url``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from bot.models.script import Query, Rule, Script, rule_usage
from bot.testing.fake_http import Reply
from bot.testing.openai_server import FakeOpenAIServer


def _duration(seconds: float) -> str:
    minutes, rest = divmod(max(seconds, 0.0), 60.0)
    return f"{int(minutes)}m{rest:.2f}s" if minutes else f"{rest:.2f}s"


class FakeGroqServer(FakeOpenAIServer):
    base_path = ""

    def __init__(
        self,
        script: Script,
        *,
        requests_per_window: int = 1000,
        tokens_per_window: int = 100_000,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        models: tuple[str, ...] = (),
        timeout_sleep_s: float = 5.0,
    ) -> None:
        super().__init__(script, timeout_sleep_s=timeout_sleep_s, models=models)
        self.requests_per_window = requests_per_window
        self.tokens_per_window = tokens_per_window
        self._window_s = window_s
        self._clock = clock
        self._count_lock = threading.Lock()
        self._window_start = clock()
        self.used_requests = 0
        self.used_tokens = 0
        self.refused = 0  # 429s sent because a limit was reached

    def _roll(self) -> float:
        now = self._clock()
        if now - self._window_start >= self._window_s:
            self._window_start, self.used_requests, self.used_tokens = now, 0, 0
        return self._window_s - (now - self._window_start)

    def _headers(self, reset_in: float) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.requests_per_window),
            "x-ratelimit-limit-tokens": str(self.tokens_per_window),
            "x-ratelimit-remaining-requests": str(max(self.requests_per_window - self.used_requests, 0)),
            "x-ratelimit-remaining-tokens": str(max(self.tokens_per_window - self.used_tokens, 0)),
            "x-ratelimit-reset-requests": _duration(reset_in),
            "x-ratelimit-reset-tokens": _duration(reset_in),
        }

    def query(self, path: str, headers: dict[str, str], body: Any) -> Query | Reply:
        return super().query(path.removeprefix("/openai"), headers, body)

    def refuse(self, query: Query, body: Any) -> Reply | None:
        with self._count_lock:
            reset_in = self._roll()
            if self.used_requests >= self.requests_per_window or self.used_tokens >= self.tokens_per_window:
                self.refused += 1
                reply = self._json(429, self.error_body(429, "Rate limit reached; please try again later"))
                headers = {**self._headers(reset_in), "retry-after": str(max(int(reset_in + 0.999), 1))}
                return Reply(reply.status, reply.body, headers)
        return None

    def success(self, rule: Rule, query: Query, body: Any) -> dict[str, Any]:
        answer = super().success(rule, query, body)
        usage = rule_usage(rule, query, max_tokens=int(body.get("max_tokens") or 4096))
        with self._count_lock:
            self._roll()
            self.used_requests += 1
            self.used_tokens += usage.input_tokens + usage.output_tokens
        return answer

    def reply_headers(self, status: int, query: Query | None, body: Any) -> dict[str, str]:
        with self._count_lock:
            return self._headers(self._roll())

    def get(self, path: str) -> Reply:
        return super().get(path.removeprefix("/openai"))
