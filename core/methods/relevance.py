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

from dataclasses import dataclass
from typing import ClassVar, Unpack

from reasonrank.engines.base import ChatRequest, ChoiceDistribution, Engine
from reasonrank.errors import EngineError
from reasonrank.methods.base import (
    Prepared,
    Reranker,
    assemble_result,
    check_positive,
    engine_call,
    stable_order_by_score,
)
from reasonrank.methods.generating import RerankerOptions
from reasonrank.methods.pointwise import PointwiseTemplate, expected_value
from reasonrank.options import option
from reasonrank.scheduling import Job, ScoreChoices, gather
from reasonrank.types import Candidate, Query, RerankResult, Trace


@dataclass(frozen=True)
class RelevanceOptions:
    """The relevance (answer-logit) method's options."""

    prompt: str = option("rank1", "pointwise template name (rank1: true/false; erank: 0-10) or TOML path")
    max_passage_tokens: int | None = option(None, "passage cut, in tokens of the engine's tokenizer (None: no cut)",
                                            metavar="N")
    instruction: str | None = option(None, "ERank's relevance definition (templates with {instruction})")


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
    result_fields = ("template", "instruction", "max_passage_tokens")
    Options: ClassVar[type] = RelevanceOptions

    def __init__(
        self,
        engine: Engine,
        *,
        prompt: str = "rank1",
        max_passage_tokens: int | None = None,
        instruction: str | None = None,
        **options: Unpack[RerankerOptions],
    ) -> None:
        super().__init__(engine, **options)
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

    def _job(self, query: Query, cands: list[Candidate]) -> Job[RerankResult]:
        choices = self.template.choices
        try:  # truncation calls the engine: under the same policy as the scoring
            steps = [ScoreChoices(engine_call(self.build_request, query, c), choices) for c in cands]
            replies = yield gather(steps)
            failed = next((r for r in replies if isinstance(r, EngineError)), None)
            if failed is not None:
                raise failed
        except EngineError as exc:
            return self.keep_order_result(query, cands, self.failure_reason(exc))
        return self._assemble(query, cands, replies)

    def _progress_total(self, items: list[Prepared]) -> int:
        return sum(len(c) for _, c in items)

    def _assemble(self, query: Query, cands: list[Candidate], dists: list[ChoiceDistribution]) -> RerankResult:
        scores = [expected_value(d, self.template.choices, self.template.values) for d in dists]
        per_candidate, traces, warnings = {}, [], []
        for i, (cand, dist) in enumerate(zip(cands, dists)):
            probs = ", ".join(f"p({c.strip()})={dist.probs.get(c, 0.0):.3f}" for c in self.template.choices[:3])
            per_candidate[i] = {"reasoning": f"score {scores[i]:.3f} ({probs})"}
            if all(v == float("-inf") for v in dist.logprobs.values()):
                warnings.append(f"{cand.id}: no probability mass on any answer choice: uniform distribution used")
            traces.append(Trace(kind="relevance", candidate_ids=[cand.id], reasoning="", answer=probs,
                                raw_output="", prompt_tokens=dist.prompt_tokens, seconds=dist.seconds,
                                cached=dist.cached))
        return assemble_result(
            query, cands, stable_order_by_score(scores), self.method, scores=scores, traces=traces,
            warnings=warnings, per_candidate=per_candidate, model=self.engine.model_name,
        )
