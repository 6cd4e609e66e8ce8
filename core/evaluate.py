"""Evaluation and benchmarking of a reranker on a dataset (see :mod:`reasonrank.data`).

:func:`evaluate` reranks each query's first-stage top-k, appending one JSON line per finished
query to ``results.jsonl`` (so a crashed or interrupted run resumes where it stopped), then
writes the reranked TREC run and the metrics of the first stage and the reranker side by side.
:func:`benchmark` measures throughput, latency and the engine's share of the time.
"""
from __future__ import annotations

import json
import os
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from reasonrank.data import Dataset, EvalItem, write_trec_run
from reasonrank.engines.base import (
    AttentionReadout,
    AttentionRequest,
    ChatRequest,
    ChoiceDistribution,
    Engine,
    Generation,
    SamplingParams,
)
from reasonrank.errors import InvalidInputError
from reasonrank.methods.base import Reranker, check_positive
from reasonrank.metrics import DEFAULT_MEASURES, evaluate_run, parse_measures, ranked_run

RESULTS_FILE = "results.jsonl"
RUN_FILE = "run.reranked.trec"
METRICS_FILE = "metrics.json"
CONFIG_FILE = "eval_config.json"
# Settings that must match for a run to resume into an existing output folder.
RESUME_KEYS = ("dataset", "first_stage_run", "top_k", "method", "model")


# -- engine metering -------------------------------------------------------------------------
class EngineMeter(Engine):
    """Wraps an engine and records the wall time it spends generating/scoring.

    Engine time is the union of the intervals in which at least one call was running, so
    concurrent async calls are not double-counted. Tokenizer helpers (count/truncate/render)
    count as library time: they are the method's preparation work.
    """

    def __init__(self, inner: Engine) -> None:
        self.inner = inner
        self.name = inner.name
        self.model_name = inner.model_name
        self.max_context = inner.max_context
        self.max_batch_size = inner.max_batch_size
        self.max_concurrency = inner.max_concurrency
        self._lock = threading.Lock()
        self.intervals: list[tuple[float, float]] = []
        self.calls = 0
        self.requests = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0

    def __getattr__(self, name: str) -> Any:  # backend-specific attributes (tokenizer...)
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)

    def _record(self, start: float, results: Sequence[Generation | ChoiceDistribution]) -> None:
        end = time.perf_counter()
        with self._lock:
            self.intervals.append((start, end))
            self.calls += 1
            self.requests += len(results)
            for r in results:
                self.prompt_tokens += r.prompt_tokens
                self.completion_tokens += getattr(r, "completion_tokens", 0)

    def generate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        start = time.perf_counter()
        out = self.inner.generate(requests, params)
        self._record(start, out)
        return out

    async def agenerate(self, requests: Sequence[ChatRequest], params: SamplingParams) -> list[Generation]:
        start = time.perf_counter()
        out = await self.inner.agenerate(requests, params)
        self._record(start, out)
        return out

    def choice_logprobs(self, requests: Sequence[ChatRequest], choices: Sequence[str]) -> list[ChoiceDistribution]:
        start = time.perf_counter()
        out = self.inner.choice_logprobs(requests, choices)
        self._record(start, out)
        return out

    async def achoice_logprobs(
        self, requests: Sequence[ChatRequest], choices: Sequence[str]
    ) -> list[ChoiceDistribution]:
        start = time.perf_counter()
        out = await self.inner.achoice_logprobs(requests, choices)
        self._record(start, out)
        return out

    @property
    def supports_attention(self) -> bool:  # type: ignore[override]
        return bool(getattr(self.inner, "supports_attention", False))

    def attention(self, requests: Sequence[AttentionRequest]) -> list[AttentionReadout]:
        start = time.perf_counter()
        out = self.inner.attention(requests)
        self._record(start, out)  # type: ignore[arg-type]
        return out

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def truncate_tokens(self, text: str, max_tokens: int) -> str:
        return self.inner.truncate_tokens(text, max_tokens)

    def truncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        return self.inner.truncate_many(texts, max_tokens)

    async def atruncate_many(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        return await self.inner.atruncate_many(texts, max_tokens)

    def render(self, request: ChatRequest) -> str:
        return self.inner.render(request)

    def close(self) -> None:
        self.inner.close()

    def describe(self) -> dict[str, Any]:
        return self.inner.describe()

    @property
    def busy_seconds(self) -> float:
        """Wall seconds during which at least one engine call was running."""
        with self._lock:
            spans = sorted(self.intervals)
        total, cur_start, cur_end = 0.0, None, None
        for s, e in spans:
            if cur_end is None or s > cur_end:
                if cur_end is not None:
                    total += cur_end - cur_start  # type: ignore[operator]
                cur_start, cur_end = s, e
            else:
                cur_end = max(cur_end, e)
        if cur_end is not None:
            total += cur_end - cur_start  # type: ignore[operator]
        return total


def meter(reranker: Reranker) -> EngineMeter:
    """Put an :class:`EngineMeter` between ``reranker`` and its engine (idempotent)."""
    if not isinstance(reranker.engine, EngineMeter):
        reranker.engine = EngineMeter(reranker.engine)
    return reranker.engine


# -- resumable results file ------------------------------------------------------------------
def load_results(path: Path) -> dict[str, dict[str, Any]]:
    """Finished queries of a ``results.jsonl`` (query_id -> record).

    A last line without its newline is what a crash mid-write leaves: it is cut off (with a
    warning) so appending continues on a clean line. A complete line that is not a result is an
    error naming FILE:LINE: the file is not ours, or it was edited.
    """
    if not path.is_file():
        return {}
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        warnings.warn(f"{path}: dropping an unfinished last line ({len(data) - end} bytes)", stacklevel=2)
        with path.open("r+b") as fh:
            fh.truncate(end)
    done: dict[str, dict[str, Any]] = {}
    for n, line in enumerate(data[:end].decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            qid = str(record["query_id"])
            [r["id"] for r in record["results"]]
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{path}:{n}: not a rerank result ({exc})") from None
        done[qid] = record
    return done


def _append(fh, record: dict[str, Any]) -> None:
    fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    fh.flush()
    os.fsync(fh.fileno())  # a finished query survives a crash


def _check_config(out: Path, config: dict[str, Any], resuming: bool) -> None:
    path = out / CONFIG_FILE
    if path.is_file() and resuming:
        old = json.loads(path.read_text())
        diff = {k: (old.get(k), config.get(k)) for k in RESUME_KEYS if old.get(k) != config.get(k)}
        if diff:
            raise InvalidInputError(
                f"{out} holds results made with other settings {diff} (old, new); "
                "use another --output folder or delete it"
            )
    path.write_text(json.dumps(config, indent=2) + "\n")


def _chunks(seq: Sequence[str], size: int) -> Iterator[list[str]]:
    for i in range(0, len(seq), size):
        yield list(seq[i : i + size])


def _progress(total: int, initial: int, enabled: bool, desc: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, disable=not enabled, desc=desc, unit="query", dynamic_ncols=True)


# -- evaluation ------------------------------------------------------------------------------
def as_dataset(dataset: Dataset | str | os.PathLike[str], show_progress: bool = True) -> Dataset:
    """A :class:`Dataset` as is; a folder or benchmark name (``dl19``, ``beir/scifact``,
    ``bright/biology``) loaded by :func:`reasonrank.datasets.load_dataset` with its defaults."""
    if isinstance(dataset, Dataset):
        return dataset
    from reasonrank.datasets import load_dataset

    return load_dataset(dataset, show_progress=show_progress)


def evaluate(
    reranker: Reranker,
    dataset: Dataset | str | os.PathLike[str],
    output_dir: str | os.PathLike[str],
    *,
    top_k: int = 100,
    limit_queries: int | None = None,
    batch_size: int = 8,
    measures: Sequence[str] = DEFAULT_MEASURES,
    show_progress: bool = True,
    extra_config: dict[str, Any] | None = None,
    on_batch: Callable[[list[dict[str, Any]]], None] | None = None,
) -> dict[str, Any]:
    """Rerank ``dataset`` and write ``results.jsonl``, ``run.reranked.trec`` and ``metrics.json``.

    Queries already in ``results.jsonl`` are not reranked again. Queries go to
    :meth:`Reranker.rerank_batch` ``batch_size`` at a time; each finished query is appended
    and synced before the next batch. A query that fails (an engine error under
    ``on_error="raise"``, a :class:`ParseError` in strict mode) stops the run only after the
    other finished queries of its batch are saved, so a rerun resumes with nothing lost. The reranked run is the reranked top-``top_k`` followed by
    the rest of the first-stage list, so deep measures (``R@100``) compare like with like.
    Returns the metrics document.
    """
    check_positive("top_k", top_k)
    check_positive("limit_queries", limit_queries)
    check_positive("batch_size", batch_size)
    parse_measures(measures)  # fail before any model call
    dataset = as_dataset(dataset, show_progress)
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    qids = dataset.query_ids(limit_queries)
    if not qids:
        raise InvalidInputError(f"{dataset.name}: no judged queries in the first-stage run")
    config = {
        "dataset": dataset.name,
        "first_stage_run": dataset.run_path.name if dataset.run_path else None,
        "top_k": top_k,
        "method": reranker.method,
        "model": reranker.engine.model_name,
        "engine": reranker.engine.name,
        "first_stage": dataset.first_stage,
        **(extra_config or {}),
    }
    results_path = out / RESULTS_FILE
    done = load_results(results_path)
    _check_config(out, config, resuming=bool(done))
    todo = [q for q in qids if q not in done]
    with results_path.open("a", encoding="utf-8") as fh, _progress(
        len(qids), len(qids) - len(todo), show_progress, f"rerank {dataset.name}"
    ) as bar:
        for chunk in _chunks(todo, batch_size):
            items = [dataset.item(q, top_k) for q in chunk]
            results = reranker.rerank_batch([(it.query, it.candidates) for it in items], return_exceptions=True)
            records = []
            failures = [r for r in results if isinstance(r, BaseException)]
            for it, res in zip(items, results, strict=True):
                if isinstance(res, BaseException):
                    continue
                record = res.to_dict()
                record["query_id"] = it.query.id
                _append(fh, record)
                done[it.query.id] = record  # type: ignore[index]
                records.append(record)
            bar.update(len(records))
            if on_batch:
                on_batch(records)
            if failures:
                raise failures[0]  # the batch's finished queries are on disk already
    return finalize(dataset, out, qids, done, top_k=top_k, measures=measures, config=config)


def reranked_ids(item: EvalItem, record: dict[str, Any], first_stage_ids: Sequence[str]) -> list[str]:
    """The full reranked list of a query: the result's order, then the untouched first-stage tail."""
    head = [r["id"] for r in record["results"]]
    expected = {c.id for c in item.candidates}
    if set(head) != expected or len(head) != len(expected):
        raise InvalidInputError(
            f"result for query {item.query.id!r} does not hold exactly its top-{len(expected)} candidates"
        )
    return head + [d for d in first_stage_ids if d not in expected]


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
    usage = {"engine_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "engine_seconds": 0.0,
             "fallbacks": 0, "engine_fallbacks": 0}
    warned = fell_back = 0
    for qid in qids:
        for key in usage:
            usage[key] += done[qid].get("usage", {}).get(key, 0)
        warned += bool(done[qid].get("warnings"))
        q_usage = done[qid].get("usage", {})
        fell_back += bool(q_usage.get("fallbacks") or q_usage.get("engine_fallbacks"))
    doc = {
        **(config or {}),
        "num_queries": len(qids),
        "queries_with_warnings": warned,
        # Units (windows, sets, passages) where a fallback stood in for the model: unusable
        # output ("fallbacks") or an engine failure under keep_order ("engine_fallbacks").
        "fallbacks": {"model_output": usage["fallbacks"], "engine": usage["engine_fallbacks"],
                      "queries_affected": fell_back},
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
    tmp = out / (METRICS_FILE + ".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, out / METRICS_FILE)
    return doc


def format_metrics(doc: dict[str, Any]) -> str:
    """A small text table: measure | first stage | reranker | delta."""
    lines = [f"{'measure':10} {'first stage':>12} {'reranker':>10} {'delta':>8}"]
    mean = doc["mean"]
    for m in doc["measures"]:
        fs, rr = mean["first_stage"].get(m, float("nan")), mean["reranker"][m]
        lines.append(f"{m:10} {fs:12.4f} {rr:10.4f} {rr - fs:+8.4f}")
    summary = f"({doc['num_queries']} queries, top-{doc['top_k']} reranked"
    fb = doc.get("fallbacks") or {}
    if fb.get("model_output") or fb.get("engine"):
        summary += (f"; fallbacks: {fb.get('model_output', 0)} unusable outputs, {fb.get('engine', 0)} engine "
                    f"failures, in {fb.get('queries_affected', 0)} queries")
    lines.append(summary + ")")
    return "\n".join(lines)


# -- benchmark -------------------------------------------------------------------------------
def _percentiles(values: Sequence[float]) -> dict[str, float]:
    import numpy as np

    arr = np.asarray(values, dtype=float)
    p50, p90, p99 = np.percentile(arr, [50, 90, 99])
    return {"p50": float(p50), "p90": float(p90), "p99": float(p99), "mean": float(arr.mean()), "max": float(arr.max())}


def benchmark(
    reranker: Reranker,
    dataset: Dataset | str | os.PathLike[str],
    *,
    top_k: int = 20,
    limit_queries: int | None = None,
    batch_size: int = 1,
    warmup: int = 0,
    show_progress: bool = True,
) -> dict[str, Any]:
    """Time ``reranker`` on ``dataset``: throughput, latency percentiles, tokens, engine share.

    Queries are reranked ``batch_size`` at a time; a query's latency is the wall time of the
    batch it was in (with ``batch_size=1``, its own). ``warmup`` extra queries run first and
    are not counted (model load, compilation, caches).
    """
    check_positive("top_k", top_k)
    check_positive("batch_size", batch_size)
    if warmup < 0:
        raise InvalidInputError(f"warmup must be >= 0, got {warmup}")
    dataset = as_dataset(dataset, show_progress)
    qids = dataset.query_ids()
    measured = qids[:limit_queries] if limit_queries else qids
    if not measured:
        raise InvalidInputError(f"{dataset.name}: no judged queries to benchmark")
    # Warm up on queries outside the measured ones where there are any (no cache advantage).
    spare = qids[len(measured) : len(measured) + warmup] or measured[:warmup]
    for qid in spare:
        item = dataset.item(qid, top_k)
        reranker.rerank_batch([(item.query, item.candidates)])
    engine = meter(reranker)
    engine.intervals.clear()
    engine.calls = engine.requests = engine.prompt_tokens = engine.completion_tokens = 0
    per_query: list[dict[str, Any]] = []
    start = time.perf_counter()
    with _progress(len(measured), 0, show_progress, f"bench {dataset.name}") as bar:
        for chunk in _chunks(measured, batch_size):
            items = [dataset.item(q, top_k) for q in chunk]
            t0 = time.perf_counter()
            results = reranker.rerank_batch([(it.query, it.candidates) for it in items])
            latency = time.perf_counter() - t0
            for it, res in zip(items, results, strict=True):
                per_query.append({
                    "query_id": it.query.id,
                    "passages": len(it.candidates),
                    "latency_seconds": latency,
                    "completion_tokens": res.usage.completion_tokens,
                    "prompt_tokens": res.usage.prompt_tokens,
                    "warnings": len(res.warnings),
                    "fallbacks": res.usage.fallbacks + res.usage.engine_fallbacks,
                })
            bar.update(len(chunk))
    total = time.perf_counter() - start
    passages = sum(p["passages"] for p in per_query)
    busy = engine.busy_seconds
    return {
        "dataset": dataset.name,
        "first_stage": dataset.first_stage,
        "method": reranker.method,
        "engine": engine.name,
        "model": engine.model_name,
        "top_k": top_k,
        "batch_size": batch_size,
        "num_queries": len(per_query),
        "num_passages": passages,
        "total_seconds": total,
        "engine_seconds": busy,
        "overhead_seconds": max(total - busy, 0.0),
        "overhead_fraction": max(total - busy, 0.0) / total if total > 0 else 0.0,
        "queries_per_second": len(per_query) / total if total > 0 else 0.0,
        "passages_per_second": passages / total if total > 0 else 0.0,
        "latency_seconds": _percentiles([p["latency_seconds"] for p in per_query]),
        "engine_calls": engine.calls,
        "engine_requests": engine.requests,
        "prompt_tokens": engine.prompt_tokens,
        "generated_tokens": engine.completion_tokens,
        "generated_tokens_per_second": engine.completion_tokens / busy if busy > 0 else 0.0,
        "queries_with_warnings": sum(1 for p in per_query if p["warnings"]),
        "per_query": per_query,
    }


def plot_benchmark(report: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """A PNG: per-query latency with p50/p90/p99, and engine time against library overhead."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    lat = [p["latency_seconds"] for p in report["per_query"]]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4), gridspec_kw={"width_ratios": [3, 1]})
    ax1.bar(range(len(lat)), lat, color="#4c72b0")
    for name, style in (("p50", "-"), ("p90", "--"), ("p99", ":")):
        value = report["latency_seconds"][name]
        ax1.axhline(value, color="#c44e52", linestyle=style, label=f"{name} {value:.2f}s")
    ax1.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax1.set_xlabel("query (benchmark order)")
    ax1.set_ylabel("latency (s)")
    ax1.set_title(
        f"{report['method']} / {report['engine']} / {report['model']}\n"
        f"{report['dataset']}, top-{report['top_k']}: {report['queries_per_second']:.3f} q/s, "
        f"{report['passages_per_second']:.2f} passages/s"
    , fontsize=9)
    ax1.legend(fontsize=8)
    ax2.bar(["time"], [report["engine_seconds"]], color="#55a868", label="engine")
    ax2.bar(["time"], [report["overhead_seconds"]], bottom=[report["engine_seconds"]], color="#dd8452",
            label=f"library {100 * report['overhead_fraction']:.1f}%")
    ax2.set_ylabel("seconds")
    ax2.set_title(f"{report['generated_tokens']} generated tokens", fontsize=9)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = [
    "EngineMeter",
    "as_dataset",
    "benchmark",
    "evaluate",
    "finalize",
    "format_metrics",
    "load_results",
    "meter",
    "plot_benchmark",
]
