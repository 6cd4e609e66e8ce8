"""Fix the first-stage fusion weight from finished `reasonrank eval` runs (offline, no model),
and summarise each run (method alone vs first stage on the same queries, seconds and prompt
tokens per query).

For each eval folder (its ``results.jsonl`` holds every query's reranked order and scores), fuse
the reranker with the first stage (``reasonrank.methods.fusion.fuse``, the rule the ``fusion``
option applies at run time) for a grid of weights, both rules (``rrf``, ``score``), and report
nDCG@10 against the first stage. Writes a JSON with every grid point.

A weight read off that grid is tuned on the queries it is reported on. So the script also
reports held-out figures: a two-fold split (queries in run order, alternating) where the weight
is chosen on one half and scored on the other, both ways, and leave-one-out (the weight chosen on
the other n - 1 queries, scored on the one left out); ties go to the weight nearest 0.5. Every
weight also gets its wins/losses/ties against the first stage and a paired randomization test.

    python benchmarks/quality/fusion_weight.py "$REASONRANK_DL19" \
        benchmarks/quality/results/eval/dl19-embedded-icr benchmarks/quality/results/eval/dl19-embedded-first \
        --out benchmarks/quality/results/fusion_weight_dl19.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from reasonrank.data import Dataset
from reasonrank.evaluate import load_results
from reasonrank.methods.fusion import fuse
from reasonrank.metrics import evaluate_run, ranked_run

WEIGHTS = [round(0.1 * i, 1) for i in range(11)]


def fused_ranking(dataset: Dataset, done: dict, top_k: int, kind: str, weight: float) -> dict[str, list[str]]:
    ranking = {}
    for qid, record in done.items():
        item = dataset.item(qid, top_k)
        first_score = {c.id: c.score for c in item.candidates}
        head = record["results"]
        scores = fuse(
            [r["rank"] for r in head], [r["input_rank"] for r in head], kind=kind, weight=weight,  # type: ignore[arg-type]
            method_scores=[r["score"] for r in head], first_scores=[first_score.get(r["id"]) for r in head],
        )
        order = sorted(range(len(head)), key=lambda i: (-scores[i], head[i]["input_rank"]))
        ids = [head[i]["id"] for i in order]
        ranking[qid] = ids + [d for d, _ in dataset.run[qid] if d not in set(ids)]
    return ranking


def choose(per_query: list[dict[str, float]], qids: list[str]) -> int:
    """Index of the weight with the best mean over ``qids`` (ties: the weight nearest 0.5)."""
    means = [sum(values[q] for q in qids) / len(qids) for values in per_query]
    return max(range(len(WEIGHTS)), key=lambda i: (round(means[i], 12), -abs(WEIGHTS[i] - 0.5)))


def two_folds(qids: list[str]) -> list[tuple[list[str], list[str]]]:
    """(choose on, score on) pairs: queries in run order split alternately, both ways."""
    folds = [qids[0::2], qids[1::2]]
    return [(folds[0], folds[1]), (folds[1], folds[0])]


def held_out(per_query: list[dict[str, float]], qids: list[str]) -> dict:
    """Two-fold and leave-one-out nDCG of a weight chosen on the other queries; the two-fold
    per-query values are tested against the first stage (``per_query[0]``, weight 0)."""
    two_fold, chosen = {}, []
    for train, test in two_folds(qids):
        i = choose(per_query, train)
        chosen.append(WEIGHTS[i])
        two_fold.update({q: per_query[i][q] for q in test})
    loo = {}
    loo_weights = []
    for q in qids:
        i = choose(per_query, [x for x in qids if x != q])
        loo_weights.append(WEIGHTS[i])
        loo[q] = per_query[i][q]
    return {
        "two_fold": sum(two_fold.values()) / len(qids), "two_fold_weights": chosen,
        "two_fold_vs_first_stage": paired_test(two_fold, {q: per_query[0][q] for q in qids}),
        "leave_one_out": sum(loo.values()) / len(qids),
        "leave_one_out_weights": sorted(set(loo_weights)),
    }


def held_out_kind_and_weight(per_kind: dict[str, list[dict[str, float]]], qids: list[str]) -> dict:
    """Two-fold with the fusion kind chosen too: (kind, weight) picked on one half, scored on
    the other (weight 1 is the method alone, 0 the first stage, so "fuse or not" is chosen too)."""
    two_fold, chosen = {}, []
    for train, test in two_folds(qids):
        kind = max(per_kind, key=lambda k: (
            round(sum(per_kind[k][choose(per_kind[k], train)][q] for q in train), 12), k == "rrf"))
        i = choose(per_kind[kind], train)
        chosen.append([kind, WEIGHTS[i]])
        two_fold.update({q: per_kind[kind][i][q] for q in test})
    base = {q: next(iter(per_kind.values()))[0][q] for q in qids}
    return {"two_fold": sum(two_fold.values()) / len(qids), "two_fold_choices": chosen,
            "two_fold_vs_first_stage": paired_test(two_fold, base)}


def paired_test(method: dict[str, float], base: dict[str, float], rounds: int = 5000) -> dict:
    """Wins/losses/ties against the first stage and a two-sided paired randomization test
    (sign flips of the per-query differences, seeded) of the mean difference."""
    import random

    diff = [method[q] - base[q] for q in base]
    observed = abs(sum(diff)) / len(diff)
    rng = random.Random(0)
    hits = sum(abs(sum(d if rng.random() < 0.5 else -d for d in diff)) / len(diff) >= observed - 1e-12 for _ in range(rounds))
    return {"wins": sum(d > 1e-9 for d in diff), "losses": sum(d < -1e-9 for d in diff),
            "ties": sum(abs(d) <= 1e-9 for d in diff), "p_value": hits / rounds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("dataset")
    parser.add_argument("evals", nargs="+", help="reasonrank eval output folders")
    parser.add_argument("--measure", default="nDCG@10")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    dataset = Dataset.load(args.dataset)
    report = {"dataset": args.dataset, "measure": args.measure, "weights": WEIGHTS, "runs": {}}
    for folder in args.evals:
        config = json.loads((Path(folder) / "eval_config.json").read_text())
        done = load_results(Path(folder) / "results.jsonl")
        qids = sorted(done)
        base = evaluate_run(dataset.qrels, {q: dataset.run[q] for q in qids}, [args.measure]).mean[args.measure]
        grid, cv, per_kind = {}, {}, {}
        for kind in ("rrf", "score"):
            grid[kind], per_query = [], []
            for w in WEIGHTS:
                run = ranked_run(fused_ranking(dataset, {q: done[q] for q in qids}, config["top_k"], kind, w))
                metrics = evaluate_run(dataset.qrels, run, [args.measure])
                grid[kind].append(metrics.mean[args.measure])
                per_query.append({q: metrics.per_query.get(q, {}).get(args.measure, 0.0) for q in qids})
            per_kind[kind] = per_query
            cv[kind] = held_out(per_query, [q for q in dataset.query_ids() if q in done])
            cv[kind]["vs_first_stage"] = {str(w): paired_test(values, per_query[0]) for w, values in zip(WEIGHTS, per_query)}
        run_order = [q for q in dataset.query_ids() if q in done]
        cv["kind_and_weight"] = held_out_kind_and_weight(per_kind, run_order)
        best = {k: WEIGHTS[max(range(len(WEIGHTS)), key=lambda i: v[i])] for k, v in grid.items()}
        seconds = sum(done[q].get("seconds", 0.0) for q in qids) / len(qids)
        tokens = sum(done[q].get("usage", {}).get("prompt_tokens", 0) for q in qids) / len(qids)
        report["runs"][folder] = {
            "num_queries": len(qids), "query_ids": qids, "first_stage": base, "method_alone": grid["rrf"][-1],
            "grid": grid, "best_weight": best, "held_out": cv, "seconds_per_query": seconds, "prompt_tokens_per_query": tokens,
        }
        print(f"{folder} ({len(qids)} queries): first stage {base:.4f}, method alone {grid['rrf'][-1]:.4f}, "
              f"{seconds:.0f} s/query, {tokens:.0f} prompt tokens/query")
        for kind, values in grid.items():
            row = "  ".join(f"{w:.1f}:{v:.4f}" for w, v in zip(WEIGHTS, values))
            print(f"  {kind:5s} {row}   best w={best[kind]}")
            h = cv[kind]
            print(f"        held out: two-fold {h['two_fold']:.4f} (w chosen {h['two_fold_weights']}), "
                  f"leave-one-out {h['leave_one_out']:.4f} (w chosen {h['leave_one_out_weights']})")
            t = h["two_fold_vs_first_stage"]
            print(f"        two-fold vs first stage: {t['wins']}/{t['losses']}/{t['ties']} p={t['p_value']:.3f}")
            tests = "  ".join(f"{w}:{t['wins']}/{t['losses']}/{t['ties']} p={t['p_value']:.2f}"
                              for w, t in h["vs_first_stage"].items() if w != "0.0")
            print(f"        vs first stage (wins/losses/ties, paired randomization p): {tests}")
        h = cv["kind_and_weight"]
        t = h["two_fold_vs_first_stage"]
        print(f"  kind and weight chosen two-fold: {h['two_fold']:.4f} (chosen {h['two_fold_choices']}), "
              f"vs first stage {t['wins']}/{t['losses']}/{t['ties']} p={t['p_value']:.3f}")
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
