"""Held-out evaluation of a listwise checkpoint: format rate and nDCG@10 on single windows.

Each held-out query's first-stage window (``window_size`` passages) is sent once, in the
ReasonRank prompt the listwise reranker builds, through the public transformers engine with
greedy decoding. From the raw output:

* **format rate**: share of outputs with ``<think>…</think><answer>…</answer>`` whose answer
  ranks every label exactly once (:func:`reasonrank.training.rewards.is_valid_listwise_format`,
  the test the multi-view reward and the synthesis filter use);
* **nDCG@10**: of the ranking the reranker would return (:func:`reasonrank.parsing.parse_ranking`
  with its repair: missing labels follow in prompt order), against the dataset's graded qrels;
* **mean reward**: the official multi-view reward against the gold ranking (qrels order).

``random_order_ndcg`` is the baseline a model that ignores the passages gets: the mean nDCG@10 of
uniformly shuffled windows.
"""
from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from reasonrank.data import Dataset
from reasonrank.engines.base import SamplingParams
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.metrics import evaluate_run, ranked_run
from reasonrank.parsing import parse_ranking
from reasonrank.training.rewards import is_valid_listwise_format, listwise_reward


def _windows(dataset_dir: str | Path, window_size: int, limit: int | None):
    data = Dataset.load(dataset_dir)
    return data, [data.item(q, window_size) for q in data.query_ids(limit)]


def _gold_answer(item) -> tuple[str, list[str]]:
    ids = [c.id for c in item.candidates]
    order = sorted(range(len(ids)), key=lambda i: (-item.qrels.get(ids[i], 0), i))
    relevant = [d for d in ids if item.qrels.get(d, 0) > 0]
    return " > ".join(f"[{i + 1}]" for i in order), relevant


def evaluate_checkpoint(model_dir: str | Path, dataset_dir: str | Path, *, window_size: int,
                        max_tokens: int = 128, limit: int | None = None, batch_size: int = 16,
                        samples: int = 3, device: str = "cpu") -> dict[str, Any]:
    """Format rate, nDCG@10 and mean reward of ``model_dir`` on ``dataset_dir``'s windows
    (generated on ``device``); ``samples`` raw outputs are kept in the report for a human to
    look at."""
    from reasonrank.engines.transformers import TransformersEngine

    data, items = _windows(dataset_dir, window_size, limit)
    engine = TransformersEngine(str(model_dir), device=device, dtype="float32", max_batch_size=batch_size)
    try:
        reranker = ListwiseReranker(engine, window_size=window_size, stride=window_size)
        requests = [reranker.window_request(it.query, it.candidates) for it in items]
        params = SamplingParams(max_tokens=max_tokens, temperature=0.0)
        gens = []
        for i in range(0, len(requests), batch_size):
            gens.extend(engine.generate(requests[i : i + batch_size], params))
    finally:
        engine.close()
    ranking: dict[str, list[str]] = {}
    valid, rewards = 0, []
    fmt = reranker.reasoning_format  # the prompt's: the same tags for the check, the parse and the reward
    for item, gen in zip(items, gens, strict=True):
        ids = [c.id for c in item.candidates]
        valid += is_valid_listwise_format(gen.text, len(ids), fmt)
        parsed = parse_ranking(gen.text, len(ids), fmt=fmt)
        ranking[item.query.id] = [ids[k] for k in parsed.order]
        gold, relevant = _gold_answer(item)
        rewards.append(listwise_reward(gen.text, candidate_ids=ids, gold_answer=gold, relevant_ids=relevant, fmt=fmt))
    report = evaluate_run(data.qrels, ranked_run(ranking), ["nDCG@10"])
    return {
        "queries": len(items),
        "format_rate": valid / max(1, len(items)),
        "ndcg10": report.mean.get("nDCG@10", 0.0),
        "mean_reward": sum(rewards) / max(1, len(rewards)),
        "samples": [g.text for g in gens[:samples]],
    }


def random_order_ndcg(dataset_dir: str | Path, *, window_size: int, shuffles: int = 20,
                      seed: int = 0, limit: int | None = None) -> float:
    """Mean nDCG@10 of uniformly random orders of each window (averaged over ``shuffles``)."""
    data, items = _windows(dataset_dir, window_size, limit)
    rng = random.Random(seed)
    total = 0.0
    for _ in range(shuffles):
        ranking = {}
        for item in items:
            ids = [c.id for c in item.candidates]
            rng.shuffle(ids)
            ranking[item.query.id] = ids
        total += evaluate_run(data.qrels, ranked_run(ranking), ["nDCG@10"]).mean["nDCG@10"]
    return total / shuffles
