"""A real ``reasonrank serve`` subprocess on 127.0.0.1 and a free port, for the serve tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from servers.llama_server import free_port

HERE = Path(__file__).parent


@contextmanager
def serve(args: Sequence[str], *, env: dict[str, str] | None = None, startup: float = 300.0) -> Iterator[str]:
    """Start ``reasonrank serve ARGS``; yield its base URL; stop it with SIGTERM (graceful)."""
    pytest.importorskip("fastapi")
    port = free_port()
    full_env = {**os.environ, **(env or {})}
    full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), full_env.get("PYTHONPATH")]))
    # a file, not a pipe: a full pipe buffer would stall the server
    log_file = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-m", "reasonrank", "serve", "--host", "127.0.0.1", "--port", str(port), *args],
        env=full_env, stdout=log_file, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    serve.proc = proc  # type: ignore[attr-defined]
    try:
        deadline = time.monotonic() + startup
        while True:
            if proc.poll() is not None:
                log_file.seek(0)
                raise AssertionError(f"serve exited with {proc.returncode}:\n{log_file.read()[-3000:]}")
            try:
                if httpx.get(url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("serve did not become healthy")
            time.sleep(0.1)
        yield url
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log_file.seek(0)
        serve.last_log = log_file.read()  # type: ignore[attr-defined]
        log_file.close()
        serve.last_returncode = proc.returncode  # type: ignore[attr-defined]
