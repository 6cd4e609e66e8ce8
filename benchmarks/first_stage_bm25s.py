"""The bm25s first stage against a shipped BM25 run, on a dataset folder (default TREC DL19).

    python benchmarks/first_stage_bm25s.py [--data /work/shared/data/trec-dl19] [--depth 100]

Builds bm25s over the folder's ``corpus.jsonl`` in a fresh cache, then loads it again from the
cache, and scores both first stages on the same judged queries (nDCG@10, R@100 and the rest of
the default measures). Prints a JSON summary and writes
benchmarks/results/first_stage_bm25s_<folder>.json.

The shared DL19 folder's corpus is only the passages of its shipped BM25 top-100 (the pooled
4,297 passages), not MS MARCO's 8.8M: bm25s searches that small pool with its own IDF, so the
figures differ from a full-corpus BM25. ``reasonrank eval dl19`` searches the full corpus.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

from reasonrank.data import Dataset
from reasonrank.datasets import bm25_run, folder_collection
from reasonrank.datasets.bm25 import load_or_build
from reasonrank.metrics import DEFAULT_MEASURES, evaluate_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default="/work/shared/data/trec-dl19")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    folder = Path(args.data)
    out = Path(args.out) if args.out else Path(__file__).parent / "results" / f"first_stage_bm25s_{folder.name}.json"

    shipped = Dataset.load(folder)
    collection = folder_collection(folder)
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        built = load_or_build(collection, cache_dir=cache, show_progress=False)
        build_seconds = time.perf_counter() - t0
        t0 = time.perf_counter()
        loaded = load_or_build(collection, cache_dir=cache, show_progress=False)
        load_seconds = time.perf_counter() - t0
        assert built.built and not loaded.built
        t0 = time.perf_counter()
        run, _, info = bm25_run(collection, args.depth, cache_dir=cache, show_progress=False)
        search_seconds = time.perf_counter() - t0
    qids = shipped.query_ids()
    ours = {q: run[q] for q in qids}
    base = {q: shipped.run[q] for q in qids}
    shipped_m = evaluate_run(shipped.qrels, base, DEFAULT_MEASURES).mean
    bm25s_m = evaluate_run(shipped.qrels, ours, DEFAULT_MEASURES).mean
    overlap = sum(len({d for d, _ in base[q][:10]} & {d for d, _ in ours[q][:10]}) for q in qids) / (10 * len(qids))
    report = {
        "dataset": str(folder),
        "queries": len(qids),
        "corpus_passages": len(built.doc_ids),
        "depth": args.depth,
        "bm25s_settings": {k: info[k] for k in ("k1", "b", "method", "stopwords", "stemmer")},
        "shipped_run": shipped.run_path.name if shipped.run_path else None,
        "first_stage": {"shipped_bm25": shipped_m, "bm25s_pooled_corpus": bm25s_m},
        "top10_overlap": overlap,
        "seconds": {"index_build": build_seconds, "index_load_from_cache": load_seconds,
                    "search_all_queries": search_seconds},
        "note": "the folder's corpus is only the pooled passages of the shipped BM25 top-100; "
                "bm25s's IDF over that pool differs from BM25's over all of MS MARCO",
        "machine": f"{platform.machine()}, 2 cores shared with other work",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
