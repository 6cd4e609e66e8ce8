"""Speed of the dense cheap stage (issue 34) against sentence-transformers' own ``encode``, side by
side in one run, and the nDCG@10 of each precision on TREC DL19.

Per DL19 query (the shipped BM25 top-100; title + text, as the method shows a passage), each arm
runs once, in a rotating order so that drift in the machine's load falls on every arm alike:

* ``st_encode``: ``SentenceTransformer(all-MiniLM-L6-v2).encode(passages, batch_size=32)`` — the
  reference (passages only, as the issue measured it);
* ``dense``: the library's no-option default, ``load_reranker()`` (``embedded-dense``: query and
  passages embedded, cosine, result assembled), result cache off — what a user gets;
* ``dense_bf16``: the same with ``engine_options={"dtype": "bfloat16"}``;
* ``dense_int8``: the same with ``engine_options={"quantize": "int8"}`` (dynamic int8 linears).

Reports seconds per query (median and mean over ``--queries``) and each arm's ratio to
``st_encode``; then nDCG@10 of each library arm over ``--quality-queries`` judged queries (the
precision paths must stay within 0.005 of float32). Writes ``--json``.

    python benchmarks/quality/dense_speed.py --data "$REASONRANK_DL19" --queries 10
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ARMS = ("st_encode", "dense", "dense_bf16", "dense_int8")
ENGINE_OPTIONS: dict[str, dict[str, Any]] = {"dense": {}, "dense_bf16": {"dtype": "bfloat16"},
                                             "dense_int8": {"quantize": "int8"}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("REASONRANK_DL19", "dl19")),
                        help="DL19 folder; default $REASONRANK_DL19")
    parser.add_argument("--queries", type=int, default=10, help="queries timed per arm")
    parser.add_argument("--quality-queries", type=int, default=43, help="queries scored per arm (0: none)")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "dense_speed.json")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")

    from reasonrank import load_reranker
    from reasonrank.data import Dataset
    from reasonrank.engines.bundled_encoder import bundled_encoder_path
    from reasonrank.metrics import evaluate_run, ranked_run
    from sentence_transformers import SentenceTransformer

    dataset = Dataset.load(args.data)
    items = list(dataset.items(top_k=100))
    st = SentenceTransformer(str(bundled_encoder_path()), device="cpu")
    rerankers = {arm: load_reranker(method="dense", cache=False, engine_options=opts)
                 for arm, opts in ENGINE_OPTIONS.items()}

    def run_arm(arm: str, item: Any) -> list[str]:
        if arm == "st_encode":
            st.encode([c.content() for c in item.candidates], batch_size=32)
            return []
        return rerankers[arm].rerank(item.query, item.candidates).ids

    for arm in ARMS:  # warm-up: first calls allocate
        run_arm(arm, items[0])
    load_before = os.getloadavg()
    times: dict[str, list[float]] = {arm: [] for arm in ARMS}
    for n, item in enumerate(items[: args.queries]):
        for arm in ARMS[n % len(ARMS):] + ARMS[: n % len(ARMS)]:
            start = time.perf_counter()
            run_arm(arm, item)
            times[arm].append(time.perf_counter() - start)
    load_after = os.getloadavg()
    reference = statistics.median(times["st_encode"])
    speed = {arm: {"median_s": statistics.median(t), "mean_s": statistics.fmean(t),
                   "ratio_to_st_encode": statistics.median(t) / reference} for arm, t in times.items()}
    quality: dict[str, float] = {}
    if args.quality_queries:
        scored = items[: args.quality_queries]
        for arm in ENGINE_OPTIONS:
            ranking = {it.query.id: rerankers[arm].rerank(it.query, it.candidates).ids for it in scored}
            metrics = evaluate_run(dataset.qrels, ranked_run(ranking), ["nDCG@10"])  # type: ignore[arg-type]
            quality[arm] = metrics.mean["nDCG@10"]
    summary = {"data": str(args.data), "queries_timed": len(times["st_encode"]), "speed": speed,
               "ndcg10": quality, "quality_queries": args.quality_queries,
               "machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                           "load_average_before": load_before, "load_average_after": load_after}}
    print(f"{'arm':12s} {'median s':>9s} {'mean s':>8s} {'vs st':>6s} {'nDCG@10':>8s}")
    for arm in ARMS:
        s = speed[arm]
        print(f"{arm:12s} {s['median_s']:9.3f} {s['mean_s']:8.3f} {s['ratio_to_st_encode']:6.2f} "
              f"{quality.get(arm, float('nan')):8.4f}")
    print(f"load average before {load_before}, after {load_after}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
