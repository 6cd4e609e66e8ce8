"""A new method is one class with a per-query job: the base class schedules it (sync batches or
async), applies the error policy and checks that every candidate comes back once. This is the
example of the architecture notes, run on both drivers."""
from __future__ import annotations

import asyncio

from reasonrank.engines.base import ChatRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.methods.base import Reranker, assemble_result, stable_order_by_score
from reasonrank.scheduling import ScoreChoices, gather


class YesNoReranker(Reranker):
    """Score each passage by p(" yes") after "Is this passage relevant to the query?"."""

    method = "yesno"

    def _job(self, query, candidates):
        requests = [ChatRequest.of([{"role": "user", "content": f"Query: {query.text}\nPassage: {c.text}\n"
                                     "Is this passage relevant to the query?"}]) for c in candidates]
        dists = yield gather([ScoreChoices(r, (" yes", " no")) for r in requests])
        for d in dists:
            if isinstance(d, Exception):
                return self.keep_order_result(query, candidates, self.failure_reason(d))
        scores = [d.probs[" yes"] for d in dists]
        return assemble_result(query, candidates, stable_order_by_score(scores), self.method, scores=scores)


def _engine(**kw) -> ScriptedEngine:
    def logprobs(request, choices):
        yes = -0.1 if "cats" in request.messages[-1]["content"].split("Passage:")[1] else -3.0
        return {" yes": yes, " no": -1.0}

    return ScriptedEngine(logprob_fn=logprobs, **kw)


DOCS = [{"id": "a", "text": "dogs bark"}, {"id": "b", "text": "cats purr"}, {"id": "c", "text": "cats nap"}]


def test_the_example_method_runs_batched_and_async() -> None:
    sync = YesNoReranker(_engine(max_batch_size=16, max_concurrency=1))
    results = sync.rerank_batch([("cats", DOCS), ("more cats", DOCS)])
    assert [r.ids for r in results] == [["b", "c", "a"]] * 2
    assert sync.last_stats.calls == 1 and sync.last_stats.requests == 6  # both queries, one call
    concurrent = YesNoReranker(_engine(max_concurrency=4), depth=2)
    result = asyncio.run(concurrent.arerank("cats", DOCS))
    assert result.ids == ["b", "a", "c"]  # depth 2: "c" follows unranked


def test_the_example_method_gets_the_error_policy() -> None:
    broken = ScriptedEngine(logprob_fn=lambda r, c: 1 / 0, max_concurrency=1)
    kept = YesNoReranker(broken, on_error="keep_order").rerank("cats", DOCS)
    assert kept.ids == ["a", "b", "c"] and "ZeroDivisionError" in kept.warnings[0]


def test_the_example_method_has_a_dry_run_from_its_job() -> None:
    engine = _engine()
    requests = YesNoReranker(engine).dry_run("cats", DOCS)
    assert [r.messages[0]["content"].split("Passage: ")[1].split("\n")[0] for r in requests] == [
        "dogs bark", "cats purr", "cats nap"]
    assert engine.calls == []
