"""Listwise reasoning reranking (ReasonRank): sliding windows over the first-stage list, each
window answered with ``<think>…</think><answer>[i] > [j] > …</answer>``.

Prompt construction follows the official code strictly (the README of 8421BCD/ReasonRank asks
for it): ``rerank/rank_listwise_os_llm.py`` ``create_prompt`` with ``prompt_mode =
rank_GPT_reasoning``; texts in ``reasonrank/prompts/reasonrank.toml``. Defaults are those of
``run_rank_llm.sh``: window 20, step 10, top-100, ``reasoning_maxlen`` 3072 with
``max_tokens = reasoning_maxlen + 100``, temperature 0; passages cut to ``max_passage_length``
tokens of the model's tokenizer (100, the class default and the TREC/BEIR setting).

Each query is one job walking its windows; queries are scheduled without lockstep (see
:mod:`reasonrank.scheduling`). How a job walks the windows is the ``strategy``
(:mod:`reasonrank.methods.listwise_strategies`): the official sliding window (default), or
top-down partitioning, whose windows of a round are sent at once (lower single-query latency).
"""
from __future__ import annotations

import re
from collections.abc import Generator, Mapping
from dataclasses import dataclass, fields
from typing import Any, ClassVar

from reasonrank.deprecation import warn_renamed
from reasonrank.engines.base import ChatRequest, Engine, Generation
from reasonrank.errors import EngineError, PromptTooLongError
from reasonrank.methods.base import Prepared, check_positive, engine_call
from reasonrank.methods.generating import GeneratingReranker
from reasonrank.methods.listwise_strategies import (
    WindowOutcome,
    split_strategy_options,
    strategy_declarations,
    strategy_names,
)
from reasonrank.methods.listwise_strategies import strategy as find_strategy
from reasonrank.methods.passages import aprefetch, fix_text_fast, memoized, prefetch
from reasonrank.methods.windows import window_plan
from reasonrank.options import option
from reasonrank.parsing import parse_ranking
from reasonrank.prompts import load_prompt
from reasonrank.scheduling import Generate, Job
from reasonrank.scheduling.forcing import ForceAnswer
from reasonrank.types import Candidate, Query, Trace

_TEMPLATE_KEYS = ("system", "prefix", "passage", "post", "title_format", "answer_pattern")
_REQUIRED = _TEMPLATE_KEYS[1:-1]  # the system message is optional; the pattern defaults to the format's


def replace_number(text: str) -> str:
    """``[3]`` -> ``(3)``, so passages and queries cannot imitate window labels
    (official ``_replace_number`` / ``utils.replace_number``)."""
    return re.sub(r"\[(\d+)\]", r"(\1)", text)


@dataclass(frozen=True)
class ListwiseOptions:
    """The listwise method's own options (its strategies declare theirs: see
    :mod:`reasonrank.methods.listwise_strategies`)."""

    window_size: int = option(20, "passages per window", metavar="N")
    stride: int = option(10, "step between sliding windows", metavar="N")
    depth: int | None = option(100, "first-stage candidates reranked; the rest follow in input order", cli=False)
    max_passage_tokens: int = option(100, "passage cut, in tokens of the engine's tokenizer", metavar="N")
    reasoning_budget: int = option(3072, "cap on reasoning tokens per generation", metavar="N")
    answer_tokens: int = option(100, "tokens for the answer after the reasoning budget", metavar="N")
    prompt: str | Mapping[str, str] = option("reasonrank", "prompt template name or TOML path")
    strategy: str = option("sliding", "how a query's windows are walked: sliding (the official loop) or "
                           "partition (top-down partitioning: a round's windows at once, lower "
                           "single-query latency)", choices=strategy_names)


class ListwiseReranker(GeneratingReranker):
    """ReasonRank listwise reranker.

    Parameters (beyond :class:`~reasonrank.methods.base.Reranker`'s)
    ----------------------------------------------------------------
    window_size, stride:
        Sliding window (20, 10).
    strategy:
        How a query's windows are walked: ``"sliding"`` (default; the official loop, nine
        windows in sequence at top-100) or ``"partition"`` (top-down partitioning, Parry et al.
        SIGIR 2024: a round's windows after the first are sent at once, about three sequential
        windows at top-100). See :mod:`reasonrank.methods.listwise_strategies`.
    pivot, partition_budget, partition_fill, ...:
        The chosen strategy's options, declared by the strategy (``partition``:
        :class:`~reasonrank.methods.listwise_partition.PartitionOptions`); another
        strategy's options are ignored. The settings are ``self.strategy_options``.
    depth:
        First-stage candidates reranked (100); the rest follow in input order.
    max_passage_tokens:
        Passage cut, in tokens of the engine's tokenizer (100; the official BRIGHT runs use 512).
    reasoning_budget, answer_tokens:
        Cap on reasoning tokens; generation gets ``reasoning_budget + answer_tokens`` tokens
        (3072 + 100, as in the official code).
    force_answer:
        Off by default (the official code parses a cut thought as it is); on, a thought cut by
        the budget is closed and the answer asked for in ``answer_tokens`` more tokens.
    temperature, top_p, seed:
        Sampling (official: greedy).
    prompt:
        Template name in ``reasonrank.prompts`` or a path to a TOML file, or a dict with the keys
        ``system, prefix, passage, post, title_format`` (and optionally ``answer_pattern``,
        default: the reasoning format's, and a ``format`` table).
    schedule, max_batch_size, max_concurrency, on_error, on_parse_error, show_progress:
        See :class:`~reasonrank.methods.base.Reranker`.
    """

    method = "listwise"
    result_fields = ("template", "window_size", "stride", "strategy", "strategy_options", "reasoning_budget")
    # built from the fields above: the strategy object, and its options mirrored as attributes
    operational_fields = ("_strategy",)
    Options: ClassVar[type] = ListwiseOptions
    # Declared here: the strategies (imported by this module) read them.
    window_size: int
    stride: int
    strategy: str
    #: The chosen strategy's settings (an instance of its declaration; None: it has none).
    strategy_options: Any
    #: The strategies' options are the method's too (``pivot``...): read from the registry.
    option_extensions = staticmethod(strategy_declarations)

    def __init__(
        self,
        engine: Engine,
        *,
        window_size: int = 20,
        stride: int = 10,
        depth: int | None = 100,
        max_passage_tokens: int = 100,
        reasoning_budget: int = 3072,
        answer_tokens: int = 100,
        prompt: str | Mapping[str, str] = "reasonrank",
        strategy: str = "sliding",
        **options: Any,
    ) -> None:
        # The sampling options (SamplingOptions) and the strategies' declared options.
        for name, value in (
            ("max_passage_tokens", max_passage_tokens),
            ("reasoning_budget", reasoning_budget),
            ("answer_tokens", answer_tokens),
        ):
            check_positive(name, value)
        # Opts in to forced answers, off by default: ReasonRank's official inference parses a cut
        # thought as it is; the embedded preset and users turn them on (force_answer=True).
        self.answer_forcing = ForceAnswer(answer_tokens=answer_tokens, enabled=False)
        self._strategy = find_strategy(strategy)
        strategy_settings = split_strategy_options(strategy, options)
        super().__init__(engine, max_tokens=reasoning_budget + answer_tokens, depth=depth, **options)
        window_plan(window_size, window_size, stride)  # validates both
        self.strategy = strategy
        self.window_size = window_size
        self.stride = stride
        self.strategy_options = self._strategy.configure(strategy, self, strategy_settings)
        self.max_passage_tokens = max_passage_tokens
        self.reasoning_budget = reasoning_budget
        data = load_prompt(prompt, required=_REQUIRED)
        self._use_format(data["format"])
        self.template = {k: str(data.get(k, "")) for k in _TEMPLATE_KEYS}
        self.template["answer_pattern"] = self.template["answer_pattern"] or self.reasoning_format.answer_pattern

    def __getattr__(self, name: str) -> Any:
        """The chosen strategy's options were attributes (``ranker.pivot``) before strategies
        declared them: still readable, with a :class:`DeprecationWarning` (only called for an
        attribute the ranker does not have)."""
        settings = self.__dict__.get("strategy_options")
        if settings is not None and name in {f.name for f in fields(settings)}:
            warn_renamed(f"ListwiseReranker.{name}", f"ListwiseReranker.strategy_options.{name}")
            return getattr(settings, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    # -- prompt ----------------------------------------------------------------------------
    def passage_content(self, candidate: Candidate) -> str:
        """One passage as the official ``convert_doc_to_prompt_content`` writes it (computed
        once per passage per run: see :mod:`reasonrank.methods.passages`)."""
        return memoized(self._passage_key(candidate), lambda: replace_number(
            self.engine.truncate_tokens(self._clean_passage(candidate), self.max_passage_tokens)))

    def _passage_key(self, candidate: Candidate) -> tuple[Any, ...]:
        return ("listwise", candidate.title, candidate.text, self.max_passage_tokens,
                self.template["title_format"], id(self.engine))

    def _clean_passage(self, candidate: Candidate) -> str:
        if candidate.title:
            content = self.template["title_format"].format(title=candidate.title, text=candidate.text)
        else:
            content = candidate.text
        return fix_text_fast(content.strip())

    def _passages_to_cut(self, items: list[Prepared]) -> dict[Any, str]:
        texts: dict[Any, str] = {}
        for _, cands in items:
            for cand in cands:
                key = self._passage_key(cand)
                if key not in texts:
                    texts[key] = self._clean_passage(cand)
        return texts

    def _prefetch(self, items: list[Prepared]) -> None:
        """Cut every passage of the run in one batched engine call (a failure here is left to
        the windows, where the ``on_error`` policy applies)."""
        try:
            prefetch(self.engine, self._passages_to_cut(items), self.max_passage_tokens, replace_number)
        except EngineError:
            if self.on_error == "raise":
                raise

    async def _aprefetch(self, items: list[Prepared]) -> None:
        """:meth:`_prefetch` with the engine's concurrent truncation (served: ``/tokenize``)."""
        try:
            await aprefetch(self.engine, self._passages_to_cut(items), self.max_passage_tokens, replace_number)
        except EngineError:
            if self.on_error == "raise":
                raise

    def window_request(self, query: Query, window: list[Candidate]) -> ChatRequest:
        """The chat request for one window (official ``create_prompt``, rank_GPT_reasoning)."""
        text = replace_number(query.text).strip()
        num = len(window)
        tpl = self.template
        user = tpl["prefix"].format(num=num, query=text) + "\n"
        for rank, cand in enumerate(window, start=1):
            user += tpl["passage"].format(rank=rank, content=self.passage_content(cand))
        user += tpl["post"].format(num=num, query=text)
        # The official code runs ftfy.fix_text over the rendered prompt; on the message texts
        # it gives the same result (chat-template markup is plain ASCII).
        messages = [{"role": "user", "content": fix_text_fast(user)}]
        if tpl.get("system"):
            messages.insert(0, {"role": "system", "content": fix_text_fast(tpl["system"])})
        request = ChatRequest.of(messages)
        self._check_length(request)
        return request

    def _check_length(self, request: ChatRequest) -> None:
        limit = self.engine.max_context
        if not limit:
            return
        tokens = self.engine.count_tokens(self.engine.render(request))
        if tokens >= limit:
            raise PromptTooLongError(
                f"a window prompt has {tokens} tokens, the model's context is {limit}: lower "
                f"max_passage_tokens ({self.max_passage_tokens}) or window_size ({self.window_size})"
            )

    def _first_requests(self, query: Query, candidates: list[Candidate]) -> list[ChatRequest]:
        """The first window's request (sliding: the bottom window; partition: the top one);
        later windows depend on the model."""
        begin, end = self._strategy.first_window(self, len(candidates))
        return [self.window_request(query, candidates[begin:end])]

    def render_dry_run(self, query: Any, candidates: Any) -> str:
        """:meth:`dry_run` as the exact prompt text the engine would see."""
        return "\n\n".join(self.engine.render(r) for r in self.dry_run(query, candidates))

    # -- one query: a job for the scheduler ------------------------------------------------
    def _job(self, query: Query, candidates: list[Candidate]) -> Job:
        return self._strategy.job(self, query, candidates)

    def window_job(self, query: Query, window: list[Candidate], label: str) -> Generator[Any, Any, WindowOutcome]:
        """Rank one window (a sub-job of every strategy): its permutation, or the input order
        under the ``on_error`` / ``on_parse_error`` policies (``label`` names it in warnings)."""
        try:
            # Building the request calls the engine too (token counting and truncation,
            # remote on a server): it is under the same error policy as the generation.
            request = engine_call(self.window_request, query, window)
            gen: Generation = yield Generate(request, self.params)
        except EngineError as exc:
            return WindowOutcome(list(range(len(window))), warnings=[self.engine_fallback(query, label, exc)],
                                 engine_failure=True)
        parsed = parse_ranking(gen.text, len(window), self.template["answer_pattern"], self.reasoning_format)
        notes = list(parsed.warnings)
        if gen.finish_reason == "length":
            notes.insert(0, f"output hit max_tokens ({self.params.max_tokens})")
        if parsed.failed:
            # An unusable output is a normal event for a reasoning model: the window keeps its
            # order and the run goes on, as in the official loop and RankLLM (strict: raise).
            self.output_fallback(query, label, f"no ranking in the output {gen.text[-200:]!r}; "
                                 "kept the window's input order")
        trace = Trace.of("window", gen, [c.id for c in window], parsed.reasoning, parsed.answer,
                         warnings=notes, fallback=parsed.failed)
        return WindowOutcome(list(parsed.order), trace, [f"{label}: {n}" for n in notes])

    # -- many queries: run by the base class ----------------------------------------------
    def _progress_total(self, items: list[Prepared]) -> int | None:
        counts = [self._strategy.windows(self, len(c)) for _, c in items]
        return None if None in counts else sum(n or 0 for n in counts)

