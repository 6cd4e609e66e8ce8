"""``reasonrank train distill``: distil any reranker (or the judgments) into a dense or cross-encoder student.

Reason offline, serve a cheap student: a reasoning reranker labels a corpus's training queries
once, and a small encoder learns its rankings (RankGPT's permutation distillation, Sun et al.
EMNLP 2023; Margin-MSE, Hofstätter et al. 2020). One job per module:

- :mod:`.data` — the queries and their first-stage candidates, the held-out split;
- :mod:`.teachers` — the teacher's rankings: judgments, a recorded output, or a reranker run;
- :mod:`.losses` — RankNet, listwise KL, Margin-MSE, in-batch negatives, and the choice;
- :mod:`.student` — the trainable encoder and its scores;
- :mod:`.trainer` — the seeded, checkpointed training loop;
- :mod:`.evaluate` — student vs base, teacher and first stage on held-out queries;
- :mod:`.card` — the model card and ``distill.json``;
- :mod:`.run` — :func:`distill`, all of it in order.
"""
from __future__ import annotations

from reasonrank.training.distill.run import DistillSettings, distill
from reasonrank.training.distill.teachers import TeacherOutput, load_teacher

__all__ = ["DistillSettings", "TeacherOutput", "distill", "load_teacher"]
