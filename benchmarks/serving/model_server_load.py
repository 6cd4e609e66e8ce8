"""Served-path load benchmark: queries/s and latency percentiles of the listwise reranker against
a real model server (llama_cpp.server on 127.0.0.1 serving the embedded Qwen2.5-0.5B GGUF).

Each query is one concurrent ``arerank`` call sharing one ``OpenAIEngine`` (as a web service
would receive them); ``--concurrency`` sets the engine's ``max_concurrency``. Latency is a query's
wall time from submission to result, so it includes queueing. llama_cpp.server serves one request
at a time, so throughput stays that of the model while latency grows with concurrency: the figure
shows what the library adds (or not) under load, and that every query completes with every id.
Token counting goes to the server's ``/extras/tokenize`` (no local tokenizer), as a user gets it.

    .venv/bin/python benchmarks/serving/model_server_load.py --queries 12 --top-k 5 --concurrency 1 4 8

Writes ``benchmarks/serving/results/model_server_load.json``. DL19 BM25 top-k passages are the input.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
from reasonrank.data import Dataset
from reasonrank.engines.embedded_model import embedded_gguf_path
from reasonrank.engines.openai import OpenAIEngine
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.testing.servers.llama_server import llama_cpp_server

RESULTS = Path(__file__).resolve().parent / "results"
from reasonrank.testing.bench_inputs import DL19


async def run_level(url: str, items: list, concurrency: int, args: argparse.Namespace) -> dict:
    engine = OpenAIEngine("embedded", base_url=url, max_concurrency=concurrency, max_retries=0, timeout=900)
    reranker = ListwiseReranker(engine, window_size=20, stride=10, depth=args.top_k,
                                reasoning_budget=args.reasoning_budget, answer_tokens=args.answer_tokens,
                                max_passage_tokens=100)
    latencies: list[float] = []

    async def one(item) -> dict:
        t0 = time.perf_counter()
        result = await reranker.arerank(item.query, item.candidates)
        latencies.append(time.perf_counter() - t0)
        assert sorted(result.ids) == sorted(c.id for c in item.candidates)  # nothing lost
        return {"fallbacks": result.usage.fallbacks, "engine_fallbacks": result.usage.engine_fallbacks,
                "completion_tokens": result.usage.completion_tokens, "prompt_tokens": result.usage.prompt_tokens}

    start = time.perf_counter()
    per_query = await asyncio.gather(*(one(it) for it in items))
    wall = time.perf_counter() - start
    p50, p90, p99 = np.percentile(latencies, [50, 90, 99])
    return {
        "concurrency": concurrency,
        "queries": len(items),
        "wall_seconds": round(wall, 3),
        "queries_per_second": round(len(items) / wall, 4),
        "latency_seconds": {"p50": round(float(p50), 3), "p90": round(float(p90), 3),
                            "p99": round(float(p99), 3), "max": round(max(latencies), 3)},
        "completed": len(per_query),
        "fallbacks": sum(q["fallbacks"] for q in per_query),
        "engine_fallbacks": sum(q["engine_fallbacks"] for q in per_query),
        "generated_tokens": sum(q["completion_tokens"] for q in per_query),
        "prompt_tokens": sum(q["prompt_tokens"] for q in per_query),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DL19)
    parser.add_argument("--queries", type=int, default=12)
    parser.add_argument("--top-k", type=int, default=5)
    parser.add_argument("--reasoning-budget", type=int, default=32,
                        help="listwise reasoning cap (the embedded preset uses 512; small keeps the run short)")
    parser.add_argument("--answer-tokens", type=int, default=100, help="tokens after the reasoning cap (100)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--n-ctx", type=int, default=4096)
    parser.add_argument("--output", type=Path, default=RESULTS / "model_server_load.json")
    args = parser.parse_args()

    dataset = Dataset.load(args.data)
    items = [dataset.item(q, args.top_k) for q in dataset.query_ids(args.queries)]
    levels = []
    with llama_cpp_server(embedded_gguf_path(), n_ctx=args.n_ctx) as url:
        asyncio.run(run_level(url, items[:1], 1, args))  # warm-up: server caches, tokenizer endpoint
        for c in args.concurrency:
            level = asyncio.run(run_level(url, items, c, args))
            levels.append(level)
            lat = level["latency_seconds"]
            print(f"concurrency {c:>2}: {level['queries_per_second']:.3f} q/s, latency p50 {lat['p50']:.1f}s "
                  f"p99 {lat['p99']:.1f}s, {level['completed']}/{len(items)} complete, "
                  f"{level['fallbacks']} fallbacks", flush=True)
    report = {
        "benchmark": "model_server_load",
        "server": "llama_cpp.server (llama-cpp-python), embedded Qwen2.5-Coder-0.5B-Instruct Q4_K_M",
        "method": "listwise", "top_k": args.top_k, "reasoning_budget": args.reasoning_budget,
        "answer_tokens": args.answer_tokens,
        "dataset": dataset.name, "machine": f"{platform.machine()}, 2 cores shared with other jobs",
        "client_max_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "levels": levels,
        "command": "python benchmarks/serving/model_server_load.py " + " ".join(sys.argv[1:]),
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
