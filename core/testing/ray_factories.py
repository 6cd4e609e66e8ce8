"""Reranker factories for the Ray tests and the replica benchmark: they must pickle into Ray
actors, so they are module-level callables (Ray workers import this module from the installed
package).

The "model" is the scripted engine answering each listwise window by a known rule (the
passages' numbers, highest first), so results are checkable; optional extras: a sleep per
engine call, an engine error after some calls, or a hard process exit once (guarded by a
marker file) to kill the replica mid-run.
"""
from __future__ import annotations

import os
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonrank.engines.base import ChatRequest, Generation, SamplingParams
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError
from reasonrank.methods.base import OnError
from reasonrank.methods.listwise import ListwiseReranker

LABEL = re.compile(r"^\[(\d+)\] (\S+)", re.MULTILINE)
NUMBER = re.compile(r"(\d+)$")


def by_number_desc(request: ChatRequest) -> str:
    """Order a window's passages by the number ending their id, highest first."""
    ids = [m.group(2) for m in LABEL.finditer(request.messages[-1]["content"])]
    numbers = [int(m.group(1)) if (m := NUMBER.search(i)) else 0 for i in ids]
    order = sorted(range(len(ids)), key=lambda i: -numbers[i])
    return "<think>by number</think>\n<answer>" + " > ".join(f"[{i + 1}]" for i in order) + "</answer>"


class FaultyEngine(ScriptedEngine):
    """A scripted engine that can sleep per call, fail after N calls, or exit its process once."""

    def __init__(self, *, sleep: float = 0.0, fail_after: int | None = None,
                 exit_marker: str | None = None, exit_after: int = 0) -> None:
        super().__init__(by_number_desc, model_name="by-number")
        self.sleep = sleep
        self.fail_after = fail_after
        self.exit_marker = exit_marker
        self.exit_after = exit_after

    def _before_call(self) -> None:
        if self.exit_marker and len(self.calls) >= self.exit_after:
            try:  # only the first replica to get here dies, and only once
                os.close(os.open(self.exit_marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
                os._exit(1)
            except FileExistsError:
                pass
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise EngineError("server went away")

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        self._before_call()
        time.sleep(self.sleep)
        return super().generate(requests, params)

    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        self._before_call()
        # A blocking sleep: the engine serves one call at a time, like one busy model (a GPU
        # or a llama.cpp context), so only more replicas add throughput.
        time.sleep(self.sleep)  # noqa: ASYNC251
        return await super().agenerate(requests, params)


@dataclass(frozen=True)
class ScriptedFactory:
    """Builds a listwise reranker over :class:`FaultyEngine` (window 4, stride 2 by default)."""

    sleep: float = 0.0
    fail_after: int | None = None
    exit_marker: str | None = None
    exit_after: int = 0
    on_error: OnError = "raise"
    window_size: int = 4
    stride: int = 2
    method = "listwise"

    def __call__(self) -> ListwiseReranker:
        engine = FaultyEngine(sleep=self.sleep, fail_after=self.fail_after,
                              exit_marker=self.exit_marker, exit_after=self.exit_after)
        return ListwiseReranker(engine, window_size=self.window_size, stride=self.stride,
                                on_error=self.on_error)


def rows(n_queries: int, n_docs: int = 6, prefix: str = "q") -> list[dict[str, Any]]:
    """JSONL rows whose passages carry their number in the id (the scripted model's key)."""
    out = []
    for q in range(n_queries):
        ids = [f"{prefix}{q}-d-{(n_docs - 1 - d + q) % n_docs}" for d in range(n_docs)]
        out.append({"query_id": f"{prefix}{q}", "query": f"query number {q}",
                    "candidates": [{"id": i, "text": f"{i} passage {d} of query {q}", "score": float(n_docs - d)}
                                   for d, i in enumerate(ids)]})
    return out


def write_jsonl(path: str | Path, items: Sequence[dict[str, Any]]) -> None:
    """Write ``items`` as JSON lines (the input format of ``rerank_dataset``)."""
    import json

    with open(path, "w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(row) + "\n" for row in items)
