"""Listwise scheduling benchmark: one query at a time vs lockstep batches vs continuous pipelining.

Same engine, same model, same DL19 queries x top-100 BM25 passages, in one run:

  (a) sequential  - one query at a time, its windows one after another (1 request in flight);
  (b) lockstep    - window step k of every query is sent as batches of up to C requests and the
                    next step starts when the whole step is done (RankLLM's
                    ``sliding_windows_batched`` before pipelining; ReasonRank's official loop);
  (c) pipeline    - ``ListwiseReranker`` async scheduling: each query submits its next window the
                    moment its previous one returns, at most C in flight.

Engine: the tiny random Qwen2 model (reasonrank.testing.tiny_model) under transformers' continuous
batching manager (``model.init_continuous_batching``), so finished sequences leave the batch and
new ones join, as in vLLM. The random model never emits EOS, so each window's reasoning length is
drawn from a log-uniform distribution (seeded by the window's prompt, identical across modes):
that is the only simulated part; all tokens are really generated. Run on the CPU machine:

    .venv/bin/python benchmarks/scheduling/listwise_scheduling.py --queries 20 --concurrency 8

Writes benchmarks/scheduling/results/listwise_scheduling.json.
"""
from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import hashlib
import json
import math
import platform
import sys
import threading
import time
import uuid
from collections.abc import Sequence
from pathlib import Path

from reasonrank.engines.base import (
    ChatRequest,
    ChoiceDistribution,
    Engine,
    Generation,
    SamplingParams,
)
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.scheduling import SchedulerStats
from reasonrank.testing.bench_inputs import load_dl19

RESULTS = Path(__file__).resolve().parent / "results"


class ContinuousHFEngine(Engine):
    """transformers continuous batching behind the Engine protocol (async: one future per request)."""

    name = "hf-continuous"

    def __init__(self, model_path: str, *, max_concurrency: int, min_len: int, max_len: int) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer, GenerationConfig

        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
        config = GenerationConfig(max_new_tokens=max_len, do_sample=False,
                                  eos_token_id=self.tokenizer.eos_token_id,
                                  pad_token_id=self.tokenizer.pad_token_id)
        self.manager = model.init_continuous_batching(generation_config=config)
        self.manager.start()
        self.model_name = f"tiny-qwen2 ({Path(model_path).name})"
        self.max_concurrency = max_concurrency
        self.max_batch_size = max_concurrency
        self.min_len, self.max_len = min_len, max_len
        self._futures: dict[str, concurrent.futures.Future] = {}
        self._meta: dict[str, tuple[int, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._dispatch, daemon=True)
        self._thread.start()

    def reasoning_length(self, prompt_ids: Sequence[int]) -> int:
        """Log-uniform in [min_len, max_len], fixed by the prompt (same in every mode)."""
        digest = hashlib.sha256(str(list(prompt_ids)).encode()).digest()
        u = int.from_bytes(digest[:8], "big") / 2**64
        return round(math.exp(math.log(self.min_len) + u * (math.log(self.max_len) - math.log(self.min_len))))

    def _dispatch(self) -> None:
        while not self._stop.is_set():
            out = self.manager.get_result(timeout=0.05)
            if out is None:
                continue
            with self._lock:
                fut = self._futures.pop(out.request_id, None)
                n_prompt, started = self._meta.pop(out.request_id, (0, time.perf_counter()))
            if fut is None:
                continue
            if out.error:
                fut.set_exception(RuntimeError(str(out.error)))
                continue
            tokens = list(out.generated_tokens)
            fut.set_result(Generation(self.tokenizer.decode(tokens, skip_special_tokens=True), "length",
                                      n_prompt, len(tokens), time.perf_counter() - started))

    def _submit(self, request: ChatRequest, params: SamplingParams) -> concurrent.futures.Future:
        ids = self.tokenizer.encode(self.render(request), add_special_tokens=False)
        rid = uuid.uuid4().hex
        fut: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            self._futures[rid] = fut
            self._meta[rid] = (len(ids), time.perf_counter())
        self.manager.add_request(ids, request_id=rid,
                                 max_new_tokens=min(params.max_tokens, self.reasoning_length(ids)))
        return fut

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        futures = [self._submit(r, params) for r in requests]
        return [f.result() for f in futures]

    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        futures = [self._submit(r, params) for r in requests]
        return [await asyncio.wrap_future(f) for f in futures]

    def choice_logprobs(self, requests: Sequence[ChatRequest], choices: Sequence[str]) -> list[ChoiceDistribution]:
        raise NotImplementedError("not needed by this benchmark")

    def count_tokens(self, text: str) -> int:
        return len(self.tokenizer.encode(text, add_special_tokens=False))

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        ids = self.tokenizer.encode(text, add_special_tokens=False)
        return text if len(ids) <= max_tokens else self.tokenizer.decode(ids[:max_tokens])

    def render(self, request: ChatRequest) -> str:
        text = self.tokenizer.apply_chat_template(list(request.messages), tokenize=False, add_generation_prompt=True)
        return text + request.assistant_prefix

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.manager.stop(block=True, timeout=10)


def measure(name: str, fn) -> dict:
    t0 = time.perf_counter()
    results, stats = fn()
    wall = time.perf_counter() - t0
    n = len(results)
    tokens = sum(r.usage.completion_tokens for r in results)
    row = {
        "mode": name,
        "queries": n,
        "seconds": round(wall, 2),
        "queries_per_second": round(n / wall, 4),
        "windows": sum(len(r.traces) for r in results),
        "generated_tokens_per_query": round(tokens / n, 1),
        "generated_tokens_per_second": round(tokens / wall, 1),
        "engine_busy_fraction": round(sum(s.busy_seconds for s in stats) / wall, 3),
        "mean_requests_in_flight": round(sum(s.in_flight_seconds for s in stats) / wall, 2),
    }
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=8, help="C: max requests in flight / batch size")
    parser.add_argument("--min-len", type=int, default=16)
    parser.add_argument("--max-len", type=int, default=256)
    parser.add_argument("--max-passage-tokens", type=int, default=100)
    parser.add_argument("--modes", default="sequential,lockstep,pipeline")
    parser.add_argument("--out", default=str(RESULTS / "listwise_scheduling.json"))
    args = parser.parse_args()

    from reasonrank.testing.tiny_model import tiny_model_dir

    items = load_dl19(args.queries, args.depth)
    engine = ContinuousHFEngine(str(tiny_model_dir()), max_concurrency=args.concurrency,
                                min_len=args.min_len, max_len=args.max_len)
    common = {"reasoning_budget": args.max_len, "max_passage_tokens": args.max_passage_tokens,
              "depth": args.depth, "on_error": "keep_order"}
    engine.generate([ChatRequest.of([{"role": "user", "content": "warm up"}])], SamplingParams(max_tokens=4))

    def sequential():
        reranker = ListwiseReranker(engine, schedule="pipeline", max_concurrency=1, **common)
        out, stats = [], []
        for q, c in items:
            out.append(reranker.rerank(q, c))
            stats.append(reranker.last_stats or SchedulerStats())
        return out, stats

    def lockstep():
        reranker = ListwiseReranker(engine, schedule="batch", max_batch_size=args.concurrency, **common)
        return reranker.rerank_batch(items), [reranker.last_stats]

    def pipeline():
        reranker = ListwiseReranker(engine, schedule="pipeline", max_concurrency=args.concurrency, **common)
        return reranker.rerank_batch(items), [reranker.last_stats]

    modes = {"sequential": sequential, "lockstep": lockstep, "pipeline": pipeline}
    rows = {}
    try:
        for name in args.modes.split(","):
            rows[name] = measure(name, modes[name])
    finally:
        engine.close()
    ratios = {}
    for a, b in (("pipeline", "sequential"), ("pipeline", "lockstep"), ("lockstep", "sequential")):
        if a in rows and b in rows:
            ratios[f"{a}/{b}"] = round(rows[a]["queries_per_second"] / rows[b]["queries_per_second"], 2)
    print("ratios (queries/s):", json.dumps(ratios))
    report = {
        "benchmark": "listwise scheduling (ReasonRank windows 20/10 over DL19 BM25 top-k)",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "engine": "transformers continuous batching (init_continuous_batching), tiny random Qwen2, CPU",
        "reasoning_length": f"log-uniform [{args.min_len}, {args.max_len}] tokens per window, seeded by the prompt",
        "settings": vars(args),
        "machine": {"platform": platform.platform(), "python": platform.python_version()},
        "rankllm": "not measured: rank_llm is not installed beside this engine",
        "results": list(rows.values()),
        "ratios": ratios,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("wrote", args.out)


if __name__ == "__main__":
    main()
