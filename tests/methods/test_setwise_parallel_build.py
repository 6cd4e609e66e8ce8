"""Setwise heap build: the families of one heap level are asked at once (issue 28), with the
official one-by-one order's result: the same top-k and the same questions, in the same order."""
from __future__ import annotations

import asyncio
import random
import re

import pytest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.methods.setwise import SetwiseReranker

_VALUE = re.compile(r"^\[\d+\] v(\d+)", re.MULTILINE)


def _noisy_best(seed: int):
    """The largest value wins, except a seeded few answers pick another label (a noisy model)."""
    def answer(request) -> str:
        vals = [int(v) for v in _VALUE.findall(request.messages[-1]["content"])]
        rng = random.Random(f"{seed}|{vals}")
        best = max(range(len(vals)), key=lambda i: vals[i]) if rng.random() > 0.3 else rng.randrange(len(vals))
        return f"<think>x</think><answer>[{best + 1}]</answer>"
    return answer


def _official(values: list[int], set_size: int, top_k: int, answer) -> tuple[list[int], list[list[int]]]:
    """The heap sort of ielab/llm-rankers ``setwise.py`` one question at a time: positions of
    the top-k and the value sets asked, in order."""
    nc, n, arr, asked = set_size - 1, len(values), list(range(len(values))), []

    def heapify(size: int, i: int) -> None:
        while nc * i + 1 < size:
            family = [i, *range(nc * i + 1, min(nc * i + 1 + nc, size))]
            family_vals = [values[arr[j]] for j in family]
            asked.append(family_vals)
            text = "\n".join(f"[{m + 1}] v{v}" for m, v in enumerate(family_vals))
            reply = answer(type("R", (), {"messages": [{"content": text}]})())
            top = family[int(re.search(r"\[(\d+)\]", reply.split("<answer>")[1]).group(1)) - 1]
            if top == i:
                return
            arr[i], arr[top] = arr[top], arr[i]
            i = top

    for i in range(n // nc, -1, -1):
        heapify(n, i)
    ranked = []
    for step in range(min(top_k, n)):
        ranked.append(arr[0])
        size = n - 1 - step
        arr[0], arr[size] = arr[size], arr[0]
        if step < min(top_k, n) - 1:
            heapify(size, 0)
    return ranked, asked


@pytest.mark.parametrize("seed", range(12))
def test_parallel_build_equals_the_official_order(seed: int) -> None:
    rng = random.Random(seed)
    n, set_size, top_k = rng.randint(1, 90), rng.choice([2, 3, 4, 20]), rng.randint(1, 12)
    values = rng.sample(range(1000), n)
    docs = [{"id": f"d{i}", "text": f"v{v}"} for i, v in enumerate(values)]
    expected, asked = _official(values, set_size, top_k, _noisy_best(seed))
    engine = ScriptedEngine(_noisy_best(seed), max_concurrency=rng.choice([1, 8]))
    result = SetwiseReranker(engine, set_size=set_size, top_k=top_k, max_passage_tokens=8).rerank("q", docs)
    assert result.ids[: len(expected)] == [f"d{i}" for i in expected]
    assert [[values[int(c[1:])] for c in t.candidate_ids] for t in result.traces] == asked


def test_a_levels_families_are_in_flight_together() -> None:
    docs = [{"id": f"d{i}", "text": f"v{i}"} for i in range(100)]
    engine = ScriptedEngine(_noisy_best(0), max_batch_size=1, max_concurrency=64, delay_fn=lambda r: 0.02)
    (result,) = asyncio.run(SetwiseReranker(engine, max_passage_tokens=8).arerank_batch([("q", docs)]))
    assert sorted(result.ids) == sorted(d["id"] for d in docs)
    assert engine.max_in_flight_seen == 5  # nodes 1-5 of the 19-ary heap over 100 passages
