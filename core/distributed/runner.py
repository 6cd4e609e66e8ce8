"""Run a rerank job on Ray: stream query rows through an actor pool, write results as they come.

The driver validates the input, starts (or joins) a Ray cluster, builds a Ray Data pipeline
``source -> map_batches(RerankActor, concurrency=replicas, num_gpus=...)``, and appends every
result to the output shards as it streams back; it skips queries already in the output, so
rerunning the same command resumes. Replicas are restartable actors and their tasks are retried
(``max_restarts`` / ``max_task_retries``), so a replica that dies has its batch redone by the
restarted actor; duplicates a retry could deliver are dropped by query id on write.
"""
from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from reasonrank.deprecation import renamed_keyword
from reasonrank.distributed.actor import ReplicaCounter, RerankActor, raise_replica_error
from reasonrank.distributed.output import (
    ShardWriter,
    done_ids,
    iter_records,
    write_run,
    write_summary,
)
from reasonrank.distributed.rows import InputSource, rows_as_json_lines, scan_input
from reasonrank.distributed.summary import ReplicaLoad, Totals
from reasonrank.errors import InvalidInputError, ReasonRankError
from reasonrank.evaluate import check_config
from reasonrank.methods.base import Reranker, check_positive
from reasonrank.secret import check_shippable
from reasonrank.spec import RerankerSpec


@dataclass
class RayOptions:
    """Where and how wide to run: cluster address, replicas and what each one reserves."""

    address: str | None = None
    replicas: int = 1
    gpus_per_replica: float = 0.0
    cpus_per_replica: float = 1.0
    batch_size: int = 8
    max_restarts: int = 3
    runtime_env: dict[str, Any] = field(default_factory=dict)


def describe_factory(factory: Callable[[], Reranker]) -> dict[str, Any]:
    """The reranker settings recorded with the output (``method`` and ``model`` must match on
    resume, as in ``reasonrank eval``); a credential appears only as its environment variable's
    name or a redacted marker (``RerankerSpec.to_dict``)."""
    if isinstance(factory, RerankerSpec):
        preset = factory.resolved_preset()
        return {**factory.to_dict(), "method": preset.method, "model": factory.model or preset.model}
    name = getattr(factory, "__qualname__", type(factory).__qualname__)
    return {"method": getattr(factory, "method", None), "model": name}


def connect(options: RayOptions) -> bool:
    """Join the cluster at ``options.address`` or start a local one; True if we started it."""
    import ray

    if ray.is_initialized():
        return False
    logging.getLogger("ray").setLevel(logging.WARNING)
    # Worker logs stay in Ray's session folder (/tmp/ray/session_latest/logs): forwarded, they
    # would land on our stdout, in the middle of --json output.
    kwargs: dict[str, Any] = {"include_dashboard": False, "logging_level": logging.WARNING,
                              "log_to_driver": False}
    if options.runtime_env:
        kwargs["runtime_env"] = options.runtime_env
    if options.address:
        ray.init(address=options.address, **kwargs)
    else:
        # Headroom of one CPU beyond the replicas: Ray Data's read tasks need a CPU, and with
        # every CPU held by a replica the job would wait forever.
        ray.init(num_cpus=max(os.cpu_count() or 1, math.ceil(options.replicas * options.cpus_per_replica) + 1), **kwargs)
    return True


def check_capacity(options: RayOptions) -> None:
    """Fail early when the cluster cannot hold the replicas plus a CPU for reading input (the
    job would wait forever); on a joined cluster, which may autoscale, only warn."""
    import ray

    total = ray.cluster_resources()
    need_cpu = options.replicas * options.cpus_per_replica + 1
    need_gpu = options.replicas * options.gpus_per_replica
    if total.get("CPU", 0) < need_cpu or total.get("GPU", 0) < need_gpu:
        message = (f"{options.replicas} replicas need {need_cpu:g} CPUs (one for reading input) and "
                   f"{need_gpu:g} GPUs; the cluster has {total.get('CPU', 0):g} CPUs and "
                   f"{total.get('GPU', 0):g} GPUs")
        if options.address:  # a joined cluster may autoscale: say it, and wait for it
            warnings.warn(message + " (waiting for the cluster to grow)", stacklevel=3)
        else:
            raise InvalidInputError(message)


def _dataset(source: InputSource, todo: list[str]) -> Any:
    import ray

    if source.kind == "dataset":
        wanted = set(todo)
        return ray.data.from_items(rows_as_json_lines([r for r in source.rows or [] if r["query_id"] in wanted]))
    if source.kind == "parquet":
        return ray.data.read_parquet(str(source.path)).select_columns(["query_id", "query", "candidates"])
    return ray.data.read_text(str(source.path), encoding="utf-8", drop_empty_lines=True)


def rerank_dataset(
    source: str | Path,
    output: str | Path,
    factory: Callable[[], Reranker] | None = None,
    *,
    ray_options: RayOptions | None = None,
    run: str | Path | None = None,
    candidates_per_query: int | None = None,
    limit_queries: int | None = None,
    shard_size: int = 10_000,
    show_progress: bool = True,
    **deprecated: Any,
) -> dict[str, Any]:
    """Rerank every query of ``source`` on Ray and write the results to ``output``.

    ``source``: a dataset folder or benchmark name (as ``reasonrank eval`` reads it; each
    query's first-stage top ``candidates_per_query``, default 100), or a JSONL/Parquet file of
    ``{query_id, query, candidates}`` rows (``candidates_per_query`` keeps each row's first K
    candidates; default all; ``top_k`` is its deprecated name). ``factory`` builds the reranker
    on each replica, once (default: ``RerankerSpec()``, the embedded listwise default).
    Queries already in ``output`` are skipped. Returns the summary written to
    ``output/summary.json``.
    """
    per_query = renamed_keyword(deprecated, "top_k", "candidates_per_query", candidates_per_query,
                            where="rerank_dataset: ")
    opts = ray_options or RayOptions()
    factory = factory or RerankerSpec()
    for name, value in (("replicas", opts.replicas), ("batch_size", opts.batch_size), ("shard_size", shard_size),
                        ("candidates_per_query", per_query), ("limit_queries", limit_queries)):
        check_positive(name, value)
    if opts.gpus_per_replica < 0 or opts.cpus_per_replica < 0:
        raise InvalidInputError("gpus/cpus per replica must be >= 0")
    if isinstance(factory, RerankerSpec):  # a key's value must not travel to the workers
        check_shippable(factory.engine_options)
    src = scan_input(source, run=run, candidates_per_query=per_query, limit_queries=limit_queries)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written = done_ids(out)
    config = {
        "dataset": str(src.path.resolve()) if src.path.exists() else str(source),
        "first_stage_run": Path(run).name if run else None,
        "top_k": per_query,  # the resume key reasonrank eval uses for the same cut
        **describe_factory(factory),
    }
    check_config(out, config, resuming=bool(written))
    todo = [q for q in src.query_ids if q not in written]
    skipped = len(src.query_ids) - len(todo)
    start = time.perf_counter()
    new, load = Totals(), ReplicaLoad()
    if todo:
        _stream(src, out, factory, opts, todo, written, new, load, per_query, shard_size, show_progress)
    wall = time.perf_counter() - start
    everything = Totals()
    wanted = set(src.query_ids)
    for record in iter_records(out):
        if record["query_id"] in wanted:
            everything.add(record)
    missing = [q for q in src.query_ids if q not in written]
    tag = f"reasonrank-{config['method'] or 'rerank'}"
    write_run(out, src.query_ids, tag=tag)
    summary = {
        "input": str(src.path),
        "output": str(out),
        "replicas": opts.replicas,
        "gpus_per_replica": opts.gpus_per_replica,
        "batch_size": opts.batch_size,
        "queries_total": len(src.query_ids),
        "queries_skipped": skipped,
        "this_run": asdict(new),
        "all": asdict(everything),
        "missing": missing,
        "replicas_load": load.as_dict(),
        "wall_seconds": wall,
        "queries_per_second": new.queries / wall if wall > 0 else 0.0,
    }
    write_summary(out, summary)
    if missing:  # cannot happen unless results were removed mid-run: say so loudly
        raise ReasonRankError(f"{len(missing)} queries have no result, e.g. {missing[:3]}")
    return summary


def _stream(
    src: InputSource, out: Path, factory: Callable[[], Reranker], opts: RayOptions,
    todo: list[str], written: set[str], new: Totals, load: ReplicaLoad, per_query: int | None, shard_size: int,
    show_progress: bool,
) -> None:
    import json

    import ray
    from tqdm.auto import tqdm

    started = connect(opts)
    try:
        check_capacity(opts)
        ctx = ray.data.DataContext.get_current()
        ctx.enable_progress_bars = False  # ours counts queries; Ray's count blocks
        ctx.print_on_execution_start = False
        cut = per_query if src.kind != "dataset" else None  # a dataset folder's rows are cut already
        counter = None
        if isinstance(factory, RerankerSpec) and len(factory.base_urls) > 1:
            counter = ray.remote(num_cpus=0)(ReplicaCounter).remote()
        # Blocks of one batch each, so batches spread over the replicas as they free up
        # (a small file is otherwise one block, handed whole to one replica).
        rows = _dataset(src, todo).repartition(target_num_rows_per_block=opts.batch_size)
        with warnings.catch_warnings():  # max_restarts has no named parameter in Ray 2.60
            warnings.simplefilter("ignore", DeprecationWarning)
            results = rows.map_batches(
                RerankActor,
                fn_constructor_kwargs={"factory": factory, "todo": todo, "candidates_per_query": cut,
                                       "counter": counter},
                batch_size=opts.batch_size,
                batch_format="pyarrow",
                compute=ray.data.ActorPoolStrategy(size=opts.replicas, max_tasks_in_flight_per_actor=2),
                num_gpus=opts.gpus_per_replica or None,
                num_cpus=opts.cpus_per_replica,
                max_restarts=opts.max_restarts,  # a dead replica is rebuilt, its batch retried
                max_task_retries=-1 if opts.max_restarts != 0 else 0,
            )
        writer = ShardWriter(out, written, shard_size)
        bar = tqdm(total=len(todo), disable=not show_progress, desc="rerank", unit="query",
                   dynamic_ncols=True)
        try:
            names = ("query_id", "record", "error", "busy_seconds", "init_seconds", "replica")
            for batch in results.iter_batches(batch_size=None, batch_format="pyarrow"):
                for qid, line, error, busy, init, replica in zip(*(batch.column(c).to_pylist() for c in names)):
                    if error is not None:
                        raise_replica_error(error)
                    load.add(busy, init, replica)
                    if writer.write(qid, line):
                        new.add(json.loads(line))
                        bar.update(1)
                writer.sync()
        finally:
            writer.close()
            bar.close()
    finally:
        if started:
            ray.shutdown()


__all__ = ["RayOptions", "check_capacity", "connect", "rerank_dataset"]
