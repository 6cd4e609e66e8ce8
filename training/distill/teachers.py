"""Teachers: what a student learns from, as one ranking (and maybe scores) per query.

A teacher is

* ``"qrels"``: the dataset's judgments as an oracle (graded: a grade per candidate, unjudged
  candidates 0; queries without judgments are left out and counted);
* a recorded teacher output: a ``reasonrank eval`` results folder (``results.jsonl``), a
  ``reasonrank rerank-dataset`` output folder (``shards/``), the output folder of ``reasonrank
  train synthesize`` (``listwise.jsonl``: the teacher's ranking of each query's window), or a
  TREC run file;
* a reranker to run: a preset name, a :class:`~reasonrank.spec.RerankerSpec` (or its JSON), a
  built :class:`~reasonrank.methods.base.Reranker`, or (on Ray) a picklable factory that builds
  one. It reranks every query of the dataset into ``OUTPUT/teacher/results.jsonl`` with the eval
  machinery's resumable results file (a finished query is never reranked again, so an
  interrupted teacher run, or a rerun of the distillation, picks up where it stopped), or on Ray
  (``reasonrank rerank-dataset``'s runner) when asked.

What the teacher gives decides the loss (:mod:`.losses`): ``"grades"`` (judgments), ``"order"``
(a permutation only: listwise and setwise methods, whose scores are derived from rank, or a run
written with rank scores) or ``"scores"`` (pointwise probabilities, cross-encoder logits, BM25).
Candidates the teacher did not place (it reranked fewer than ``depth``) follow its ranking in
first-stage order, as ``reasonrank eval`` completes a run.
"""
from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reasonrank.data import EvalItem, read_trec_run
from reasonrank.errors import InvalidInputError

TEACHER_DIR = "teacher"
GIVES = ("order", "scores", "grades")


@dataclass
class TeacherOutput:
    """One ranking per query (best first) and, unless ``gives == "order"``, a score per document."""

    name: str
    gives: str
    rankings: dict[str, list[str]]
    scores: dict[str, dict[str, float]] = field(default_factory=dict)
    method: str | None = None
    skipped: dict[str, str] = field(default_factory=dict)  # query id -> why the teacher has none

    def targets(self, item: EvalItem) -> tuple[list[str], list[float]]:
        """The teacher's full order of ``item``'s candidates and each candidate's target (in
        candidate order): the score or grade it gave, or ``1/(rank+1)`` for an order (RankGPT's
        targets, ``specialization.py``)."""
        ids = [c.id for c in item.candidates]
        known = set(ids)
        head = [d for d in self.rankings[item.query.id or ""] if d in known]
        placed = set(head)
        order = head + [d for d in ids if d not in placed]
        if self.gives == "order":
            rank = {d: r for r, d in enumerate(order)}
            return order, [1.0 / (rank[d] + 1) for d in ids]
        given = self.scores.get(item.query.id or "", {})
        floor = min((given[d] for d in head if d in given), default=0.0)
        # Candidates the teacher did not score go below every scored one, in first-stage order.
        tail = {d: floor - 1.0 - i * 1e-3 for i, d in enumerate(d for d in order if d not in given)}
        return order, [given.get(d, tail.get(d, floor - 1.0)) for d in ids]

    def check_covers(self, qids: Sequence[str], items: Sequence[EvalItem] = ()) -> None:
        """Raise naming the queries the teacher has no ranking for (or one that shares no
        document with the query's candidates)."""
        missing = [q for q in qids if q not in self.rankings]
        if missing:
            raise InvalidInputError(
                f"teacher {self.name} has no ranking for {len(missing)} of the {len(qids)} queries: "
                f"{', '.join(missing[:10])}{' …' if len(missing) > 10 else ''} (the teacher output covers other "
                "queries than the dataset: label these queries, or pass the dataset the teacher ran on)")
        for item in items:
            ranked = set(self.rankings.get(item.query.id or "", []))
            if ranked and not ranked & {c.id for c in item.candidates}:
                raise InvalidInputError(f"teacher {self.name}: query {item.query.id} ranks none of its "
                                        f"first-stage candidates (another first stage or dataset?)")

    def describe(self) -> dict[str, Any]:
        return {"teacher": self.name, "gives": self.gives, "method": self.method, "queries": len(self.rankings),
                "skipped": len(self.skipped)}


def gives_of(scores_in_rank_order: Sequence[float]) -> str:
    """``"order"`` when scores only restate ranks (``1/(rank+1)``, the score of methods without
    scores of their own, or ``n, n-1, …``, a run written from an order), else ``"scores"``."""
    n = len(scores_in_rank_order)
    if n == 0:
        return "order"
    reciprocal = all(math.isclose(s, 1.0 / (r + 1), rel_tol=1e-6) for r, s in enumerate(scores_in_rank_order))
    linear = all(math.isclose(s, float(n - r), rel_tol=1e-9) for r, s in enumerate(scores_in_rank_order))
    return "order" if reciprocal or linear else "scores"


def _from_lists(name: str, lists: dict[str, list[tuple[str, float]]], method: str | None = None) -> TeacherOutput:
    """A teacher from ranked ``(docid, score)`` lists, ``gives`` read from the scores."""
    kinds = {gives_of([s for _, s in docs]) for docs in lists.values() if len(docs) > 1}
    gives = "scores" if "scores" in kinds else "order"
    return TeacherOutput(name, gives, {q: [d for d, _ in docs] for q, docs in lists.items()},
                         {q: dict(docs) for q, docs in lists.items()} if gives == "scores" else {}, method)


def qrels_teacher(items: Sequence[EvalItem]) -> TeacherOutput:
    """The judgments as an oracle: candidates by grade (ties in first-stage order)."""
    rankings, scores, skipped = {}, {}, {}
    for item in items:
        qid = item.query.id or ""
        if not item.qrels:
            skipped[qid] = "no judgments"
            continue
        grade = {c.id: float(item.qrels.get(c.id, 0)) for c in item.candidates}
        rankings[qid] = sorted(grade, key=lambda d: -grade[d])  # stable: ties keep first-stage order
        scores[qid] = grade
    if not rankings:
        raise InvalidInputError("teacher 'qrels' needs judgments, and no query of the dataset has any")
    return TeacherOutput("qrels", "grades", rankings, scores, "qrels", skipped)


def _results_lists(records: Sequence[dict[str, Any]]) -> tuple[dict[str, list[tuple[str, float]]], str | None]:
    lists = {str(r["query_id"]): [(str(x["id"]), float(x.get("score") or 0.0)) for x in r["results"]]
             for r in records}
    methods = {r.get("method") for r in records if r.get("method")}
    return lists, (methods.pop() if len(methods) == 1 else None)


def recorded_teacher(path: str | Path) -> TeacherOutput:
    """A teacher output on disk (see the module doc), by what the path holds."""
    from reasonrank.distributed.output import SHARDS_DIR, iter_records
    from reasonrank.evaluate import RESULTS_FILE, load_results

    p = Path(path)
    if p.is_file():
        return _from_lists(f"run {p.name}", read_trec_run(p))
    if not p.is_dir():
        raise FileNotFoundError(f"teacher output not found: {p}")
    if (p / RESULTS_FILE).is_file():
        lists, method = _results_lists(list(load_results(p / RESULTS_FILE).values()))
        return _from_lists(f"eval results {p}", lists, method)
    if (p / SHARDS_DIR).is_dir():
        lists, method = _results_lists(list(iter_records(p)))
        return _from_lists(f"rerank-dataset output {p}", lists, method)
    if (p / "listwise.jsonl").is_file():
        return _synthesis_teacher(p / "listwise.jsonl")
    raise InvalidInputError(f"{p} holds no teacher output: expected results.jsonl (reasonrank eval), shards/ "
                            "(reasonrank rerank-dataset), listwise.jsonl (reasonrank train synthesize) or a TREC run")


def _synthesis_teacher(path: Path) -> TeacherOutput:
    """The kept listwise labels of ``train synthesize``: the teacher's order of each window."""
    from reasonrank.data import json_lines

    rankings: dict[str, list[str]] = {}
    for n, row in json_lines(path):
        if not isinstance(row.get("final_list"), list) or row.get("qid") is None:
            raise InvalidInputError(f"{path}:{n}: not a synthesized listwise example (no qid/final_list)")
        rankings.setdefault(str(row["qid"]), [str(d) for d in row["final_list"]])
    if not rankings:
        raise InvalidInputError(f"{path}: no listwise examples (did the self-consistency filter drop them all?)")
    return TeacherOutput(f"synthesis output {path.parent}", "order", rankings, {}, "listwise")


def run_teacher(reranker: Any, items: Sequence[EvalItem], out: Path, *, batch_size: int = 8,
                show_progress: bool = False, name: str | None = None) -> TeacherOutput:
    """Rerank ``items`` with ``reranker`` into ``out/results.jsonl`` (resumable: finished
    queries are read back, not reranked) and read the teacher output from it."""
    from reasonrank.evaluate import RESULTS_FILE, append_result, check_config, load_results
    from reasonrank.evaluate.batching import chunks, progress

    out.mkdir(parents=True, exist_ok=True)
    done = load_results(out / RESULTS_FILE)
    config = {"dataset": "distill", "first_stage_run": None, "top_k": max(len(it.candidates) for it in items),
              "method": reranker.method, "model": reranker.engine.model_name, "engine": reranker.engine.name}
    check_config(out, config, resuming=bool(done))
    by_id = {it.query.id or "": it for it in items}
    todo = [q for q in by_id if q not in done]
    with (out / RESULTS_FILE).open("a", encoding="utf-8") as fh, progress(
            len(items), len(items) - len(todo), show_progress, "teacher") as bar:
        for chunk in chunks(todo, batch_size):
            results = reranker.rerank_batch([(by_id[q].query, by_id[q].candidates) for q in chunk])
            for qid, res in zip(chunk, results, strict=True):
                record = {**res.to_dict(), "query_id": qid}
                append_result(fh, record)
                done[qid] = record
            bar.update(len(chunk))
    lists, method = _results_lists([done[it.query.id or ""] for it in items])
    return _from_lists(name or f"{reranker.method} ({reranker.engine.model_name})", lists, method)


def ray_teacher(spec: Any, dataset: str | Path, depth: int, out: Path, ray_options: Any,
                show_progress: bool = False) -> TeacherOutput:
    """The teacher run on Ray (``reasonrank rerank-dataset``'s runner), resumable the same way."""
    from reasonrank.distributed.runner import rerank_dataset

    rerank_dataset(dataset, out, spec, ray_options=ray_options, candidates_per_query=depth,
                   show_progress=show_progress)
    return recorded_teacher(out)


TeacherLike = str | Path | Any


def load_teacher(teacher: TeacherLike, items: Sequence[EvalItem], out: Path, *,
                 dataset: str | Path | None = None, depth: int = 100, ray_options: Any = None,
                 batch_size: int | None = None, show_progress: bool = False) -> TeacherOutput:
    """The teacher output ``teacher`` names (see the module doc) for ``items``; a reranker to
    run writes to ``out`` (``OUTPUT/teacher``)."""
    from reasonrank.cli.eval import default_batch_size
    from reasonrank.spec import RerankerSpec

    if isinstance(teacher, str) and teacher == "qrels":
        return qrels_teacher(items)
    if isinstance(teacher, (str, Path)):
        text = str(teacher)
        if text.lstrip().startswith("{"):
            try:
                teacher = RerankerSpec.from_options(**json.loads(text))
            except json.JSONDecodeError as exc:
                raise InvalidInputError(f"--teacher is not valid JSON: {exc}") from None
        elif Path(text).expanduser().exists():
            return recorded_teacher(Path(text).expanduser())
        elif "/" in text or text.endswith((".trec", ".jsonl", ".txt")):
            raise FileNotFoundError(f"teacher output not found: {text}")
        else:
            teacher = RerankerSpec.from_options(preset=text)
    if isinstance(teacher, RerankerSpec):
        if ray_options is not None:
            if dataset is None:
                raise InvalidInputError("a Ray teacher run needs the dataset as a folder, name or file")
            return ray_teacher(teacher, dataset, depth, out, ray_options, show_progress)
        reranker = teacher.build()
        try:
            name = teacher.preset or f"{reranker.method} ({reranker.engine.model_name})"
            return run_teacher(reranker, items, out, batch_size=batch_size or default_batch_size(reranker),
                               show_progress=show_progress, name=name)
        finally:
            reranker.engine.close()
    if ray_options is not None and callable(teacher) and not hasattr(teacher, "rerank_batch"):
        # A picklable reranker factory (what rerank-dataset's replicas call to build theirs).
        if dataset is None:
            raise InvalidInputError("a Ray teacher run needs the dataset as a folder, name or file")
        return ray_teacher(teacher, dataset, depth, out, ray_options, show_progress)
    if hasattr(teacher, "rerank_batch"):
        return run_teacher(teacher, items, out, batch_size=batch_size or default_batch_size(teacher), show_progress=show_progress)
    raise InvalidInputError(f"teacher must be 'qrels', a preset name, a spec, a reranker or a teacher output path; "
                            f"got {type(teacher).__name__}")


def teacher_label(teacher: TeacherLike) -> str:
    """A short, JSON-ready description of a teacher argument (for the run's config)."""
    if isinstance(teacher, (str, Path)):
        return str(teacher)
    to_dict = getattr(teacher, "to_dict", None)
    if callable(to_dict):
        return json.dumps(to_dict(), sort_keys=True, default=str)
    return f"{getattr(teacher, 'method', type(teacher).__name__)} ({getattr(getattr(teacher, 'engine', None), 'model_name', '?')})"


__all__ = ["GIVES", "TEACHER_DIR", "TeacherOutput", "gives_of", "load_teacher", "qrels_teacher", "recorded_teacher",
           "run_teacher", "teacher_label"]
