"""A cross student's new relevance head, fitted on the frozen encoder before fine-tuning.

Why: a cross student built from an encoder (the default MiniLM, a BERT) gets a new head, one
linear layer over the pooler's output with N(0, 0.02) weights. That pooler reads [CLS], which a
mean-pooling bi-encoder never trained, so its output moves little from passage to passage, and
with such small weights the logits are nearly equal: RankNet sits at ln 2, the head's gradient
is the pooled features' small differences and the encoder's gradient is scaled by the head's tiny
weights. At an encoder's learning rate (5e-5) the few dozen steps of a small training set move
neither — the loss stayed at 0.69 through training on DL19.

The fix is LP-FT (Kumar et al., ICLR 2022, "Fine-Tuning can Distort Pretrained Features and
Underperform Out-of-Distribution"): first fit the head alone (a linear probe) on the frozen
encoder's features, then fine-tune everything from a head that already ranks. The probe is
cheap: one forward pass (no gradients) over each training query's group gives the head's inputs,
then full-batch Adam on the head only, with the training loss, for a few hundred iterations —
deterministic on a CPU.
"""
from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

from reasonrank.data import EvalItem
from reasonrank.training.distill.losses import query_loss
from reasonrank.training.distill.student import Student
from reasonrank.training.distill.teachers import TeacherOutput
from reasonrank.training.distill.trainer import draw_group

#: Adam's rate for the probe: the head alone, on fixed features, takes a large step safely.
PROBE_LR = 1e-2


def head_inputs(student: Student, queries: list[str], passages: list[str], chunk: int = 64) -> Any:
    """What the head module receives for each (query, passage) pair, the encoder frozen and in
    eval mode (no dropout): captured with a forward pre-hook, so any head shape works."""
    import torch

    head = student.head_module()
    captured: list[Any] = []
    handle = head.register_forward_pre_hook(lambda _m, args: captured.append(args[0].detach()))
    try:
        with torch.no_grad():
            for i in range(0, len(queries), chunk):
                student.cross_scores(queries[i:i + chunk], passages[i:i + chunk])
    finally:
        handle.remove()
    return torch.cat(captured)


def fit_new_head(student: Student, items: Sequence[EvalItem], teacher: TeacherOutput, loss: str, *,
                 group_size: int, head: int, seed: int, steps: int, lr: float = PROBE_LR,
                 rank_discount: bool = True) -> dict[str, float]:
    """Fit ``student``'s new head on one seeded group per training query (see the module doc);
    returns the loss before and after."""
    import torch

    module = student.head_module()
    groups = [draw_group(it, teacher, group_size, head, random.Random(f"{seed}|probe|{it.query.id}")) for it in items]
    student.train(False)
    inputs = [head_inputs(student, [g.query] * len(g.passages), g.passages) for g in groups]
    targets = [torch.tensor(g.targets, device=student.device) for g in groups]

    def total() -> Any:
        values = [query_loss(loss, module(x).view(-1), t, rank_discount) for x, t in zip(inputs, targets, strict=True)]
        return torch.stack(values).mean()

    with torch.no_grad():
        before = float(total())
    params = [p for p in module.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=lr)
    for _ in range(steps):
        value = total()
        optimizer.zero_grad()
        value.backward()
        optimizer.step()
    with torch.no_grad():
        after = float(total())
    return {"steps": steps, "lr": lr, "loss_before": round(before, 6), "loss_after": round(after, 6)}


__all__ = ["PROBE_LR", "fit_new_head", "head_inputs"]
