"""A real ``reasonrank serve`` subprocess on 127.0.0.1 and a free port, for tests and benchmarks."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from reasonrank.testing.servers.process import ServerHandle, free_port, running_server


def _require_fastapi() -> None:
    """Under pytest a missing ``serve`` extra skips the test; elsewhere it is an error."""
    if importlib.util.find_spec("fastapi") is not None:
        return
    if "pytest" in sys.modules:
        import pytest

        pytest.skip("fastapi is not installed: install reasonrank[serve]")
    raise ModuleNotFoundError("fastapi is not installed: install reasonrank[serve]")


def scripted_args(engine: str, *extra: str, method: str = "listwise",
                  method_options: dict[str, Any] | None = None, api_key: str | None = None) -> list[str]:
    """``reasonrank serve`` arguments for the scripted engine ``engine`` (a name in
    :mod:`reasonrank.testing.scripted_engines`) under ``method``, with its ``--method-options``
    and ``--api-key`` when given, then ``extra``."""
    args = ["--engine-factory", f"reasonrank.testing.scripted_engines:{engine}", "--method", method]
    if method_options is not None:
        args += ["--method-options", json.dumps(method_options)]
    if api_key is not None:
        args += ["--api-key", api_key]
    return [*args, *extra]


@contextmanager
def serve(args: Sequence[str], *, env: dict[str, str] | None = None, startup: float = 300.0) -> Iterator[str]:
    """Start ``reasonrank serve ARGS``; yield its base URL; stop it with SIGTERM (graceful).

    ``serve.proc`` is the running process; after the block ``serve.last_log`` and
    ``serve.last_returncode`` hold its output and exit status. Scripted engines are named as
    ``--engine-factory reasonrank.testing.scripted_engines:NAME``."""
    _require_fastapi()
    port = free_port()
    full_env = {**os.environ, **(env or {})}
    cmd = [sys.executable, "-m", "reasonrank", "serve", "--host", "127.0.0.1", "--port", str(port), *args]
    handle: ServerHandle | None = None
    try:
        with running_server(cmd, f"http://127.0.0.1:{port}", name="reasonrank serve", startup_timeout=startup,
                            ready_path="/health", env=full_env, poll=0.1, stop_timeout=30.0) as handle:
            serve.proc = handle.proc  # type: ignore[attr-defined]
            yield handle.url
    finally:
        if handle is not None:  # running_server has stopped the process and read its output
            serve.last_log = handle.log  # type: ignore[attr-defined]
            serve.last_returncode = handle.returncode  # type: ignore[attr-defined]
