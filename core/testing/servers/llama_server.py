"""Start a real OpenAI-compatible server (llama-cpp-python's) on 127.0.0.1 for tests."""
from __future__ import annotations

import sys
from contextlib import AbstractContextManager
from pathlib import Path

from reasonrank.testing.servers.process import free_port, server_process


def llama_cpp_server(model: Path, *, n_ctx: int = 4096, startup_timeout: float = 120.0) -> AbstractContextManager[str]:
    """A context yielding the ``/v1`` base URL of a llama_cpp.server serving ``model``; always stopped after."""
    port = free_port()
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", "127.0.0.1",
           "--port", str(port), "--n_ctx", str(n_ctx), "--model_alias", "embedded"]
    return server_process(cmd, f"http://127.0.0.1:{port}/v1", name="llama_cpp.server",
                          startup_timeout=startup_timeout)
