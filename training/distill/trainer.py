"""The training loop: groups of candidates per query, the loss, AdamW, checkpoints.

Each epoch visits every training query once, ``queries_per_step`` queries a step, in an order
drawn from ``(seed, epoch)``. A query contributes a *group* of ``group_size`` candidates, also
drawn from ``(seed, epoch, query)``: half from the teacher's top ``head`` (what it put first),
half from the rest of the first-stage top ``depth`` (hard negatives: BM25 found them, the
teacher put them lower). A dense student also meets the other queries' groups as in-batch
negatives. AdamW with linear warm-up (10% of the steps) and decay, gradients clipped at 1.0
(RankGPT's ``specialization.py``).

Deterministic with a seed on CPU: the draws above depend only on the seed, and torch's generator
is re-seeded at every step (dropout), so a run resumed from a checkpoint takes the same steps as
one that never stopped. A checkpoint (model, optimizer, schedule, step) is written atomically
every ``checkpoint_every`` steps and at the end of each epoch.
"""
from __future__ import annotations

import json
import math
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasonrank.data import EvalItem
from reasonrank.files import atomic_path
from reasonrank.training.distill.losses import in_batch_negatives, query_loss
from reasonrank.training.distill.student import Student
from reasonrank.training.distill.teachers import TeacherOutput

CHECKPOINT_DIR = "checkpoint"


@dataclass(frozen=True)
class TrainSettings:
    """How the student trains (see the module doc)."""

    epochs: int = 2
    group_size: int = 16
    head: int = 20
    queries_per_step: int = 4
    learning_rate: float = 5e-5  # DL19 cross-validation: 5e-5 beat 2e-4 (docs/distill.md)
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    in_batch_weight: float = 0.2
    rank_discount: bool = True
    head_probe_steps: int = 50  # a cross student's new head: fitted alone first (LP-FT, see .head); 0: off
    head_probe_lr: float = 1e-2
    checkpoint_every: int = 50
    max_steps: int | None = None  # stop (resumably) after this many steps in all


@dataclass
class Group:
    """One query's candidates for a step: their texts and the teacher's targets."""

    query: str
    passages: list[str]
    targets: list[float]
    best: int  # index of the teacher's best in the group


def draw_group(item: EvalItem, teacher: TeacherOutput, size: int, head: int, rng: random.Random) -> Group:
    """Half the group from the teacher's top ``head``, half from the rest (hard negatives)."""
    order, targets = teacher.targets(item)
    index = {c.id: i for i, c in enumerate(item.candidates)}
    top, rest = order[:head], order[head:]
    n_top = min(len(top), max(size // 2, size - len(rest), 1))
    picked = rng.sample(top, n_top) + rng.sample(rest, min(len(rest), size - n_top))
    chosen = [index[d] for d in picked]
    values = [targets[i] for i in chosen]
    best = max(range(len(chosen)), key=lambda k: (values[k], -order.index(picked[k])))
    return Group(item.query.text, [item.candidates[i].content() for i in chosen], values, best)


def epoch_batches(items: Sequence[EvalItem], teacher: TeacherOutput, settings: TrainSettings, seed: int,
                  epoch: int) -> list[list[Group]]:
    """The epoch's steps: queries in a seeded order, each with its seeded group."""
    rng = random.Random(f"{seed}|epoch|{epoch}")
    order = list(items)
    rng.shuffle(order)
    groups = [draw_group(it, teacher, settings.group_size, settings.head, random.Random(f"{seed}|{epoch}|{it.query.id}"))
              for it in order]
    step = settings.queries_per_step
    return [groups[i:i + step] for i in range(0, len(groups), step)]


def steps_per_epoch(n_queries: int, settings: TrainSettings) -> int:
    return math.ceil(n_queries / settings.queries_per_step)


def batch_loss(student: Student, batch: list[Group], loss: str, settings: TrainSettings) -> Any:
    """The mean of the batch's query losses (plus in-batch negatives for a dense student)."""
    import torch

    if student.kind == "dense":
        scores = student.dense_scores([g.query for g in batch], [p for g in batch for p in g.passages])
        total, spans, start = [], [], 0
        for b, g in enumerate(batch):
            own = scores[b, start:start + len(g.passages)]
            total.append(query_loss(loss, own, torch.tensor(g.targets, device=student.device), settings.rank_discount))
            spans.append((start, start + len(g.passages)))
            start += len(g.passages)
        value = torch.stack(total).mean()
        if settings.in_batch_weight and len(batch) > 1:
            best = [s + g.best for (s, _), g in zip(spans, batch, strict=True)]
            value = value + settings.in_batch_weight * in_batch_negatives(scores, best, spans)
        return value
    flat = student.cross_scores([g.query for g in batch for _ in g.passages], [p for g in batch for p in g.passages])
    total, start = [], 0
    for g in batch:
        own = flat[start:start + len(g.passages)]
        total.append(query_loss(loss, own, torch.tensor(g.targets, device=student.device), settings.rank_discount))
        start += len(g.passages)
    return torch.stack(total).mean()


def _schedule(optimizer: Any, total: int, warmup_ratio: float) -> Any:
    import torch

    warmup = max(1, int(total * warmup_ratio))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (total - step) / max(1, total - warmup))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


@dataclass
class TrainReport:
    steps: int
    total_steps: int
    epochs_done: float
    finished: bool
    seconds: float
    cpu_seconds: float  # CPU time of the process (all threads): what the steps cost, whatever the load
    losses: list[float]
    resumed_from: int
    head_probe: dict[str, float] | None = None  # the new head's fit before fine-tuning (cross students)


def train(student: Student, items: Sequence[EvalItem], teacher: TeacherOutput, loss: str, settings: TrainSettings,
          seed: int, out: Path, *, show_progress: bool = False, resume: bool = False,
          on_step: Callable[[int], None] | None = None) -> TrainReport:
    """Train ``student`` on ``items`` (resuming from ``out/checkpoint`` when ``resume``)."""
    import torch
    from tqdm.auto import tqdm

    per_epoch = steps_per_epoch(len(items), settings)
    total = per_epoch * settings.epochs
    optimizer = torch.optim.AdamW(student.parameters(), lr=settings.learning_rate,
                                  weight_decay=settings.weight_decay)
    scheduler = _schedule(optimizer, total, settings.warmup_ratio)
    step, losses = 0, list[float]()
    ckpt = out / CHECKPOINT_DIR
    if resume and (ckpt / "state.pt").is_file():
        step, losses = _load_checkpoint(ckpt, student, optimizer, scheduler)
    resumed_from = step
    start, cpu_start = time.perf_counter(), time.process_time()
    head_probe = None
    if student.new_head and settings.head_probe_steps and step == 0:
        # A resumed run's checkpoint already holds the fitted head.
        from reasonrank.training.distill.head import fit_new_head

        head_probe = fit_new_head(student, items, teacher, loss, group_size=settings.group_size, head=settings.head,
                                  seed=seed, steps=settings.head_probe_steps, lr=settings.head_probe_lr,
                                  rank_discount=settings.rank_discount)
    stop = min(total, settings.max_steps) if settings.max_steps is not None else total
    bar = tqdm(total=total, initial=step, desc=f"distill ({loss})", unit="step", disable=not show_progress,
               dynamic_ncols=True)
    student.train(True)
    try:
        for epoch in range(step // per_epoch, settings.epochs):
            batches = epoch_batches(items, teacher, settings, seed, epoch)
            for i, batch in enumerate(batches):
                if epoch * per_epoch + i < step:
                    continue  # done before the checkpoint
                if step >= stop:
                    break
                torch.manual_seed(hash_seed(seed, step))  # dropout: the same masks after a resume
                value = batch_loss(student, batch, loss, settings)
                optimizer.zero_grad()
                value.backward()
                torch.nn.utils.clip_grad_norm_(student.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                step += 1
                losses.append(round(float(value.detach()), 6))
                bar.update(1)
                bar.set_postfix(loss=f"{sum(losses[-20:]) / len(losses[-20:]):.4f}", epoch=epoch + 1)
                if on_step:
                    on_step(step)
                if step % settings.checkpoint_every == 0 or step % per_epoch == 0 or step == stop:
                    _save_checkpoint(ckpt, student, optimizer, scheduler, step, losses)
            if step >= stop:
                break
    finally:
        bar.close()
        student.train(False)
    return TrainReport(step, total, step / per_epoch, step >= total, time.perf_counter() - start,
                       time.process_time() - cpu_start, losses, resumed_from, head_probe)


def hash_seed(seed: int, step: int) -> int:
    """A per-step torch seed from the run's seed (stable across processes, unlike ``hash``)."""
    return (seed * 1_000_003 + step * 7919) % (2**31 - 1)


def _save_checkpoint(ckpt: Path, student: Student, optimizer: Any, scheduler: Any, step: int,
                     losses: list[float]) -> None:
    """Model, optimizer and schedule at ``step``, written to a temporary folder and renamed
    over the last checkpoint, so a crash leaves the old one or the new one, never half."""
    import torch

    with atomic_path(ckpt, directory=True) as tmp:
        torch.save({"model": student.state_dict(), "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(), "step": step}, tmp / "state.pt")
        (tmp / "losses.json").write_text(json.dumps(losses))


def _load_checkpoint(ckpt: Path, student: Student, optimizer: Any, scheduler: Any) -> tuple[int, list[float]]:
    import torch

    state = torch.load(ckpt / "state.pt", map_location="cpu", weights_only=True)
    student.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    return int(state["step"]), json.loads((ckpt / "losses.json").read_text())


def remove_checkpoint(out: Path) -> None:
    """Drop the checkpoint once the student is saved (it holds the optimizer: twice the model)."""
    shutil.rmtree(out / CHECKPOINT_DIR, ignore_errors=True)


__all__ = ["CHECKPOINT_DIR", "Group", "TrainReport", "TrainSettings", "batch_loss", "draw_group", "epoch_batches",
           "remove_checkpoint", "steps_per_epoch", "train"]
