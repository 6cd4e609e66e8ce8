"""Pointwise (Rank1 prompt, p(true)) vs listwise (ReasonRank windows) on one engine and model.

Measures engine calls, generated tokens and seconds per query at 20, 50 and 100 candidates.
The papers report listwise ReasonRank-7B 2-2.7x faster than pointwise Rank1-7B; here the
model is the tiny random Qwen2 of the tests on CPU, with FIXED reasoning budgets (a random
model never closes its thought, so every pair/window spends its whole budget). Real models'
reasoning lengths differ (Rank1 thinks a few hundred tokens per passage, ReasonRank ~1-2k per
window of 20), so the ratio measured here is about the call shape and budgets, not the models.

    python benchmarks/methods/pointwise_vs_listwise.py [--sizes 20 50 100] [--pointwise-budget 32]
        [--listwise-budget 160] [--out benchmarks/methods/results/pointwise_vs_listwise.json]
"""
from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

WORDS = ["retrieval", "ranking", "passage", "query", "relevance", "model", "reasoning", "document", "search",
         "index", "neural", "language", "evidence", "answer", "context", "score", "list", "order", "compute",
         "token"]


def passages(n: int, words: int = 60) -> list[dict[str, str]]:
    """Deterministic synthetic passages of ``words`` words each."""
    return [
        {"id": f"d{i}", "text": " ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(words))}
        for i in range(n)
    ]


class Meter:
    """Counts engine calls and generated tokens by wrapping an engine's methods in place."""

    def __init__(self, engine) -> None:
        self.engine, self.calls, self.generated = engine, 0, 0
        self._generate, self._choice = engine.generate, engine.choice_logprobs
        engine.generate, engine.choice_logprobs = self.generate, self.choice_logprobs

    def generate(self, requests, params):
        self.calls += 1
        out = self._generate(requests, params)
        self.generated += sum(g.completion_tokens for g in out)
        return out

    def choice_logprobs(self, requests, choices):
        self.calls += 1
        return self._choice(requests, choices)

    def reset(self) -> None:
        self.calls, self.generated = 0, 0


def run(reranker, meter: Meter, query: str, cands) -> dict[str, float]:
    meter.reset()
    start = time.perf_counter()
    result = reranker.rerank(query, cands)
    seconds = time.perf_counter() - start
    assert sorted(result.ids) == sorted(c["id"] for c in cands)
    return {"engine_calls": meter.calls, "generated_tokens": meter.generated, "seconds": round(seconds, 3)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[20, 50, 100])
    ap.add_argument("--pointwise-budget", type=int, default=32)
    ap.add_argument("--listwise-budget", type=int, default=160)
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--out", default=str(RESULTS / "pointwise_vs_listwise.json"))
    args = ap.parse_args()

    from reasonrank.engines.transformers import TransformersEngine
    from reasonrank.methods.listwise import ListwiseReranker
    from reasonrank.methods.pointwise import PointwiseReranker
    from reasonrank.testing.tiny_model import tiny_model_dir

    engine = TransformersEngine(model=str(tiny_model_dir()), device="cpu", dtype="float32",
                                max_batch_size=args.batch_size)
    meter = Meter(engine)
    pointwise = PointwiseReranker(engine, mode="binary", reasoning_budget=args.pointwise_budget,
                                  max_passage_tokens=100)
    query = "how do reasoning rerankers order retrieved passages"
    rows = []
    for n in args.sizes:
        cands = passages(n)
        listwise = ListwiseReranker(engine, window_size=20, stride=10, depth=n, max_passage_tokens=100,
                                    reasoning_budget=args.listwise_budget, answer_tokens=100,
                                    on_error="keep_order")  # a random model writes no ranking
        pw = run(pointwise, meter, query, cands)
        lw = run(listwise, meter, query, cands)
        row = {"candidates": n, "pointwise": pw, "listwise": lw,
               "seconds_ratio_pointwise_over_listwise": round(pw["seconds"] / lw["seconds"], 2),
               "tokens_ratio_pointwise_over_listwise": round(pw["generated_tokens"] / max(1, lw["generated_tokens"]), 2)}
        rows.append(row)
        print(f"{n:>4} cands | pointwise {pw['engine_calls']:>3} calls {pw['generated_tokens']:>5} tok "
              f"{pw['seconds']:>7.2f}s | listwise {lw['engine_calls']:>3} calls {lw['generated_tokens']:>5} tok "
              f"{lw['seconds']:>7.2f}s | pointwise/listwise time x{row['seconds_ratio_pointwise_over_listwise']}",
              flush=True)
    doc = {
        "benchmark": "pointwise_vs_listwise",
        "model": "tiny random Qwen2 (reasonrank.testing.tiny_model), real Qwen2.5 tokenizer",
        "engine": "transformers, CPU, float32",
        "machine": f"{platform.machine()} {platform.processor() or ''} shared 2-core CPU".strip(),
        "queries_per_size": 1,
        "settings": {"pointwise_budget": args.pointwise_budget, "listwise_budget": args.listwise_budget,
                     "listwise_answer_tokens": 100, "window": 20, "stride": 10,
                     "max_passage_tokens": 100, "engine_batch_size": args.batch_size},
        "caveat": ("fixed reasoning budgets on a random model: every pair/window spends its full budget; "
                   "real Rank1/ReasonRank reasoning lengths differ, so this measures call shape, not the "
                   "papers' 2-2.7x claim (which used vLLM on GPUs with the 7B models)"),
        "paper_claim": "listwise ReasonRank-7B 2-2.7x faster than pointwise Rank1-7B",
        "results": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
