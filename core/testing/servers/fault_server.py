"""A programmable OpenAI-compatible server on 127.0.0.1 for fault tests (stdlib only).

Behaviours: "ok" (answers a ReasonRank ranking that reverses the window), "429_then_ok",
"500", "malformed_json", "empty", "hang" (sleeps past the client timeout), "die_after:N"
(answers N requests, then closes connections without a reply). It counts requests and tracks the
maximum number handled at once.
"""
from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FaultState:
    def __init__(self, mode: str, delay: float = 0.0) -> None:
        self.mode = mode
        self.delay = delay
        self.requests = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()


def _ranking_answer(body: dict) -> str:
    text = " ".join(m.get("content", "") for m in body.get("messages", [])) + body.get("prompt", "")
    labels = sorted({int(x) for x in re.findall(r"^\[(\d+)\]", text, re.MULTILINE)}, reverse=True)
    return "<think>reversed</think>\n<answer>" + " > ".join(f"[{k}]" for k in labels) + "</answer>"


def _handler(state: FaultState) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, payload: bytes, headers: dict[str, str] | None = None) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            with state.lock:
                state.requests += 1
                n = state.requests
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
            try:
                reply = self._reply(body, n)
            finally:
                # A request stops counting *before* its response is written: the client holds its
                # concurrency slot until it has read the response, so this interval lies inside
                # the client's and ``max_in_flight`` can only under-count the client's bound.
                # (Decrementing after the write raced: the client could release its slot and send
                # the next request before this handler's decrement ran.)
                with state.lock:
                    state.in_flight -= 1
            if reply is not None:
                self._send(*reply)

        def _reply(self, body: dict, n: int) -> tuple[int, bytes, dict[str, str]] | None:
            """What to answer (status, payload, headers), or None for no answer at all."""
            if state.delay:
                time.sleep(state.delay)
            mode = state.mode
            if mode == "hang":
                time.sleep(5)
                return None
            if mode.startswith("die_after:") and n > int(mode.split(":")[1]):
                self.close_connection = True
                self.connection.shutdown(2)
                return None
            if mode == "500":
                return 500, b'{"error": "internal"}', {}
            if mode == "429_then_ok" and n == 1:
                return 429, b'{"error": "slow down"}', {"Retry-After": "0"}
            if mode == "malformed_json":
                return 200, b'{"choices": [', {}
            content = None if mode == "empty" else _ranking_answer(body)
            # "message" answers /chat/completions, "text" /completions (a local tokenizer)
            reply = {"choices": [{"message": {"role": "assistant", "content": content},
                                  "text": content, "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 5}}
            return 200, json.dumps(reply).encode(), {}

    return Handler


@contextlib.contextmanager
def fault_server(mode: str, delay: float = 0.0) -> Iterator[tuple[str, FaultState]]:
    """Yield ``(base_url, state)``; the server is shut down afterwards."""
    state = FaultState(mode, delay)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        server.shutdown()
        server.server_close()
