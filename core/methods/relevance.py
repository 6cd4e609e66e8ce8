"""Pointwise relevance from answer logits, without reasoning (batched).

The Rank1 / ERank prompt of one (query, passage) pair, the thought left empty (the assistant turn
starts with the template's closed-answer prefix, ``<think></think>`` for Rank1), and the score is
read from the next-token distribution over the template's answer choices: ``p(true)`` for Rank1
(renormalised over true/false, the official score of github orionw/rank1 ``rank1.py``), the
expected grade for ERank. One forward pass per pair, no generation: the cheap pointwise baseline,
and the shape monoT5-style rerankers use. All pairs of all queries go to the engine together,
``engine.max_batch_size`` at a time.
"""
from __future__ import annotations

from typing import Any

from reasonrank.engines.base import ChatRequest, ChoiceDistribution, Engine
from reasonrank.errors import EngineError
from reasonrank.methods.base import (
    OnError,
    OnParseError,
    Prepared,
    Reranker,
    assemble_result,
    check_positive,
    stable_order_by_score,
)
from reasonrank.methods.pointwise import PointwiseTemplate, expected_value
from reasonrank.types import Candidate, Query, RerankResult, Trace


class RelevanceReranker(Reranker):
    """Pointwise answer-logit reranker (no reasoning).

    Parameters
    ----------
    prompt:
        Pointwise template name (``rank1``: true/false; ``erank``: 0-10) or TOML path.
    max_passage_tokens:
        Truncate each passage to this many tokens of the engine's tokenizer (None: no cut).
    instruction:
        ERank's relevance definition (templates with ``{instruction}``).
    """

    method = "relevance"

    def __init__(
        self,
        engine: Engine,
        *,
        prompt: str = "rank1",
        max_passage_tokens: int | None = None,
        instruction: str | None = None,
        on_error: OnError = "raise",
        on_parse_error: OnParseError = "keep_order",
        depth: int | None = None,
        show_progress: bool = False,
    ) -> None:
        super().__init__(engine, on_error=on_error, on_parse_error=on_parse_error, depth=depth,
                         show_progress=show_progress)
        check_positive("max_passage_tokens", max_passage_tokens)
        self.template = PointwiseTemplate.load(prompt)
        self.max_passage_tokens = max_passage_tokens
        self.instruction = instruction if instruction is not None else self.template.default_instruction

    def build_request(self, query: Query, candidate: Candidate) -> ChatRequest:
        """The answer request of one pair: the template's prompt, an empty closed thought."""
        passage = candidate.content()
        if self.max_passage_tokens:
            passage = self.engine.truncate_tokens(passage, self.max_passage_tokens)
        user = self.template.user.format(query=query.text, passage=passage, instruction=self.instruction)
        messages = ([{"role": "system", "content": self.template.system}] if self.template.system else [])
        messages.append({"role": "user", "content": user})
        prefix = self.template.closed_answer_prefix.replace("{reasoning}", "")
        return ChatRequest.of(messages, prefix)

    def _first_requests(self, query: Query, candidates: list[Candidate]) -> list[ChatRequest]:
        return [self.build_request(query, c) for c in candidates]

    def _rerank_many(self, items: list[Prepared]) -> list[RerankResult]:
        pairs = [(qi, ci, self.build_request(q, c)) for qi, (q, cands) in enumerate(items) for ci, c in enumerate(cands)]
        dists: dict[tuple[int, int], ChoiceDistribution] = {}
        failed: dict[int, str] = {}
        size = max(1, int(self.engine.max_batch_size or 1))
        choices = list(self.template.choices)
        bar = self._progress(len(pairs))
        for start in range(0, len(pairs), size):
            chunk = pairs[start : start + size]
            try:
                out = self.engine.choice_logprobs([r for _, _, r in chunk], choices)
                if len(out) != len(chunk):
                    raise EngineError(f"engine returned {len(out)} distributions for {len(chunk)} requests")
                for (qi, ci, _), dist in zip(chunk, out):
                    dists[(qi, ci)] = dist
            except Exception as exc:  # noqa: BLE001 - the policy decides: raise or keep order
                reason = self.failure_reason(exc)
                for qi, _, _ in chunk:
                    failed.setdefault(qi, reason)
            if bar is not None:
                bar.update(len(chunk))
        if bar is not None:
            bar.close()
        results = []
        for qi, (query, cands) in enumerate(items):
            if qi in failed:
                results.append(self.keep_order_result(query, cands, failed[qi]))
            else:
                results.append(self._assemble(query, cands, [dists[(qi, ci)] for ci in range(len(cands))]))
        return results

    def _progress(self, total: int) -> Any:
        if not self.show_progress or total < 2:
            return None
        from tqdm.auto import tqdm

        return tqdm(total=total, desc="relevance", unit="pair")

    def _assemble(self, query: Query, cands: list[Candidate], dists: list[ChoiceDistribution]) -> RerankResult:
        scores = [expected_value(d, self.template.choices, self.template.values) for d in dists]
        per_candidate, traces, warnings = {}, [], []
        for i, (cand, dist) in enumerate(zip(cands, dists)):
            probs = ", ".join(f"p({c.strip()})={dist.probs.get(c, 0.0):.3f}" for c in self.template.choices[:3])
            per_candidate[i] = {"reasoning": f"score {scores[i]:.3f} ({probs})"}
            if all(v == float("-inf") for v in dist.logprobs.values()):
                warnings.append(f"{cand.id}: no probability mass on any answer choice: uniform distribution used")
            traces.append(Trace(kind="relevance", candidate_ids=[cand.id], reasoning="", answer=probs,
                                raw_output="", prompt_tokens=dist.prompt_tokens, seconds=dist.seconds))
        return assemble_result(
            query, cands, stable_order_by_score(scores), self.method, scores=scores, traces=traces,
            warnings=warnings, per_candidate=per_candidate, model=self.engine.model_name,
        )
