"""Distillation on TREC DL19: three-fold cross-validation by query, four teachers, two student kinds.

Every DL19 query (43, BM25 top 100 each) is held out once: the queries are shuffled with a fixed
seed into three folds; a student trains on two folds and is compared on the third with its base
model (the bundled all-MiniLM-L6-v2 as a dense reranker), its teacher and BM25. Teachers:

* ``qrels``: the judgments (oracle);
* ``oracle-0.5`` / ``oracle-1``: the scripted listwise oracle of ``reasonrank.testing.oracle``
  (judgment grade + N(0, sigma) per window, run through the real listwise reranker's sliding
  windows over the top 100): a noisy teacher that gives an order;
* ``bm25``: BM25's own order (a bad teacher: does the student follow it? Kendall τ of the
  student's order with BM25's, against the base's).

Dense students learn from each teacher; one cross student (a relevance head on MiniLM) from the
judgments. Reported: held-out nDCG@10 of base, student, teacher and BM25 per fold and over all
43 queries (each query counted once), agreement with the teacher, τ with BM25, training time.
The mechanics of a real LLM teacher run end to end on a few queries (``--llm-teacher``).

Results go to ``benchmarks/training/results/distill_dl19.json`` after every student, and a
rerun skips the students already there (same settings), so an interrupted run resumes.

    nice -n 10 python benchmarks/training/distill_dl19.py /path/to/trec-dl19
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import tempfile
import time
from pathlib import Path
from typing import Any

from reasonrank.data import write_trec_run
from reasonrank.files import write_atomic
from reasonrank.metrics import ranked_run
from reasonrank.training.distill import DistillSettings, distill
from reasonrank.training.distill.data import load_distill_data

HERE = Path(__file__).resolve().parent
RESULT = HERE / "results" / "distill_dl19.json"
TEACHERS = ("qrels", "bm25", "oracle-0.5", "oracle-1")
GPU_COMMAND = ("reasonrank train distill dl19 --teacher reasonrank-7b --output students/dl19-reasonrank7b "
               "--eval-split 0.33 --device cuda")


def folds_of(qids: list[str], k: int, seed: int = 0) -> list[list[str]]:
    """``qids`` shuffled with ``seed`` and dealt into ``k`` folds."""
    order = list(qids)
    random.Random(seed).shuffle(order)
    return [sorted(order[i::k], key=qids.index) for i in range(k)]


def oracle_run(items: list[Any], sigma: float, seed: int = 0) -> dict[str, list[tuple[str, float]]]:
    """The scripted listwise oracle's order of each query (sliding windows of 20, stride 10)."""
    from reasonrank.engines.scripted import ScriptedEngine
    from reasonrank.methods.listwise import ListwiseReranker
    from reasonrank.testing.oracle import oracle_answer, oracle_candidates

    orders = {}
    for it in items:
        engine = ScriptedEngine(oracle_answer(it.qrels, sigma, seed))
        ids = [c.id for c in it.candidates]
        result = ListwiseReranker(engine, max_passage_tokens=8, depth=len(ids)).rerank(it.query.text,
                                                                                       oracle_candidates(ids))
        orders[it.query.id] = [r.candidate.id for r in result.ranked]
    return ranked_run(orders)


def teacher_files(items: list[Any], work: Path) -> dict[str, str]:
    """The teacher argument of each teacher: 'qrels' or a TREC run written here (an order)."""
    work.mkdir(parents=True, exist_ok=True)
    out = {"qrels": "qrels"}
    for sigma in (0.5, 1.0):
        name = f"oracle-{sigma:g}"
        path = work / f"{name}.trec"
        write_trec_run(path, oracle_run(items, sigma), tag=name)
        out[name] = str(path)
    bm25 = work / "bm25-order.trec"
    write_trec_run(bm25, ranked_run({it.query.id: [c.id for c in it.candidates] for it in items}), tag="bm25")
    out["bm25"] = str(bm25)
    return out


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text()) if path.is_file() else {}


def _save(path: Path, doc: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(doc, indent=2) + "\n")


def _weighted(rows: list[dict[str, Any]], system: str, key: str) -> float | None:
    """Mean over all held-out queries of the folds (fold means weighted by their query counts)."""
    pairs = [(r["heldout"][system][key], r["heldout"][system]["queries"]) for r in rows
             if r["heldout"][system][key] is not None]
    n = sum(c for _, c in pairs)
    return round(sum(v * c for v, c in pairs) / n, 4) if n else None


def summarise(runs: dict[str, Any]) -> dict[str, Any]:
    """Per student (teacher x kind): the four systems over all held-out queries."""
    out: dict[str, Any] = {}
    for name in sorted({k.split("/", 1)[1] for k in runs}):
        rows = [r for k, r in runs.items() if k.split("/", 1)[1] == name]
        row: dict[str, Any] = {"folds": len(rows), "train_seconds": [round(r["training"]["seconds"]) for r in rows]}
        for system in ("base", "student", "teacher", "first_stage"):
            row[system] = {k: _weighted(rows, system, k) for k in ("ndcg10", "agreement", "tau_first_stage")}
        row["student_minus_base_ndcg10"] = (round(row["student"]["ndcg10"] - row["base"]["ndcg10"], 4)
                                            if row["student"]["ndcg10"] is not None else None)
        row["student_minus_base_tau"] = round(row["student"]["tau_first_stage"] - row["base"]["tau_first_stage"], 4)
        out[name] = row
    return out


def markdown_table(doc: dict[str, Any]) -> str:
    """The fold table of a results document, as the docs show it."""
    lines = [("| student (teacher, kind) | folds | base | student | Δ | teacher | BM25 | agreement student / base "
             "| τ(BM25) student / base | train s per fold |"), "|---|---|---|---|---|---|---|---|---|---|"]
    for name, row in doc.get("summary", {}).items():
        b, s, t, f = row["base"], row["student"], row["teacher"], row["first_stage"]
        lines.append(f"| {name} | {row['folds']} | {b['ndcg10']:.4f} | {s['ndcg10']:.4f} | "
                     f"{row['student_minus_base_ndcg10']:+.4f} | {t['ndcg10']:.4f} | {f['ndcg10']:.4f} | "
                     f"{s['agreement']:.4f} / {b['agreement']:.4f} | {s['tau_first_stage']:.3f} / "
                     f"{b['tau_first_stage']:.3f} | {', '.join(map(str, row['train_seconds']))} |")
    return "\n".join(lines)


def cross_validation(args: argparse.Namespace, doc: dict[str, Any], result: Path) -> None:
    data = load_distill_data(args.data, depth=args.depth)
    items = data.items[:args.limit_queries] if args.limit_queries else data.items
    qids = [it.query.id for it in items]
    folds = folds_of(qids, args.folds)
    doc["folds"] = folds
    work = Path(args.work)
    teachers = teacher_files(items, work / "teachers")
    plan = [(t, "dense") for t in args.teachers] + [("qrels", "cross")] * (not args.no_cross)
    runs = doc.setdefault("runs", {})
    # Teacher by teacher (all folds of one before the next): a run cut short still has whole rows.
    for teacher, kind in plan:
        for f, held in enumerate(folds[:args.max_folds]):
            key = f"fold{f}/{teacher}-{kind}"
            if key in runs:
                continue
            settings = DistillSettings(student=args.student, kind=kind, epochs=args.epochs, depth=args.depth, heldout=tuple(held),
                                       seed=args.seed, group_size=args.group_size, learning_rate=args.learning_rate,
                                       queries_per_step=args.queries_per_step, limit_queries=args.limit_queries,
                                       head_probe_steps=args.head_probe_steps, loss=args.loss, head=args.head,
                                       in_batch_weight=args.in_batch_weight)
            out = work / "students" / key.replace("/", "-")
            start = time.perf_counter()
            record = distill(args.data, teachers[teacher], out, settings, resume=True, show_progress=args.progress)
            record["wall_seconds"] = round(time.perf_counter() - start, 1)
            runs[key] = {k: record[k] for k in ("loss", "training", "heldout", "wall_seconds")}
            doc["summary"] = summarise(runs)
            _save(result, doc)
            h = record["heldout"]
            print(f"{key:28} nDCG@10 student {h['student']['ndcg10']:.4f} base {h['base']['ndcg10']:.4f} "
                  f"teacher {h['teacher']['ndcg10']:.4f} bm25 {h['first_stage']['ndcg10']:.4f} | "
                  f"tau(bm25) student {h['student']['tau_first_stage']:.3f} base {h['base']['tau_first_stage']:.3f} "
                  f"| {record['training']['seconds']:.0f}s", flush=True)


def llm_teacher(args: argparse.Namespace, doc: dict[str, Any], result: Path) -> None:
    """An embedded reasoning preset as the teacher on a few queries: the mechanics, no quality claim."""
    out = Path(args.work) / "students" / f"llm-{args.llm_teacher}"
    settings = DistillSettings(epochs=1, depth=20, limit_queries=args.llm_queries, eval_split=0.34,
                               group_size=8, queries_per_step=2, seed=args.seed)
    start = time.perf_counter()
    record = distill(args.data, args.llm_teacher, out, settings, resume=True, show_progress=args.progress)
    doc["llm_teacher"] = {"preset": args.llm_teacher, "queries": args.llm_queries, "depth": 20,
                          "wall_seconds": round(time.perf_counter() - start, 1),
                          "teacher": record["teacher"], "loss": record["loss"], "training": record["training"],
                          "heldout": record["heldout"]}
    _save(result, doc)
    print(f"LLM teacher {args.llm_teacher}: {record['teacher']} loss {record['loss']} "
          f"in {doc['llm_teacher']['wall_seconds']} s", flush=True)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("data", nargs="?", default=os.environ.get("REASONRANK_DL19"),
                   help="the DL19 dataset folder (default: $REASONRANK_DL19)")
    p.add_argument("--output", default=str(RESULT), help="results JSON (default: %(default)s)")
    p.add_argument("--work", default=str(Path(tempfile.gettempdir()) / "distill-dl19"),
                   help="where teachers' runs and students go (default: %(default)s)")
    p.add_argument("--teachers", nargs="*", default=list(TEACHERS), choices=TEACHERS,
                   help="dense students of these teachers (none: only the cross student)")
    p.add_argument("--no-cross", action="store_true", help="skip the cross student")
    p.add_argument("--folds", type=int, default=3)
    p.add_argument("--max-folds", type=int, default=None, help="run only the first N folds")
    p.add_argument("--depth", type=int, default=100)
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--group-size", type=int, default=16)
    p.add_argument("--queries-per-step", type=int, default=4)
    p.add_argument("--learning-rate", type=float, default=5e-5)
    p.add_argument("--head-probe-steps", type=int, default=50, help="a cross student's new head: fitted alone first")
    p.add_argument("--loss", default="auto", choices=("auto", "ranknet", "kl"))
    p.add_argument("--head", type=int, default=20, help="half of each group from the teacher's top HEAD")
    p.add_argument("--in-batch-weight", type=float, default=0.2)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--student", default=None, help="the student to start from (default: the bundled MiniLM)")
    p.add_argument("--limit-queries", type=int, default=None, help="a smoke run on the first N queries")
    p.add_argument("--llm-teacher", default=None, metavar="PRESET", help="also run this preset as a teacher")
    p.add_argument("--llm-queries", type=int, default=3)
    p.add_argument("--skip-cv", action="store_true", help="only the LLM teacher")
    p.add_argument("--progress", action="store_true")
    p.add_argument("--table", action="store_true", help="print the results file's table (Markdown) and exit")
    p.add_argument("--merge", nargs="+", default=None, metavar="FILE",
                   help="add the students of these results files (same settings; e.g. parts run side by side) "
                   "to --output and exit")
    args = p.parse_args(argv)
    if args.merge:
        merged = _load(Path(args.output))
        for other in map(_load, map(Path, args.merge)):
            if other.get("settings") != merged.get("settings"):
                p.error("--merge: the results files were made with other settings")
            merged.setdefault("runs", {}).update(other.get("runs", {}))
        merged["summary"] = summarise(merged["runs"])
        _save(Path(args.output), merged)
        return 0
    if args.table:
        print(markdown_table(_load(Path(args.output))))
        return 0
    if not args.data:
        p.error("give the DL19 folder or set REASONRANK_DL19")
    result = Path(args.output)
    doc = _load(result)
    settings = {k: getattr(args, k) for k in ("depth", "epochs", "group_size", "queries_per_step", "learning_rate",
                                              "seed", "folds", "limit_queries", "head_probe_steps", "loss", "head",
                                              "in_batch_weight")}
    if doc.get("settings") != settings:
        doc = {"settings": settings}  # other settings: start over
    doc["machine"] = {"cpus": os.cpu_count(), "platform": platform.platform(), "load_at_start": os.getloadavg()}
    doc["gpu_command"] = GPU_COMMAND
    start = time.perf_counter()
    if not args.skip_cv:
        cross_validation(args, doc, result)
    if args.llm_teacher:
        llm_teacher(args, doc, result)
    doc["wall_seconds_this_run"] = round(time.perf_counter() - start, 1)
    doc["machine"]["load_at_end"] = os.getloadavg()
    _save(result, doc)
    print(json.dumps(doc.get("summary", {}), indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
