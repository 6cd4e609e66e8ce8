"""transformers continuous batching: pipelined vs lockstep vs one query at a time (CPU or GPU).

Issue 14 item 2 on an engine with continuous batching that runs where vLLM does not (a GPU
machine with torch and transformers only): ``TransformersEngine(continuous_batching=True)``
(:mod:`reasonrank.engines.transformers_cb`). Same model, DL19 queries x BM25 top-100 (ReasonRank
windows 20/10: 9 per query) and passage texts, in one run:

  pipeline        the continuous-batching engine, the listwise scheduler's default for it
                  (``run_async``): a query's next window joins the running batch the moment its
                  previous one returns;
  lockstep-async  the same engine, ``schedule="batch"``: one engine call per window step for all
                  queries, each step waits for its slowest window (isolates the schedule);
  lockstep        the plain transformers engine (``generate`` with left padding, one batch of all
                  queries per window step): what ``TransformersEngine`` does without the option;
  sequential      the continuous-batching engine, one query at a time.

The model is ``reasonrank.testing.varlen_model`` (the tiny Qwen2 whose greedy outputs END at a
context-dependent step, a long-tailed spread, reported per arm), optionally embedded by
``reasonrank.testing.widen_model`` in a Qwen2.5-sized model that computes the same function with a
real model's arithmetic (``--size 1.5b``, ``7b``), so that a GPU does real work per step.
The arms' driver (with the per-arm rows and length distributions) is imported from
``vllm_pipeline.py`` beside this script; the DL19 input and passage cutting from
:mod:`reasonrank.testing.bench_inputs`.

CPU (here):  python benchmarks/scheduling/transformers_pipeline.py --device cpu --queries 4 --passage-words 40 \\
                 --reasoning-budget 64 --answer-tokens 32 --sequential-queries 1 --time-budget 3000
GPU (H100):  python3 benchmarks/scheduling/transformers_pipeline.py --device cuda --size 1.5b --queries 32 \\
                 --passage-words 40 --reasoning-budget 64 --answer-tokens 32 --sequential-queries 2 \\
                 --data DL19_FOLDER --cache CACHE_FOLDER --time-budget 150 --out $OUT

Writes ``transformers_pipeline_<device>.json`` into ``--out`` (a folder). Exits 1 if an arm failed.
"""
from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
import os
import platform
import sys
import time
import traceback
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]  # the repository
RESULTS = Path(__file__).resolve().parent / "results"

ARMS = ("pipeline", "lockstep-async", "sequential", "lockstep")
# sha256 (first 16 hex) of the variable-length model's float32 weights as built on the CPU
# machine: a GPU machine rebuilds the model from the seed, this checks it got the same one.
VARLEN_FINGERPRINT = "ce05ad1bebeaa1b4"


def fingerprint(model_dir: str) -> str:
    """Hash of the saved (float32) weights, whatever dtype the engine loads them in."""
    from safetensors.torch import load_file

    weights = load_file(str(Path(model_dir) / "model.safetensors"))
    digest = hashlib.sha256()
    for name in sorted(weights):
        digest.update(weights[name].float().numpy().tobytes())
    return digest.hexdigest()[:16]


def build_engine(args: argparse.Namespace, model_dir: str, max_batch: int) -> tuple[Any, dict[str, Any]]:
    """The continuous-batching engine over the variable-length model, widened to ``--size``."""
    import torch
    from reasonrank.engines.transformers import TransformersEngine
    from reasonrank.testing.widen_model import SIZES, parameter_count, widen

    cb_options: dict[str, Any] = {"max_concurrency": args.max_concurrency}
    if args.num_blocks:
        cb_options["num_blocks"] = args.num_blocks
    engine = TransformersEngine(model_dir, device=args.device, dtype=args.dtype, max_batch_size=max_batch,
                                continuous_batching=cb_options)
    info: dict[str, Any] = {"varlen_fingerprint": fingerprint(model_dir)}
    info["varlen_fingerprint_matches"] = info["varlen_fingerprint"] == VARLEN_FINGERPRINT
    if args.size != "tiny":
        small, size = engine.model, SIZES[args.size]
        engine.model = widen(small, **size, device=engine.device, dtype=small.dtype)
        del small
        if engine.device.startswith("cuda"):
            torch.cuda.empty_cache()
    info.update(size=args.size, parameters=parameter_count(engine.model), dtype=str(engine.model.dtype),
                config={k: getattr(engine.model.config, k) for k in (
                    "hidden_size", "num_hidden_layers", "intermediate_size", "num_attention_heads",
                    "num_key_value_heads", "head_dim")},
                attn_implementation=engine.model.config._attn_implementation)
    return engine, info


def plain_twin(engine: Any) -> Any:
    """The same engine object's plain path (``generate`` batches, no continuous batching),
    sharing its model and tokenizer."""
    twin = copy.copy(engine)
    twin._batcher = None
    twin.max_concurrency = 1
    return twin


def device_info(device: str) -> dict[str, Any]:
    import torch
    import transformers

    out: dict[str, Any] = {"torch": torch.__version__, "transformers": transformers.__version__,
                           "platform": platform.platform(), "python": platform.python_version(),
                           "cpus": os.cpu_count()}
    if device.startswith("cuda"):
        out["gpu"] = torch.cuda.get_device_name(device)
        out["gpu_memory_gib"] = round(torch.cuda.get_device_properties(device).total_memory / 2**30, 1)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default=None, help="default: bfloat16 on cuda, float32 on cpu")
    parser.add_argument("--size", default="tiny", help="tiny (as built), 0.5b, 1.5b, 3b or 7b (widen_model.SIZES)")
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "trec-dl19"),
                        help="folder with DL19 queries.tsv, run.bm25.trec, corpus.jsonl")
    parser.add_argument("--cache", default=None, help="REASONRANK_CACHE (where the Qwen tokenizer and test models live)")
    parser.add_argument("--queries", type=int, default=32)
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--passage-words", type=int, default=60)
    parser.add_argument("--reasoning-budget", type=int, default=412,
                        help="generation cap per window = this + --answer-tokens")
    parser.add_argument("--answer-tokens", type=int, default=100)
    parser.add_argument("--scale", type=float, default=None, help="varlen model EOS scale (reasonrank.testing.varlen_model)")
    parser.add_argument("--arms", default=",".join(ARMS))
    parser.add_argument("--sequential-queries", type=int, default=2,
                        help="run the one-query-at-a-time arm on the first N queries only (0: all)")
    parser.add_argument("--max-concurrency", type=int, default=256)
    parser.add_argument("--num-blocks", type=int, default=None, help="paged KV cache blocks (default: engine's)")
    parser.add_argument("--time-budget", type=float, default=200.0,
                        help="seconds: arms not started by then are skipped (recorded as skipped)")
    parser.add_argument("--out", default=str(RESULTS), help="output folder")
    args = parser.parse_args()
    args.dtype = args.dtype or ("bfloat16" if args.device.startswith("cuda") else "float32")
    if args.cache:
        os.environ["REASONRANK_CACHE"] = str(Path(args.cache).resolve())
    arms = [a for a in args.arms.split(",") if a]
    if set(arms) - set(ARMS):
        parser.error(f"unknown arms {sorted(set(arms) - set(ARMS))}; choose from {ARMS}")
    t_start = time.perf_counter()

    from reasonrank.engines.base import ChatRequest, SamplingParams
    from reasonrank.testing.bench_inputs import cut_words, load_dl19
    from reasonrank.testing.varlen_model import DEFAULT_SCALE, varlen_model_dir
    from vllm_pipeline import run_ours  # this folder's script: the arms' driver

    # The random model never writes a ranking: each window keeps its order (on_parse_error's
    # default) and logs a warning; 288 of them would bury the results.
    logging.getLogger("reasonrank").setLevel(logging.ERROR)
    items = cut_words(load_dl19(args.queries, args.depth, root=Path(args.data)), args.passage_words)
    if len(items) < args.queries:
        print(f"error: {args.data} has only {len(items)} queries with a run", file=sys.stderr)
        return 2
    model_dir = str(varlen_model_dir(args.scale if args.scale is not None else DEFAULT_SCALE))
    common = {"reasoning_budget": args.reasoning_budget, "answer_tokens": args.answer_tokens,
                  "max_passage_tokens": 10_000, "depth": args.depth, "on_error": "raise"}
    engine, model_info = build_engine(args, model_dir, max_batch=len(items))
    plain = plain_twin(engine)
    if not model_info["varlen_fingerprint_matches"]:
        print(f"WARNING: the variable-length model differs from the one built on the CPU machine "
              f"({model_info['varlen_fingerprint']} != {VARLEN_FINGERPRINT}): lengths will differ", flush=True)
    print("model:", json.dumps(model_info), flush=True)
    warm = [ChatRequest.of([{"role": "user", "content": "warm up " * 200}])] * 4
    for e in (engine, plain):
        e.generate(warm, SamplingParams(max_tokens=8))
    setup_seconds = time.perf_counter() - t_start

    rows: dict[str, dict[str, Any]] = {}
    failures: dict[str, str] = {}
    skipped: list[str] = []
    out = Path(args.out) / f"transformers_pipeline_{args.device.split(':')[0]}.json"

    def write_report() -> dict[str, Any]:
        """The JSON so far (rewritten after every arm, so a run cut short keeps what it measured)."""
        import torch

        pairs = (("pipeline", "lockstep"), ("pipeline", "lockstep-async"), ("pipeline", "sequential"),
                 ("lockstep-async", "lockstep"), ("lockstep", "sequential"))
        report = {
            "benchmark": "transformers continuous batching, listwise scheduling, variable-length model "
                         "(DL19 BM25 top-k, windows 20/10)",
            "date_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "command": " ".join([Path(sys.executable).name, *sys.argv]),
            "device": args.device,
            "machine": device_info(args.device),
            "model": {"base": f"reasonrank.testing.varlen_model ({Path(model_dir).name})", **model_info},
            "settings": vars(args),
            "setup_seconds": round(setup_seconds, 1),
            "peak_gpu_memory_gib": round(torch.cuda.max_memory_allocated() / 2**30, 1)
            if args.device.startswith("cuda") else None,
            "results": list(rows.values()),
            # queries/s, so an arm run on a subset (--sequential-queries) compares per query
            "ratios": {f"{a}/{b} (speed-up)": round(rows[a]["queries_per_second"] / rows[b]["queries_per_second"], 2)
                       for a, b in pairs if a in rows and b in rows},
            "failures": failures,
            "skipped": skipped,
            "total_seconds": round(time.perf_counter() - t_start, 1),
        }
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(report, indent=2) + "\n")
        return report

    for arm in arms:
        if time.perf_counter() - t_start > args.time_budget:
            skipped.append(arm)
            print(f"{arm}: skipped (time budget {args.time_budget:.0f} s spent)", flush=True)
            continue
        subset = items[: args.sequential_queries] if arm == "sequential" and args.sequential_queries else items
        try:
            if arm == "lockstep":
                engine._batcher.close()  # free the paged cache before padded batches need memory
            rows[arm] = run_ours(arm, plain if arm == "lockstep" else engine, subset, common)
        except Exception as exc:  # noqa: BLE001 - an arm's failure is recorded, the others still run
            failures[arm] = f"{type(exc).__name__}: {exc}"
            traceback.print_exc()
        write_report()
    engine.close()
    report = write_report()
    print("ratios:", json.dumps(report["ratios"]), flush=True)
    print("wrote", out, f"({report['total_seconds']} s)", flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
