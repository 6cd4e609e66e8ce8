"""Run an OpenAI-compatible server as a subprocess for tests: wait until ``/models`` answers,
always stop it after (its output goes to a temporary file: a full pipe would stall it)."""
from __future__ import annotations

import contextlib
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence

import httpx


@contextlib.contextmanager
def server_process(
    cmd: Sequence[str], base: str, *, name: str, startup_timeout: float,
    env: Mapping[str, str] | None = None, poll: float = 0.5, stop_timeout: float = 20.0,
) -> Iterator[str]:
    """Start ``cmd``, yield ``base`` (the ``/v1`` URL) once ``{base}/models`` answers 200."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None)
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{name} exited: {log.read().decode(errors='replace')[-2000:]}")
                try:
                    if httpx.get(f"{base}/models", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start in time")
                time.sleep(poll)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
