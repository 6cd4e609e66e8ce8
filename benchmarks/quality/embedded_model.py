"""Measure the embedded default model on this machine: load time, prompt and generation speed,
and whether it follows ReasonRank's <think>/<answer> format on real DL19 listwise prompts.

    python benchmarks/quality/embedded_model.py [--data DL19_FOLDER] [--queries 3] [--passages 10]

Prints a JSON summary and writes benchmarks/quality/results/embedded_model.json.
"""
from __future__ import annotations

import argparse
import json
import platform
import re
import time
from pathlib import Path

from reasonrank.data import Dataset
from reasonrank.engines.base import SamplingParams
from reasonrank.engines.llamacpp import EmbeddedEngine
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.parsing import parse_ranking
from reasonrank.testing.bench_inputs import DL19


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", default=str(DL19), help="DL19 folder (default: $REASONRANK_DL19 or data/trec-dl19)")
    parser.add_argument("--queries", type=int, default=3)
    parser.add_argument("--passages", type=int, default=10)
    parser.add_argument("--max-tokens", type=int, default=256)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "embedded_model.json"))
    args = parser.parse_args()

    started = time.perf_counter()
    engine = EmbeddedEngine()
    load_seconds = time.perf_counter() - started
    listwise = ListwiseReranker(engine, window_size=args.passages)
    data = Dataset.load(args.data)
    rows = []
    for item in data.items(top_k=args.passages, limit=args.queries):
        request = listwise.window_request(item.query, item.candidates)
        prompt_tokens = engine.count_tokens(engine.render(request))
        # Prompt speed: one token of generation on the full prompt.
        t0 = time.perf_counter()
        engine.generate([request], SamplingParams(max_tokens=1))
        prompt_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        (gen,) = engine.generate([request], SamplingParams(max_tokens=args.max_tokens))
        # llama.cpp keeps the previous call's KV cache for a shared prefix: the prompt is not
        # evaluated again, so this call's time is generation time.
        decode_seconds = time.perf_counter() - t0
        parsed = parse_ranking(gen.text, len(item.candidates))
        rows.append({
            "qid": item.query.id,
            "prompt_tokens": prompt_tokens,
            "prompt_tokens_per_s": prompt_tokens / prompt_seconds,
            "completion_tokens": gen.completion_tokens,
            "generated_tokens_per_s": gen.completion_tokens / decode_seconds,
            "has_think": bool(re.search(r"<think>.*?</think>", gen.text, re.DOTALL)),
            "has_answer": "<answer>" in gen.text and "</answer>" in gen.text,
            "ids_mentioned": parsed.mentioned,
            "repairs": parsed.warnings,
            "output": gen.text[:400],
        })
    summary = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {__import__('os').cpu_count()} cores",
        "model": engine.model_name,
        "load_average_1m_at_end": __import__("os").getloadavg()[0],
        "load_seconds": round(load_seconds, 2),
        "mean_prompt_tokens_per_s": round(sum(r["prompt_tokens_per_s"] for r in rows) / len(rows), 1),
        "mean_generated_tokens_per_s": round(sum(r["generated_tokens_per_s"] for r in rows) / len(rows), 1),
        "follows_think_answer_format": f"{sum(r['has_think'] and r['has_answer'] for r in rows)}/{len(rows)}",
        "rows": rows,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(summary, indent=2))
    print(json.dumps({k: v for k, v in summary.items() if k != "rows"}, indent=2))


if __name__ == "__main__":
    main()
