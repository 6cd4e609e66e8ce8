"""Held-out evaluation of a student: against its base model, the teacher and the first stage.

On the held-out queries (drawn by query, never by passage), each system's order of the
first-stage top ``depth`` is scored by

* ``ndcg10``: nDCG@10 on the dataset's judgments (judged queries only; None without any);
* ``agreement``: nDCG@10 with the teacher's own top 10 as graded judgments (10 for its first,
  9 for its second … 1 for its tenth): how far the system reproduces what the teacher put first;
* ``tau_first_stage``: Kendall's τ between the system's order and the first stage's (does a
  student taught by BM25 follow BM25?), the mean over queries.

The systems are the student (loaded from the output folder through ``--method dense``/``cross``,
the path users take), the base model as a dense reranker (for a cross student, whose head starts
untrained, the dense base is the baseline), the teacher and the first stage (BM25).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasonrank.data import EvalItem
from reasonrank.metrics import evaluate_run, ranked_run
from reasonrank.training.distill.teachers import TeacherOutput


def rerank_orders(reranker: Any, items: Sequence[EvalItem], batch_size: int = 16) -> dict[str, list[str]]:
    """Each item's candidate ids in ``reranker``'s order."""
    orders: dict[str, list[str]] = {}
    for i in range(0, len(items), batch_size):
        chunk = items[i:i + batch_size]
        for it, res in zip(chunk, reranker.rerank_batch([(it.query, it.candidates) for it in chunk]), strict=True):
            orders[it.query.id or ""] = [r.candidate.id for r in res.ranked]
    return orders


# (model, kind, query id, candidate ids) -> order, for base models that do not change between
# runs in one process (cross-validation folds share the base's orders).
_MEMO: dict[tuple[str, str, str, tuple[str, ...]], list[str]] = {}


def encoder_orders(model: str | Path, kind: str, items: Sequence[EvalItem], memo: bool = False) -> dict[str, list[str]]:
    """Orders from an encoder folder loaded as users load it (``method=kind, model=DIR``);
    ``memo`` keeps them in this process for the next call (for a base model, never a student
    whose folder is rewritten)."""
    from reasonrank import load_reranker

    def key(it: EvalItem) -> tuple[str, str, str, tuple[str, ...]]:
        return str(model), kind, it.query.id or "", tuple(c.id for c in it.candidates)

    todo = [it for it in items if not memo or key(it) not in _MEMO]
    if todo:
        reranker = load_reranker(method=kind, model=str(model), cache=False)
        try:
            fresh = rerank_orders(reranker, todo)
        finally:
            reranker.engine.close()
        if not memo:
            return fresh
        _MEMO.update({key(it): fresh[it.query.id or ""] for it in todo})
    return {it.query.id or "": _MEMO[key(it)] for it in items}


def kendall_tau(a: Sequence[str], b: Sequence[str]) -> float:
    """Kendall's τ of two orders of the same ids (no ties): concordant minus discordant pairs
    over all pairs."""
    pos = {d: i for i, d in enumerate(b)}
    ranks = [pos[d] for d in a]
    n = len(ranks)
    if n < 2:
        return 1.0
    concordant = sum(1 for i in range(n) for j in range(i + 1, n) if ranks[i] < ranks[j])
    pairs = n * (n - 1) // 2
    return (2 * concordant - pairs) / pairs


def teacher_judgments(teacher: TeacherOutput, items: Sequence[EvalItem]) -> dict[str, dict[str, int]]:
    """The teacher's top 10 of each query as graded judgments: 10 for its first … 1 for its tenth."""
    out = {}
    for it in items:
        order, _ = teacher.targets(it)
        out[it.query.id or ""] = {d: 10 - r for r, d in enumerate(order[:10])}
    return out


def score_orders(orders: dict[str, list[str]], items: Sequence[EvalItem],
                 agreement_qrels: dict[str, dict[str, int]]) -> dict[str, Any]:
    """nDCG@10 on the judgments, agreement with the teacher and τ with the first stage."""
    qrels = {it.query.id or "": it.qrels for it in items if it.qrels}
    judged = {q: o for q, o in orders.items() if q in qrels}
    first = {it.query.id or "": [c.id for c in it.candidates] for it in items}
    ndcg = evaluate_run(qrels, ranked_run(judged), ["nDCG@10"]).mean.get("nDCG@10") if judged else None
    agree = evaluate_run(agreement_qrels, ranked_run(orders), ["nDCG@10"]).mean.get("nDCG@10", 0.0)
    taus = [kendall_tau(orders[q], first[q]) for q in orders]
    return {"ndcg10": ndcg, "agreement": agree, "tau_first_stage": sum(taus) / len(taus) if taus else None,
            "queries": len(orders), "judged_queries": len(judged)}


def heldout_report(student_dir: Path, kind: str, base_model: str, teacher: TeacherOutput,
                   items: Sequence[EvalItem], base_orders: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """The four systems on ``items`` (see the module doc); ``base_orders`` reuses a base run."""
    agreement = teacher_judgments(teacher, items)
    systems = {
        "student": encoder_orders(student_dir, kind, items),
        "base": base_orders if base_orders is not None else encoder_orders(base_model, "dense", items),
        "teacher": {it.query.id or "": teacher.targets(it)[0] for it in items},
        "first_stage": {it.query.id or "": [c.id for c in it.candidates] for it in items},
    }
    report: dict[str, Any] = {name: score_orders(orders, items, agreement) for name, orders in systems.items()}
    report["queries"] = [it.query.id for it in items]
    report["base_model"] = "dense " + base_model
    return report


__all__ = ["encoder_orders", "heldout_report", "kendall_tau", "rerank_orders", "score_orders", "teacher_judgments"]
