"""Teacher-driven data synthesis with ReasonRank's self-consistency filter.

For each judged query of a dataset folder, a teacher model (usually a strong reasoning model
behind an OpenAI-compatible server) labels

* a **listwise** example: the first-stage top-``window_size`` in one ReasonRank prompt (the same
  prompt the listwise reranker sends); the teacher writes ``<think>…</think><answer>…</answer>``;
* **pointwise** examples (Rank1 style): ``pointwise_per_query`` (query, passage) pairs, half
  judged relevant and half not where the qrels allow, in the Rank1 prompt.

Self-consistency filter (ReasonRank README, "self-consistency data filtering"): a listwise label
is kept only when its output has the official format, ranks every passage exactly once, and the
nDCG@10 of its ranking against the qrels' relevant passages is above ``ndcg_threshold`` (0.4).
A pointwise label is kept when its true/false answer agrees with the qrels.

Resumable: every finished query is appended to ``ledger.jsonl`` (with its outcome) and its
examples to ``listwise.jsonl`` / ``pointwise.jsonl``; a rerun skips the queries in the ledger.
"""
from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonrank.data import Dataset, EvalItem
from reasonrank.engines.base import ChatRequest, Engine, Generation, SamplingParams
from reasonrank.errors import EngineError
from reasonrank.methods.listwise import ListwiseReranker
from reasonrank.methods.pointwise import PointwiseReranker
from reasonrank.prompts.reasoning import DEFAULT_FORMAT, ReasoningFormat
from reasonrank.training.examples import append_jsonl, iter_jsonl
from reasonrank.training.rewards import (
    FORMAT_MISS_REWARD,
    answer_match,
    is_valid_listwise_format,
    pointwise_reward,
    ranking_metrics,
)


@dataclass(frozen=True)
class SynthesisSettings:
    kinds: tuple[str, ...] = ("listwise", "pointwise")
    window_size: int = 20
    ndcg_threshold: float = 0.4
    pointwise_per_query: int = 4
    limit_queries: int | None = None
    reasoning_budget: int = 3072
    max_passage_tokens: int = 100
    concurrency: int | None = None
    queries_per_chunk: int = 8
    #: The teacher's prompts (names or TOML paths); the filter reads their reasoning format.
    listwise_prompt: str = "reasonrank"
    pointwise_prompt: str = "rank1"

    def __post_init__(self) -> None:
        unknown = set(self.kinds) - {"listwise", "pointwise"}
        if unknown or not self.kinds:
            raise ValueError(f"kinds must be listwise and/or pointwise, got {self.kinds}")
        if not 0.0 <= self.ndcg_threshold < 1.0:
            raise ValueError("ndcg_threshold must be in [0, 1)")


def _generate_all(engine: Engine, requests: list[ChatRequest], params: SamplingParams,
                  concurrency: int) -> list[Generation | EngineError]:
    """Generate for every request; a failure is returned in its slot, not raised."""
    if concurrency <= 1:
        out: list[Generation | EngineError] = []
        step = max(1, engine.max_batch_size)
        for i in range(0, len(requests), step):
            chunk = requests[i : i + step]
            try:
                out.extend(engine.generate(chunk, params))
            except EngineError as exc:
                out.extend([exc] * len(chunk))
        return out

    async def run() -> list[Generation | EngineError]:
        sem = asyncio.Semaphore(concurrency)

        async def one(req: ChatRequest) -> Generation | EngineError:
            async with sem:
                try:
                    return (await engine.agenerate([req], params))[0]
                except EngineError as exc:
                    return exc

        return list(await asyncio.gather(*(one(r) for r in requests)))

    return asyncio.run(run())


def _relevant(item: EvalItem) -> list[str]:
    return [d for d, rel in item.qrels.items() if rel > 0]


def _listwise_outcome(item: EvalItem, window, text: str, threshold: float,
                      fmt: ReasoningFormat = DEFAULT_FORMAT) -> tuple[str, dict[str, Any] | None]:
    ids = [c.id for c in window]
    found = answer_match(text, fmt)  # the reward's format check
    if not found:
        return "format", None
    if not is_valid_listwise_format(text, len(ids), fmt):
        return "incomplete_ranking", None
    labels = [int(x) for x in re.findall(r"\d+", found.group(1))]
    final_list = [ids[k - 1] for k in labels]
    relevant = _relevant(item)
    ndcg10, _ = ranking_metrics(final_list, relevant)
    if ndcg10 <= threshold:
        return "low_ndcg", None
    answer = found.group(1).strip()
    return "kept", {"final_list": final_list, "gold_answer": answer, "teacher_ndcg10": ndcg10,
                    "relevant_ids": [d for d in relevant if d in set(ids)] or relevant}


def _pointwise_pairs(item: EvalItem, n: int) -> list[tuple[Any, bool]]:
    """Up to n judged candidates of the first stage, alternating relevant / not relevant."""
    pos = [c for c in item.candidates if item.qrels.get(c.id, 0) > 0]
    neg = [c for c in item.candidates if c.id in item.qrels and item.qrels[c.id] <= 0]
    pairs: list[tuple[Any, bool]] = []
    while len(pairs) < n and (pos or neg):
        if pos:
            pairs.append((pos.pop(0), True))
        if neg and len(pairs) < n:
            pairs.append((neg.pop(0), False))
    return pairs


def synthesize(dataset_dir: str | Path, output_dir: str | Path, teacher: Engine,
               settings: SynthesisSettings = SynthesisSettings(), *,
               show_progress: bool = False) -> dict[str, Any]:
    """Label a dataset with ``teacher``, filter, and write examples; returns a report of how many
    were kept and why the others were dropped (counts for this run and for the whole folder)."""
    from tqdm.auto import tqdm

    data = Dataset.load(dataset_dir)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    ledger_path = out / "ledger.jsonl"
    done = {(r["qid"], r["kind"]) for r in iter_jsonl(ledger_path)}
    listwise = ListwiseReranker(teacher, window_size=settings.window_size,
                                stride=min(10, settings.window_size),
                                max_passage_tokens=settings.max_passage_tokens,
                                reasoning_budget=settings.reasoning_budget, prompt=settings.listwise_prompt)
    pointwise = PointwiseReranker(teacher, reasoning_budget=settings.reasoning_budget,
                                  prompt=settings.pointwise_prompt)
    params = SamplingParams(max_tokens=settings.reasoning_budget + 100)
    concurrency = settings.concurrency or teacher.max_concurrency
    qids = data.query_ids(settings.limit_queries)
    counts: dict[str, Counter] = {k: Counter() for k in settings.kinds}
    bar = tqdm(total=len(qids), desc="synthesize", unit="query", disable=not show_progress)
    for start in range(0, len(qids), settings.queries_per_chunk):
        chunk = [data.item(q, settings.window_size) for q in qids[start : start + settings.queries_per_chunk]]
        jobs: list[tuple[str, EvalItem, Any, ChatRequest]] = []
        for item in chunk:
            if "listwise" in settings.kinds and (item.query.id, "listwise") not in done:
                jobs.append(("listwise", item, item.candidates, listwise.window_request(item.query, item.candidates)))
            if "pointwise" in settings.kinds and (item.query.id, "pointwise") not in done:
                for cand, label in _pointwise_pairs(item, settings.pointwise_per_query):
                    jobs.append(("pointwise", item, (cand, label), pointwise.build_request(item.query, cand)))
        gens = _generate_all(teacher, [j[3] for j in jobs], params, concurrency)
        rows: dict[str, list[dict[str, Any]]] = {"listwise": [], "pointwise": []}
        ledger: dict[tuple[str | None, str], Counter] = {}
        for (kind, item, payload, request), gen in zip(jobs, gens, strict=True):
            key = (item.query.id, kind)
            ledger.setdefault(key, Counter())
            if isinstance(gen, EngineError):
                ledger[key]["engine_error"] += 1
                continue
            # The teacher's full assistant turn, including a prefix the prompt opened (Rank1's <think>).
            text = request.assistant_prefix + gen.text
            messages = [dict(m) for m in request.messages] + [{"role": "assistant", "content": text}]
            if kind == "listwise":
                outcome, extra = _listwise_outcome(item, payload, text, settings.ndcg_threshold,
                                                   listwise.reasoning_format)
                if extra:
                    rows["listwise"].append({"kind": "listwise", "qid": item.query.id, "query": item.query.text,
                                             "messages": messages, "candidate_ids": [c.id for c in payload], **extra})
            else:
                cand, label = payload
                outcome = _pointwise_outcome(text, label, pointwise.reasoning_format)
                if outcome == "kept":
                    rows["pointwise"].append({"kind": "pointwise", "qid": item.query.id, "docid": cand.id,
                                              "query": item.query.text, "messages": messages, "label": label})
            ledger[key][outcome] += 1
        append_jsonl(out / "listwise.jsonl", rows["listwise"])
        append_jsonl(out / "pointwise.jsonl", rows["pointwise"])
        # Engine errors are not final: such queries stay out of the ledger and are retried on rerun.
        append_jsonl(ledger_path, [{"qid": q, "kind": k, "outcomes": dict(c)} for (q, k), c in ledger.items()
                                   if not c["engine_error"]])
        for (_, kind), c in ledger.items():
            counts[kind].update(c)
        bar.update(len(chunk))
    bar.close()
    return _report(settings, qids, out, counts, ledger_path)


def _pointwise_outcome(text: str, label: bool, fmt: ReasoningFormat = DEFAULT_FORMAT) -> str:
    """Rank1's self-consistency filter for one teacher answer: kept when it agrees with qrels
    (the pointwise reward's check: a true/false answer after a closed thought)."""
    reward = pointwise_reward(text, label=label, fmt=fmt)
    if reward == FORMAT_MISS_REWARD:
        return "format"
    return "kept" if reward > 0 else "disagrees_with_qrels"


def _report(settings: SynthesisSettings, qids: list[str], out: Path, counts: dict[str, Counter],
            ledger_path: Path) -> dict[str, Any]:
    """Kept and dropped counts per kind, for this run and (from the ledger) the whole folder."""
    totals: dict[str, Counter] = {k: Counter() for k in settings.kinds}
    for r in iter_jsonl(ledger_path):
        if r["kind"] in totals:
            totals[r["kind"]].update(r["outcomes"])
    report: dict[str, Any] = {"queries": len(qids), "output": str(out)}
    for kind in settings.kinds:
        report[kind] = {
            "this_run": {"kept": counts[kind].get("kept", 0),
                         "dropped": {k: v for k, v in counts[kind].items() if k != "kept"}},
            "total_kept": totals[kind].get("kept", 0),
            "total_dropped": {k: v for k, v in totals[kind].items() if k != "kept"},
        }
    return report
