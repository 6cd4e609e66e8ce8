"""Single-token listwise reranking (FIRST): Reddy et al., "FIRST: Faster Improved Listwise
Reranking with Single Token Decoding" (EMNLP 2024).

A window of passages labelled ``[A]``, ``[B]``... is shown with the RankGPT/RankZephyr listwise
prompt; the assistant turn is opened with ``[`` and the distribution of the *first* generated
token over the window's letters is read in one forward pass: the passages are ranked by their
label's log-probability. No text is generated, so there is nothing to parse.

Followed from the official code, github gangiswag/llm-reranker,
``scripts/utils/rank_listwise_os_llm.py``: ``run_llm(..., use_logits=True, use_alpha=True)``
appends ``"["`` to the prompt and ranks letters ``A``.. by their log-probability
(``_evaluate_logits``); ``create_prompt`` / ``_add_prefix_prompt`` / ``_add_post_prompt`` (alpha
branch) give the texts in ``reasonrank/prompts/first.toml``; passages keep their first 300 words
there, here a token cut.
Letters are single tokens in common tokenizers, unlike ``10``..``20`` under per-digit tokenizers
(Qwen), which is why FIRST uses them. Windows of at most 26 slide back to front like the other
listwise methods (``windows.window_plan``).
"""
from __future__ import annotations

import re
import string
from dataclasses import dataclass
from typing import ClassVar, Unpack

from reasonrank.engines.base import ChatRequest, ChoiceDistribution, Engine
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.methods.base import (
    Prepared,
    Reranker,
    assemble_result,
    check_positive,
    engine_call,
    stable_order_by_score,
)
from reasonrank.methods.generating import RerankerOptions
from reasonrank.methods.windows import apply_window, window_plan
from reasonrank.options import option
from reasonrank.prompts import load_prompt
from reasonrank.scheduling import Job, ScoreChoices
from reasonrank.types import Candidate, Query, RerankResult, Trace

LETTERS = string.ascii_uppercase
PROMPT = load_prompt("first")
SYSTEM: str = PROMPT["system"]


def neutralise_labels(text: str) -> str:
    """``[3]`` / ``[B]`` -> ``(3)`` / ``(B)``: passages cannot imitate window labels."""
    return re.sub(r"\[([0-9]+|[A-Za-z])\]", r"(\1)", text)


@dataclass(frozen=True)
class FirstOptions:
    """FIRST's options."""

    window_size: int = option(20, "passages per window (first: at most 26, one letter each)", metavar="N")
    stride: int = option(10, "step between sliding windows", metavar="N")
    max_passage_tokens: int | None = option(None, "passage cut, in tokens of the engine's tokenizer (None: no cut)",
                                            metavar="N")
    system: str | None = option(SYSTEM, "system message (RankZephyr/FIRST's by default; '' for none)")


class FirstReranker(Reranker):
    """FIRST single-token listwise reranker: any engine with ``choice_logprobs``.

    Parameters
    ----------
    window_size, stride:
        Sliding window (20, 10; at most 26 letters).
    max_passage_tokens:
        Passage cut in tokens of the engine's tokenizer (None: no cut).
    system:
        System message (RankZephyr/FIRST's by default; ``""`` for none).
    """

    method = "first"
    result_fields = ("window_size", "stride", "system", "max_passage_tokens")
    Options: ClassVar[type] = FirstOptions

    def __init__(
        self,
        engine: Engine,
        *,
        window_size: int = 20,
        stride: int = 10,
        max_passage_tokens: int | None = None,
        system: str | None = SYSTEM,
        **options: Unpack[RerankerOptions],
    ) -> None:
        super().__init__(engine, **options)
        check_positive("window_size", window_size)
        check_positive("stride", stride)
        check_positive("max_passage_tokens", max_passage_tokens)
        if window_size > len(LETTERS):
            raise InvalidInputError(f"window_size must be at most {len(LETTERS)} (one letter each), got {window_size}")
        window_plan(window_size, window_size, stride)  # validates stride <= window_size
        self.window_size = window_size
        self.stride = stride
        self.max_passage_tokens = max_passage_tokens
        self.system = system

    # -- prompt -----------------------------------------------------------------------------
    def window_request(self, query: Query, window: list[Candidate]) -> ChatRequest:
        """The FIRST prompt for one window, with the assistant turn opened by ``[``."""
        num = len(window)
        qtext = neutralise_labels(query.text).strip()
        example = "[B] > [A]" if num < 4 else "[D] > [B]"
        user = PROMPT["prefix"].format(num=num, query=qtext) + "\n"
        for i, cand in enumerate(window):
            text = " ".join(cand.content().split())
            if self.max_passage_tokens:
                text = self.engine.truncate_tokens(text, self.max_passage_tokens)
            user += PROMPT["passage"].format(label=LETTERS[i], content=neutralise_labels(text))
        user += PROMPT["post"].format(num=num, query=qtext, example=example)
        messages = ([{"role": "system", "content": self.system}] if self.system else []) + [
            {"role": "user", "content": user}
        ]
        return ChatRequest.of(messages, assistant_prefix=PROMPT["assistant_prefix"])

    def _first_requests(self, query: Query, candidates: list[Candidate]) -> list[ChatRequest]:
        begin, end = window_plan(len(candidates), self.window_size, self.stride)[0]
        return [self.window_request(query, candidates[begin:end])]

    # -- reranking --------------------------------------------------------------------------
    def _job(self, query: Query, cands: list[Candidate]) -> Job[RerankResult]:
        """One query walking its windows; an engine failure keeps the query's input order."""
        try:
            return (yield from self._windows(query, cands))
        except EngineError as exc:
            return self.keep_order_result(query, cands, self.failure_reason(exc))

    def _progress_total(self, items: list[Prepared]) -> int:
        return sum(len(window_plan(len(c), self.window_size, self.stride)) for _, c in items)

    def _windows(self, query: Query, cands: list[Candidate]) -> Job[RerankResult]:
        plan = window_plan(len(cands), self.window_size, self.stride)
        order = list(range(len(cands)))
        traces: list[Trace] = []
        logprob: dict[int, float] = {}
        for begin, end in plan:
            window = order[begin:end]
            request = engine_call(self.window_request, query, [cands[i] for i in window])
            letters = LETTERS[: len(window)]
            dist: ChoiceDistribution = yield ScoreChoices(request, tuple(letters))
            perm = self._permutation(dist, list(letters))
            for pos, i in enumerate(window):
                logprob[i] = dist.logprobs.get(letters[pos], float("-inf"))
            apply_window(order, begin, end, perm)
            traces.append(self._trace(cands, window, list(letters), perm, dist))
        # One window: the label log-probabilities are the scores; several: scores from rank.
        scores = [logprob[i] for i in range(len(cands))] if len(plan) == 1 else None
        if scores is not None:
            order = stable_order_by_score(scores)  # same order, ties kept in input order
        per_candidate = {
            i: {"reasoning": f"log p(first label = this passage's letter) = {logprob[i]:.3f}"} for i in logprob
        }
        return assemble_result(
            query, cands, order, self.method, scores=scores, traces=traces,
            per_candidate=per_candidate, model=self.engine.model_name,
        )

    @staticmethod
    def _permutation(dist: ChoiceDistribution, letters: list[str]) -> list[int]:
        """Window positions by descending label log-probability (ties: input order)."""
        values = [dist.logprobs.get(letter, float("-inf")) for letter in letters]
        return stable_order_by_score(values)

    @staticmethod
    def _trace(cands: list[Candidate], window: list[int], letters: list[str], perm: list[int],
               dist: ChoiceDistribution) -> Trace:
        top = ", ".join(f"[{letters[p]}] {dist.probs.get(letters[p], 0.0):.2f}" for p in perm[:5])
        return Trace(
            kind="first",
            candidate_ids=[cands[i].id for i in window],
            reasoning=f"first-label probabilities (top 5): {top}",
            answer=" > ".join(f"[{letters[p]}]" for p in perm),
            raw_output="",
            prompt_tokens=dist.prompt_tokens,
            seconds=dist.seconds,
            cached=dist.cached,
        )
