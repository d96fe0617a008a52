"""A small threaded HTTP server on 127.0.0.1 that answers model APIs from a script.

Subclasses say how a request becomes a script query and how a rule becomes a response body; this
base does the transport: delays, timeouts (by not answering in time), dropped connections,
truncated and malformed bodies, and a record of every request it was sent.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from bot.errors import ScriptError
from bot.models.script import Matcher, Query, Rule, Script


@dataclass(frozen=True)
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FakeModelServer:
    """Start with ``with Server(script) as server:``; point a real SDK at ``server.base_url``."""

    base_path = ""

    def __init__(
        self,
        script: Script,
        *,
        timeout_sleep_s: float = 5.0,
        models: tuple[str, ...] = (),
        drip_s: float = 1.0,
    ) -> None:
        self._matcher = Matcher(script)
        self._timeout_sleep_s = timeout_sleep_s
        self._drip_s = drip_s
        self.models = models
        self.requests: list[Recorded] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=type(self).__name__, daemon=True
        )

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.base_path}"

    def __enter__(self) -> FakeModelServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- for subclasses -------------------------------------------------------------------------
    def query(self, path: str, headers: dict[str, str], body: Any) -> Query | Reply:
        """The script query for a request, or a reply when the request itself is refused."""
        raise NotImplementedError

    def success(self, rule: Rule, query: Query, body: Any) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        raise NotImplementedError

    def get(self, path: str) -> Reply:
        return Reply(404, json.dumps(self.error_body(404, f"no route {path}")).encode())

    def reply_headers(self, status: int, query: Query | None, body: Any) -> dict[str, str]:
        """Headers added to a reply (rate-limit headers, for servers that send them)."""
        return {}

    # -- transport ------------------------------------------------------------------------------
    def _respond(self, handler: BaseHTTPRequestHandler, body: Any) -> None:
        headers = {k.lower(): v for k, v in handler.headers.items()}
        with self._lock:
            self.requests.append(Recorded("POST", handler.path, headers, body))
        query = self.query(handler.path, headers, body)
        if isinstance(query, Reply):
            return self._send(handler, query)
        refused = self.refuse(query, body)
        if refused is not None:
            return self._send(handler, refused)
        try:
            rule = self._matcher.find(query)
        except ScriptError as exc:
            # Loud, and distinguishable from an injected error: a 400 the router never retries.
            return self._send(handler, self._json(400, self.error_body(400, f"fake server: {exc}")))
        if rule.delay_s:
            time.sleep(rule.delay_s)
        if rule.fault == "timeout":
            time.sleep(self._timeout_sleep_s)
            return self._send(handler, self._json(504, self.error_body(504, "late")))
        if rule.fault == "disconnect":
            handler.close_connection = True
            handler.connection.close()
            return None
        if rule.error is not None:
            extra = (
                {"Retry-After": f"{rule.error.retry_after:g}"} if rule.error.retry_after is not None else {}
            )
            reply = self._json(rule.error.status, self.error_body(rule.error.status, rule.error.message))
            extra = {**self.reply_headers(reply.status, query, body), **extra}
            return self._send(handler, Reply(reply.status, reply.body, extra))
        answer = self.success(rule, query, body)
        if rule.fault == "no_usage":
            answer.pop("usage", None)
        elif rule.fault == "over_report" and isinstance(answer.get("usage"), dict):
            answer["usage"] = {k: v * 10 if isinstance(v, int) else v for k, v in answer["usage"].items()}
        payload = json.dumps(answer).encode()
        if rule.fault == "drip":
            return self._drip(handler, payload)
        if rule.fault == "truncated":
            payload = payload[: len(payload) // 2]
        elif rule.fault == "malformed":
            payload = b'{"unexpected": "shape", "choices": "none", "content": 7}'
        return self._send(handler, Reply(200, payload, self.reply_headers(200, query, body)))

    def refuse(self, query: Query, body: Any) -> Reply | None:
        """A reply that refuses a well-formed request before the script is consulted (a server's
        own rate limit), or None."""
        return None

    def _drip(self, handler: BaseHTTPRequestHandler, payload: bytes) -> None:
        """A whole, valid answer, one byte at a time: no single read ever waits long."""
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(payload)))
        handler.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            for i in range(len(payload)):
                handler.wfile.write(payload[i : i + 1])
                handler.wfile.flush()
                time.sleep(self._drip_s)

    @staticmethod
    def _json(status: int, body: dict[str, Any]) -> Reply:
        return Reply(status, json.dumps(body).encode())

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        handler.send_response(reply.status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(reply.body)))
        for key, value in reply.headers.items():
            handler.send_header(key, value)
        handler.end_headers()
        # The client may have given up (its timeout); nothing to do then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            handler.wfile.write(reply.body)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"null")
                except json.JSONDecodeError:
                    server._send(self, server._json(400, server.error_body(400, "body is not JSON")))
                    return
                server._respond(self, body)

            def do_GET(self) -> None:
                with server._lock:
                    headers = {k.lower(): v for k, v in self.headers.items()}
                    server.requests.append(Recorded("GET", self.path, headers, None))
                server._send(self, server.get(self.path))

            def log_message(self, format: str, *args: Any) -> None:
                return  # keep test output clean

        return Handler
