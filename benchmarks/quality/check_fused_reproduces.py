"""Does a fused `reasonrank eval` run (e.g. the default, ``icr+rrf``) give exactly the order that
``benchmarks/quality/fusion_weight.py`` computes offline from the method-alone run's saved scores?

For every query the fused run finished: the method's per-document scores in both runs (largest
absolute difference), whether the fused top-k order is identical, and nDCG@10 of both on those
queries. If the orders match, the offline grid's figure for the fused default on all queries is
what ``reasonrank eval`` produces.

    python benchmarks/quality/check_fused_reproduces.py "$REASONRANK_DL19" \\
        benchmarks/quality/results/eval/dl19-embedded-icr benchmarks/quality/results/eval/dl19-embedded-default \\
        --out benchmarks/quality/results/check_fused_reproduces_dl19.json
"""
from __future__ import annotations

import argparse
import json
import re
from pathlib import Path

from fusion_weight import fused_ranking  # the script beside this one
from reasonrank.data import Dataset
from reasonrank.evaluate import load_results
from reasonrank.metrics import evaluate_run, ranked_run

METHOD_SCORE = re.compile(r"^\w+ score (-?[\d.e+-]+)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("alone", help="eval folder of the method alone (e.g. dl19-embedded-icr)")
    parser.add_argument("fused", nargs="+", help="eval folders of the fused method")
    parser.add_argument("--kind", default="rrf")
    parser.add_argument("--weight", type=float, default=0.5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    dataset = Dataset.load(args.dataset)
    alone = load_results(Path(args.alone) / "results.jsonl")
    report = {"dataset": args.dataset, "alone": args.alone, "kind": args.kind, "weight": args.weight, "fused": {}}
    for folder in args.fused:
        done = load_results(Path(folder) / "results.jsonl")
        offline = fused_ranking(dataset, {q: alone[q] for q in done}, len(next(iter(done.values()))["results"]),
                                args.kind, args.weight)
        ran = {q: [r["id"] for r in rec["results"]] for q, rec in done.items()}
        diffs = []
        for q, rec in done.items():
            before = {r["id"]: r["score"] for r in alone[q]["results"]}
            for r in rec["results"]:
                m = METHOD_SCORE.match(r.get("reasoning") or "")
                if m:
                    diffs.append(abs(float(m.group(1)) - before[r["id"]]))

        def ndcg(run: dict) -> float:
            return evaluate_run(dataset.qrels, ranked_run(run), ["nDCG@10"]).mean["nDCG@10"]

        same = [q for q in done if ran[q] == offline[q][: len(ran[q])]]
        entry = {
            "num_queries": len(done), "identical_order": len(same),
            "max_score_difference": max(diffs, default=None),
            "ndcg10_eval": ndcg(ran), "ndcg10_offline": ndcg(offline),
            "seconds_per_query": sum(rec.get("seconds", 0.0) for rec in done.values()) / len(done),
        }
        report["fused"][folder] = entry
        print(f"{folder}: {len(same)}/{len(done)} queries in the same order as the offline fusion; "
              f"method scores differ by <= {entry['max_score_difference']:.1e}; nDCG@10 eval "
              f"{entry['ndcg10_eval']:.4f}, offline {entry['ndcg10_offline']:.4f}; "
              f"{entry['seconds_per_query']:.1f} s/query")
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
