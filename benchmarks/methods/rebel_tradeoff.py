"""REBEL's speed trade-off: cost per query of one-turn vs two-turn REBEL vs listwise, and the
number of engine calls setwise (Rank-R1 heap sort) needs for a top-10 vs listwise.

Same engine, same queries, same fixed reasoning budget for every method:

* engine: transformers on CPU over the tiny random Qwen2 model (reasonrank.testing.tiny_model) with the
  real Qwen tokenizer, greedy. A random model never emits EOS, so every generation runs to its
  budget: generated tokens are set by the budgets and the number of calls, and seconds measure
  prompt length, batching and decoding on this machine. This measures cost, not quality.
* queries: the first ``--queries`` TREC DL19 queries with their BM25 top ``--depth`` passages
  (from the DL19 folder, $REASONRANK_DL19 or data/trec-dl19, when present, else synthetic passages).
* REBEL: one request per passage (+ one criteria request per query for two-turn), budget
  ``--budget`` tokens each. Listwise: ReasonRank windows 20/10, ``max_tokens = budget + 100``
  (the official rule). Setwise: sets of 20 (Rank-R1), top 10, budget ``--budget``.
* setwise call counts also come from a scripted engine that answers like a perfect judge with
  the reverse of the BM25 order (the most swaps), at depth 20 and 100, since the tiny model's
  arbitrary answers change how many re-heapifies happen.

    .venv/bin/python benchmarks/methods/rebel_tradeoff.py --queries 3 --depth 20 --budget 64

Writes benchmarks/methods/results/rebel_tradeoff.json and prints the ratios.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.methods.base import Reranker
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.methods.multicriteria import RebelReranker
from reasonrank.methods.setwise import SetwiseReranker
from reasonrank.testing.bench_inputs import DL19
from reasonrank.types import Candidate, Query


def load_items(n_queries: int, depth: int) -> tuple[str, list[tuple[Query, list[Candidate]]]]:
    """DL19 queries with their BM25 top-``depth`` (or synthetic ones without the data)."""
    if (DL19 / "queries.tsv").is_file():
        from reasonrank.data import Dataset

        data = Dataset.load(DL19)
        items = [(it.query, it.candidates) for it in data.items(top_k=depth, limit=n_queries)]
        return "trec-dl19 bm25", items
    items = [(Query(f"synthetic query {q}", id=str(q)),
              [Candidate(f"q{q}d{i}", f"passage {i} of query {q} " * 20) for i in range(depth)])
             for q in range(n_queries)]
    return "synthetic", items


def measure(reranker: Reranker, items: list) -> dict:
    start = time.perf_counter()
    results = reranker.rerank_batch(items)
    seconds = time.perf_counter() - start
    n = len(items)
    for (q, cands), res in zip(items, results):
        assert sorted(res.ids) == sorted(c.id for c in cands)
    return {
        "seconds_per_query": seconds / n,
        "generated_tokens_per_query": sum(r.usage.completion_tokens for r in results) / n,
        "prompt_tokens_per_query": sum(r.usage.prompt_tokens for r in results) / n,
        "engine_calls_per_query": sum(r.usage.engine_calls for r in results) / n,
    }


def scripted_setwise_calls(depth: int, top_k: int = 10, set_size: int = 20) -> int:
    """Calls of a top-k heap sort when the judge prefers the BM25 order reversed (most swaps)."""

    def judge(request) -> str:
        ids = [int(v) for v in re.findall(r"^\[\d+\] doc(\d+)", request.messages[-1]["content"], re.MULTILINE)]
        return f"<answer>[{max(range(len(ids)), key=lambda i: ids[i]) + 1}]</answer>"

    cands = [Candidate(f"d{i}", f"doc{i}") for i in range(depth)]
    res = SetwiseReranker(ScriptedEngine(judge), set_size=set_size, top_k=top_k, depth=depth).rerank("q", cands)
    assert res.ids[:top_k] == [f"d{i}" for i in range(depth - 1, depth - 1 - top_k, -1)]
    return res.usage.engine_calls


def listwise_calls(depth: int) -> int:
    from reasonrank.methods.windows import window_plan

    return len(window_plan(depth, 20, 10))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=3)
    ap.add_argument("--depth", type=int, default=20)
    ap.add_argument("--budget", type=int, default=64)
    ap.add_argument("--passage-tokens", type=int, default=64)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--device", default="cpu", help="cpu (the reference setting) or cuda")
    ap.add_argument("--out", default=str(RESULTS / "rebel_tradeoff.json"))
    args = ap.parse_args()

    import torch
    from reasonrank.engines.transformers import TransformersEngine
    from reasonrank.testing.tiny_model import tiny_model_dir

    if args.device == "cpu":
        torch.set_num_threads(2)
    source, items = load_items(args.queries, args.depth)
    engine = TransformersEngine(str(tiny_model_dir()), device=args.device, dtype="float32",
                               max_batch_size=args.batch)
    # keep_order: a random model writes no ranking; the cost is what is measured
    common = {"max_passage_tokens": args.passage_tokens, "depth": args.depth, "on_error": "keep_order"}
    methods = {
        "rebel_one_turn": RebelReranker(engine, reasoning_budget=args.budget, **common),
        "rebel_two_turn": RebelReranker(engine, two_turn=True, reasoning_budget=args.budget, **common),
        "listwise": ListwiseReranker(engine, reasoning_budget=args.budget, schedule="batch", **common),
        "setwise_top10": SetwiseReranker(engine, set_size=20, top_k=10, reasoning_budget=args.budget, **common),
    }
    methods["rebel_one_turn"].rerank_batch(items[:1])  # warm-up (kernels, caches), not measured
    measured = {}
    for name, reranker in methods.items():
        measured[name] = measure(reranker, items)
        print(f"{name:16s} " + "  ".join(f"{k}={v:.2f}" for k, v in measured[name].items()), flush=True)
    lw = measured["listwise"]
    ratios = {
        f"{m}_vs_listwise_{key}": measured[m][f"{key}_per_query"] / lw[f"{key}_per_query"]
        for m in ("rebel_one_turn", "rebel_two_turn") for key in ("seconds", "generated_tokens")
    }
    ratios["rebel_two_turn_vs_one_turn_seconds"] = (measured["rebel_two_turn"]["seconds_per_query"]
                                                    / measured["rebel_one_turn"]["seconds_per_query"])
    ratios["setwise_vs_listwise_engine_calls"] = (measured["setwise_top10"]["engine_calls_per_query"]
                                                  / lw["engine_calls_per_query"])
    calls = {str(d): {"setwise_top10_reverse_judge": scripted_setwise_calls(d), "listwise_windows": listwise_calls(d)}
             for d in (20, 100)}
    for name, value in ratios.items():
        print(f"{name:45s} {value:.2f}")
    for d, c in calls.items():
        print(f"top-{d}: setwise calls {c['setwise_top10_reverse_judge']} (reverse judge) vs listwise {c['listwise_windows']}")
    doc = {
        "benchmark": "REBEL speed trade-off: one-turn vs two-turn vs listwise; setwise engine calls for top-10",
        "data": source, "queries": len(items), "depth": args.depth, "reasoning_budget": args.budget,
        "listwise_max_tokens": args.budget + 100, "max_passage_tokens": args.passage_tokens,
        "engine": {"name": "transformers", "model": "tiny random Qwen2 (reasonrank.testing.tiny_model)", "device": args.device,
                   "max_batch_size": args.batch, "threads": torch.get_num_threads()},
        "note": "random model: every generation runs to its budget, so tokens follow from budgets x calls; "
                "quality is not measured here",
        "measured": measured, "ratios": ratios, "setwise_calls_scripted": calls,
        "machine": platform.platform(), "command": "python benchmarks/methods/rebel_tradeoff.py " + " ".join(sys.argv[1:]),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
