"""The end of an evaluation: the reranked TREC run, ``metrics.json`` and its text table."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasonrank.data import Dataset, EvalItem, write_trec_run
from reasonrank.errors import InvalidInputError
from reasonrank.evaluate.results_file import METRICS_FILE, RUN_FILE
from reasonrank.files import write_atomic
from reasonrank.metrics import DEFAULT_MEASURES, evaluate_run, ranked_run

# Per-query usage counters summed into the metrics document.
USAGE_KEYS = ("engine_calls", "prompt_tokens", "completion_tokens", "engine_seconds",
              "fallbacks", "engine_fallbacks", "cache_hits", "cache_misses", "forced_answers",
              "thinking_tokens")


def reranked_ids(item: EvalItem, record: dict[str, Any], first_stage_ids: Sequence[str]) -> list[str]:
    """The full reranked list of a query: the result's order, then the untouched first-stage tail."""
    head = [r["id"] for r in record["results"]]
    expected = {c.id for c in item.candidates}
    if set(head) != expected or len(head) != len(expected):
        raise InvalidInputError(
            f"result for query {item.query.id!r} does not hold exactly its top-{len(expected)} candidates"
        )
    return head + [d for d in first_stage_ids if d not in expected]


def usage_summary(qids: Sequence[str], done: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Usage summed over ``qids``, with the counts of queries that warned or fell back."""
    usage: dict[str, Any] = dict.fromkeys(USAGE_KEYS, 0)
    usage["engine_seconds"] = 0.0
    warned = fell_back = 0
    for qid in qids:
        q_usage = done[qid].get("usage", {})
        for key in usage:
            usage[key] += q_usage.get(key, 0)
        warned += bool(done[qid].get("warnings"))
        fell_back += bool(q_usage.get("fallbacks") or q_usage.get("engine_fallbacks"))
    return {"usage": usage, "queries_with_warnings": warned, "queries_affected": fell_back}


def finalize(
    dataset: Dataset,
    out: Path,
    qids: Sequence[str],
    done: dict[str, dict[str, Any]],
    *,
    top_k: int,
    measures: Sequence[str] = DEFAULT_MEASURES,
    config: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Write the reranked run and the metrics of the first stage and the reranker."""
    ranking: dict[str, list[str]] = {}
    for qid in qids:
        first_ids = [d for d, _ in dataset.run[qid]]
        ranking[qid] = reranked_ids(dataset.item(qid, top_k), done[qid], first_ids)
    rerun = ranked_run(ranking)
    write_trec_run(out / RUN_FILE, rerun, tag=f"reasonrank-{done[qids[0]].get('method') or 'rerank'}")
    first_stage = {q: dataset.run[q] for q in qids}
    base = evaluate_run(dataset.qrels, first_stage, measures)
    ours = evaluate_run(dataset.qrels, rerun, measures)
    names = list(ours.mean)
    summary = usage_summary(qids, done)
    usage = summary["usage"]
    doc = {
        **(config or {}),
        "num_queries": len(qids),
        "queries_with_warnings": summary["queries_with_warnings"],
        # Units (windows, sets, passages) where a fallback stood in for the model: unusable
        # output ("fallbacks") or an engine failure under keep_order ("engine_fallbacks").
        "fallbacks": {"model_output": usage["fallbacks"], "engine": usage["engine_fallbacks"],
                      "queries_affected": summary["queries_affected"]},
        "measures": names,
        "mean": {
            "first_stage": base.mean,
            "reranker": ours.mean,
            "delta": {m: ours.mean[m] - base.mean[m] for m in names if m in base.mean},
        },
        "per_query": {
            q: {"first_stage": base.per_query.get(q, {}), "reranker": ours.per_query.get(q, {})}
            for q in qids
        },
        "usage": usage,
        "seconds": sum(float(done[q].get("seconds") or 0.0) for q in qids),
    }
    write_metrics(out, doc)
    return doc


def write_metrics(out: Path, doc: dict[str, Any]) -> None:
    """Write ``out/metrics.json`` atomically: a reader never sees half a document."""
    write_atomic(out / METRICS_FILE, json.dumps(doc, indent=2) + "\n")


def format_metrics(doc: dict[str, Any]) -> str:
    """A small text table: measure | first stage | reranker | delta."""
    lines = [f"{'measure':10} {'first stage':>12} {'reranker':>10} {'delta':>8}"]
    mean = doc["mean"]
    for m in doc["measures"]:
        fs, rr = mean["first_stage"].get(m, float("nan")), mean["reranker"][m]
        lines.append(f"{m:10} {fs:12.4f} {rr:10.4f} {rr - fs:+8.4f}")
    depth = doc.get("reranker_depth")
    if isinstance(depth, int) and depth < doc["top_k"]:
        summary = f"({doc['num_queries']} queries, top-{depth} of the top-{doc['top_k']} reranked"
    else:
        summary = f"({doc['num_queries']} queries, top-{doc['top_k']} reranked"
    fb = doc.get("fallbacks") or {}
    if fb.get("model_output") or fb.get("engine"):
        summary += (f"; fallbacks: {fb.get('model_output', 0)} unusable outputs, {fb.get('engine', 0)} engine "
                    f"failures, in {fb.get('queries_affected', 0)} queries")
    lines.append(summary + ")")
    return "\n".join(lines)


__all__ = ["finalize", "format_metrics", "reranked_ids", "usage_summary", "write_metrics"]
