"""Helpers of the evaluation tests: a scripted reranker and engines (fixtures in conftest.py).

``ScriptRanker`` is a minimal method for orchestration tests: one engine call per query, whose
answer (a space-separated id list) is the new order; ids it misses are appended in input order.
"""
from __future__ import annotations

from collections.abc import Callable

from reasonrank.engines.base import ChatRequest, SamplingParams
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError
from reasonrank.methods.base import Prepared, Reranker, assemble_result
from reasonrank.types import RerankResult, Trace


class ScriptRanker(Reranker):
    method = "scripted-test"

    def _rerank_many(self, items: list[Prepared]) -> list[RerankResult]:
        requests = [
            ChatRequest.of([{"role": "user", "content": f"{q.id}|{q.text}|" + " ".join(c.id for c in cands)}])
            for q, cands in items
        ]
        try:
            gens = self.engine.generate(requests, SamplingParams(max_tokens=256))
        except EngineError as exc:
            if self.on_error == "raise":
                raise
            return [self.keep_order_result(q, c, str(exc)) for q, c in items]
        out = []
        for (q, cands), gen in zip(items, gens):
            ids = [c.id for c in cands]
            order = list(dict.fromkeys(ids.index(t) for t in gen.text.split() if t in ids))
            order += [i for i in range(len(ids)) if i not in order]
            trace = Trace("list", ids, f"reasoning for {q.id}", gen.text, gen.text,
                          gen.prompt_tokens, gen.completion_tokens)
            out.append(assemble_result(q, cands, order, self.method, traces=[trace], model=self.engine.model_name))
        return out


def oracle_fn(qrels: dict[str, dict[str, int]]) -> Callable[[ChatRequest], str]:
    """An engine answer that orders the ids by their judged relevance (best first)."""

    def answer(request: ChatRequest) -> str:
        qid, _, ids = request.messages[0]["content"].split("|")
        rel = qrels.get(qid, {})
        return " ".join(sorted(ids.split(), key=lambda d: -rel.get(d, 0)))

    return answer


class CountingEngine(ScriptedEngine):
    """A ScriptedEngine that counts requests per query and can fail after ``fail_after`` calls."""

    def __init__(self, fn, fail_after: int | None = None, **kw) -> None:
        super().__init__(fn, **kw)
        self.fail_after = fail_after
        self.queries_seen: list[str] = []

    def generate(self, requests, params):
        if self.fail_after is not None and len(self.calls) >= self.fail_after:
            raise EngineError("server went away")
        out = super().generate(requests, params)
        self.queries_seen += [r.messages[0]["content"].split("|")[0] for r in requests]
        return out
