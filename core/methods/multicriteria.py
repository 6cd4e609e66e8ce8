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

One request per (query, passage): the scoring prompts of all passages of all queries go to the
engine together, in calls of ``max_batch_size`` (sync) or ``max_concurrency`` in flight (async).
"""
from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Generator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from reasonrank.engines.base import ChatRequest, Engine, Generation, SamplingParams
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.methods.base import (
    OnError,
    OnParseError,
    Prepared,
    Reranker,
    assemble_result,
    check_positive,
    engine_call,
    stable_order_by_score,
    with_query,
)
from reasonrank.methods.passages import cut_passage, passage_memo, prefetch_cuts
from reasonrank.methods.scheduler import run_async, run_batched, run_coroutine
from reasonrank.parsing import split_sections
from reasonrank.prompts import load_prompt
from reasonrank.types import Candidate, Query, RerankResult, Trace

CriteriaLike = Mapping[str, float] | Sequence[str] | str
_NO_CRITERIA = "turn 1 gave no usable criteria; used the default criteria"
_NUMBER = r"[-+]?\d+(?:\.\d+)?"
# "name: 0.4 - description" (turn 1 answer); bullets and numbering tolerated.
_META_LINE = re.compile(
    rf"^[\s\-*•\d.)]*\**([A-Za-z][A-Za-z0-9 _/&\-]{{0,40}}?)\**\s*(?:[:=]|\(\s*weight\s*[:=]?)\s*"
    rf"(?:weight\s*[:=]?\s*)?({_NUMBER})\s*(%?)\s*\)?\s*(?:[-–—:|]\s*(.*))?$",
    re.IGNORECASE,
)
_SCORE_LINE = re.compile(r"^[\s\-*•]*\**([A-Za-z][A-Za-z0-9 _/&\-]{0,40}?)\**\s*[:=]\s*(.+?)\s*$")


def normalize_name(name: str) -> str:
    """Criterion names compare case- and spacing-insensitively: ``"Source Authority"`` ->
    ``"source_authority"``."""
    return re.sub(r"[\s\-/&]+", "_", name.strip().lower()).strip("_")


def parse_criteria(criteria: CriteriaLike) -> dict[str, float]:
    """Criteria from a dict ``name -> weight``, a list of names (equal weights) or a string
    ``"relevance=0.5,depth=0.2"`` (the CLI's ``--criteria``). Weights must be >= 0, not all 0."""
    if isinstance(criteria, str):
        out: dict[str, float] = {}
        for part in filter(None, (p.strip() for p in criteria.split(","))):
            name, sep, value = part.partition("=")
            if not sep:
                raise InvalidInputError(f"criteria: expected NAME=WEIGHT, got {part!r}")
            try:
                out[name] = float(value)
            except ValueError:
                raise InvalidInputError(f"criteria: weight of {name.strip()!r} is not a number: {value!r}") from None
        criteria = out
    elif not isinstance(criteria, Mapping):
        if not isinstance(criteria, Sequence) or not all(isinstance(c, str) for c in criteria):
            raise InvalidInputError("criteria must be a dict name->weight, a list of names or 'a=0.5,b=0.5'")
        criteria = {c: 1.0 for c in criteria}
    result: dict[str, float] = {}
    for name, weight in criteria.items():
        key = normalize_name(str(name))
        if not key:
            raise InvalidInputError(f"criteria: empty criterion name {name!r}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) or weight < 0:
            raise InvalidInputError(f"criteria: weight of {key!r} must be a number >= 0, got {weight!r}")
        if key in result:
            raise InvalidInputError(f"criteria: {key!r} given twice")
        result[key] = float(weight)
    if not result:
        raise InvalidInputError("criteria is empty")
    if sum(result.values()) <= 0:
        raise InvalidInputError("criteria: the weights sum to 0")
    return result


@dataclass
class CriteriaSet:
    """The criteria of one query: weights (summing to 1), scale maxima and descriptions."""

    weights: dict[str, float]
    scales: dict[str, float]
    descriptions: dict[str, str] = field(default_factory=dict)


@dataclass
class PassageScores:
    """One passage's parsed scores (clamped to their scales) and what went wrong."""

    scores: dict[str, float]
    reasoning: str
    warnings: list[str] = field(default_factory=list)
    found: int = 0  # criteria that got a numeric score; 0 means the output was unusable


def combine(scores: Mapping[str, float], criteria: CriteriaSet) -> float:
    """Weighted mean of scale-normalised scores, in [0, 1] (see the module docstring)."""
    total = sum(criteria.weights.values())
    return sum(w * scores.get(c, 0.0) / criteria.scales[c] for c, w in criteria.weights.items()) / total


def parse_scores(text: str, criteria: CriteriaSet) -> PassageScores:
    """Scores of every criterion from a scoring answer.

    Missing criteria score 0 and non-numeric scores score 0; out-of-range values are clamped;
    unknown criteria are ignored. Each case is a warning. The answer region is preferred; without
    one, the whole output is searched (last mention wins).
    """
    sections = split_sections(text)
    warnings = [w for w in sections.warnings if "ids taken" not in w]
    found: dict[str, str] = {}
    extra: list[str] = []
    for region in (text, sections.answer):  # answer lines override earlier mentions
        for line in region.splitlines():
            m = _SCORE_LINE.match(line)
            if not m:
                continue
            key = normalize_name(m.group(1))
            in_answer = region is sections.answer
            if key in criteria.weights and (in_answer or re.match(rf"\s*\[?{_NUMBER}", m.group(2))):
                found[key] = m.group(2)
            elif in_answer and key not in criteria.weights and key not in extra:
                extra.append(key)
    scores: dict[str, float] = {}
    raw_scores, found = found, 0  # type: ignore[assignment]
    for name, scale in criteria.scales.items():
        raw = raw_scores.get(name)
        if raw is None:
            warnings.append(f"{name}: no score, counted as 0")
            scores[name] = 0.0
            continue
        num = re.match(rf"\s*\[?({_NUMBER})(?:\s*/\s*({_NUMBER}))?", raw)
        if num is None:
            warnings.append(f"{name}: non-numeric score {raw[:30]!r}, counted as 0")
            scores[name] = 0.0
            continue
        value = float(num.group(1))
        if num.group(2) and float(num.group(2)) > 0 and float(num.group(2)) != scale:
            value = value / float(num.group(2)) * scale  # "4/5" on a 0-10 scale: rescale
        if not math.isfinite(value) or value < 0 or value > scale:
            clamped = min(max(value, 0.0), scale) if not math.isnan(value) else 0.0
            warnings.append(f"{name}: score {value:g} outside 0-{scale:g}, clamped to {clamped:g}")
            value = clamped
        scores[name] = value
        found += 1
    if extra:
        warnings.append(f"ignored criteria not asked for: {', '.join(extra[:5])}")
    return PassageScores(scores, sections.reasoning, warnings, found)


def parse_meta(text: str, max_criteria: int) -> tuple[dict[str, float], dict[str, str], list[str]]:
    """Turn 1's criteria: ``name -> weight`` and ``name -> description``, plus warnings.

    Percentages and weights that do not sum to 1 are accepted (the caller normalises); more than
    ``max_criteria`` secondary criteria are cut, keeping the heaviest.
    """
    sections = split_sections(text)
    weights: dict[str, float] = {}
    descriptions: dict[str, str] = {}
    warnings: list[str] = []
    in_answer = any(_META_LINE.match(line.strip()) for line in sections.answer.splitlines())
    region = sections.answer if in_answer else text
    for line in region.splitlines():
        m = _META_LINE.match(line.strip())
        if not m:
            continue
        key = normalize_name(m.group(1))
        if key in weights or key in ("weight", "score", "answer"):
            continue
        weight = float(m.group(2)) / (100.0 if m.group(3) else 1.0)  # "40%" = 0.4
        if weight < 0:
            warnings.append(f"criterion {key}: negative weight {weight:g} ignored")
            continue
        weights[key] = weight
        if m.group(4):
            descriptions[key] = m.group(4).strip()
    secondary = sorted((k for k in weights if k != "relevance"), key=lambda k: -weights[k])
    if len(secondary) > max_criteria:
        warnings.append(f"kept the {max_criteria} heaviest of {len(secondary)} secondary criteria")
        for k in secondary[max_criteria:]:
            weights.pop(k)
    return weights, descriptions, warnings


class RebelReranker(Reranker):
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
    temperature, top_p, seed:
        Sampling (default greedy).
    prompt:
        Template name in ``reasonrank.prompts`` (``"rebel"``) or a TOML path.
    max_batch_size, max_concurrency:
        Override the engine's own limits.
    on_error, on_parse_error:
        See :class:`~reasonrank.methods.base.Reranker`. A scoring output with no usable score
        for any criterion gives the passage :attr:`fallback_score` (every criterion at half its
        scale); a criteria turn with no usable criteria falls back to the default criteria.
        Both are counted in ``usage.fallbacks`` (strict: :class:`ParseError`).
    """

    method = "rebel"
    #: Composite of a passage whose output had no usable score: the middle of the [0, 1] scale.
    fallback_score: float = 0.5

    def __init__(
        self,
        engine: Engine,
        *,
        criteria: CriteriaLike | None = None,
        two_turn: bool = False,
        max_criteria: int = 5,
        depth: int | None = None,
        max_passage_tokens: int = 512,
        reasoning_budget: int = 1024,
        temperature: float = 0.0,
        top_p: float = 1.0,
        seed: int | None = None,
        prompt: str = "rebel",
        max_batch_size: int | None = None,
        max_concurrency: int | None = None,
        on_error: OnError = "raise",
        on_parse_error: OnParseError = "keep_order",
        show_progress: bool = False,
    ) -> None:
        super().__init__(engine, on_error=on_error, on_parse_error=on_parse_error, depth=depth,
                         show_progress=show_progress)
        for name, value in (("max_criteria", max_criteria), ("max_passage_tokens", max_passage_tokens),
                            ("reasoning_budget", reasoning_budget), ("max_batch_size", max_batch_size),
                            ("max_concurrency", max_concurrency)):
            check_positive(name, value)
        if not isinstance(two_turn, bool):
            raise InvalidInputError(f"two_turn must be a bool, got {two_turn!r}")
        if two_turn and criteria is not None:
            raise InvalidInputError("criteria and two_turn exclude each other: two-turn REBEL lets the "
                                    "model choose the criteria")
        self.template = load_prompt(prompt)
        self.relevance_scale = float(self.template["relevance_scale"])
        self.secondary_scale = float(self.template["secondary_scale"])
        self.two_turn = two_turn
        self.max_criteria = max_criteria
        self.max_passage_tokens = max_passage_tokens
        self.max_batch_size = max_batch_size
        self.max_concurrency = max_concurrency
        self.criteria = self._criteria_set(parse_criteria(criteria if criteria is not None
                                                          else self.template["default_criteria"]))
        try:
            self.params = SamplingParams(max_tokens=reasoning_budget, temperature=temperature,
                                         top_p=top_p, seed=seed)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from None

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
        weights, descriptions, warnings = parse_meta(text, self.max_criteria)
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

    # -- running ----------------------------------------------------------------------------
    def _use_async(self) -> bool:
        """Concurrent single requests for servers (concurrency > 1, batch 1); batched calls otherwise."""
        batch = self.max_batch_size or self.engine.max_batch_size
        return (self.max_concurrency or self.engine.max_concurrency) > 1 and batch <= 1

    def _run(self, requests: list[ChatRequest]) -> list[Generation | EngineError]:
        jobs = [_single(r) for r in requests]
        if self._use_async():
            return run_coroutine(run_async(jobs, self.engine, self.params, max_concurrency=self.max_concurrency))
        return run_batched(jobs, self.engine, self.params, max_batch_size=self.max_batch_size)

    def _rerank_many(self, items: list[Prepared]) -> list[RerankResult]:
        with passage_memo():  # every passage cut in one batched call, once per run
            prefetch_cuts(self.engine, [c.content().strip() for _, cands in items for c in cands],
                          self.max_passage_tokens, swallow=self.on_error != "raise")
            return self._rerank_impl(items)

    async def _arerank_many(self, items: list[Prepared]) -> list[RerankResult]:
        # the two phases are plain batches; a worker thread keeps the caller's loop free
        return await asyncio.to_thread(self._rerank_many, items)

    def _rerank_impl(self, items: list[Prepared]) -> list[Any]:
        n = len(items)
        sets: list[CriteriaSet] = [self.criteria] * n
        histories: list[list[dict[str, str]]] = [[] for _ in range(n)]
        pre_traces: list[list[Trace]] = [[] for _ in range(n)]
        pre_warnings: list[list[str]] = [[] for _ in range(n)]
        failed: dict[int, str] = {}  # on_error="keep_order": query kept in input order
        errors: dict[int, Exception] = {}  # a query's error, returned in its place
        if self.two_turn:  # turn 1: one request per query, whatever the number of passages
            metas = [self.meta_request(q) for q, _ in items]
            for qi, (req, gen) in enumerate(zip(metas, self._run(metas))):
                query = items[qi][0]
                try:
                    if isinstance(gen, EngineError):
                        if self.on_error == "raise":
                            raise gen
                        failed[qi] = f"criteria turn: engine error: {gen}"
                        continue
                    sets[qi], notes = self.criteria_from_meta(gen.text)
                    if _NO_CRITERIA in notes:
                        self.output_fallback(query, "criteria turn", _NO_CRITERIA)
                except Exception as exc:  # noqa: BLE001 - this query's error, in its place
                    errors[qi] = with_query(exc, query)
                    continue
                histories[qi] = [*req.messages, {"role": "assistant", "content": gen.text}]
                pre_warnings[qi] = [f"criteria: {w}" for w in notes]
                pre_traces[qi].append(Trace(
                    kind="criteria", candidate_ids=[], reasoning=split_sections(gen.text).reasoning,
                    answer=", ".join(f"{k}={w:.3g}" for k, w in sets[qi].weights.items()), raw_output=gen.text,
                    prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                    seconds=gen.seconds, warnings=notes, fallback=_NO_CRITERIA in notes))
        # turn 2 (or the only turn): every passage of every query in one stream of batches
        index: list[tuple[int, int]] = []
        requests: list[ChatRequest] = []
        per_query: dict[int, dict[int, Generation | EngineError]] = {}
        for qi, (query, cands) in enumerate(items):
            if qi in failed or qi in errors:
                continue
            for ci, cand in enumerate(cands):
                try:  # truncation calls the engine: a failure is this passage's engine error
                    request = engine_call(self.score_request, query, cand, sets[qi], histories[qi])
                except EngineError as exc:
                    per_query.setdefault(qi, {})[ci] = exc
                    continue
                index.append((qi, ci))
                requests.append(request)
        replies = self._run(requests) if requests else []
        for (qi, ci), gen in zip(index, replies):
            per_query.setdefault(qi, {})[ci] = gen
        results: list[Any] = []
        for qi, (query, cands) in enumerate(items):
            if qi in errors:
                results.append(errors[qi])
            elif qi in failed:
                results.append(self.keep_order_result(query, cands, failed[qi]))
            else:
                try:
                    results.append(self._assemble(query, cands, sets[qi], per_query.get(qi, {}),
                                                  pre_traces[qi], pre_warnings[qi]))
                except Exception as exc:  # noqa: BLE001 - this query's error, in its place
                    results.append(with_query(exc, query))
        return results

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
            parsed = parse_scores(gen.text, criteria)
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
            traces.append(Trace(
                kind="score", candidate_ids=[cand.id], reasoning=parsed.reasoning,
                answer=", ".join(f"{k}={v:g}" for k, v in parsed.scores.items()), raw_output=gen.text,
                prompt_tokens=gen.prompt_tokens, completion_tokens=gen.completion_tokens,
                seconds=gen.seconds, warnings=notes, fallback=fell_back))
            warnings.extend(f"passage {cand.id}: {n}" for n in notes)
        return assemble_result(query, cands, stable_order_by_score(scores), self.method, scores=scores,
                               traces=traces, warnings=warnings, per_candidate=per_candidate,
                               criteria_weights=dict(criteria.weights), model=self.engine.model_name)


def _single(request: ChatRequest) -> Generator[ChatRequest, Generation, Generation | EngineError]:
    """A one-request scheduler job: engine errors come back as values, so one failed passage
    does not stop the others' batch."""
    try:
        gen = yield request
    except EngineError as exc:
        return exc
    return gen
