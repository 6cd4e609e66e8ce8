"""What the two encoder methods share (``dense`` and ``cross``): one :class:`Encode` step per
input, scores sorted, empty passages last, truncation counted.

An encoder is a cheap stage: no reasoning, one forward pass per passage (per pair for a
cross-encoder). Every passage of every query in a batch goes to the engine together
(``engine.max_batch_size`` requests a call), and the engine-reply cache keys each input on its
own, so a passage several queries share is encoded once. A passage that is empty or only
whitespace is not sent: it has nothing to match, so it ranks after every passage with text (in
its input order), with a warning.
"""
from __future__ import annotations

from typing import ClassVar, Unpack

from reasonrank.engines.base import EncodeRequest, Encoding, Engine
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.methods.base import Prepared, Reranker, assemble_result, stable_order_by_score
from reasonrank.methods.generating import RerankerOptions
from reasonrank.scheduling import Encode, Job, gather
from reasonrank.types import Candidate, Query, RerankResult, Trace


class EncoderReranker(Reranker):
    """Base of the encoder methods: subclasses say which requests to send and how replies
    become scores (:meth:`_requests`, :meth:`_scores`)."""

    #: The engine's ``encoder_kind`` this method needs.
    needs_kind: ClassVar[str] = ""

    def __init__(self, engine: Engine, **options: Unpack[RerankerOptions]) -> None:
        super().__init__(engine, **options)
        kind = getattr(engine, "encoder_kind", None)
        if kind != self.needs_kind:
            what = ("a bi-encoder (embeddings)" if self.needs_kind == "dense" else "a cross-encoder (pair scores)")
            have = (f"its model {engine.model_name!r} is a {'bi' if kind == 'dense' else 'cross'}-encoder"
                    if kind else f"the {engine.name} engine runs no encoder model")
            raise InvalidInputError(
                f"the {self.method} method needs {what} on engine 'sentence-transformers' "
                f"(e.g. --engine sentence-transformers --model FOLDER_OR_HUB_ID); {have}"
            )

    def _requests(self, query: Query, passages: list[str]) -> list[EncodeRequest]:
        raise NotImplementedError

    def _scores(self, replies: list[Encoding], n_passages: int) -> list[float]:
        raise NotImplementedError

    def _job(self, query: Query, cands: list[Candidate]) -> Job[RerankResult]:
        texts = [c.content() for c in cands]
        kept = [i for i, t in enumerate(texts) if t.strip()]
        try:
            replies = yield gather([Encode(r) for r in self._requests(query, [texts[i] for i in kept])])
            failed = next((r for r in replies if isinstance(r, EngineError)), None)
            if failed is not None:
                raise failed
        except EngineError as exc:
            return self.keep_order_result(query, cands, self.failure_reason(exc))
        return self._assemble(query, cands, kept, replies)

    def _assemble(self, query: Query, cands: list[Candidate], kept: list[int], replies: list[Encoding]) -> RerankResult:
        scored = self._scores(replies, len(kept)) if kept else []
        floor = min(scored, default=0.0) - 1.0
        scores = [floor - (i + 1) * 1e-6 for i in range(len(cands))]  # empty passages: last, in input order
        for i, score in zip(kept, scored):
            scores[i] = score
        warnings = []
        empty = len(cands) - len(kept)
        if empty:
            warnings.append(f"{empty} empty passage(s) ranked last without scoring")
        truncated = sum(r.truncated for r in replies)
        if truncated:
            warnings.append(f"{truncated} input(s) longer than the model's {getattr(self.engine, 'max_length', '?')} "
                            "tokens were truncated")
        trace = Trace(kind=self.method, candidate_ids=[cands[i].id for i in kept], reasoning="", answer="",
                      raw_output="", prompt_tokens=sum(r.prompt_tokens for r in replies),
                      seconds=sum(r.seconds for r in replies), cached=all(r.cached for r in replies))
        result = assemble_result(query, cands, stable_order_by_score(scores), self.method, scores=scores,
                                 traces=[trace], warnings=warnings, model=self.engine.model_name)
        result.usage.truncated = truncated
        return result

    def _progress_total(self, items: list[Prepared]) -> int:
        return sum(len(c) for _, c in items)


__all__ = ["EncoderReranker"]
