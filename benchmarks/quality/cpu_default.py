"""Choose the CPU default on TREC DL19 by measurement (issue 34): the dense cheap stage alone, fused
with the first stage, or followed by an embedded LLM stage — picked on one half of the queries,
confirmed on the other.

Two ``reasonrank eval`` runs (subprocesses, resumable, result cache off), over the shipped BM25
top-100 of all judged queries:

* ``dense``: the ``embedded-dense`` preset (the bundled all-MiniLM-L6-v2) over the top 100;
* ``dense_icr``: a cascade, ``embedded-dense`` over the top 100 then ``embedded-icr`` (attention
  of the embedded 0.5B model, one forward pass) over the dense top 20.

Every candidate configuration is then computed from those runs (offline, exact: a fusion only
re-sorts what the runs returned): BM25; dense; dense fused with BM25 (``rrf`` and ``score``
fusion, the library's ``fuse``, weights 0.3/0.5/0.7/0.9); the cascade as run; the cascade's ICR
order fused with the dense order by RRF (the old default's fusion, placed on the dense stage).
Queries are split in run order, alternating, into halves A and B: the configuration with the
best mean nDCG@10 on A is chosen (ties: fewer stages, then the shorter name) and reported on B
and on all queries, each with a paired t-test and a paired randomization test against BM25 and
against the best single stage. Seconds per query: the engine seconds the runs recorded, which
follow the machine's load (it is recorded); the chosen configuration's speed comes from
``dense_speed.py`` on a quiet machine.

    python benchmarks/quality/cpu_default.py --data "$REASONRANK_DL19"
    python benchmarks/quality/cpu_default.py --report-only
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from fusion_weight import fused_ranking, paired_test  # type: ignore[import-not-found]
from reasonrank.data import Dataset
from reasonrank.evaluate import load_results
from reasonrank.methods.fusion import fuse
from reasonrank.metrics import evaluate_run, ranked_run

HERE = Path(__file__).resolve().parent
CASCADE = {"stages": [{"preset": "embedded-dense"}, {"preset": "embedded-icr"}], "depths": [100, 20]}
RUNS: dict[str, list[str]] = {
    "dense": ["--preset", "embedded-dense"],
    "dense_icr": ["--method", "cascade", "--method-options", json.dumps(CASCADE)],
}
WEIGHTS = (0.3, 0.5, 0.7, 0.9)
MEASURE = "nDCG@10"


def run_eval(name: str, args: argparse.Namespace) -> None:
    folder = args.out / name
    folder.mkdir(parents=True, exist_ok=True)
    cmd = [args.reasonrank, "eval", str(args.data), *RUNS[name], "--depth", "100", "--cache", "off",
           "--output", str(folder), "--no-progress", "--batch-size", str(args.batch_size)]
    if args.queries:
        cmd += ["--limit-queries", str(args.queries)]
    print("$", " ".join(cmd), flush=True)
    with open(folder / "log.txt", "a") as log:
        subprocess.run(cmd, check=True, stdout=log, stderr=subprocess.STDOUT)


def rrf_orders(primary: list[str], secondary: list[str], weight: float) -> list[str]:
    """``primary``'s head re-sorted by RRF with ``secondary`` (both rank the same ids)."""
    rank_2 = {d: i for i, d in enumerate(secondary)}
    scores = fuse(list(range(len(primary))), [rank_2[d] for d in primary], kind="rrf", weight=weight)
    return [primary[i] for i in sorted(range(len(primary)), key=lambda i: (-scores[i], i))]


def configurations(dataset: Dataset, runs: dict[str, dict[str, Any]], qids: list[str]) -> dict[str, dict]:
    """Every configuration's ranking per query, with its cost (engine seconds per query)."""
    dense = runs["dense"]
    ids = {name: {q: [r["id"] for r in run[q]["results"]] for q in qids} for name, run in runs.items()}

    def secs(*names: str) -> float:
        return statistics.fmean(sum(float(runs[n][q]["usage"].get("engine_seconds", 0)) for n in names) for q in qids)

    out: dict[str, dict] = {
        "bm25": {"ranking": {q: [d for d, _ in dataset.run[q]] for q in qids}, "seconds": 0.0, "stages": 0},
        "dense": {"ranking": ids["dense"], "seconds": secs("dense"), "stages": 1},
        "dense_then_icr": {"ranking": ids["dense_icr"], "seconds": secs("dense_icr"), "stages": 2},
    }
    for kind in ("rrf", "score"):
        for w in WEIGHTS:
            ranking = fused_ranking(dataset, {q: dense[q] for q in qids}, 100, kind, w)
            out[f"dense+bm25_{kind}_w{w}"] = {"ranking": ranking, "seconds": secs("dense"), "stages": 1}
    for w in WEIGHTS:
        ranking = {}
        for q in qids:
            head = ids["dense_icr"][q][:20]
            ranking[q] = rrf_orders(head, [d for d in ids["dense"][q] if d in set(head)], w) + ids["dense_icr"][q][20:]
        out[f"dense_then_icr+dense_rrf_w{w}"] = {"ranking": ranking, "seconds": secs("dense_icr"), "stages": 2}
    return out


def per_query_ndcg(dataset: Dataset, ranking: dict[str, list[str]]) -> dict[str, float]:
    metrics = evaluate_run(dataset.qrels, ranked_run(ranking), [MEASURE])
    return {q: metrics.per_query.get(q, {}).get(MEASURE, 0.0) for q in ranking}


def t_test(a: dict[str, float], b: dict[str, float]) -> float:
    from scipy.stats import ttest_rel

    keys = sorted(a)
    return float(ttest_rel([a[k] for k in keys], [b[k] for k in keys]).pvalue)


def compare(values: dict[str, float], base: dict[str, float], qids: list[str]) -> dict[str, Any]:
    a, b = {q: values[q] for q in qids}, {q: base[q] for q in qids}
    return {"delta": statistics.fmean(a.values()) - statistics.fmean(b.values()), "t_test_p": t_test(a, b),
            **paired_test(a, b)}


def report(args: argparse.Namespace) -> dict[str, Any]:
    dataset = Dataset.load(args.data)
    runs = {name: load_results(args.out / name / "results.jsonl") for name in RUNS}
    qids = [q for q in dataset.query_ids() if all(q in r for r in runs.values())]
    half_a, half_b = qids[0::2], qids[1::2]
    configs = configurations(dataset, runs, qids)
    scores = {name: per_query_ndcg(dataset, c["ranking"]) for name, c in configs.items()}

    def mean(name: str, subset: list[str]) -> float:
        return statistics.fmean(scores[name][q] for q in subset)

    eligible = [n for n in configs if n != "bm25" and (args.max_seconds is None or configs[n]["seconds"] <= args.max_seconds)]
    chosen = max(eligible, key=lambda n: (round(mean(n, half_a), 6), -configs[n]["stages"], -len(n)))
    best_any_cost = max((n for n in configs if n != "bm25"), key=lambda n: round(mean(n, half_a), 6))
    single = "dense"  # the best single stage (ICR alone is far below it: benchmarks/README.md)
    table = {
        name: {"ndcg10_all": mean(name, qids), "ndcg10_half_a": mean(name, half_a), "ndcg10_half_b": mean(name, half_b),
               "engine_seconds_per_query": c["seconds"], "vs_bm25_all": compare(scores[name], scores["bm25"], qids)
               if name != "bm25" else None}
        for name, c in configs.items()
    }
    summary = {
        "dataset": str(args.data), "queries": len(qids), "half_a": half_a, "half_b": half_b,
        "chosen_on_half_a": chosen, "max_seconds": args.max_seconds, "best_on_half_a_any_cost": best_any_cost,
        "chosen_on_half_b": {"ndcg10": mean(chosen, half_b), "bm25": mean("bm25", half_b),
                             "vs_bm25": compare(scores[chosen], scores["bm25"], half_b),
                             "vs_best_single_stage": compare(scores[chosen], scores[single], half_b)},
        "chosen_on_all": {"ndcg10": mean(chosen, qids), "vs_bm25": compare(scores[chosen], scores["bm25"], qids),
                          "vs_best_single_stage": compare(scores[chosen], scores[single], qids)},
        "best_single_stage": single, "table": table,
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "load_average": os.getloadavg()},
        "per_query": scores,
    }
    print(f"{'configuration':36s} {'all':>7s} {'half A':>7s} {'half B':>7s} {'vs BM25 (all)':>14s} {'t p':>8s} {'s/query':>8s}")
    for name, row in sorted(table.items(), key=lambda kv: -kv[1]["ndcg10_all"]):
        vs = row["vs_bm25_all"]
        print(f"{name:36s} {row['ndcg10_all']:7.4f} {row['ndcg10_half_a']:7.4f} {row['ndcg10_half_b']:7.4f} "
              f"{(vs['delta'] if vs else 0):+14.4f} {(vs['t_test_p'] if vs else 1):8.1e} "
              f"{row['engine_seconds_per_query']:8.2f}")
    b = summary["chosen_on_half_b"]
    print(f"chosen on half A: {chosen}; on half B {b['ndcg10']:.4f} vs BM25 {b['bm25']:.4f} "
          f"(t-test p={b['vs_bm25']['t_test_p']:.1e})")
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("REASONRANK_DL19", "dl19")),
                        help="DL19 folder (queries.tsv, qrels.txt, run.bm25.trec, corpus.jsonl); default $REASONRANK_DL19")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "eval" / "cpu-default")
    parser.add_argument("--reasonrank", default=str(Path(sys.executable).with_name("reasonrank")))
    parser.add_argument("--queries", type=int, default=0, help="only the first N judged queries (default all)")
    parser.add_argument("--batch-size", type=int, default=4, help="queries per saved batch (resume granularity)")
    parser.add_argument("--max-seconds", type=float, default=None,
                        help="only configurations whose recorded engine s/query is at most this (default: all; "
                             "the recorded seconds follow the machine's load, so the default chooses on quality "
                             "and dense_speed.py measures the chosen one's speed on a quiet machine)")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "cpu_default.json")
    args = parser.parse_args()
    started = time.perf_counter()
    if not args.report_only:
        for name in RUNS:
            run_eval(name, args)
    summary = report(args)
    summary["wall_seconds"] = time.perf_counter() - started
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(summary, indent=1))
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
