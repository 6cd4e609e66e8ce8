"""The options every method shares, written once, and the base of methods that generate text.

Every method takes the base :class:`~reasonrank.methods.base.Reranker` options
(:class:`RerankerOptions`: the error policies, depth, progress and the scheduling limits) as
keywords; methods that generate (listwise, setwise, pointwise, REBEL) also take the sampling
options (:class:`GenerationOptions`, or :class:`SamplingOptions` where the method has its own
``depth`` default) and get ``self.params`` from :class:`GeneratingReranker`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import ClassVar, TypedDict, Unpack

from reasonrank.engines.base import Engine, SamplingParams
from reasonrank.errors import InvalidInputError
from reasonrank.methods.base import OnError, OnParseError, Reranker, Schedule
from reasonrank.prompts.reasoning import DEFAULT_FORMAT, ReasoningFormat


class CommonOptions(TypedDict, total=False):
    """Keywords of :class:`~reasonrank.methods.base.Reranker` that every method takes as is."""

    on_error: OnError
    on_parse_error: OnParseError
    show_progress: bool
    max_batch_size: int | None
    max_concurrency: int | None
    schedule: Schedule


class RerankerOptions(CommonOptions, total=False):
    """Every keyword of :class:`~reasonrank.methods.base.Reranker` (``depth`` defaults to None)."""

    depth: int | None


class SamplingOptions(CommonOptions, total=False):
    """The sampling keywords of the generating methods (official runs: greedy), for methods
    with a ``depth`` default of their own (listwise, setwise)."""

    temperature: float
    top_p: float
    seed: int | None
    force_answer: bool | None


class GenerationOptions(SamplingOptions, total=False):
    """:class:`SamplingOptions` and ``depth`` (defaulting to None)."""

    depth: int | None


class GeneratingReranker(Reranker):
    """A method whose engine steps generate text with one set of sampling settings.

    A method whose outputs are ``<think>…</think><answer>…</answer>`` opts in to forced answers
    (:mod:`reasonrank.scheduling.forcing`) by declaring its :attr:`answer_forcing` policy (the
    continuation's tokens, and whether it is on when ``force_answer`` is not given); its
    ``force_answer`` option then switches it: on, a thought cut by the budget is closed and the
    answer asked for instead of scraped from the unfinished thought.
    """

    result_fields: ClassVar[tuple[str, ...]] = ("params", "answer_forcing", "max_passage_tokens", "reasoning_format")
    #: The reasoning format of the method's prompt (its parser and forced answers read it).
    reasoning_format: ReasoningFormat = DEFAULT_FORMAT

    def __init__(
        self,
        engine: Engine,
        *,
        max_tokens: int,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        stop: tuple[str, ...] = (),
        force_answer: bool | None = None,
        **options: Unpack[RerankerOptions],
    ) -> None:
        super().__init__(engine, **options)
        if force_answer is not None and not isinstance(force_answer, bool):
            raise InvalidInputError(f"force_answer must be true or false, got {force_answer!r}")
        if force_answer and self.answer_forcing is None:
            raise InvalidInputError(f"force_answer is not an option of the {self.method} method")
        if self.answer_forcing is not None and force_answer is not None:
            self.answer_forcing = replace(self.answer_forcing, enabled=force_answer)
        try:
            self.params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                                         seed=seed, stop=stop)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None

    def _use_format(self, fmt: ReasoningFormat) -> None:
        """Read outputs in ``fmt`` (the prompt's reasoning format), forced answers included."""
        self.reasoning_format = fmt
        if self.answer_forcing is not None:
            self.answer_forcing = replace(self.answer_forcing, format=fmt)


__all__ = ["CommonOptions", "GeneratingReranker", "GenerationOptions", "RerankerOptions", "SamplingOptions"]
