"""Cost controls (issue 27), measured side by side in one run: the result cache on the served
path and behind ``reasonrank serve``, and thinking budgets that still answer.

* ``cache_served``: a listwise top-20 query (one window; DL19 BM25 top-20, else synthetic) with
  the ``reasonrank-7b`` preset on ``engine="openai"`` against the instant fake server
  (``reasonrank.testing.servers.instant_openai``, a separate process), in-process: the cold
  first call, then the same query repeated — server requests it cost (from the server's
  ``/stats``: chat completions and ``/tokenize``) and the library's wall time per repeat
  (median, p90). Target: 0 engine calls and <= 1 ms per repeated query.
* ``serve_50pct_repeats``: ``reasonrank serve`` (engine factory
  ``reasonrank.testing.scripted_engines:serial``: one window per engine call, 50 ms each — an
  engine at capacity) under 8 clients whose requests are 50 % repeats of earlier ones:
  requests/s, p50/p99 with ``--cache off`` and with the default cache, same engine; the cache
  hits and, of those, the requests coalesced with an identical one still in flight.
* ``forcing``: a scripted engine whose thoughts never close (every generation runs out of
  tokens inside ``<think>``) for listwise, setwise and REBEL: windows/sets/passages answered
  from the unfinished thought (scraped) with ``force_answer=False`` vs forced with it on, every
  id once, the fallbacks, and the extra generated tokens.

Quality arms (DL19 nDCG@10 with the embedded 0.5B model at a tight budget, cascades) are not in
this script: see benchmarks/README.md, "Cost controls", for what they need.

    .venv/bin/python benchmarks/cost/cost_controls.py

Writes benchmarks/cost/results/cost_controls.json (or ``--out``).
"""
from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import httpx

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "serving"))
from service_load import load_queries, percentile

RESULTS = HERE / "results"


def server_counts(base_url: str) -> dict[str, int]:
    stats = httpx.get(base_url.removesuffix("/v1") + "/stats", timeout=5).json()
    return {k: int(v) for k, v in stats.get("count", stats).items() if isinstance(v, (int, float))}


def cache_served(repeats: int) -> dict[str, Any]:
    """The served path: cold call, then repeats of the same query (see the module docstring)."""
    from reasonrank import load_reranker
    from reasonrank.testing.servers.instant_openai import instant_server

    query, docs = load_queries(1, 20)[0]
    cands = [{"id": str(i), "text": d} for i, d in enumerate(docs)]
    out: dict[str, Any] = {}
    with instant_server() as url:
        for label, cache in (("no_cache", False), ("cache", True)):
            reranker = load_reranker(preset="reasonrank-7b", engine="openai", base_url=url, cache=cache)
            t0 = time.perf_counter()
            first = reranker.rerank(query, cands)
            cold_ms = 1000 * (time.perf_counter() - t0)
            before = server_counts(url)
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                again = reranker.rerank(query, cands)
                times.append(1000 * (time.perf_counter() - t0))
            after = server_counts(url)
            assert again.ids == first.ids
            calls = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
            out[label] = {"cold_ms": round(cold_ms, 2), "repeat_ms_median": round(statistics.median(times), 3),
                          "repeat_ms_p90": round(percentile(times, 90), 3), "repeats": repeats,
                          "server_requests_during_repeats": calls,
                          "engine_calls_per_repeat": round(sum(v for k, v in calls.items()
                                                               if "completions" in k) / repeats, 3),
                          "usage_of_last_repeat": {"cache_hits": again.usage.cache_hits,
                                                   "cache_misses": again.usage.cache_misses}}
            print(f"served {label:8s}: cold {cold_ms:7.1f} ms, repeat median {out[label]['repeat_ms_median']} ms, "
                  f"server requests during repeats {calls}", flush=True)
    out["speedup_repeat"] = round(out["no_cache"]["repeat_ms_median"] / max(out["cache"]["repeat_ms_median"], 1e-6), 1)
    return out


async def _load(url: str, queries: list[tuple[str, list[str]]], clients: int, total: int) -> dict[str, Any]:
    """``total`` requests from ``clients`` workers: every other one repeats an earlier unique
    request sent about ``2 * clients`` requests before (so usually finished): 50 % repeats."""
    order = [max(0, i // 2 - clients) if i % 2 else i // 2 for i in range(total)]
    latencies: list[float] = []
    counter = iter(order)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=600, limits=limits) as client:

        async def worker() -> None:
            for i in counter:
                query, docs = queries[i % len(queries)]
                t0 = time.perf_counter()
                r = await client.post("/v2/rerank", json={"model": "reasonrank", "query": query, "documents": docs})
                r.raise_for_status()
                latencies.append(time.perf_counter() - t0)

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - start
        metrics = (await client.get("/metrics")).text
    hits = sum(float(m) for m in re.findall(r'reasonrank_cache_requests_total\{result="hit"\} ([0-9.e+]+)', metrics))
    coalesced = sum(float(m) for m in re.findall(r"reasonrank_cache_coalesced_total ([0-9.e+]+)", metrics))
    return {"requests": total, "clients": clients, "wall_s": round(wall, 3),
            "requests_per_s": round(total / wall, 2), "p50_ms": round(1000 * statistics.median(latencies), 1),
            "p99_ms": round(1000 * percentile(latencies, 99), 1), "cache_hits": int(hits),
            "coalesced": int(coalesced)}


def serve_repeats(total: int, clients: int) -> dict[str, Any]:
    from reasonrank.testing.servers.reasonrank_server import serve

    queries = load_queries(total, 20)
    out: dict[str, Any] = {"engine": "scripted_engines:serial (one window per engine call, 50 ms each)"}
    for label, flag in (("no_cache", ["--cache", "off"]), ("cache", [])):
        args = ["--engine-factory", "reasonrank.testing.scripted_engines:serial", "--method", "listwise",
                "--max-in-flight", str(clients), "--log-level", "warning", *flag]
        with serve(args, startup=120) as url:
            out[label] = asyncio.run(_load(url, queries, clients, total))
        print(f"serve {label:8s}: {out[label]}", flush=True)
    out["throughput_ratio"] = round(out["cache"]["requests_per_s"] / out["no_cache"]["requests_per_s"], 2)
    return out


def forcing() -> dict[str, Any]:
    """Every thought runs out of budget: scraped (off) vs forced (on), per method."""
    from reasonrank.engines.base import ChatRequest
    from reasonrank.engines.scripted import ScriptedEngine
    from reasonrank.methods.listwise import ListwiseReranker
    from reasonrank.methods.multicriteria import RebelReranker
    from reasonrank.methods.setwise import SetwiseReranker

    endless = "<think> " + "passage [2] seems relevant, maybe [1] " * 300

    def n_labels(r: ChatRequest) -> int:
        return len(re.findall(r"^\[\d+\]", r.messages[-1]["content"], re.MULTILINE))

    def model(r: ChatRequest) -> str:
        if not r.assistant_prefix.endswith("<answer>"):
            return endless
        if "criterion" in r.messages[-1]["content"]:
            return "relevance: 7\ndepth: 3\nrecency: 3\nauthority: 3\nclarity: 3</answer>"
        n = n_labels(r)
        return (" > ".join(f"[{i}]" for i in range(n, 0, -1)) if "most relevant" not in r.messages[-1]["content"]
                else f"[{n}]") + "</answer>"

    docs = [{"id": f"d{i}", "text": f"passage {i}"} for i in range(30)]
    builders = {
        "listwise": lambda e, f: ListwiseReranker(e, reasoning_budget=64, force_answer=f),
        "setwise": lambda e, f: SetwiseReranker(e, set_size=4, top_k=5, reasoning_budget=64, force_answer=f),
        "rebel": lambda e, f: RebelReranker(e, reasoning_budget=64, force_answer=f),
    }
    out: dict[str, Any] = {}
    for name, build in builders.items():
        row: dict[str, Any] = {}
        for label, flag in (("scraped", False), ("forced", True)):
            engine = ScriptedEngine(model)
            t0 = time.perf_counter()
            res = build(engine, flag).rerank("q", docs[:10] if name == "rebel" else docs)
            unclosed = sum(1 for t in res.traces if "reasoning tag not closed" in " ".join(t.warnings)
                           or (not t.forced_answer and "</think>" not in t.raw_output))
            row[label] = {"units": len(res.traces), "answered_from_unfinished_thought": unclosed,
                          "forced_answers": res.usage.forced_answers, "fallbacks": res.usage.fallbacks,
                          "every_id_once": sorted(res.ids) == sorted(d["id"] for d in (docs[:10] if name == "rebel"
                                                                                        else docs)),
                          "generated_tokens": res.usage.completion_tokens,
                          "thinking_tokens": res.usage.thinking_tokens,
                          "engine_requests": sum(len(b) for _, b in engine.calls),
                          "seconds": round(time.perf_counter() - t0, 4)}
        row["extra_generated_tokens"] = row["forced"]["generated_tokens"] - row["scraped"]["generated_tokens"]
        out[name] = row
        print(f"forcing {name:8s}: {row}", flush=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="repeats of the served query")
    parser.add_argument("--serve-requests", type=int, default=64)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--skip", nargs="*", default=[], choices=["cache_served", "serve", "forcing"])
    parser.add_argument("--out", default=str(RESULTS / "cost_controls.json"))
    args = parser.parse_args()
    out: dict[str, Any] = {
        "benchmark": "cost_controls", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other work)",
        "load_average": round(os.getloadavg()[0], 2),
        "command": "benchmarks/cost/cost_controls.py " + " ".join(sys.argv[1:]),
    }
    if "cache_served" not in args.skip:
        out["cache_served"] = cache_served(args.repeats)
    if "serve" not in args.skip:
        out["serve_50pct_repeats"] = serve_repeats(args.serve_requests, args.clients)
    if "forcing" not in args.skip:
        out["forcing"] = forcing()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    import json

    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
