"""Load benchmark of ``reasonrank serve``: requests/s and p50/p99 latency for 1, 8 and 32
concurrent clients, against two engines started the way a user starts them:

* ``instant``: a scripted sync batch engine that answers at once (reverses each window) - the
  service's own cost per request (HTTP, validation, prompt building, scheduling, JSON);
  measured side by side with the same reranker called in process (no HTTP), one query at a time.
* ``tiny``: the tiny random Qwen2 model (reasonrank.testing.tiny_model, real Qwen tokenizer and chat
  template) in transformers on CPU, generation capped (a random model never stops by itself).

Each request is one DL19 query with its BM25 top-20 (``--docs``) passages: one listwise window
(default preset window 20). The clients run in this process (asyncio + httpx) on the same
machine, so client CPU competes with the server's: on a 2-core box shared with other work the
numbers are a floor. ``/v1/stats`` before and after each level gives how many engine calls
carried windows of several requests (cross-request batching) and the mean batch.

    .venv/bin/python benchmarks/serving/service_load.py                 # both engines
    .venv/bin/python benchmarks/serving/service_load.py --engines instant --requests 400

Writes benchmarks/serving/results/service_load.json.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]  # the repository
from reasonrank.testing.bench_inputs import DL19

RESULTS = Path(__file__).resolve().parent / "results"

from reasonrank.testing.servers.reasonrank_server import scripted_args, serve


def load_queries(n: int, depth: int) -> list[tuple[str, list[str]]]:
    """(query, passages) pairs from DL19 BM25 top-``depth``; synthetic if the data is absent."""
    if (DL19 / "queries.tsv").is_file():
        from reasonrank.data import Dataset

        data = Dataset.load(DL19)
        items = [data.item(q, depth) for q in data.query_ids(n)]
        return [(it.query.text, [c.content() for c in it.candidates]) for it in items]
    return [(f"query {i}", [f"passage {j} of query {i}" for j in range(depth)]) for i in range(n)]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]


async def run_level(url: str, queries: list[tuple[str, list[str]]], clients: int, total: int) -> dict[str, Any]:
    """``clients`` workers share ``total`` requests; each sends its next as soon as one returns."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    counter = iter(range(total))
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:
        before = (await client.get("/v1/stats")).json()["engine"]

        async def worker() -> None:
            for i in counter:
                query, docs = queries[i % len(queries)]
                t0 = time.perf_counter()
                r = await client.post("/v2/rerank", json={"model": "reasonrank", "query": query, "documents": docs})
                if r.status_code == 200 and len(r.json()["results"]) == len(docs):
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors[str(r.status_code)] = errors.get(str(r.status_code), 0) + 1

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - start
        after = (await client.get("/v1/stats")).json()["engine"]
    calls = after["calls"] - before["calls"]
    windows = after["requests"] - before["requests"]
    return {
        "clients": clients, "requests": total, "ok": len(latencies), "errors": errors,
        "wall_s": round(wall, 3), "requests_per_s": round(len(latencies) / wall, 2),
        "p50_ms": round(1000 * statistics.median(latencies), 1) if latencies else None,
        "p99_ms": round(1000 * percentile(latencies, 99), 1) if latencies else None,
        "engine_calls": calls, "windows": windows,
        "mean_windows_per_call": round(windows / calls, 2) if calls else None,
        "mixed_calls": after["mixed_calls"] - before["mixed_calls"],
        "max_requests_per_call": after["max_tickets_per_call"],
    }


def in_process_baseline(queries: list[tuple[str, list[str]]], total: int) -> dict[str, Any]:
    """The same reranker, one query at a time, called directly: no HTTP, no service."""
    from reasonrank.factory import build_reranker
    from reasonrank.testing.scripted_engines import instant

    reranker = build_reranker(method="listwise", engine=instant(), cache=False)  # queries repeat: no cache
    latencies = []
    start = time.perf_counter()
    for i in range(total):
        query, docs = queries[i % len(queries)]
        t0 = time.perf_counter()
        reranker.rerank(query, [{"id": str(j), "text": d} for j, d in enumerate(docs)])
        latencies.append(time.perf_counter() - t0)
    wall = time.perf_counter() - start
    return {"clients": 1, "requests": total, "requests_per_s": round(total / wall, 2),
            "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(1000 * percentile(latencies, 99), 1)}


def engine_args(name: str) -> list[str]:
    if name == "instant":
        # --cache off: the load measures engine work (the queries repeat; issue 27's cache would answer)
        return scripted_args("instant", "--cache", "off")
    from reasonrank.testing.tiny_model import tiny_model_dir

    return ["--engine", "transformers", "--model", str(tiny_model_dir()), "--method", "listwise", "--cache", "off",
            "--engine-options", json.dumps({"device": "cpu", "dtype": "float32", "max_batch_size": 32}),
            "--method-options", json.dumps({"reasoning_budget": 16, "answer_tokens": 8})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engines", nargs="+", default=["instant", "tiny"], choices=["instant", "tiny"])
    parser.add_argument("--clients", nargs="+", type=int, default=[1, 8, 32])
    parser.add_argument("--requests", type=int, default=None,
                        help="requests per level (default: 200 for instant; for tiny, max(8, clients))")
    parser.add_argument("--docs", type=int, default=20, help="passages per request (BM25 top-k)")
    parser.add_argument("--out", default=str(RESULTS / "service_load.json"))
    args = parser.parse_args()

    queries = load_queries(43, args.docs)
    out: dict[str, Any] = {
        "benchmark": "service_load", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other work)",
        "data": f"DL19 BM25 top-{args.docs}" if (DL19 / "queries.tsv").is_file() else "synthetic",
        "command": "benchmarks/serving/service_load.py " + " ".join(sys.argv[1:]), "engines": {},
    }
    for name in args.engines:
        def total_for(clients: int, name: str = name) -> int:
            return args.requests or (200 if name == "instant" else max(8, clients))

        server_args = [*engine_args(name), "--max-in-flight", str(max(args.clients)), "--queue-limit", "256",
                       "--log-level", "warning"]
        with serve(server_args, startup=600) as url:  # the tests' launcher: subprocess, SIGTERM after
            asyncio.run(run_level(url, queries, 1, 4))  # warm-up
            levels = []
            for clients in args.clients:
                level = asyncio.run(run_level(url, queries, clients, total_for(clients)))
                levels.append(level)
                print(f"{name:8s} clients={clients:3d}  {level['requests_per_s']:8.2f} req/s  "
                      f"p50 {level['p50_ms']} ms  p99 {level['p99_ms']} ms  "
                      f"windows/call {level['mean_windows_per_call']}  mixed calls {level['mixed_calls']}",
                      flush=True)
        entry: dict[str, Any] = {"server_args": engine_args(name), "levels": levels}
        one = levels[0]["requests_per_s"]
        entry["speedup_vs_1_client"] = {str(lv["clients"]): round(lv["requests_per_s"] / one, 2) for lv in levels}
        if name == "instant":
            base = in_process_baseline(queries, total_for(1))
            entry["in_process_1_client"] = base
            entry["service_overhead_ms_per_request_1_client"] = round(levels[0]["p50_ms"] - base["p50_ms"], 1)
            print(f"in-process 1 client: {base['requests_per_s']} req/s, p50 {base['p50_ms']} ms "
                  f"(service adds {entry['service_overhead_ms_per_request_1_client']} ms per request)")
        out["engines"][name] = entry
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
