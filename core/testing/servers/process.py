"""Run a server as a subprocess for tests: wait until a readiness URL answers 200, always stop it
after (its output goes to a temporary file: a full pipe would stall it)."""
from __future__ import annotations

import contextlib
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ServerHandle:
    """A started server: its URL, its process, and its output once it has stopped."""

    url: str
    proc: subprocess.Popen
    log: str = ""

    @property
    def returncode(self) -> int | None:
        return self.proc.returncode


@contextlib.contextmanager
def running_server(
    cmd: Sequence[str], url: str, *, name: str, startup_timeout: float, ready_path: str = "/models",
    env: Mapping[str, str] | None = None, poll: float = 0.5, stop_timeout: float = 20.0,
) -> Iterator[ServerHandle]:
    """Start ``cmd``; yield a handle once ``{url}{ready_path}`` answers 200; SIGTERM it after
    (SIGKILL past ``stop_timeout``) and keep its output in ``handle.log``."""
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(list(cmd), stdout=log, stderr=subprocess.STDOUT,
                                env=dict(env) if env is not None else None)
        handle = ServerHandle(url, proc)
        try:
            deadline = time.monotonic() + startup_timeout
            while True:
                if proc.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"{name} exited with {proc.returncode}: "
                                       f"{log.read().decode(errors='replace')[-3000:]}")
                try:
                    if httpx.get(url + ready_path, timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name} did not start in time")
                time.sleep(poll)
            yield handle
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=stop_timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            log.seek(0)
            handle.log = log.read().decode(errors="replace")


@contextlib.contextmanager
def server_process(
    cmd: Sequence[str], base: str, *, name: str, startup_timeout: float,
    env: Mapping[str, str] | None = None, poll: float = 0.5, stop_timeout: float = 20.0,
) -> Iterator[str]:
    """An OpenAI-compatible server: yield ``base`` (the ``/v1`` URL) once ``{base}/models`` answers."""
    with running_server(cmd, base, name=name, startup_timeout=startup_timeout, env=env, poll=poll,
                        stop_timeout=stop_timeout) as handle:
        yield handle.url
