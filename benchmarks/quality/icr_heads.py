"""Which layers of the embedded model carry ICR's relevance signal? Dump per-layer and per-head
attention once, then choose layers on half of the queries and report on the other half.

ICR (github OSU-NLP-Group/In-Context-Reranking, ``score_documents``) sums the query's attention
over *all* layers and heads; on Llama-3.1-8B that works, on the embedded Qwen2.5-0.5B the sum is
below BM25 on DL19 (``benchmarks/README.md``). QRHead (Zhang et al. 2025, "Query-Focused
Retrieval Heads Improve Long-Context Reasoning and Re-ranking", same group) instead keeps the few
heads whose attention ranks documents best on held-out data. This script measures that idea
honestly on DL19 without a second dataset:

``dump``: one ICR forward pass per judged query (the preset's prompt, probes and truncation;
exactly what ``reasonrank eval --preset embedded-icr`` runs), saving per query the attention of
the query probe and of the "N/A" probe per layer and per document token, and per head and
document (``OUT/<qid>.npz``). Resumes.

``analyze``: scores documents from a subset of layers (ICR's ``masked_NA_calibration`` on the
subset's per-token sums) or of heads (calibrated sums), and runs a two-fold split of the queries
(run order, alternating): the subset is chosen on one fold and nDCG@10 reported on the other,
both ways; also the all-layer score (must reproduce the eval run) and each layer alone (on all
queries: descriptive only, not a result). Writes a JSON.

    python benchmarks/quality/icr_heads.py dump "$REASONRANK_DL19" --out runs/icr_heads
    python benchmarks/quality/icr_heads.py analyze "$REASONRANK_DL19" --dump runs/icr_heads \\
        --out benchmarks/quality/results/icr_heads_dl19.json
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from reasonrank.data import Dataset
from reasonrank.methods.fusion import fuse
from reasonrank.metrics import evaluate_run, ranked_run


def dump(args: argparse.Namespace) -> None:
    from reasonrank import load_reranker
    from reasonrank.engines.hf_attention import attention_by_head
    from tqdm import tqdm

    dataset = Dataset.load(args.dataset)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    icr = load_reranker(preset=args.preset)
    icr = getattr(icr, "inner", icr)  # the fused preset wraps ICR
    qids = dataset.query_ids(args.limit_queries)
    for qid in tqdm(qids, desc="icr heads", unit="query"):
        path = out / f"{qid}.npz"
        if path.exists():
            continue
        item = dataset.item(qid, args.top_k)
        heads = attention_by_head(icr.engine, icr.build_request(item.query, item.candidates))
        spans = [heads.spans[icr.doc_segment(i)] for i in range(len(item.candidates))]
        tok_idx = np.concatenate([np.arange(a, b) for a, b in spans])
        arrays = {}
        for name, per_head in zip(("q", "na"), heads.per_probe, strict=True):
            w = per_head.cpu().numpy()  # (layers, heads, n)
            arrays[f"{name}_layer_tok"] = w.sum(axis=1)[:, tok_idx].astype(np.float32)
            arrays[f"{name}_head_doc"] = np.stack([w[:, :, a:b].sum(axis=2) for a, b in spans], axis=-1).astype(np.float32)
        np.savez_compressed(
            path, doc_ids=np.array([c.id for c in item.candidates]),
            doc_len=np.array([b - a for a, b in spans]), seconds=heads.seconds,
            prompt_tokens=heads.prompt_tokens, **arrays,
        )


def masked_scores(q_tok: np.ndarray, na_tok: np.ndarray, doc_len: np.ndarray) -> list[float]:
    """ICR's masked_NA_calibration per document from per-token sums (see methods/icr.py)."""
    scores, at = [], 0
    for n in doc_len:
        diff = (q_tok[at : at + n] - na_tok[at : at + n]).astype(np.float64)
        at += n
        if len(diff) < 2:
            scores.append(float(diff.sum()))
            continue
        threshold = diff.mean() - 2 * diff.std(ddof=1)
        scores.append(float(diff[diff > threshold].sum()))
    return scores


class Dump:
    """The saved readouts of every query, and nDCG@10 of a scoring rule over a query subset."""

    def __init__(self, dataset: Dataset, folder: Path, top_k: int) -> None:
        self.dataset = dataset
        self.data = {p.stem: dict(np.load(p)) for p in sorted(folder.glob("*.npz"))}
        self.qids = [q for q in dataset.query_ids() if q in self.data]
        self.top_k = top_k
        self._cache: dict = {}

    def ndcg(self, score_fn, qids: list[str], fused: bool = False) -> float:
        """nDCG@10 of ``score_fn`` over ``qids``; ``fused``: RRF with BM25 at the default w=0.5."""
        ranking = {}
        for qid in qids:
            d = self.data[qid]
            scores = score_fn(d)
            if fused:
                method_rank = {i: r for r, i in enumerate(sorted(range(len(scores)), key=lambda i: (-scores[i], i)))}
                scores = fuse([method_rank[i] for i in range(len(scores))], list(range(len(scores))))
            ids = [str(x) for x in d["doc_ids"]]
            order = sorted(range(len(ids)), key=lambda i: (-scores[i], i))
            head = [ids[i] for i in order]
            ranking[qid] = head + [doc for doc, _ in self.dataset.run[qid] if doc not in set(head)]
        return evaluate_run(self.dataset.qrels, ranked_run(ranking), ["nDCG@10"]).mean["nDCG@10"]


def layer_rule(layers: list[int]):
    def score(d: dict) -> list[float]:
        return masked_scores(d["q_layer_tok"][layers].sum(0), d["na_layer_tok"][layers].sum(0), d["doc_len"])
    return score


def head_rule(heads: list[tuple[int, int]]):
    idx = tuple(np.array(heads).T) if heads else None

    def score(d: dict) -> list[float]:
        return list((d["q_head_doc"][idx] - d["na_head_doc"][idx]).sum(0))
    return score


def analyze(args: argparse.Namespace) -> None:
    dataset = Dataset.load(args.dataset)
    dump_ = Dump(dataset, Path(args.dump), args.top_k)
    qids = dump_.qids
    n_layers, n_heads = dump_.data[qids[0]]["q_head_doc"].shape[:2]
    folds = [qids[0::2], qids[1::2]]
    bm25 = {q: [d for d, _ in dataset.run[q]] for q in qids}

    def bm25_ndcg(sub: list[str]) -> float:
        return evaluate_run(dataset.qrels, ranked_run({q: bm25[q] for q in sub}), ["nDCG@10"]).mean["nDCG@10"]

    report: dict = {"dataset": args.dataset, "num_queries": len(qids), "layers": int(n_layers), "heads": int(n_heads),
                    "bm25": bm25_ndcg(qids), "all_layers_masked": dump_.ndcg(layer_rule(list(range(n_layers))), qids)}
    report["per_layer_all_queries"] = [dump_.ndcg(layer_rule([i]), qids) for i in range(n_layers)]
    ranges = [(a, b) for a in range(n_layers) for b in range(a, n_layers)]
    cv = []
    for k, (train, test) in enumerate([(folds[0], folds[1]), (folds[1], folds[0])]):
        # Contiguous layer range, masked calibration: chosen on train.
        best = max(ranges, key=lambda r: dump_.ndcg(layer_rule(list(range(r[0], r[1] + 1))), train))
        rule = layer_rule(list(range(best[0], best[1] + 1)))
        # Heads: the top-m by calibrated-sum nDCG on train (QRHead-style selection), m fixed a priori.
        head_score = {(i, j): dump_.ndcg(head_rule([(i, j)]), train) for i in range(n_layers) for j in range(n_heads)}
        top = sorted(head_score, key=lambda h: -head_score[h])[: args.top_heads]
        cv.append({
            "train_queries": train, "test_queries": test,
            "bm25_test": bm25_ndcg(test),
            "all_layers_test": dump_.ndcg(layer_rule(list(range(n_layers))), test),
            "all_layers_fused_test": dump_.ndcg(layer_rule(list(range(n_layers))), test, fused=True),
            "layer_range_fused_test": dump_.ndcg(rule, test, fused=True),
            "layer_range": list(best), "layer_range_train": dump_.ndcg(rule, train), "layer_range_test": dump_.ndcg(rule, test),
            "top_heads": [list(h) for h in top], "top_heads_train": dump_.ndcg(head_rule(top), train),
            "top_heads_test": dump_.ndcg(head_rule(top), test),
        })
        c = cv[-1]
        print(f"fold {k}: test BM25 {c['bm25_test']:.4f}, all layers {c['all_layers_test']:.4f}, "
              f"layers {best} (train {c['layer_range_train']:.4f}) test {c['layer_range_test']:.4f}, "
              f"top-{args.top_heads} heads (train {c['top_heads_train']:.4f}) test {c['top_heads_test']:.4f}")
    report["two_fold"] = cv
    for key in ("bm25_test", "all_layers_test", "all_layers_fused_test", "layer_range_test", "layer_range_fused_test",
                "top_heads_test"):
        report[f"held_out_mean_{key}"] = sum(c[key] * len(c["test_queries"]) for c in cv) / len(qids)
    print(f"{len(qids)} queries: BM25 {report['bm25']:.4f}, ICR all layers {report['all_layers_masked']:.4f}; "
          f"held out: layer range {report['held_out_mean_layer_range_test']:.4f} "
          f"(fused with BM25, RRF w=0.5: {report['held_out_mean_layer_range_fused_test']:.4f}; "
          f"all layers fused {report['held_out_mean_all_layers_fused_test']:.4f}), "
          f"top heads {report['held_out_mean_top_heads_test']:.4f}")
    print("per layer (all queries, descriptive):", " ".join(f"{i}:{v:.3f}" for i, v in enumerate(report["per_layer_all_queries"])))
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    d = sub.add_parser("dump")
    d.add_argument("dataset")
    d.add_argument("--out", required=True)
    d.add_argument("--preset", default="embedded-icr")
    d.add_argument("--top-k", type=int, default=20)
    d.add_argument("--limit-queries", type=int)
    d.set_defaults(func=dump)
    a = sub.add_parser("analyze")
    a.add_argument("dataset")
    a.add_argument("--dump", required=True)
    a.add_argument("--top-k", type=int, default=20)
    a.add_argument("--top-heads", type=int, default=16, help="heads kept (QRHead's default: 16)")
    a.add_argument("--out", required=True)
    a.set_defaults(func=analyze)
    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
