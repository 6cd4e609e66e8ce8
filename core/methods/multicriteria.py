"""Multi-criteria reranking (REBEL, "Relevance Isn't All You Need", arXiv 2504.07104).

Each passage is scored with chain-of-thought on several criteria: relevance on 0-10 and every
secondary criterion on 0-5 (github microsoft/REBEL README.md), and the scores are combined into
one weighted composite. Two modes, as in the paper and LlamaIndex PR #17590:

* **one-turn**: fixed criteria (relevance, depth, recency, authority, clarity by default, or the
  user's own with weights);
* **two-turn** (``two_turn=True``): turn 1 asks the LLM, once per query, which secondary criteria
  matter for this query and with which weights; turn 2 continues that conversation and scores
  each passage against them.

Combination rule: each score is divided by its scale maximum (10 for relevance, 5 for secondary
criteria) so that the README's two scales weigh alike, and the composite is the weighted mean
``sum_c w_c * s_c / max_c / sum_c w_c`` in [0, 1]. Ties keep first-stage order.

One request per (query, passage). Each query is one job (:mod:`reasonrank.scheduling`): in the
two-turn mode its passages are scored the moment its own criteria turn returns (no phase
lockstep across queries); the scoring requests of all queries share engine calls of
``max_batch_size`` (sync) or ``max_concurrency`` requests in flight (async).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Unpack

from reasonrank.engines.base import ChatRequest, Engine, Generation
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.methods.base import (
    Prepared,
    assemble_result,
    check_positive,
    engine_call,
    stable_order_by_score,
)
from reasonrank.methods.criteria import (
    CriteriaLike,
    CriteriaSet,
    PassageScores,
    combine,
    normalize_name,
    parse_criteria,
    parse_meta,
    parse_scores,
)
from reasonrank.methods.generating import GeneratingReranker, GenerationOptions
from reasonrank.methods.passages import cut_passage
from reasonrank.options import option
from reasonrank.parsing import split_sections
from reasonrank.prompts import load_prompt
from reasonrank.scheduling import Generate, Job, gather
from reasonrank.scheduling.forcing import ForceAnswer
from reasonrank.types import Candidate, Query, RerankResult, Trace

_NO_CRITERIA = "turn 1 gave no usable criteria; used the default criteria"


@dataclass(frozen=True)
class RebelOptions:
    """REBEL's options."""

    criteria: CriteriaLike | None = option(None, "one-turn criteria: name=weight pairs ('relevance=0.5,depth=0.2'), "
                                           "a list of names or a mapping; default: the template's set",
                                           metavar="NAME=W,...")
    two_turn: bool = option(False, "let the LLM choose query-dependent criteria and weights first")
    max_criteria: int = option(5, "most secondary criteria turn 1 may choose", metavar="N")
    max_passage_tokens: int = option(512, "passage cut, in tokens of the engine's tokenizer", metavar="N")
    reasoning_budget: int = option(1024, "max_tokens of each scoring generation", metavar="N")
    prompt: str = option("rebel", "template name or TOML path")


class RebelReranker(GeneratingReranker):
    """REBEL multi-criteria reranker.

    Parameters (beyond :class:`~reasonrank.methods.base.Reranker`'s)
    ----------------------------------------------------------------
    criteria:
        One-turn criteria: a dict ``name -> weight``, a list of names (equal weights) or a string
        ``"relevance=0.5,depth=0.2"``. Default: the template's fixed set. ``relevance`` is scored
        0-10, every other criterion 0-5.
    two_turn:
        Let the LLM choose query-dependent criteria and weights first (once per query).
    max_criteria:
        Most secondary criteria turn 1 may choose (5).
    max_passage_tokens:
        Passage cut, in tokens of the engine's tokenizer (512).
    reasoning_budget:
        ``max_tokens`` of each scoring generation (1024); turn 1 gets the same.
    force_answer:
        A thought cut by the budget is closed and the answer asked for (default on).
    temperature, top_p, seed:
        Sampling (default greedy).
    prompt:
        Template name in ``reasonrank.prompts`` (``"rebel"``) or a TOML path.
    schedule, max_batch_size, max_concurrency, show_progress:
        See :class:`~reasonrank.methods.base.Reranker`.
    on_error, on_parse_error:
        See :class:`~reasonrank.methods.base.Reranker`. A scoring output with no usable score
        for any criterion gives the passage :attr:`fallback_score` (every criterion at half its
        scale); a criteria turn with no usable criteria falls back to the default criteria.
        Both are counted in ``usage.fallbacks`` (strict: :class:`ParseError`).
    """

    method = "rebel"
    result_fields = ("template", "criteria", "max_criteria", "relevance_scale", "secondary_scale", "two_turn")
    Options: ClassVar[type] = RebelOptions
    answer_forcing = ForceAnswer(answer_tokens=160)  # forced answers, on: one "name: score" line per criterion
    #: Composite of a passage whose output had no usable score: the middle of the [0, 1] scale.
    fallback_score: float = 0.5

    def __init__(
        self,
        engine: Engine,
        *,
        criteria: CriteriaLike | None = None,
        two_turn: bool = False,
        max_criteria: int = 5,
        max_passage_tokens: int = 512,
        reasoning_budget: int = 1024,
        prompt: str = "rebel",
        **options: Unpack[GenerationOptions],
    ) -> None:
        for name, value in (("max_criteria", max_criteria), ("max_passage_tokens", max_passage_tokens),
                            ("reasoning_budget", reasoning_budget)):
            check_positive(name, value)
        super().__init__(engine, max_tokens=reasoning_budget, **options)
        if not isinstance(two_turn, bool):
            raise InvalidInputError(f"two_turn must be a bool, got {two_turn!r}")
        if two_turn and criteria is not None:
            raise InvalidInputError("criteria and two_turn exclude each other: two-turn REBEL lets the "
                                    "model choose the criteria")
        self.template = load_prompt(prompt)
        self._use_format(self.template["format"])
        self.relevance_scale = float(self.template["relevance_scale"])
        self.secondary_scale = float(self.template["secondary_scale"])
        self.two_turn = two_turn
        self.max_criteria = max_criteria
        self.max_passage_tokens = max_passage_tokens
        self.criteria = self._criteria_set(parse_criteria(criteria if criteria is not None
                                                          else self.template["default_criteria"]))

    # -- criteria ---------------------------------------------------------------------------
    def _criteria_set(self, weights: Mapping[str, float], descriptions: Mapping[str, str] | None = None) -> CriteriaSet:
        total = sum(weights.values())
        known = dict(self.template.get("descriptions", {}))
        known.update(descriptions or {})
        return CriteriaSet(
            weights={k: w / total for k, w in weights.items()},
            scales={k: self.relevance_scale if k == "relevance" else self.secondary_scale for k in weights},
            descriptions={k: known.get(k, k.replace("_", " ")) for k in weights},
        )

    def criteria_from_meta(self, text: str) -> tuple[CriteriaSet, list[str]]:
        """The criteria set turn 1's output defines; falls back to the default set with a
        warning when nothing usable was written. Relevance is always included."""
        weights, descriptions, warnings = parse_meta(text, self.max_criteria, self.reasoning_format)
        if not weights or sum(weights.values()) <= 0:
            warnings.append(_NO_CRITERIA)
            return self._criteria_set(self.template["default_criteria"]), warnings
        if "relevance" not in weights:
            # Relevance is REBEL's primary criterion; give it half the mass when the model forgot it.
            weights = {"relevance": sum(weights.values()), **weights}
            warnings.append("turn 1 omitted relevance; added it with half the total weight")
        return self._criteria_set(weights, descriptions), warnings

    # -- prompts ----------------------------------------------------------------------------
    def _passage(self, candidate: Candidate) -> str:
        return cut_passage(self.engine, candidate.content().strip(), self.max_passage_tokens)

    def _system(self) -> list[dict[str, str]]:
        return [{"role": "system", "content": self.template["system"]}] if self.template.get("system") else []

    def meta_request(self, query: Query) -> ChatRequest:
        """Turn 1: ask for the query's criteria and weights."""
        tpl = self.template["templates"]["meta"]
        text = tpl.format(query=query.text.strip(), max_criteria=self.max_criteria,
                          relevance_scale=f"{self.relevance_scale:g}", secondary_scale=f"{self.secondary_scale:g}")
        return ChatRequest.of([*self._system(), {"role": "user", "content": text}])

    def score_request(self, query: Query, candidate: Candidate, criteria: CriteriaSet,
                      history: Sequence[Mapping[str, str]] = ()) -> ChatRequest:
        """Score one passage; ``history`` is turn 1's exchange in the two-turn mode."""
        line = self.template["templates"]["criterion_line"]
        block = "\n".join(line.format(name=c, scale=f"{criteria.scales[c]:g}", description=criteria.descriptions[c])
                          for c in criteria.weights)
        example = "\n".join(f"{c}: {criteria.scales[c] / 2:g}" for c in criteria.weights)
        text = self.template["templates"]["score"].format(
            query=query.text.strip(), passage=self._passage(candidate), criteria_block=block, example=example)
        messages = list(history) if history else self._system()
        return ChatRequest.of([*messages, {"role": "user", "content": text}])

    def _first_requests(self, query: Query, candidates: list[Candidate]) -> list[ChatRequest]:
        if self.two_turn:
            return [self.meta_request(query)]
        return [self.score_request(query, c, self.criteria) for c in candidates]

    # -- one query as a scheduler job -------------------------------------------------------
    def _job(self, query: Query, cands: list[Candidate]) -> Job[RerankResult]:
        """Two-turn: the criteria turn, then every passage scored against its answer, the moment
        it returns (other queries' turns do not wait for it). One-turn: the scoring turn only."""
        criteria, history, traces, warnings = self.criteria, [], [], []
        if self.two_turn:
            request = self.meta_request(query)
            try:
                gen: Generation = yield Generate(request, self.params)
            except EngineError as exc:
                if self.on_error == "raise":
                    raise
                return self.keep_order_result(query, cands, f"criteria turn: engine error: {exc}")
            criteria, notes = self.criteria_from_meta(gen.text)
            if _NO_CRITERIA in notes:
                self.output_fallback(query, "criteria turn", _NO_CRITERIA)
            history = [*request.messages, {"role": "assistant", "content": gen.text}]
            warnings = [f"criteria: {w}" for w in notes]
            traces = [self._criteria_trace(gen, criteria, notes)]
        replies: dict[int, Generation | EngineError] = {}
        steps: dict[int, Generate] = {}
        for ci, cand in enumerate(cands):
            try:  # truncation calls the engine: a failure is this passage's engine error
                steps[ci] = Generate(engine_call(self.score_request, query, cand, criteria, history), self.params)
            except EngineError as exc:
                replies[ci] = exc
        replies.update(zip(steps, (yield gather(list(steps.values())))))
        return self._assemble(query, cands, criteria, replies, traces, warnings)

    def _criteria_trace(self, gen: Generation, criteria: CriteriaSet, notes: list[str]) -> Trace:
        return Trace.of("criteria", gen, [], split_sections(gen.text, fmt=self.reasoning_format).reasoning,
                        ", ".join(f"{k}={w:.3g}" for k, w in criteria.weights.items()),
                        warnings=notes, fallback=_NO_CRITERIA in notes)

    def _cuts(self, items: list[Prepared]) -> tuple[list[str], int]:
        return [c.content().strip() for _, cands in items for c in cands], self.max_passage_tokens

    def _progress_total(self, items: list[Prepared]) -> int:
        return sum(len(c) + int(self.two_turn) for _, c in items)

    def _assemble(self, query: Query, cands: list[Candidate], criteria: CriteriaSet,
                  gens: Mapping[int, Generation | EngineError], traces: list[Trace],
                  warnings: list[str]) -> RerankResult:
        errors = [g for g in gens.values() if isinstance(g, EngineError)]
        if errors:
            if self.on_error == "raise":
                raise errors[0]
            return self.keep_order_result(query, cands, f"engine error while scoring: {errors[0]}",
                                          engine_fallbacks=len(errors))
        traces, warnings = list(traces), list(warnings)
        scores: list[float] = []
        per_candidate: dict[int, dict[str, Any]] = {}
        for ci, cand in enumerate(cands):
            gen = gens[ci]
            assert isinstance(gen, Generation)
            parsed = parse_scores(gen.text, criteria, self.reasoning_format)
            notes = list(parsed.warnings)
            if gen.finish_reason == "length":
                notes.insert(0, f"output hit max_tokens ({self.params.max_tokens})")
            fell_back = parsed.found == 0
            if fell_back:
                detail = f"no usable score for any criterion; fallback score {self.fallback_score:g}"
                self.output_fallback(query, f"passage {cand.id}", detail)
                notes.append(detail)
            scores.append(self.fallback_score if fell_back else combine(parsed.scores, criteria))
            per_candidate[ci] = {"reasoning": parsed.reasoning or None, "raw_output": gen.text,
                                 "criteria": parsed.scores}
            traces.append(Trace.of("score", gen, [cand.id], parsed.reasoning,
                                   ", ".join(f"{k}={v:g}" for k, v in parsed.scores.items()),
                                   warnings=notes, fallback=fell_back))
            warnings.extend(f"passage {cand.id}: {n}" for n in notes)
        return assemble_result(query, cands, stable_order_by_score(scores), self.method, scores=scores,
                               traces=traces, warnings=warnings, per_candidate=per_candidate,
                               criteria_weights=dict(criteria.weights), model=self.engine.model_name)


__all__ = ["CriteriaLike", "CriteriaSet", "PassageScores", "RebelReranker", "combine", "normalize_name",
           "parse_criteria", "parse_meta", "parse_scores"]
