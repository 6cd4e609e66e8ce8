"""In-process vLLM: pipelined (the default) vs lockstep vs one query at a time, and RankLLM.

Same engine build, model, DL19 queries x BM25 top-100 (ReasonRank windows 20/10: 9 per query)
and passage texts, in one run:

  pipeline      the default: ``VLLMEngine`` runs vLLM's async engine, the listwise scheduler
                submits a query's next window the moment its previous one returns;
  lockstep      ``VLLMEngine(async_engine=False)``: the sync ``vllm.LLM``, one engine call per
                window step for all queries, each step waits for its slowest window (the old
                default; RankLLM 0.25.7 and ReasonRank's official loop work this way);
  lockstep-async  the same lockstep schedule on the async engine (``schedule="batch"``): isolates
                the schedule from the engine build;
  sequential    the default engine, one query at a time;
  rankllm       RankLLM 0.25.7 (``RankListwiseOSLLM.rerank_batch``, its ``sliding_windows_batched``)
                on the same engine object as ours (``--rankllm-engine``: the async one by default,
                behind ``vllm.LLM.generate``'s interface; or the sync ``vllm.LLM``) with its ReasonRank prompt
                (``reasonrank_template.yaml`` from RankLLM's main branch), if ``rank_llm`` is
                installed beside vLLM (see benchmarks/README.md; its code is not part of this repo).

The model is ``reasonrank.testing.varlen_model``: the tiny vLLM-sized Qwen2 whose EOS row was rewritten so
that greedy outputs END after a context-dependent number of tokens (a long-tailed spread, reported
per arm), so windows are unequal in length as with real reasoning. Lengths come from the model
itself, the same in every arm given the same prompt. Passages are cut to ``--passage-words`` words
beforehand so both libraries see the same text.

    VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/python benchmarks/scheduling/vllm_pipeline.py --queries 32

Writes benchmarks/scheduling/results/vllm_pipeline.json (raw per-arm rows, length distributions, ratios).

``--engine openai`` runs the same comparison on the served path: the CPU build's OpenAI server
(``python -m vllm.entrypoints.openai.api_server``, started here on 127.0.0.1 with the same model)
and our default ``OpenAIEngine`` (``max_concurrency`` 16) as the client; arms ``pipeline``
(default schedule), ``lockstep`` (``schedule="batch"`` with each window step of all queries sent as
one concurrent call, which waits for its slowest window), ``serial`` (one request in flight,
queries interleaved) and ``sequential`` (one query at a time); ``--repeats`` alternates the order.

Every arm starts with vLLM's prefix cache emptied (in process ``reset_prefix_cache``; the server
runs in ``VLLM_SERVER_DEV_MODE`` for ``POST /reset_prefix_cache``): the arms send the same windows,
so a later arm would otherwise reuse an earlier arm's prefills. Each row also reports the engine's
CPU seconds (this process's child processes: the engine core, or the server), the work done
whatever share of the shared cores it got.

``--batch-scan 1,2,4,8,16,32`` measures what limits pipelining on an engine: prefill and decode
time vs batch size (random-token prompts, ``ignore_eos``), on the in-process async engine. If a
decode step costs about ``batch`` times one sequence's, a fuller batch buys no throughput and
lockstep's idle tail costs little.

    VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/python benchmarks/scheduling/vllm_pipeline.py --engine openai --queries 16
    VLLM_CPU_KVCACHE_SPACE=2 .venv-vllm/bin/python benchmarks/scheduling/vllm_pipeline.py --arms "" --batch-scan 1,2,4,8,16,32
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import types
from pathlib import Path
from typing import Any

from reasonrank.testing.bench_inputs import cut_words, distribution, load_dl19

RESULTS = Path(__file__).resolve().parent / "results"

ARMS = ("pipeline", "lockstep-async", "rankllm", "lockstep", "sequential")
# On the served path: lockstep = each window step of all queries sent at once, waiting for its
# slowest; serial = the batch schedule on the engine's own one-request calls (one in flight,
# queries interleaved).
OPENAI_ARMS = ("pipeline", "lockstep", "serial", "sequential")


def row(arm: str, seconds: float, lengths: list[int], queries: int, stats: list[Any],
        engine_cpu: float | None = None) -> dict[str, Any]:
    """One arm's figures; ``stats`` are SchedulerStats-like (busy/in-flight integrals). In-flight
    counts are per engine call: a lockstep call of 16 requests counts 16 until its slowest ends."""
    tokens = sum(lengths)
    out = {
        "arm": arm, "queries": queries, "seconds": round(seconds, 2),
        "queries_per_second": round(queries / seconds, 4),
        "windows": len(lengths), "generated_tokens": tokens,
        "generated_tokens_per_second": round(tokens / seconds, 1),
        "engine_busy_fraction": round(sum(s.busy_seconds for s in stats) / seconds, 3),
        "mean_requests_in_flight": round(sum(s.in_flight_seconds for s in stats) / seconds, 2),
        "max_requests_in_flight": max((s.max_in_flight for s in stats), default=0),
        "lengths": distribution(lengths),
    }
    if engine_cpu is not None:  # load-independent: the work, not the share of the cores it got
        out["engine_cpu_seconds"] = round(engine_cpu, 1)
        out["engine_cpu_seconds_per_query"] = round(engine_cpu / queries, 2)
        out["engine_cpu_share"] = round(engine_cpu / seconds, 2)
    print(json.dumps({k: v for k, v in out.items() if k != "lengths"}), flush=True)
    print("   lengths:", json.dumps(out["lengths"]), flush=True)
    return out


def engine_cpu_seconds() -> float | None:
    """CPU seconds used so far by this process's child processes (vLLM's engine core, or the
    OpenAI server and its engine core): the engine's work, whatever share of the cores the
    shared machine gave it. Finished children are not counted (none finish during a run).
    ``None`` without psutil (vLLM depends on it; other callers of :func:`run_ours` may lack it)."""
    try:
        import psutil
    except ImportError:
        return None

    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def reset_prefix_cache(engine: Any) -> None:
    """Empty a ``VLLMEngine``'s prefix cache, so an arm does not reuse the prefills of the arms
    before it (same queries, same windows). Runs before 2026-11-26 00:30 UTC did not do this."""
    if engine.async_engine:
        ok = asyncio.run_coroutine_threadsafe(engine.llm.reset_prefix_cache(), engine._loop).result()
    else:
        ok = engine.llm.reset_prefix_cache()
    assert ok is not False, "vLLM could not reset its prefix cache"


def run_ours(arm: str, engine: Any, items: list, common: dict[str, Any]) -> dict[str, Any]:
    from reasonrank.methods.listwise import ListwiseReranker
    from reasonrank.scheduling import SchedulerStats

    cpu0 = engine_cpu_seconds()
    started = time.perf_counter()
    if arm == "sequential":
        reranker = ListwiseReranker(engine, **common)
        results, stats = [], []
        for q, c in items:
            results.append(reranker.rerank(q, c))
            stats.append(reranker.last_stats or SchedulerStats())
    else:
        # lockstep-async, and lockstep on a concurrent engine (the served path): one engine call
        # per window step. lockstep on the sync vllm.LLM is "batch" already (max_concurrency 1).
        schedule = "batch" if arm.startswith("lockstep") or arm == "serial" else "auto"
        reranker = ListwiseReranker(engine, schedule=schedule, **common)
        batch_size = engine.max_batch_size
        if arm == "lockstep" and batch_size == 1:
            # A served engine takes one request per call: a window step of all queries is one call
            # of up to max_concurrency requests, sent concurrently, waiting for its slowest.
            engine.max_batch_size = engine.max_concurrency
        try:
            results = reranker.rerank_batch(items)
        finally:
            engine.max_batch_size = batch_size
        stats = [reranker.last_stats]
    seconds = time.perf_counter() - started
    cpu1 = engine_cpu_seconds()
    cpu = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
    assert all(sorted(r.ids) == sorted(d["id"] for d in c) for r, (_, c) in zip(results, items))
    lengths = [t.completion_tokens for r in results for t in r.traces]
    return row(arm, seconds, lengths, len(items), stats, cpu)


def import_rank_llm() -> Any:
    """RankLLM's listwise class, or None. Its package eagerly imports a LiT5 module that needs a
    helper transformers 5 removed; the listwise path never uses it, so a stand-in is registered."""
    try:
        import transformers.pytorch_utils as pu

        if not hasattr(pu, "find_pruneable_heads_and_indices"):
            stub = types.ModuleType("rank_llm.rerank.listwise.rank_fid")
            stub.RankFiDDistill = stub.RankFiDScore = object  # type: ignore[attr-defined]
            sys.modules["rank_llm.rerank.listwise.rank_fid"] = stub
        from rank_llm.rerank.listwise import rank_listwise_os_llm

        return rank_listwise_os_llm
    except Exception as exc:  # noqa: BLE001 - RankLLM is optional: not measured, said so
        print(f"rankllm: not measured ({type(exc).__name__}: {exc})", flush=True)
        return None


class LLMFacade:
    """What RankLLM 0.25.7 uses of ``vllm.LLM`` (``generate(prompts, params)``, ``get_tokenizer()``),
    on the benchmark's engine, so every arm runs on the same engine object. ``generate`` submits
    the whole batch and returns when its last request finishes: ``LLM.generate``'s semantics (and
    its ``FINAL_ONLY`` outputs)."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def get_tokenizer(self) -> Any:
        return self.engine.tokenizer

    def generate(self, prompts: list[Any], sampling_params: Any, **_: Any) -> list[Any]:
        if not self.engine.async_engine:
            return self.engine.llm.generate(prompts, sampling_params, use_tqdm=False)
        from vllm.sampling_params import RequestOutputKind

        sampling_params.output_kind = RequestOutputKind.FINAL_ONLY
        return self.engine._run_generate(list(prompts), sampling_params)


def run_rankllm(module: Any, engine: Any, model: str, items: list, budget: int, template: Path) -> dict[str, Any]:
    """RankLLM's ``rerank_batch`` on ``engine``: 0.25.7 (lockstep ``sliding_windows_batched``
    over ``vllm.LLM.generate``) or its main branch (async work queue over ``AsyncLLMEngine``,
    one ``generate_output_async`` per window)."""
    import asyncio

    import rank_llm.rerank.vllm_handler as handler_module
    from rank_llm.data import Candidate, Query, Request
    from reasonrank.scheduling import SchedulerStats
    from reasonrank.scheduling.stats import Busy as _Busy

    stats = SchedulerStats()
    busy = _Busy(stats)
    lengths: list[int] = []
    llm = LLMFacade(engine)
    base = handler_module.VllmHandler
    main_branch = hasattr(base, "generate_output_async")

    class SharedHandler(base):  # type: ignore[valid-type, misc]
        def __init__(self, **_: Any) -> None:  # its own would build a second engine
            self._vllm, self._engine, self._model = llm, engine.llm, model
            self._tokenizer = llm.get_tokenizer()

        # min_tokens: RankLLM asks for at least the length of a full ranking (~60 tokens); a
        # reasoning model always writes more, so it never binds for real models. With the
        # variable-length model it would lengthen short outputs: 0 keeps lengths the model's.
        def generate_output(self, prompts, min_tokens, max_tokens, temperature, logprobs=None, **kw):
            busy.start(list(range(len(prompts))))
            try:
                outs = super().generate_output(prompts, 0, max_tokens, temperature, logprobs, **kw)
            finally:
                busy.end(len(prompts))
            lengths.extend(len(o.outputs[0].token_ids) for o in outs)
            return outs

        async def generate_output_async(self, prompt, min_tokens, max_tokens, logprobs=None, sampling_extra=None):
            # main's body (vllm_handler.py), with the request run on the engine's own loop:
            # the shared AsyncLLM lives there, RankLLM's asyncio.run loop is another one.
            import vllm
            from vllm.sampling_params import RequestOutputKind

            params = vllm.SamplingParams(**dict(sampling_extra or {}), min_tokens=0, max_tokens=max_tokens,
                                         logprobs=logprobs, output_kind=RequestOutputKind.FINAL_ONLY)
            busy.start([0])
            try:
                (out,) = await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(
                    _agen(engine, [prompt], params), engine._loop))
            finally:
                busy.end(1)
            lengths.append(len(out.outputs[0].token_ids))
            return out.outputs[0].text, len(out.prompt_token_ids), len(out.outputs[0].token_ids)

    handler_module.VllmHandler = SharedHandler
    if hasattr(module, "VllmHandler"):
        module.VllmHandler = SharedHandler
    reranker = module.RankListwiseOSLLM(
        model=model, context_size=4096, prompt_template_path=str(template), window_size=20, stride=10,
        is_thinking=True, reasoning_token_budget=budget, device="cpu", batch_size=len(items))
    if main_branch:  # main caps at budget + its answer estimate; keep the same total cap as ours
        reranker._reasoning_token_budget = budget - reranker.num_output_tokens(20)
    requests = [Request(Query(q, str(i)), [Candidate(c["id"], float(100 - k), {"text": c["text"]})
                                           for k, c in enumerate(cands)]) for i, (q, cands) in enumerate(items)]
    started = time.perf_counter()
    results = reranker.rerank_batch(requests, rank_start=0, rank_end=len(items[0][1]))
    seconds = time.perf_counter() - started
    busy.finish()
    assert all(sorted(c.docid for c in r.candidates) == sorted(d["id"] for d in cands)
               for r, (_, cands) in zip(results, items))
    return row("rankllm-main" if main_branch else "rankllm", seconds, lengths, len(items), [stats])


async def _agen(engine: Any, prompts: list[Any], params: Any) -> list[Any]:
    async def one(prompt: Any) -> Any:
        final = None
        async for out in engine.llm.generate(prompt, params, request_id=f"rankllm-{id(prompt)}-{time.perf_counter_ns()}"):
            final = out
        return final

    return list(await asyncio.gather(*(one(p) for p in prompts)))


def batch_scan(engine: Any, sizes: list[int], prompt_tokens: int = 256, decode_tokens: int = 32,
               repeats: int = 2) -> dict[str, Any]:
    """Prefill and decode cost vs batch size on ``engine`` (a ``VLLMEngine``): ``b`` requests of
    ``prompt_tokens`` random tokens (fresh each time: no prefix-cache hits), timed for 1 generated
    token (prefill) and for ``1 + decode_tokens`` (``ignore_eos``); the difference is the decode.
    Best of ``repeats`` (the machine is shared)."""
    import random

    from reasonrank.engines.base import SamplingParams

    rng = random.Random(0)

    def run(b: int, tokens: int) -> float:
        prompts = [{"prompt_token_ids": [rng.randrange(1000, 100_000) for _ in range(prompt_tokens)]} for _ in range(b)]
        params = engine._params(SamplingParams(max_tokens=tokens), ignore_eos=True)
        started = time.perf_counter()
        outs = engine._run_generate(prompts, params)
        assert all(len(o.outputs[0].token_ids) == tokens for o in outs)
        return time.perf_counter() - started

    rows = []
    for b in sizes:
        prefill = min(run(b, 1) for _ in range(repeats))
        total = min(run(b, 1 + decode_tokens) for _ in range(repeats))
        decode = max(1e-9, total - prefill)
        rows.append({"batch": b, "prefill_seconds": round(prefill, 3),
                     "prefill_tokens_per_second": round(b * prompt_tokens / prefill, 1),
                     "decode_seconds": round(decode, 3), "decode_step_ms": round(1000 * decode / decode_tokens, 1),
                     "decode_tokens_per_second": round(b * decode_tokens / decode, 1)})
        print("scan:", json.dumps(rows[-1]), flush=True)
    one = rows[0]["decode_tokens_per_second"] if rows and rows[0]["batch"] == 1 else None
    for r in rows:  # how much a fuller batch buys over one sequence (a memory-bound GPU: ~batch)
        r["decode_speedup_over_batch_1"] = round(r["decode_tokens_per_second"] / one, 2) if one else None
    sched = getattr(getattr(engine.llm, "vllm_config", None), "scheduler_config", None)
    config = {k: getattr(sched, k, None) for k in ("max_num_seqs", "max_num_batched_tokens", "enable_chunked_prefill",
                                                   "async_scheduling")} if sched is not None else {}
    return {"prompt_tokens": prompt_tokens, "decode_tokens": decode_tokens, "repeats": repeats,
            "scheduler_config": config, "rows": rows}


def run_served(model: str, arms: list[str], items: list, common: dict[str, Any], args: argparse.Namespace) -> tuple[dict[str, Any], float, dict[str, Any]]:
    """The arms on the served path: the CPU build's OpenAI server with ``model`` and our default
    ``OpenAIEngine`` (the model folder is the served name, so its tokenizer is found locally, as
    for a user who serves a local model)."""
    import httpx
    from reasonrank.engines.base import ChatRequest, SamplingParams
    from reasonrank.engines.openai import OpenAIEngine
    from reasonrank.testing.servers.vllm_server import vllm_openai_server

    rows: dict[str, Any] = {}
    started = time.perf_counter()
    os.environ["VLLM_SERVER_DEV_MODE"] = "1"  # serves POST /reset_prefix_cache
    with vllm_openai_server(Path(model), [model]) as url:
        startup = time.perf_counter() - started
        engine = OpenAIEngine(model, base_url=url, max_concurrency=args.max_concurrency)
        engine.generate([ChatRequest.of([{"role": "user", "content": "warm up " * 50}])] * 4, SamplingParams(max_tokens=8))

        def reset() -> None:
            reply = httpx.post(url.removesuffix("/v1") + "/reset_prefix_cache", timeout=60)
            assert reply.status_code == 200 and reply.json().get("success"), reply.text

        runs: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}
        for rep in range(args.repeats):  # arm order reversed every other repeat: load drifts
            for arm in arms if rep % 2 == 0 else arms[::-1]:
                subset = items[: args.sequential_queries] if arm == "sequential" and args.sequential_queries else items
                reset()  # every arm starts cold: later arms would reuse the earlier arms' prefills
                runs[arm].append(run_ours(arm, engine, subset, common))
        for arm, got in runs.items():  # the median run of each arm, every run's seconds beside it
            rows[arm] = dict(sorted(got, key=lambda r: r["seconds"])[len(got) // 2],
                             seconds_per_repeat=[r["seconds"] for r in got])
    server = {"server": "python -m vllm.entrypoints.openai.api_server (reasonrank.testing.servers.vllm_server: bfloat16, "
                        "--enforce-eager, --max-model-len 4096, prefix caching on by default)",
              "server_scheduler_defaults": "vLLM CPU OpenAI-server defaults (vllm/engine/arg_utils.py): "
                                           "max_num_seqs 128, max_num_batched_tokens 2048",
              "client": f"OpenAIEngine(max_concurrency={args.max_concurrency}), local tokenizer (the model folder)"}
    return rows, startup, server


def find_template(explicit: str | None) -> Path | None:
    if explicit:
        return Path(explicit)
    try:
        import rank_llm

        path = Path(rank_llm.__file__).parent / "rerank" / "prompt_templates" / "reasonrank_template.yaml"
        return path if path.is_file() else None
    except ImportError:
        return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=32)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--passage-words", type=int, default=60)
    parser.add_argument("--reasoning-budget", type=int, default=412,
                        help="generation cap per window = this + --answer-tokens (RankLLM: the sum)")
    parser.add_argument("--answer-tokens", type=int, default=100)
    parser.add_argument("--scale", type=float, default=None, help="varlen model EOS scale (reasonrank.testing.varlen_model)")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--rankllm-template", default=None,
                        help="RankLLM's reasonrank_template.yaml (default: inside the installed rank_llm)")
    parser.add_argument("--rankllm-engine", choices=["async", "sync"], default="async",
                        help="the engine RankLLM runs on: the default async one (same object as ours) or "
                             "the sync vllm.LLM of the lockstep arm")
    parser.add_argument("--engine", choices=["vllm", "openai"], default="vllm",
                        help="in-process vLLM (default) or the CPU build's OpenAI server with our OpenAIEngine")
    parser.add_argument("--max-concurrency", type=int, default=16,
                        help="--engine openai: the client's requests in flight (OpenAIEngine's default 16)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="--engine openai: run the arms this many times (order reversed every other time) "
                             "and report each arm's median run")
    parser.add_argument("--batch-scan", default="",
                        help="comma-separated batch sizes: also measure prefill/decode cost vs batch size")
    parser.add_argument("--sequential-queries", type=int, default=None,
                        help="run the one-query-at-a-time arm on the first N queries only (it is slow)")
    parser.add_argument("--out", default=str(RESULTS / "vllm_pipeline.json"))
    args = parser.parse_args()
    os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "2")

    from reasonrank.engines.base import ChatRequest, SamplingParams
    from reasonrank.engines.vllm import VLLMEngine
    from reasonrank.testing.varlen_model import DEFAULT_SCALE, varlen_model_dir

    arms = [a for a in args.arms.split(",") if a]
    allowed = OPENAI_ARMS if args.engine == "openai" else ARMS
    unknown = set(arms) - set(allowed)
    if unknown:
        parser.error(f"unknown arms {sorted(unknown)} for --engine {args.engine}; choose from {allowed}")
    scan_sizes = [int(b) for b in args.batch_scan.split(",") if b]
    model = str(varlen_model_dir(args.scale if args.scale is not None else DEFAULT_SCALE))
    items = cut_words(load_dl19(args.queries, args.depth), args.passage_words)
    common = {"reasoning_budget": args.reasoning_budget, "answer_tokens": args.answer_tokens,
              "max_passage_tokens": 10_000, "depth": args.depth, "on_error": "keep_order"}
    engine_args = {"dtype": "bfloat16", "max_model_len": 4096, "seed": 0}
    rank_llm_module = import_rank_llm() if "rankllm" in arms else None
    template = find_template(args.rankllm_template) if rank_llm_module else None
    notes: dict[str, str] = {}
    if "rankllm" in arms and (rank_llm_module is None or template is None):
        notes["rankllm"] = "not measured: rank_llm or its reasonrank_template.yaml is not installed here"
        arms.remove("rankllm")

    rows: dict[str, dict[str, Any]] = {}
    startup, served = 0.0, {}
    if args.engine == "openai":  # the server and an in-process engine would compete for the cores
        rows, startup, served = run_served(model, arms, items, common, args)
        arms = []
    started = time.perf_counter()
    engines: dict[str, VLLMEngine] = {}
    if {"pipeline", "lockstep-async", "sequential"} & set(arms) or ("rankllm" in arms and args.rankllm_engine == "async") \
            or scan_sizes:
        engines["async"] = VLLMEngine(model, **engine_args)  # the default: async_engine=True
    if "lockstep" in arms or ("rankllm" in arms and args.rankllm_engine == "sync"):
        engines["sync"] = VLLMEngine(model, async_engine=False, **engine_args)
    if engines:
        startup += time.perf_counter() - started
    warm = [ChatRequest.of([{"role": "user", "content": "warm up " * 50}])] * 4
    for engine in engines.values():
        engine.generate(warm, SamplingParams(max_tokens=8))

    scan: dict[str, Any] = {}
    try:
        if scan_sizes:
            scan = batch_scan(engines["async"], scan_sizes)
        for arm in arms:
            if arm == "rankllm":
                reset_prefix_cache(engines[args.rankllm_engine])
                got = run_rankllm(rank_llm_module, engines[args.rankllm_engine], model, items,
                                  args.reasoning_budget + args.answer_tokens, template)
                rows[got["arm"]] = got
            else:
                engine = engines["sync" if arm == "lockstep" else "async"]
                subset = items[: args.sequential_queries] if arm == "sequential" and args.sequential_queries else items
                reset_prefix_cache(engine)
                rows[arm] = run_ours(arm, engine, subset, common)
    finally:
        for engine in engines.values():
            engine.close()

    ratios = {}
    for a, b in (("pipeline", "lockstep"), ("pipeline", "lockstep-async"), ("pipeline", "sequential"),
                 ("lockstep", "sequential"), ("pipeline", "rankllm"), ("lockstep", "rankllm"),
                 ("pipeline", "rankllm-main")):
        if a in rows and b in rows:
            # queries/s, so an arm run on a subset (--sequential-queries) compares per query
            ratios[f"{a}/{b} (speed-up)"] = round(rows[a]["queries_per_second"] / rows[b]["queries_per_second"], 2)
    print("ratios:", json.dumps(ratios), flush=True)
    rankllm_version = None
    if "rankllm" in rows or "rankllm-main" in rows:
        from importlib.metadata import version

        rankllm_version = version("rank-llm")
    import vllm

    report = {
        "benchmark": ("served vLLM (CPU build's OpenAI server, our OpenAIEngine)" if args.engine == "openai" else
                      "in-process vLLM") + " listwise scheduling, variable-length model (DL19 BM25 top-k, windows 20/10)",
        "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "engine": f"vllm-cpu {vllm.__version__}, bfloat16, prefix caching on, VLLM_CPU_KVCACHE_SPACE="
                  f"{os.environ['VLLM_CPU_KVCACHE_SPACE']}",
        "model": f"reasonrank.testing.varlen_model (tiny random Qwen2, head_dim 32, EOS row rewritten), {Path(model).name}",
        "rank_llm": rankllm_version,
        "machine": {"platform": platform.platform(), "python": platform.python_version(),
                    "cpus": os.cpu_count(), "note": "2 CPU cores shared with other work during the run"},
        "settings": vars(args),
        "engine_startup_seconds": round(startup, 1),
        **served,
        "results": list(rows.values()),
        "batch_scan": scan,
        "ratios": ratios,
        "notes": notes,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print("wrote", args.out, flush=True)


if __name__ == "__main__":
    main()
