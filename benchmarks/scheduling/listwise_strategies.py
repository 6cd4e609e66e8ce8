"""Listwise window strategies side by side: the official sliding window vs top-down partitioning.

Issue 28 (single-query latency). One run, three parts, each printing ratios against ``sliding``:

  (1) quality   - an oracle engine orders each window by the DL19 qrels grade plus seeded
                  Gaussian noise (sigma = 0, 0.5, 1 grade; 5 seeds each); nDCG@10 over the 43
                  judged queries at BM25 top-100, sequential steps, windows per query. CPU-light.
  (2) instant   - the library's own share: every strategy against the instant fake OpenAI server
                  (``reasonrank.testing.servers.instant_openai``), one query at a time.
  (3) vllm      - single-query latency on a served CPU vLLM (``--vllm``; the variable-length test
                  model, ``reasonrank.testing.varlen_model``): seconds per query, engine calls
                  and generated tokens per query per strategy. CPU-heavy: a few queries.

Sequential steps per query = engine calls when the query runs alone on a batching engine (the
windows a step can send together go in one call); windows = requests (calls on a served engine).

    .venv/bin/python benchmarks/scheduling/listwise_strategies.py               # (1) and (2)
    .venv/bin/python benchmarks/scheduling/listwise_strategies.py --vllm --queries 5

Writes benchmarks/scheduling/results/listwise_strategies.json (``_vllm`` for part 3).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.metrics import evaluate_run, ranked_run
from reasonrank.testing.bench_inputs import DL19
from reasonrank.testing.oracle import oracle_answer, oracle_candidates

RESULTS = Path(__file__).resolve().parent / "results"
SIGMAS = (0.0, 0.5, 1.0)
SEEDS = 5
#: name -> method options; "sliding" first (the baseline every ratio divides by).
STRATEGIES: dict[str, dict[str, Any]] = {
    "sliding": {"strategy": "sliding"},
    "partition": {"strategy": "partition"},  # the defaults: pivot 10, budget 20, interleaved fill
    "partition_paper_fill": {"strategy": "partition", "partition_fill": "list"},  # the paper code's fill
    "partition_budget40": {"strategy": "partition", "partition_budget": 40},
    "partition_p15_budget40": {"strategy": "partition", "pivot": 15, "partition_budget": 40},
}


def load_run(root: Path, depth: int) -> tuple[dict[str, list[str]], dict[str, dict[str, int]], dict[str, str]]:
    """BM25 top-``depth`` ids of the judged queries, the qrels and the query texts."""
    qrels: dict[str, dict[str, int]] = {}
    for line in (root / "qrels.txt").open():
        qid, _, docid, grade = line.split()
        qrels.setdefault(qid, {})[docid] = int(grade)
    run: dict[str, list[tuple[int, str]]] = {}
    for line in (root / "run.bm25.trec").open():
        qid, _, docid, rank, *_ = line.split()
        run.setdefault(qid, []).append((int(rank), docid))
    texts = dict(line.rstrip("\n").split("\t", 1) for line in (root / "queries.tsv").open())
    ranked = {q: [d for _, d in sorted(docs)[:depth]] for q, docs in run.items() if q in qrels}
    return ranked, qrels, texts


def _one_query(options: dict[str, Any], answer: Callable[[Any], str], text: str,
               ids: list[str]) -> tuple[list[str], int, int, int]:
    """Order, sequential steps (sync engine calls), windows and generated words for one query alone."""
    engine = ScriptedEngine(answer, max_batch_size=64, max_concurrency=1)
    result = ListwiseReranker(engine, max_passage_tokens=8, **options).rerank(text, oracle_candidates(ids))
    windows = sum(len(reqs) for _, reqs in engine.calls)
    return [r.candidate.id for r in result.ranked], len(engine.calls), windows, result.usage.completion_tokens


def quality(root: Path, depth: int) -> dict[str, Any]:
    """Part (1): nDCG@10 and costs of every strategy under the noisy oracle."""
    ranked, qrels, texts = load_run(root, depth)
    out: dict[str, Any] = {"queries": len(ranked), "depth": depth, "sigmas": {}}
    for sigma in SIGMAS:
        rows: dict[str, Any] = {}
        for name, options in STRATEGIES.items():
            ndcgs, steps, windows = [], [], []
            for seed in range(SEEDS):
                orders = {}
                for qid, ids in ranked.items():
                    order, n_steps, n_windows, _ = _one_query(
                        options, oracle_answer(qrels[qid], sigma, seed), texts[qid], ids)
                    orders[qid] = order
                    steps.append(n_steps)
                    windows.append(n_windows)
                ndcgs.append(evaluate_run(qrels, ranked_run(orders), ["nDCG@10"]).mean["nDCG@10"])
            rows[name] = {"ndcg10_mean": round(statistics.fmean(ndcgs), 4), "ndcg10_per_seed": [round(x, 4) for x in ndcgs],
                          "steps_per_query": round(statistics.fmean(steps), 2), "steps_max": max(steps),
                          "windows_per_query": round(statistics.fmean(windows), 2)}
        base = rows["sliding"]
        for row in rows.values():
            row["ndcg10_delta_vs_sliding"] = round(row["ndcg10_mean"] - base["ndcg10_mean"], 4)
            row["steps_ratio_vs_sliding"] = round(row["steps_per_query"] / base["steps_per_query"], 3)
            row["windows_ratio_vs_sliding"] = round(row["windows_per_query"] / base["windows_per_query"], 3)
        out["sigmas"][str(sigma)] = rows
    bm25 = evaluate_run(qrels, ranked_run(ranked), ["nDCG@10"]).mean["nDCG@10"]
    out["bm25_ndcg10"] = round(bm25, 4)
    return out


def print_quality(q: dict[str, Any]) -> None:
    print(f"\n(1) oracle quality, DL19 {q['queries']} queries, BM25 top-{q['depth']} (BM25 nDCG@10 {q['bm25_ndcg10']})")
    print(f"{'sigma':>5} {'strategy':<22} {'nDCG@10':>8} {'delta':>7} {'steps/q':>8} {'ratio':>6} {'windows/q':>9} {'ratio':>6}")
    for sigma, rows in q["sigmas"].items():
        for name, r in rows.items():
            print(f"{sigma:>5} {name:<22} {r['ndcg10_mean']:>8.4f} {r['ndcg10_delta_vs_sliding']:>+7.4f} "
                  f"{r['steps_per_query']:>8.2f} {r['steps_ratio_vs_sliding']:>6.3f} {r['windows_per_query']:>9.2f} "
                  f"{r['windows_ratio_vs_sliding']:>6.3f}")


# -- parts (2) and (3): single-query latency on a served engine -------------------------------
LATENCY = ("sliding", "partition")


def _wave_engine(model: str, url: str, concurrency: int) -> Any:
    """An OpenAIEngine that counts sequential steps: a request sent while none is in flight
    starts a new step (a query runs alone, so a fork's windows go out together)."""
    from reasonrank.engines.openai import OpenAIEngine

    class WaveEngine(OpenAIEngine):
        in_flight = 0
        waves = 0

        async def agenerate(self, requests: Any, params: Any) -> Any:
            self.waves += self.in_flight == 0
            self.in_flight += len(requests)
            try:
                return await super().agenerate(requests, params)
            finally:
                self.in_flight -= len(requests)

    return WaveEngine(model, base_url=url, max_concurrency=concurrency, max_retries=0, timeout=900)


def latency(url: str, model: str, items: list[Any], common: dict[str, Any], reset: Any = None) -> dict[str, Any]:
    """Every strategy on each query alone (order alternated per query); per-strategy means and
    ratios to ``sliding``."""
    from reasonrank.types import Query

    engine = _wave_engine(model, url, 16)
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in LATENCY}
    for n, (text, cands) in enumerate(items):
        for name in LATENCY if n % 2 == 0 else LATENCY[::-1]:
            if reset:
                reset()  # no strategy reuses another's prefills
            reranker = ListwiseReranker(engine, **STRATEGIES[name], **common)
            waves0, t0 = engine.waves, time.perf_counter()
            result = reranker.rerank(Query(text, id=f"q{n}"), cands)
            seconds = time.perf_counter() - t0
            assert sorted(r.candidate.id for r in result.ranked) == sorted(c["id"] for c in cands)
            rows[name].append({"seconds": seconds, "steps": engine.waves - waves0, "windows": len(result.traces),
                               "completion_tokens": result.usage.completion_tokens,
                               "fallbacks": result.usage.fallbacks})
    out: dict[str, Any] = {}
    for name, got in rows.items():
        out[name] = {k: round(statistics.fmean(r[k] for r in got), 4) for k in got[0]}
        out[name]["seconds_median"] = round(statistics.median(r["seconds"] for r in got), 4)
        out[name]["per_query"] = got
    for name in LATENCY:
        out[name]["latency_ratio_vs_sliding"] = round(out[name]["seconds"] / out["sliding"]["seconds"], 3)
    return out


def print_latency(title: str, rows: dict[str, Any]) -> None:
    print(f"\n{title}")
    print(f"{'strategy':<10} {'s/query':>8} {'median':>8} {'ratio':>6} {'steps/q':>8} {'windows/q':>9} {'gen tok/q':>9}")
    for name in LATENCY:
        r = rows[name]
        print(f"{name:<10} {r['seconds']:>8.3f} {r['seconds_median']:>8.3f} {r['latency_ratio_vs_sliding']:>6.3f} "
              f"{r['steps']:>8.2f} {r['windows']:>9.2f} {r['completion_tokens']:>9.1f}")


def served_items(n_queries: int, depth: int, words: int) -> list[Any]:
    from reasonrank.testing.bench_inputs import cut_words, load_dl19

    return cut_words(load_dl19(n_queries, depth), words)


def run_instant(args: argparse.Namespace) -> dict[str, Any]:
    """Part (2): the library's own share, against the instant fake server."""
    from reasonrank.testing.servers.instant_openai import instant_server

    items = served_items(args.instant_queries, args.depth, args.passage_words)
    common = {"depth": args.depth, "max_passage_tokens": 10_000}
    with instant_server() as url:
        latency(url, "liuwenhan/reasonrank-7B", items[:1], common)  # warm-up: imports, connections
        rows = latency(url, "liuwenhan/reasonrank-7B", items, common)
    return {"server": "reasonrank.testing.servers.instant_openai", "queries": len(items), "rows": rows}


def run_vllm(args: argparse.Namespace) -> dict[str, Any]:
    """Part (3): the served CPU vLLM with the variable-length test model, started here with the
    vLLM venv's Python (``--vllm-python``)."""
    import httpx
    from reasonrank.testing.servers.process import free_port, server_process
    from reasonrank.testing.varlen_model import DEFAULT_SCALE, varlen_model_dir

    model = str(varlen_model_dir(DEFAULT_SCALE))
    port = free_port()
    env = {**os.environ, "VLLM_CPU_KVCACHE_SPACE": "2", "VLLM_SERVER_DEV_MODE": "1"}
    cmd = [args.vllm_python, "-m", "vllm.entrypoints.openai.api_server", "--model", model, "--served-model-name",
           model, "--host", "127.0.0.1", "--port", str(port), "--dtype", "bfloat16", "--max-model-len", "4096",
           "--seed", "0", "--disable-log-stats", "--enforce-eager"]
    items = served_items(args.queries, args.depth, args.passage_words)
    common = {"depth": args.depth, "max_passage_tokens": 10_000, "reasoning_budget": args.reasoning_budget,
              "answer_tokens": 100, "on_error": "keep_order"}
    started = time.perf_counter()
    with server_process(cmd, f"http://127.0.0.1:{port}/v1", name="vLLM server", env=env,
                        startup_timeout=900, poll=1.0, stop_timeout=30.0) as url:
        startup = time.perf_counter() - started

        def reset() -> None:
            httpx.post(url.removesuffix("/v1") + "/reset_prefix_cache", timeout=60).raise_for_status()

        load_before = os.getloadavg()
        rows = latency(url, model, items, common, reset)
    return {"server": "vLLM CPU OpenAI server (bfloat16, --enforce-eager, max-model-len 4096), "
                      "reasonrank.testing.varlen_model; prefix cache reset before every query",
            "startup_seconds": round(startup, 1), "queries": len(items), "load_before": load_before,
            "load_after": os.getloadavg(), "common": common, "rows": rows}


def machine() -> dict[str, Any]:
    """Where the numbers came from (the load matters on a shared machine)."""
    return {"platform": platform.platform(), "cpus": os.cpu_count(), "loadavg": os.getloadavg(),
            "date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", type=Path, default=DL19, help="DL19 folder (default: $REASONRANK_DL19 or data/trec-dl19)")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--skip-quality", action="store_true")
    parser.add_argument("--instant-queries", type=int, default=10, help="part (2); 0 skips it")
    parser.add_argument("--passage-words", type=int, default=60)
    parser.add_argument("--vllm", action="store_true", help="part (3) only: the served CPU vLLM")
    parser.add_argument("--vllm-python", default=os.environ.get("REASONRANK_VLLM_PYTHON", ".venv-vllm/bin/python"),
                        help="the Python of a venv with vLLM (default: $REASONRANK_VLLM_PYTHON, else the "
                        "project's .venv-vllm that scripts/ci_vllm.sh builds)")
    parser.add_argument("--queries", type=int, default=5, help="part (3): queries, each run alone")
    parser.add_argument("--reasoning-budget", type=int, default=412, help="part (3), as vllm_pipeline.py")
    args = parser.parse_args()
    report: dict[str, Any] = {"machine": machine(), "strategies": STRATEGIES}
    if args.vllm:
        report["vllm"] = run_vllm(args)
        print_latency(f"(3) served CPU vLLM, {args.queries} queries alone, top-{args.depth}", report["vllm"]["rows"])
    else:
        if not args.skip_quality:
            report["quality"] = quality(args.root, args.depth)
            print_quality(report["quality"])
        if args.instant_queries:
            report["instant"] = run_instant(args)
            print_latency(f"(2) instant server (the library's own share), {args.instant_queries} queries alone",
                          report["instant"]["rows"])
    report["machine"]["load_after"] = os.getloadavg()
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / ("listwise_strategies_vllm.json" if args.vllm else "listwise_strategies.json")
    path.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
