"""``distill()``: a teacher's rankings into a small encoder, end to end.

1. the queries (:mod:`.data`), split into training and held-out queries by query;
2. the teacher's ranking of every query (:mod:`.teachers`), checked to cover them all;
3. the loss its output calls for (:mod:`.losses`);
4. the training loop (:mod:`.trainer`), checkpointed and resumable;
5. the student saved in sentence-transformers' format at ``OUTPUT`` (``--method dense`` /
   ``--method cross --model OUTPUT`` loads it), the held-out comparison (:mod:`.evaluate`) and
   the model card (:mod:`.card`).

``OUTPUT`` also holds ``distill_config.json`` (the settings a resume must match), ``teacher/``
(a teacher run by the library: its resumable results), ``checkpoint/`` (while unfinished) and
``distill.json`` (the record the card is written from).
"""
from __future__ import annotations

import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from reasonrank.errors import InvalidInputError
from reasonrank.training.distill.card import read_record, write_record
from reasonrank.training.distill.data import load_distill_data, split_queries
from reasonrank.training.distill.evaluate import heldout_report
from reasonrank.training.distill.losses import LOSSES, choose_loss
from reasonrank.training.distill.student import KINDS, Student, check_student
from reasonrank.training.distill.teachers import (
    TEACHER_DIR,
    TeacherLike,
    load_teacher,
    teacher_label,
)
from reasonrank.training.distill.trainer import TrainSettings, remove_checkpoint, train

CONFIG_FILE = "distill_config.json"
# Settings that do not change what is trained, so a resume may change them.
_FREE_KEYS = ("max_steps", "checkpoint_every", "show_progress", "batch_size", "device")


@dataclass(frozen=True)
class DistillSettings(TrainSettings):
    """Everything :func:`distill` takes besides the dataset, the teacher and the output."""

    student: str | None = None  # default: the bundled all-MiniLM-L6-v2
    kind: str = "dense"
    loss: str = "auto"
    depth: int = 100
    limit_queries: int | None = None
    eval_split: float = 0.0
    heldout: tuple[str, ...] | None = None  # these query ids held out (instead of an eval_split draw)
    seed: int = 42
    max_length: int | None = 256
    run: str | None = None  # the first-stage run of a dataset folder
    batch_size: int | None = None  # queries per teacher call (default: the engine's batch)
    device: str = "cpu"  # where the student trains ("cuda" on a GPU; deterministic on the CPU)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise InvalidInputError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if self.loss not in LOSSES:
            raise InvalidInputError(f"loss must be one of {LOSSES}, got {self.loss!r}")
        for name in ("epochs", "group_size", "head", "queries_per_step", "depth", "checkpoint_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        if self.group_size < 2:
            raise InvalidInputError("group_size must be at least 2: a ranking needs two candidates")
        for name in ("limit_queries", "max_steps"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise InvalidInputError(f"{name} must be a positive integer, got {value!r}")
        if not 0.0 <= self.eval_split < 1.0:
            raise InvalidInputError(f"eval_split must be in [0, 1), got {self.eval_split}")
        if self.learning_rate <= 0:
            raise InvalidInputError(f"learning_rate must be positive, got {self.learning_rate}")

    def train_settings(self) -> TrainSettings:
        names = TrainSettings.__dataclass_fields__
        return TrainSettings(**{k: v for k, v in asdict(self).items() if k in names})


def check_output(out: Path, config: dict[str, Any], resume: bool) -> None:
    """Refuse an output folder that holds something else, or another run unless ``resume``
    (and then only a run with the same settings)."""
    if not out.exists():
        return
    if not out.is_dir():
        raise InvalidInputError(f"output {out} is a file; give a folder for the student")
    entries = [p.name for p in out.iterdir()]
    if not entries:
        return
    if not (out / CONFIG_FILE).is_file():
        raise InvalidInputError(f"output folder {out} is not empty and holds no distillation run "
                                f"({', '.join(sorted(entries)[:5])}); choose a new or empty folder")
    old = json.loads((out / CONFIG_FILE).read_text())
    if not resume:
        raise InvalidInputError(f"output folder {out} holds another distillation run (teacher {old.get('teacher')}, "
                                "dataset {}); pass --resume to continue it, or choose another folder".format(
                                    old.get("dataset")))
    diff = {k: (old.get(k), config.get(k)) for k in config.keys() | old.keys()
            if k not in _FREE_KEYS and old.get(k) != config.get(k)}
    if diff:
        raise InvalidInputError(f"--resume: {out} holds a run with other settings {diff} (old, new); "
                                "resume with the same settings or choose another folder")


def _config(dataset: str | Path, teacher: TeacherLike, settings: DistillSettings) -> dict[str, Any]:
    data = {k: v for k, v in asdict(settings).items() if k not in _FREE_KEYS}
    return json.loads(json.dumps({"dataset": str(dataset), "teacher": teacher_label(teacher), **data}, default=str))


def distill(dataset: str | Path, teacher: TeacherLike, output: str | Path,
            settings: DistillSettings | None = None, *, resume: bool = False, show_progress: bool | None = None,
            ray_options: Any = None) -> dict[str, Any]:
    """Distil ``teacher``'s rankings of ``dataset`` into a student saved at ``output``.

    ``dataset``: a dataset folder, BEIR folder, benchmark name, ir_datasets id or a JSONL of
    ``{query_id, query, candidates}`` rows. ``teacher``: ``"qrels"``, a preset name, a
    :class:`~reasonrank.spec.RerankerSpec` (JSON in a string too), a reranker, or a recorded
    teacher output (an eval or rerank-dataset folder, a TREC run, a synthesis folder).
    ``ray_options`` (a :class:`~reasonrank.distributed.runner.RayOptions`) runs a spec teacher
    on Ray. Returns the run's record (what ``distill.json`` holds).
    """
    settings = settings or DistillSettings()
    progress = sys.stderr.isatty() if show_progress is None else show_progress
    out = Path(output)
    config = _config(dataset, teacher, settings)
    check_output(out, config, resume)
    record = read_record(out)
    if resume and record and record["training"]["finished"]:
        return record  # nothing left to do
    source_kind = check_student(settings.student, settings.kind)[1]  # fails before the teacher runs
    data = load_distill_data(dataset, depth=settings.depth, limit_queries=settings.limit_queries,
                             run=settings.run, show_progress=progress)
    out.mkdir(parents=True, exist_ok=True)
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    teacher_out = load_teacher(teacher, data.items, out / TEACHER_DIR, dataset=dataset, depth=settings.depth,
                               ray_options=ray_options, batch_size=settings.batch_size, show_progress=progress)
    covered = [q for q in data.qids if q not in teacher_out.skipped]
    teacher_out.check_covers(covered, data.subset(covered))
    if settings.heldout is not None:
        unknown = sorted(set(settings.heldout) - set(covered))
        if unknown:
            raise InvalidInputError(f"held-out queries {unknown[:10]} are not among the dataset's queries with a teacher ranking")
        train_ids = [q for q in covered if q not in set(settings.heldout)]
        held_ids = [q for q in covered if q in set(settings.heldout)]
    else:
        train_ids, held_ids = split_queries(covered, settings.eval_split, settings.seed)
    loss = choose_loss(settings.loss, teacher_out.gives, teacher_out.method, settings.kind)
    student = Student(settings.student, settings.kind, seed=settings.seed, max_length=settings.max_length,
                      device=settings.device)
    report = train(student, data.subset(train_ids), teacher_out, loss, settings.train_settings(), settings.seed, out,
                   show_progress=progress, resume=resume)
    student.save(out)
    base = settings.student or "embedded-minilm"
    record = {
        "name": f"{out.name}: {settings.kind} student of {teacher_out.name}",
        "output": str(out),
        "settings": asdict(settings),
        "teacher": teacher_out.describe(),
        "data": {"name": data.name, "dataset": str(dataset), "queries": len(data.items), "train_queries": len(train_ids),
                 "heldout_queries": len(held_ids), "skipped": len(data.skipped) + len(teacher_out.skipped),
                 "skipped_queries": {**data.skipped, **teacher_out.skipped}},
        "loss": loss,
        "training": {"steps": report.steps, "total_steps": report.total_steps, "epochs_done": report.epochs_done,
                     "finished": report.finished, "seconds": report.seconds, "cpu_seconds": report.cpu_seconds,
                     "resumed_from": report.resumed_from, "head_probe": report.head_probe,
                     "first_loss": report.losses[0] if report.losses else None,
                     "last_loss": report.losses[-1] if report.losses else None},
        "heldout": None,
    }
    if held_ids and report.finished:
        base_kind = "cross" if source_kind == "cross" else "dense"
        from reasonrank.training.distill.evaluate import encoder_orders

        items = data.subset(held_ids)
        base_orders = encoder_orders(base, base_kind, items, memo=True)
        record["heldout"] = heldout_report(out, settings.kind, base, teacher_out, items, base_orders)
        record["heldout"]["base_model"] = f"{base_kind} {base}"
    write_record(out, record)
    if report.finished:
        remove_checkpoint(out)
    return record


__all__ = ["CONFIG_FILE", "DistillSettings", "check_output", "distill"]
