"""The options every method shares, written once, and the base of methods that generate text.

Every method takes the base :class:`~reasonrank.methods.base.Reranker` options
(:class:`RerankerOptions`: the error policies, depth, progress and the scheduling limits) as
keywords; methods that generate (listwise, setwise, pointwise, REBEL) also take the sampling
options (:class:`GenerationOptions`, or :class:`SamplingOptions` where the method has its own
``depth`` default) and get ``self.params`` from :class:`GeneratingReranker`.
"""
from __future__ import annotations

from typing import ClassVar, TypedDict, Unpack

from reasonrank.engines.base import Engine, SamplingParams
from reasonrank.errors import InvalidInputError
from reasonrank.methods.base import OnError, OnParseError, Reranker, Schedule
from reasonrank.scheduling.forcing import ForceAnswer


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
    (:mod:`reasonrank.scheduling.forcing`) by setting :attr:`forced_answer_tokens`; its
    ``force_answer`` option (default: on) then closes a thought cut by the budget and asks for
    the answer instead of scraping one from the unfinished thought.
    """

    result_fields: ClassVar[tuple[str, ...]] = ("params", "answer_forcing", "max_passage_tokens")
    #: Tokens of a forced answer's continuation; None: the method does not force answers.
    forced_answer_tokens: int | None = None
    #: ``force_answer`` when not given: on, unless the method's official code scrapes (listwise).
    force_answer_default: bool = True

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
        if force_answer and self.forced_answer_tokens is None:
            raise InvalidInputError(f"force_answer is not an option of the {self.method} method")
        #: The forced-answer policy the runner wraps each job with (None: the method does not
        #: force answers; ``enabled=False``: it only records thinking tokens).
        self.answer_forcing: ForceAnswer | None = None
        enabled = self.force_answer_default if force_answer is None else force_answer
        if self.forced_answer_tokens is not None:
            self.answer_forcing = ForceAnswer(answer_tokens=self.forced_answer_tokens, enabled=enabled)
        try:
            self.params = SamplingParams(max_tokens=max_tokens, temperature=temperature, top_p=top_p,
                                         seed=seed, stop=stop)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None


__all__ = ["CommonOptions", "GeneratingReranker", "GenerationOptions", "RerankerOptions", "SamplingOptions"]
