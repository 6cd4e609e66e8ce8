"""The bm25s first stage against a shipped BM25 run, on a dataset folder (default TREC DL19).

    python benchmarks/quality/first_stage_bm25s.py [--data DL19_FOLDER] [--depth 100]

Builds bm25s over the folder's ``corpus.jsonl`` in a fresh cache, then loads it again from the
cache, and scores both first stages on the same judged queries (nDCG@10, R@100 and the rest of
the default measures). Prints a JSON summary and writes
benchmarks/quality/results/first_stage_bm25s_<folder>.json.

The DL19 folder's corpus is only the passages of its shipped BM25 top-100 (the pooled
4,297 passages), not MS MARCO's 8.8M: bm25s searches that small pool with its own IDF, so the
figures differ from a full-corpus BM25. ``reasonrank eval dl19`` searches the full corpus.
"""
from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
import uuid
from pathlib import Path

from reasonrank.data import Dataset
from reasonrank.datasets import Collection, bm25_run, folder_collection
from reasonrank.datasets.bm25 import load_or_build
from reasonrank.metrics import DEFAULT_MEASURES, evaluate_run
from reasonrank.testing.bench_inputs import DL19
from reasonrank.types import Candidate

MSMARCO_PASSAGES = 8_841_823


def _index_throughput(collection: Collection, copies: int, cache: str) -> dict:
    """Documents per second of a fresh build (tokenize + index + save) over ``copies`` copies
    of the corpus under new ids, and what that rate means for MS MARCO's 8.8M passages."""
    docs = list(collection.iter_docs())
    big = Collection(
        name=f"{collection.name}x{copies}", queries={}, qrels={}, corpus_key=f"throughput:{uuid.uuid4()}",
        iter_docs=lambda: (Candidate(id=f"{i}:{d.id}", text=d.text) for i in range(copies) for d in docs),
        get_docs=lambda ids: {},
    )
    t0 = time.perf_counter()
    index = load_or_build(big, cache_dir=cache, show_progress=False)
    seconds = time.perf_counter() - t0
    rate = len(index.doc_ids) / seconds
    return {"docs": len(index.doc_ids), "seconds": seconds, "docs_per_second": rate,
            "msmarco_passage_build_hours_at_this_rate": MSMARCO_PASSAGES / rate / 3600}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DL19), help="DL19 folder (default: $REASONRANK_DL19 or data/trec-dl19)")
    parser.add_argument("--depth", type=int, default=100)
    parser.add_argument("--out", default=None)
    parser.add_argument("--copies", type=int, default=5,
                        help="index the corpus this many times over to measure indexing speed")
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
        throughput = _index_throughput(collection, args.copies, cache)
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
        "index_throughput": throughput,
        "note": "the folder's corpus is only the pooled passages of the shipped BM25 top-100; "
                "bm25s's IDF over that pool differs from BM25's over all of MS MARCO",
        "machine": f"{platform.machine()}, 2 cores shared with other work",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
