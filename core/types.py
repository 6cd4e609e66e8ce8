"""Framework-free data model: queries, candidates and rerank results.

Plain dataclasses, so the core has no dependency on LlamaIndex, Haystack or pydantic models.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reasonrank.engines.base import Generation


@dataclass(frozen=True)
class Query:
    """A search query. ``id`` is optional and only used for bookkeeping (TREC runs, logs)."""

    text: str
    id: str | None = None


@dataclass(frozen=True)
class Candidate:
    """A first-stage candidate passage.

    ``score`` is the first-stage retriever's score (BM25, cosine...), kept for reference and
    fusion; ``metadata`` is carried through untouched.
    """

    id: str
    text: str
    title: str | None = None
    score: float | None = None
    metadata: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    def content(self) -> str:
        """Title and text as one string, the way the official prompts show a passage."""
        if self.title:
            return f"{self.title} {self.text}".strip()
        return self.text


@dataclass
class Usage:
    """What a rerank cost: engine calls, tokens and seconds spent inside the engine, and how
    often a fallback stood in for the model. A unit the reply cache answered is a cache hit,
    not an engine call (and adds no tokens or seconds): usage counts what the engine did.

    ``fallbacks`` counts the units (listwise windows, setwise sets, pointwise pairs, REBEL
    passages or criteria turns) whose model output gave no usable answer, so the input order (or
    a defined fallback score) was kept; ``engine_fallbacks`` the units kept in input order
    because the engine failed under ``on_error="keep_order"``.
    """

    engine_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    engine_seconds: float = 0.0
    fallbacks: int = 0
    engine_fallbacks: int = 0
    cache_hits: int = 0  # engine requests the reply cache answered (no engine work)
    cache_misses: int = 0  # engine requests the cache did not have (the engine answered)
    forced_answers: int = 0  # windows/sets whose thought hit the budget and whose answer was forced
    thinking_tokens: int = 0  # tokens generated inside <think> (where the method records them)
    truncated: int = 0  # inputs longer than an encoder's maximum, cut to it (dense, cross)

    def add(self, other: Usage) -> None:
        self.engine_calls += other.engine_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.engine_seconds += other.engine_seconds
        self.fallbacks += other.fallbacks
        self.engine_fallbacks += other.engine_fallbacks
        self.cache_hits += other.cache_hits
        self.cache_misses += other.cache_misses
        self.forced_answers += other.forced_answers
        self.thinking_tokens += other.thinking_tokens
        self.truncated += other.truncated

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class RankedCandidate:
    """One candidate in the reranked order.

    ``score`` is the method's score (higher is better; for listwise it is derived from rank).
    ``input_rank`` is the 0-based position in the first-stage list.
    ``criteria`` holds per-criterion scores (REBEL); ``reasoning`` / ``raw_output`` hold what
    the model wrote about this candidate where the method produces per-candidate text.
    """

    candidate: Candidate
    score: float
    rank: int
    input_rank: int
    reasoning: str | None = None
    raw_output: str | None = None
    criteria: dict[str, float] | None = None

    @property
    def id(self) -> str:
        return self.candidate.id

    @property
    def index(self) -> int:
        """The candidate's position in the list given to ``rerank`` (its ``input_rank``): with
        plain strings, the index of the string."""
        return self.input_rank


@dataclass
class Trace:
    """One engine exchange of a rerank: a listwise window, a pointwise pair, a setwise set..."""

    kind: str
    candidate_ids: list[str]
    reasoning: str
    answer: str
    raw_output: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    fallback: bool = False  # the output gave no usable answer: input order / fallback score kept
    forced_answer: bool = False  # the thought hit the budget: closed, and the answer forced
    thinking_tokens: int = 0  # tokens inside <think> (forced: exact; otherwise estimated by share)
    cached: bool = False  # every reply it holds came from the reply cache: no engine work

    @classmethod
    def of(cls, kind: str, gen: Generation, candidate_ids: list[str], reasoning: str, answer: str,
           **fields: Any) -> Trace:
        """The trace of one :class:`~reasonrank.engines.base.Generation`: its output, tokens and
        seconds, whether the reply cache answered it (``gen.cached``), and what the forced-answer
        wrapper did to it (``gen.forced``, ``gen.thinking_tokens``); ``fields`` are the remaining
        :class:`Trace` fields."""
        return cls(kind=kind, candidate_ids=candidate_ids, reasoning=reasoning, answer=answer,
                   raw_output=gen.text, prompt_tokens=gen.prompt_tokens,
                   completion_tokens=gen.completion_tokens, seconds=gen.seconds, cached=gen.cached,
                   forced_answer=gen.forced is not None, thinking_tokens=gen.thinking_tokens or 0, **fields)


@dataclass
class RerankResult:
    """The reranked list for one query, with everything the model said and what it cost.

    ``ranked`` always holds every input candidate exactly once.
    """

    query: Query
    method: str
    ranked: list[RankedCandidate]
    traces: list[Trace] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    seconds: float = 0.0
    warnings: list[str] = field(default_factory=list)
    criteria_weights: dict[str, float] | None = None
    model: str | None = None
    stages: list[str] | None = None  # a cascade's stages that ran for this query (adaptive skips)

    @property
    def ids(self) -> list[str]:
        return [r.candidate.id for r in self.ranked]

    @property
    def reasoning(self) -> str:
        """All reasoning text of this rerank, trace by trace."""
        return "\n\n".join(t.reasoning for t in self.traces if t.reasoning)

    @property
    def indices(self) -> list[int]:
        """The input positions, best first (``rerank(q, ["a", "b"]).indices == [1, 0]``)."""
        return [r.index for r in self.ranked]

    def top(self, k: int) -> list[RankedCandidate]:
        return self.ranked[:k]

    def as_rank(self, top_k: int | None = None) -> list[dict[str, Any]]:
        """The ranking as sentence-transformers' ``CrossEncoder.rank`` returns it:
        ``[{"corpus_id", "score", "text"}]``, best first (``top_k`` of them)."""
        return [{"corpus_id": r.index, "score": r.score, "text": r.candidate.text}
                for r in self.ranked[:top_k]]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the CLI's ``--json`` document is built from it)."""
        results = []
        for r in self.ranked:
            item: dict[str, Any] = {
                "id": r.candidate.id,
                "rank": r.rank,
                "score": r.score,
                "input_rank": r.input_rank,
            }
            if r.candidate.title:
                item["title"] = r.candidate.title
            if r.criteria is not None:
                item["criteria"] = r.criteria
            if r.reasoning:
                item["reasoning"] = r.reasoning
            results.append(item)
        return {
            "query": self.query.text,
            "query_id": self.query.id,
            "method": self.method,
            "model": self.model,
            "results": results,
            "reasoning": self.reasoning,
            "criteria_weights": self.criteria_weights,
            "traces": [asdict(t) for t in self.traces],
            "warnings": list(self.warnings),
            "usage": {**asdict(self.usage), "total_tokens": self.usage.total_tokens},
            "seconds": self.seconds,
            **({"stages": list(self.stages)} if self.stages is not None else {}),
        }
