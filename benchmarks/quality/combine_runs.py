"""Equal-weight reciprocal rank fusion (k = 60, no tuning) of saved `reasonrank eval` runs and
the first stage, on the queries every run finished: does ICR fused with pointwise relevance (and
BM25) beat BM25? Offline, no model.

    python benchmarks/quality/combine_runs.py "$REASONRANK_DL19" icr=benchmarks/quality/results/eval/dl19-embedded-icr \\
        relevance=benchmarks/quality/results/eval/dl19-embedded-relevance --out benchmarks/quality/results/combine_runs_icr_relevance_dl19.json
"""
from __future__ import annotations

import argparse
import itertools
import json
from pathlib import Path

from reasonrank.data import Dataset
from reasonrank.evaluate import load_results
from reasonrank.metrics import evaluate_run, ranked_run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("runs", nargs="+", help="NAME=eval folder")
    parser.add_argument("--top-k", type=int, default=20)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    dataset = Dataset.load(args.dataset)
    runs = {name: load_results(Path(folder) / "results.jsonl") for name, folder in (r.split("=", 1) for r in args.runs)}
    qids = [q for q in dataset.query_ids() if all(q in done for done in runs.values())]
    first = {q: [d for d, _ in dataset.run[q]] for q in qids}
    ranks = {name: {q: {r["id"]: r["rank"] for r in done[q]["results"]} for q in qids} for name, done in runs.items()}
    ranks["bm25"] = {q: {d: i for i, d in enumerate(first[q][: args.top_k])} for q in qids}
    report = {"dataset": args.dataset, "queries": qids, "rule": "equal-weight RRF, k=60", "ndcg10": {}}
    for n in range(1, len(ranks) + 1):
        for parts in itertools.combinations(ranks, n):
            ranking = {}
            for q in qids:
                head = first[q][: args.top_k]
                score = {d: sum(1 / (61 + ranks[p][q][d]) for p in parts) for d in head}
                ranking[q] = sorted(head, key=lambda d: (-score[d], ranks["bm25"][q][d])) + first[q][args.top_k :]
            name = "+".join(parts)
            report["ndcg10"][name] = evaluate_run(dataset.qrels, ranked_run(ranking), ["nDCG@10"]).mean["nDCG@10"]
            print(f"{name:30s} {report['ndcg10'][name]:.4f}")
    print(f"({len(qids)} queries)")
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
