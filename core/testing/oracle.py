"""An oracle listwise "model" for tests and benchmarks: it orders each window by a known grade
(e.g. the qrels) plus seeded Gaussian noise, so window strategies can be compared where rounds
behave as with a real ranker. Passages must read ``doc:<id>`` (see :func:`oracle_candidates`)."""
from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reasonrank.engines.base import ChatRequest

_PASSAGE = re.compile(r"^\[(\d+)\] doc:(\S+)", re.MULTILINE)


def oracle_candidates(ids: Sequence[str]) -> list[dict[str, Any]]:
    """Candidates whose text names their id, so the oracle can read them back from a prompt."""
    return [{"id": i, "text": f"doc:{i}"} for i in ids]


def window_ids(request: ChatRequest) -> list[str]:
    """The candidate ids of a window prompt built from :func:`oracle_candidates`, in label order."""
    return [m.group(2) for m in _PASSAGE.finditer(request.messages[-1]["content"])]


def oracle_answer(grade: Callable[[str], float] | Mapping[str, float], sigma: float = 0.0,
                  seed: int = 0) -> Callable[[ChatRequest], str]:
    """A ``generate_fn`` for :class:`~reasonrank.engines.scripted.ScriptedEngine`: each window
    ranked by ``grade(id) + N(0, sigma)``, ties broken by the window's order. The noise depends
    only on the seed and the window (prompt), so the order requests arrive in does not matter."""
    lookup = grade.get if isinstance(grade, Mapping) else grade

    def answer(request: ChatRequest) -> str:
        ids = window_ids(request)
        rng = random.Random(f"{seed}|{request.messages[-1]['content']}")
        noisy = [float(lookup(i) or 0.0) + (rng.gauss(0.0, sigma) if sigma else 0.0) for i in ids]
        order = sorted(range(len(ids)), key=lambda n: (-noisy[n], n))
        return "<think>oracle</think><answer>" + " > ".join(f"[{n + 1}]" for n in order) + "</answer>"

    return answer


__all__ = ["oracle_answer", "oracle_candidates", "window_ids"]
