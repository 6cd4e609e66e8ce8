"""An instant OpenAI-compatible server with vLLM's tokenizer endpoints, for measuring the
library's own cost on the served path (the served-overhead benchmark) and testing its calls.

Run this file as a script (stdlib only, so the server process stays light; it prints
``PORT <n>`` once listening on 127.0.0.1, a free port) or use :func:`instant_server` (a
subprocess, always stopped). Speaks
HTTP/1.1 with keep-alive on plain asyncio streams so that its own CPU cost stays far below the
client's. Endpoints, in vLLM's shapes (vllm/entrypoints/openai/serving_tokenization.py):

* ``POST /tokenize {"model", "prompt", "add_special_tokens"}`` -> ``{"count", "max_model_len",
  "tokens", "token_strs"}``; a word (with its leading spaces) or a punctuation mark is a token;
* ``POST /detokenize {"model", "tokens"}`` -> ``{"prompt"}`` (exact inverse);
* ``POST /v1/chat/completions``: a ReasonRank answer that reverses the window
  (``<think>…</think> <answer>[n] > … > [1]</answer>``), or the 20 top logprobs of " true"/
  " false" when ``logprobs`` is asked (Rank1's shape);
* ``GET /v1/models`` (after ``models_delay`` seconds: a slow upstream); ``GET /stats``: requests
  and handling seconds per path, and ``auth``: how many requests carried each ``Authorization``
  header, by its SHA-256 (so a test can check a key was sent without the server repeating it).
"""
from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import re
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

_PIECE = re.compile(r"\s*(?:[A-Za-z0-9]+|\S)|\s+")
_NUM = re.compile(r"provide you with (\d+) passages")


class Vocab:
    """A growing word-level vocabulary: ids are stable for the server's lifetime."""

    def __init__(self) -> None:
        self.ids: dict[str, int] = {}
        self.pieces: list[str] = []

    def encode(self, text: str) -> list[int]:
        out = []
        for piece in _PIECE.findall(text):
            i = self.ids.get(piece)
            if i is None:
                i = self.ids[piece] = len(self.pieces)
                self.pieces.append(piece)
            out.append(i)
        return out

    def decode(self, ids: list[int]) -> str:
        return "".join(self.pieces[i] for i in ids)


class State:
    def __init__(self) -> None:
        self.vocab = Vocab()
        self.count: dict[str, int] = defaultdict(int)
        self.seconds: dict[str, float] = defaultdict(float)
        self.auth: dict[str, int] = defaultdict(int)
        self.models_delay = 0.0


def _chat(body: dict[str, Any]) -> dict[str, Any]:
    text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
    usage = {"prompt_tokens": len(text) // 4, "completion_tokens": 0, "total_tokens": 0}
    if body.get("logprobs"):
        top = [{"token": " true", "logprob": -0.4}, {"token": " false", "logprob": -1.1}]
        choice = {"index": 0, "message": {"role": "assistant", "content": " true"}, "finish_reason": "length",
                  "logprobs": {"content": [{"token": " true", "logprob": -0.4, "top_logprobs": top}]}}
        usage["completion_tokens"] = 1
    else:
        match = _NUM.search(text)
        n = int(match.group(1)) if match else 1
        answer = " > ".join(f"[{i}]" for i in range(n, 0, -1))
        content = f"<think>reversed</think> <answer>{answer}</answer>"
        choice = {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        usage["completion_tokens"] = len(content) // 4
    usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]
    return {"id": "chatcmpl-instant", "object": "chat.completion", "model": body.get("model", ""),
            "choices": [choice], "usage": usage}


def answer(state: State, method: str, path: str, raw: bytes) -> tuple[int, Any]:
    if method == "GET" and path == "/v1/models":
        return 200, {"object": "list", "data": [{"id": "instant", "object": "model"}]}
    if method == "GET" and path == "/stats":
        return 200, {"count": dict(state.count), "seconds": dict(state.seconds), "auth": dict(state.auth)}
    if method != "POST":
        return 404, {"error": "not found"}
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        return 400, {"error": "bad json"}
    if path == "/tokenize":
        text = body.get("prompt")
        if text is None:
            text = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
        ids = state.vocab.encode(text)
        return 200, {"count": len(ids), "max_model_len": 32768, "tokens": ids, "token_strs": None}
    if path == "/detokenize":
        return 200, {"prompt": state.vocab.decode(list(body.get("tokens", [])))}
    if path == "/v1/chat/completions":
        return 200, _chat(body)
    return 404, {"error": f"no route {path}"}


async def _handle(state: State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            started = time.perf_counter()
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            length = 0
            for line in lines[1:]:
                if line[:15].lower() == "content-length:":
                    length = int(line[15:])
                elif line[:14].lower() == "authorization:":
                    state.auth[hashlib.sha256(line[14:].strip().encode()).hexdigest()] += 1
            raw = await reader.readexactly(length) if length else b""
            if path == "/v1/models" and state.models_delay:
                await asyncio.sleep(state.models_delay)
            status, payload = answer(state, method, path, raw)
            data = json.dumps(payload).encode()
            writer.write(
                f"HTTP/1.1 {status} {'OK' if status == 200 else 'Error'}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode() + data
            )
            state.count[path] += 1
            state.seconds[path] += time.perf_counter() - started
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def serve(port: int = 0, models_delay: float = 0.0) -> None:
    state = State()
    state.models_delay = models_delay
    server = await asyncio.start_server(lambda r, w: _handle(state, r, w), "127.0.0.1", port, backlog=1024)
    print(f"PORT {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


@contextlib.contextmanager
def instant_server(models_delay: float = 0.0) -> Iterator[str]:
    """Yield the ``/v1`` base URL of the instant server (a subprocess, stopped after); its
    ``GET /v1/models`` answers after ``models_delay`` seconds."""
    proc = subprocess.Popen([sys.executable, __file__, "0", str(models_delay)], stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line.startswith("PORT "):
            raise RuntimeError(f"instant server did not start: {line!r}")
        yield f"http://127.0.0.1:{int(line.split()[1])}/v1"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0,
                      float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
