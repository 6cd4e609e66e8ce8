"""Pointwise reasoning reranking: Rank1 (true/false) and ERank (graded 0-10).

One prompt per (query, passage). The model first reasons (generation, started with ``<think>``
and stopped at ``</think>``: the tags of the template's reasoning format); then the answer distribution is read at the answer position with
:meth:`Engine.choice_logprobs` on a request whose assistant turn already holds the thought and its
closing. When the reasoning budget ran out, the thought is cut to its last full sentence, closed,
and the answer forced, as the official Rank1 code does (``_fix_incomplete_responses`` in
github.com/orionw/rank1 ``rank1.py``). Prompts, stop strings and answer prefixes live in the
``rank1`` / ``erank`` prompt templates (``reasonrank/prompts/*.toml``), with their sources.

Each query is one job that forks a sub-job per pair (thought, then answer): on a sync engine
the ready steps of all pairs of all queries are batched into calls of ``max_batch_size``; on a
concurrent one every pair scores the moment its own thought returns (:mod:`reasonrank.scheduling`).
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Unpack

from reasonrank.engines.base import ChatRequest, ChoiceDistribution, Engine, Generation
from reasonrank.errors import EngineError, InvalidInputError, describe_failure
from reasonrank.methods.base import (
    Prepared,
    assemble_result,
    check_positive,
    engine_call,
    stable_order_by_score,
)
from reasonrank.methods.generating import GeneratingReranker, GenerationOptions
from reasonrank.methods.passages import cut_passage
from reasonrank.options import option
from reasonrank.prompts import load_prompt
from reasonrank.prompts.reasoning import DEFAULT_FORMAT, ReasoningFormat, expand_prompt
from reasonrank.scheduling import Fork, Generate, Job, ScoreChoices
from reasonrank.types import Candidate, Query, RerankResult, Trace

Mode = Literal["binary", "graded"]
GradedRule = Literal["expected", "paper"]

DEFAULT_TEMPLATES: dict[str, str] = {"binary": "rank1", "graded": "erank"}
# A template that does not say otherwise has Rank1's shape: the assistant turn opens the
# thought, the answer is read right after its close (the format's tags fill the placeholders).
_SHAPE: dict[str, Any] = {"assistant_prefix": "{think_open}", "stop": ["{think_close}"],
                          "closed_answer_prefix": "{think_open}{reasoning}{think_close}",
                          "forced_answer_prefix": "{think_open}\n{reasoning}\n{think_close}"}
# Rank1's dataset prompts (orionw/rank1 prompts.py) mark where the query goes with this token.
QUERY_PLACEHOLDER = "FILL_QUERY_HERE"
_PROBE = "\u2063reasonrank-template-probe\u2063"


class ChatTemplateError(InvalidInputError):
    """The engine's chat template already opens or closes a think block in the assistant turn,
    so the method's own ``<think>`` prefix would put the answer at the wrong position."""


@dataclass(frozen=True)
class PointwiseTemplate:
    """A pointwise prompt template (see ``reasonrank/prompts/rank1.toml`` for the keys)."""

    name: str
    mode: Mode
    user: str
    choices: tuple[str, ...]
    values: tuple[float, ...]
    assistant_prefix: str
    stop: tuple[str, ...]
    closed_answer_prefix: str
    forced_answer_prefix: str
    system: str | None = None
    #: The reasoning format (tags) the template's strings were written with.
    format: ReasoningFormat = DEFAULT_FORMAT
    default_instruction: str = ""
    max_reasoning_tokens: int = 4096
    source: str = ""

    @classmethod
    def load(cls, name_or_path: str) -> PointwiseTemplate:
        """Load a template by name (``rank1``, ``erank``) or TOML path; bad files raise clearly."""
        return cls.from_mapping(load_prompt(name_or_path), default_name=name_or_path)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], default_name: str = "custom") -> PointwiseTemplate:
        """A template from its keys; missing answer-position keys take Rank1's shape, and the
        tag placeholders are filled from the template's reasoning format."""
        data = expand_prompt({**_SHAPE, **data})
        missing = [k for k in ("mode", "user", "choices", "values") if k not in data]
        if missing:
            raise InvalidInputError(f"pointwise template {default_name!r} lacks {missing}")
        choices, values = tuple(data["choices"]), tuple(float(v) for v in data["values"])
        if len(choices) < 2 or len(choices) != len(values) or len(set(choices)) != len(choices):
            raise InvalidInputError(
                f"pointwise template {default_name!r}: need >= 2 distinct choices, one value each"
            )
        if data["mode"] not in ("binary", "graded"):
            raise InvalidInputError(f"template mode must be 'binary' or 'graded', got {data['mode']!r}")
        for key in ("closed_answer_prefix", "forced_answer_prefix"):
            if key in data and "{reasoning}" not in data[key]:
                raise InvalidInputError(f"template {key} must contain '{{reasoning}}'")
        if "{query}" not in data["user"] or "{passage}" not in data["user"]:
            raise InvalidInputError("template 'user' must contain '{query}' and '{passage}'")
        known = {f for f in cls.__dataclass_fields__}
        kwargs = {k: v for k, v in data.items() if k in known}
        kwargs.update(choices=choices, values=values, stop=tuple(data["stop"]))
        kwargs.setdefault("name", default_name)
        return cls(**kwargs)


def close_incomplete_reasoning(text: str) -> str:
    """A thought cut by the token budget, trimmed to its last complete sentence.

    Same rule as Rank1's ``_fix_incomplete_responses`` (orionw/rank1 rank1.py): strip trailing
    space; if the text does not end with ``.``/``!``/``?``, cut after the last such mark when
    there is one; strip.
    """
    text = text.rstrip()
    if not text.endswith((".", "!", "?")):
        last = max(text.rfind("."), text.rfind("!"), text.rfind("?"))
        if last != -1:
            text = text[: last + 1]
    return text.strip()


def expected_value(dist: ChoiceDistribution, choices: Sequence[str], values: Sequence[float]) -> float:
    """Sum of value x probability, the probabilities renormalised over the choices.

    For Rank1 (values 1, 0) this is p(true) / (p(true) + p(false)), the official score.
    """
    return sum(dist.probs.get(c, 0.0) * v for c, v in zip(choices, values))


def paper_score(dist: ChoiceDistribution, choices: Sequence[str], values: Sequence[float]) -> float:
    """ERank's rule (arXiv 2509.00520, sec. 3.2): s x Pr(token = s) for the answer s the model
    gives (the most likely choice), with Pr the model's own (not renormalised) probability."""
    best = max(range(len(choices)), key=lambda i: dist.logprobs.get(choices[i], -math.inf))
    lp = dist.logprobs.get(choices[best], -math.inf)
    return values[best] * (math.exp(lp) if lp != -math.inf else 0.0)


@dataclass
class _Pair:
    """One (query, candidate) unit of work and what the engine said about it."""

    cand_index: int
    candidate: Candidate
    request: ChatRequest | None  # None: building it failed (``exc``)
    generation: Generation | None = None
    forced: bool = False
    reasoning: str = ""
    answer_request: ChatRequest | None = None
    dist: ChoiceDistribution | None = None
    error: str | None = None
    exc: Exception | None = None
    fallback: bool = False  # no probability mass on any choice: the fallback score stands in
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class PointwiseOptions:
    """The pointwise method's options (Rank1, ERank)."""

    mode: Mode | None = option(None, "binary (Rank1: p(true)) or graded (ERank: 0-10); default: the template's")
    prompt: str | None = option(None, "template name (rank1, erank) or TOML path; default follows mode")
    reasoning_budget: int | None = option(None, "cap on reasoning tokens per pair (default: the template's)",
                                          metavar="N")
    graded_rule: GradedRule = option("expected", "graded scores: expected (sum s p(s)) or paper (ERank's s x Pr(s))")
    instruction: str | None = option(None, "ERank's relevance definition (templates with {instruction})")
    query_prompt: str | None = option(None, "Rank1 dataset prompt, with FILL_QUERY_HERE where the query goes")
    max_passage_tokens: int | None = option(None, "passage cut, in tokens of the engine's tokenizer (None: no cut)",
                                            metavar="N")
    check_template: bool = option(True, "refuse engines whose chat template opens a think block itself")


class PointwiseReranker(GeneratingReranker):
    """Pointwise reasoning reranker: Rank1 (``mode="binary"``) or ERank (``mode="graded"``).

    Parameters
    ----------
    engine:
        Any engine with ``generate`` and ``choice_logprobs``.
    mode:
        ``"binary"`` — score = p(true) in [0, 1]; ``"graded"`` — 0-10 score. Defaults to the
        template's mode (``rank1`` when neither is given).
    prompt:
        Template name (``rank1``, ``erank``) or a TOML file path; default follows ``mode``.
    reasoning_budget:
        Cap on reasoning tokens per pair (the template's official value by default). A thought
        that hits it is closed and the answer forced (Rank1's rule).
    graded_rule:
        ``"expected"`` (sum s p(s), renormalised over 0-10) or ``"paper"`` (ERank's s x Pr(s)).
    instruction:
        ERank's relevance definition (templates with ``{instruction}``).
    query_prompt:
        Rank1 dataset prompt, with ``FILL_QUERY_HERE`` where the query goes.
    max_passage_tokens:
        Truncate each passage to this many tokens of the engine's tokenizer (None: no cut).
    check_template:
        Refuse engines whose chat template opens/closes a think block in the assistant turn.
    on_error, on_parse_error:
        See :class:`~reasonrank.methods.base.Reranker`. A pair whose answer position gives no
        probability mass to any choice gets :attr:`fallback_score` (``on_parse_error="keep_order"``)
        or raises :class:`ParseError`. An engine failure under ``keep_order`` keeps the query's
        input order.
    """

    method = "pointwise"
    result_fields = ("template", "instruction", "mode", "graded_rule", "query_prompt", "reasoning_budget", "check_template")
    operational_fields = ("_template_checked",)  # a one-time check of the engine
    Options: ClassVar[type] = PointwiseOptions

    def __init__(
        self,
        engine: Engine,
        *,
        mode: Mode | None = None,
        prompt: str | None = None,
        reasoning_budget: int | None = None,
        graded_rule: GradedRule = "expected",
        instruction: str | None = None,
        query_prompt: str | None = None,
        max_passage_tokens: int | None = None,
        check_template: bool = True,
        **options: Unpack[GenerationOptions],
    ) -> None:
        if mode is not None and mode not in DEFAULT_TEMPLATES:
            raise InvalidInputError(f"mode must be 'binary' or 'graded', got {mode!r}")
        if graded_rule not in ("expected", "paper"):
            raise InvalidInputError(f"graded_rule must be 'expected' or 'paper', got {graded_rule!r}")
        check_positive("reasoning_budget", reasoning_budget)
        check_positive("max_passage_tokens", max_passage_tokens)
        if query_prompt is not None and QUERY_PLACEHOLDER not in query_prompt:
            raise InvalidInputError(f"query_prompt must contain {QUERY_PLACEHOLDER!r}")
        self.template = PointwiseTemplate.load(prompt or DEFAULT_TEMPLATES[mode or "binary"])
        if mode is not None and self.template.mode != mode:
            raise InvalidInputError(
                f"prompt template {self.template.name!r} is for mode {self.template.mode!r}, not {mode!r}"
            )
        self.mode: Mode = self.template.mode
        self.reasoning_budget = reasoning_budget or self.template.max_reasoning_tokens
        super().__init__(engine, max_tokens=self.reasoning_budget, stop=self.template.stop, **options)
        self._use_format(self.template.format)
        self.graded_rule: GradedRule = graded_rule
        self.instruction = instruction if instruction is not None else self.template.default_instruction
        self.query_prompt = query_prompt
        self.max_passage_tokens = max_passage_tokens
        self.check_template = check_template
        self._template_checked = False

    # -- prompts ----------------------------------------------------------------------------
    def build_request(self, query: Query, candidate: Candidate) -> ChatRequest:
        """The reasoning request for one (query, candidate) pair."""
        qtext = query.text
        if self.query_prompt:
            qtext = self.query_prompt.replace(QUERY_PLACEHOLDER, qtext)
        passage = candidate.content()
        if self.max_passage_tokens:
            passage = cut_passage(self.engine, passage, self.max_passage_tokens)
        # str.format substitutes values once: braces inside query/passage text stay literal.
        user = self.template.user.format(query=qtext, passage=passage, instruction=self.instruction)
        messages = ([{"role": "system", "content": self.template.system}] if self.template.system else [])
        messages.append({"role": "user", "content": user})
        return ChatRequest.of(messages, self.template.assistant_prefix)

    def _first_requests(self, query: Query, candidates: list[Candidate]) -> list[ChatRequest]:
        return [self.build_request(query, c) for c in candidates]

    def verify_chat_template(self) -> None:
        """Raise :class:`ChatTemplateError` if the engine's rendered assistant turn already holds
        think markup (e.g. a Qwen3-style template that opens ``<think>`` by default, or one that
        inserts an empty closed thought): the answer position would then be wrong."""
        rendered = self.engine.render(ChatRequest.of([{"role": "user", "content": _PROBE}]))
        tail = rendered.rsplit(_PROBE, 1)[-1]
        if self.reasoning_format.think_open in tail or self.reasoning_format.think_close in tail:
            raise ChatTemplateError(
                f"the chat template of {self.engine.model_name!r} already writes think markup in the "
                f"assistant turn ({tail.strip()[-60:]!r}); pointwise reranking starts the thought "
                "itself. Render without it (e.g. engine chat_template_kwargs such as "
                '{"enable_thinking": ...} or a plain chat_template), or pass check_template=False '
                "if you know the answer position is right."
            )
        self._template_checked = True

    # -- answer reading ---------------------------------------------------------------------
    def _answer_request(self, pair: _Pair) -> None:
        """Build the teacher-forced answer request from the generated thought."""
        gen = pair.generation
        assert gen is not None
        pair.warnings, pair.forced = [], False  # a retried pair starts afresh
        text = gen.text
        closed = gen.finish_reason != "length"
        close = self.reasoning_format.think_close
        if close in text:  # engines that ignore stop strings: cut at the close ourselves
            text, closed = text.split(close, 1)[0], True
        if closed:
            prefix_template, pair.reasoning = self.template.closed_answer_prefix, text
        else:
            prefix_template, pair.reasoning = self.template.forced_answer_prefix, close_incomplete_reasoning(text)
            pair.forced = True
            pair.warnings.append(
                f"reasoning hit the budget of {self.reasoning_budget} tokens: thought cut to its last "
                "sentence, closed and the answer forced"
            )
        prefix = prefix_template.replace("{reasoning}", pair.reasoning)
        assert pair.request is not None
        pair.answer_request = ChatRequest(pair.request.messages, prefix)

    def score(self, dist: ChoiceDistribution) -> float:
        """The relevance score of one answer distribution."""
        if self.mode == "graded" and self.graded_rule == "paper":
            return paper_score(dist, self.template.choices, self.template.values)
        return expected_value(dist, self.template.choices, self.template.values)

    @property
    def fallback_score(self) -> float:
        """The score of a pair whose output gave no usable answer: what a uniform distribution
        over the choices scores under the chosen rule (no information either way: 0.5 for Rank1,
        5 for ERank's expected value)."""
        n = len(self.template.choices)
        return self.score(ChoiceDistribution(logprobs={c: -math.log(n) for c in self.template.choices}))

    # -- one query as a scheduler job: its pairs forked, each thought then answer -------------
    def _pair_job(self, query: Query, index: int, cand: Candidate) -> Job[_Pair]:
        """One pair: the reasoning generation, then the answer distribution. An engine failure
        (request building included) under ``on_error="raise"`` fails the query at once (its
        other pairs are cancelled); under ``"keep_order"`` it is recorded on the pair."""
        pair = _Pair(index, cand, None)
        try:
            pair.request = engine_call(self.build_request, query, cand)
            pair.generation = yield Generate(pair.request, self.params)
            self._answer_request(pair)
            assert pair.answer_request is not None
            dist = yield ScoreChoices(pair.answer_request, self.template.choices)
        except EngineError as exc:
            if self.on_error == "raise":
                raise
            pair.error, pair.exc = describe_failure(exc), exc
            return pair
        # NaN counts as no mass too (normalize_logprobs ignores it)
        pair.fallback = all(not dist.logprobs.get(c, -math.inf) > -math.inf for c in self.template.choices)
        pair.dist = dist
        return pair

    def _job(self, query: Query, cands: list[Candidate]) -> Job[RerankResult]:
        # Rendering for the template check calls the engine: under the same policy as the pairs.
        try:
            if self.check_template and not self._template_checked:
                engine_call(self.verify_chat_template)
        except EngineError as exc:
            if self.on_error == "raise":
                raise
            return self.keep_order_result(query, cands, f"{len(cands)} of {len(cands)} pairs failed "
                                          f"({describe_failure(exc)})", engine_fallbacks=len(cands))
        pairs: list[_Pair] = yield Fork(tuple(self._pair_job(query, i, c) for i, c in enumerate(cands)))
        failed = [p for p in pairs if p.exc is not None]
        if failed:
            return self.keep_order_result(
                query, cands, f"{len(failed)} of {len(pairs)} pairs failed ({failed[0].error})",
                engine_fallbacks=len(failed),
            )
        return self._assemble(query, cands, pairs)

    # -- many queries: run by the base class ------------------------------------------------
    def _cuts(self, items: list[Prepared]) -> tuple[list[str], int] | None:
        if not self.max_passage_tokens:
            return None
        return [c.content() for _, cands in items for c in cands], self.max_passage_tokens

    def _progress_total(self, items: list[Prepared]) -> int:
        return 2 * sum(len(c) for _, c in items)

    def _assemble(self, query: Query, cands: list[Candidate], qpairs: list[_Pair]) -> RerankResult:
        scores = [0.0] * len(cands)
        per_candidate: dict[int, dict[str, Any]] = {}
        traces: list[Trace] = []
        warnings: list[str] = []
        for pair in qpairs:
            assert pair.dist is not None and pair.generation is not None and pair.answer_request
            score = math.nan if pair.fallback else self.score(pair.dist)
            if not math.isfinite(score):  # no mass on any choice, or logprobs that are not numbers
                pair.fallback = True
                detail = f"no probability mass on any answer choice; fallback score {self.fallback_score:g}"
                self.output_fallback(query, f"passage {pair.candidate.id}", detail)
                pair.warnings.append(detail)
                score = self.fallback_score
            scores[pair.cand_index] = score
            answer = max(self.template.choices, key=lambda c: pair.dist.probs.get(c, 0.0))  # type: ignore[union-attr]
            raw = pair.answer_request.assistant_prefix + answer
            per_candidate[pair.cand_index] = {"reasoning": pair.reasoning.strip(), "raw_output": raw}
            traces.append(
                Trace(
                    kind="pointwise",
                    candidate_ids=[pair.candidate.id],
                    reasoning=pair.reasoning.strip(),
                    answer=answer.replace(self.reasoning_format.answer_close, "").strip(),
                    raw_output=pair.generation.text,
                    prompt_tokens=pair.generation.prompt_tokens + pair.dist.prompt_tokens,
                    completion_tokens=pair.generation.completion_tokens,
                    seconds=pair.generation.seconds + pair.dist.seconds,
                    cached=pair.generation.cached and pair.dist.cached,
                    warnings=list(pair.warnings),
                    fallback=pair.fallback,
                )
            )
            warnings.extend(f"{pair.candidate.id}: {w}" for w in pair.warnings)
        return assemble_result(
            query, cands, stable_order_by_score(scores), self.method, scores=scores, traces=traces,
            warnings=warnings, per_candidate=per_candidate, model=self.engine.model_name,
        )
