"""LlamaIndex node postprocessors over the reasonrank rerankers.

One implementation (:class:`ReasonRankRerank`, whose ``method`` field picks the algorithm) and
thin named subclasses per method (:class:`Rank1Rerank`, :class:`RebelRerank`,
:class:`SetwiseRerank`) so each has its own ``class_name`` (LlamaIndex's serialization identity)
and the right default, without duplicating any logic.

Scores: the returned nodes are NEW ``NodeWithScore`` objects holding the reranker's score
(higher is better; listwise scores come from rank). The retriever's score is kept in the node's
metadata as ``retrieval_score`` (the key ``SentenceTransformerRerank`` uses), next to the
reasoning and per-criterion scores; those keys are hidden from the LLM and embedding text.
"""
from __future__ import annotations

import logging
from typing import Any, ClassVar, Literal

from llama_index.core.bridge.pydantic import Field, PrivateAttr, SecretStr
from llama_index.core.instrumentation import get_dispatcher
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from reasonrank.engines.base import Engine
from reasonrank.methods.base import Reranker
from reasonrank.secrets import pop_key, with_key
from reasonrank.spec import RerankerSpec
from reasonrank.types import Candidate, RerankResult

dispatcher = get_dispatcher(__name__)
logger = logging.getLogger(__name__)

# Metadata keys written on the returned nodes (all hidden from LLM / embedding text).
REASONING_KEY = "reasonrank_reasoning"
CRITERIA_KEY = "reasonrank_criteria"
RANK_KEY = "reasonrank_rank"
METHOD_KEY = "reasonrank_method"
RETRIEVAL_SCORE_KEY = "retrieval_score"
_ADDED_KEYS = (REASONING_KEY, CRITERIA_KEY, RANK_KEY, METHOD_KEY, RETRIEVAL_SCORE_KEY)


class ReasonRankRerank(BaseNodePostprocessor):
    """Rerank retrieved nodes with a reasonrank reranker.

    With no arguments it runs the library's embedded CPU default (``DEFAULT_PRESET``, chosen on
    TREC DL19; see the README). Pass ``preset``
    (e.g. ``"reasonrank-7b"``), or ``engine``/``model``/``base_url`` to run elsewhere, or an
    already built ``reranker`` / ``engine`` object to share one model between components.
    The reranker options are the fields of :class:`reasonrank.RerankerSpec` under the same
    names (see :meth:`spec`); ``top_n`` is how many nodes come back.

    Usage::

        from llama_index_reasonrank import ReasonRankRerank
        query_engine = index.as_query_engine(
            similarity_top_k=20, node_postprocessors=[ReasonRankRerank(top_n=5)]
        )
    """

    # None: the library's default (reasonrank.presets.DEFAULT_PRESET, chosen on TREC DL19).
    default_method: ClassVar[str | None] = None

    top_n: int = Field(default=5, gt=0, description="Number of nodes to return after reranking.")
    method: str | None = Field(
        default=None,
        description="Reranking method: 'listwise' (ReasonRank), 'pointwise' (Rank1/ERank), "
        "'rebel' (multi-criteria), 'setwise' (Rank-R1), 'icr', 'first' or 'relevance'; "
        "None = the library's embedded default.",
    )
    preset: str | None = Field(
        default=None, description="Preset name (see `reasonrank presets`); None = embedded default."
    )
    engine: str | None = Field(
        default=None, description="Engine name (embedded, transformers, vllm, openai, llamacpp)."
    )
    model: str | None = Field(default=None, description="Model name or path for the engine.")
    base_url: str | None = Field(
        default=None, description="Base URL of an OpenAI-compatible server (engine='openai')."
    )
    api_key: SecretStr | None = Field(
        default=None, exclude=True, repr=False,
        description="API key of an OpenAI-compatible server (never serialized); default: the "
        "engine reads $REASONRANK_API_KEY or $OPENAI_API_KEY.",
    )
    engine_options: dict[str, Any] = Field(
        default_factory=dict, description="Extra keyword arguments for the engine."
    )
    method_options: dict[str, Any] = Field(
        default_factory=dict,
        description="Extra keyword arguments for the method (e.g. mode='graded', criteria=[...]).",
    )
    on_error: Literal["raise", "keep_order"] = Field(
        default="raise",
        description="'raise' on engine failure, or 'keep_order' to keep the retrieval "
        "order with a warning.",
    )
    on_parse_error: Literal["keep_order", "raise"] | None = Field(
        default=None,
        description="On a model output with no usable answer: 'keep_order' (the default: input "
        "order or the fallback score, with a warning) or 'raise'.",
    )
    depth: int | None = Field(
        default=None, gt=0,
        description="Rerank only the first `depth` nodes (rerank depth); the rest follow in "
        "retrieval order. None: the preset's (all).",
    )
    fusion: Literal["rrf", "score"] | None = Field(
        default=None, description="Fuse the reranker's order with the retrieval order ('rrf' or 'score')."
    )
    fusion_weight: float | None = Field(
        default=None, ge=0.0, le=1.0, description="The reranker's share in the fusion (default 0.5)."
    )
    rrf_k: float | None = Field(default=None, ge=0.0, description="RRF's constant (default 60).")
    cache: bool | str = Field(
        default=True, description="The result cache: True (an in-process LRU), False, or a folder shared by processes."
    )
    cache_namespace: str | None = Field(default=None, description="A name kept apart in the result cache.")
    keep_reasoning_metadata: bool = Field(
        default=True,
        description="Store the reasoning, per-criterion scores and rank in node metadata.",
    )
    keep_retrieval_score: bool = Field(
        default=True, description="Store the retriever's score in node metadata 'retrieval_score'."
    )
    metadata_mode: MetadataMode = Field(
        default=MetadataMode.NONE, description="Which node metadata the reranker sees with the text."
    )

    _reranker: Reranker | None = PrivateAttr(default=None)
    _engine: Engine | None = PrivateAttr(default=None)

    def __init__(
        self,
        *,
        reranker: Reranker | None = None,
        engine: str | Engine | None = None,
        **data: Any,
    ) -> None:
        data.setdefault("method", self.default_method)
        built_engine = engine if isinstance(engine, Engine) else None
        if built_engine is not None:
            data["engine"] = built_engine.name
            data.setdefault("model", built_engine.model_name)
        elif engine is not None:
            data["engine"] = engine
        if reranker is not None:
            if not isinstance(reranker, Reranker):
                raise TypeError(f"reranker must be a reasonrank Reranker, got {type(reranker).__name__}")
            data["method"] = reranker.method
            data.setdefault("engine", reranker.engine.name)
            data.setdefault("model", reranker.engine.model_name)
        options, moved = pop_key(data.get("engine_options"), type(self).__name__)
        if options is not None:
            data["engine_options"] = options
        if moved is not None and data.get("api_key") is None:
            data["api_key"] = moved
        super().__init__(**data)
        self._reranker = reranker
        self._engine = built_engine

    @classmethod
    def class_name(cls) -> str:
        return cls.__name__

    # -- the reranker, built once on first use ------------------------------------------------
    @property
    def reranker(self) -> Reranker:
        """The underlying reasonrank reranker (built lazily; the model loads on first use)."""
        if self._reranker is None:
            self._reranker = self.spec().build()
        return self._reranker

    def spec(self) -> RerankerSpec:
        """The :class:`~reasonrank.RerankerSpec` this postprocessor's fields describe."""
        engine = self._engine if self._engine is not None else self.engine
        return with_key(RerankerSpec.from_object(self, engine=engine), self.api_key)  # a core Secret

    def _model_name(self) -> str:
        if self._reranker is not None:
            return self._reranker.engine.model_name
        return self.model or self.preset or (f"embedded-{self.method}" if self.method else "embedded-default")

    # -- postprocessing ----------------------------------------------------------------------
    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._start(nodes, query_bundle)
        if not nodes:
            return self._finish(nodes, None)
        return self._finish(nodes, self.reranker.rerank(query, self._candidates(nodes)))

    async def _apostprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        query = self._start(nodes, query_bundle)
        if not nodes:
            return self._finish(nodes, None)
        result = await self.reranker.arerank(query, self._candidates(nodes))
        return self._finish(nodes, result)

    def _start(self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None) -> str:
        if query_bundle is None:
            raise ValueError("Query bundle must be provided (pass query_str or query_bundle).")
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle, nodes=nodes, top_n=self.top_n, model_name=self._model_name()
            )
        )
        return query_bundle.query_str

    def _candidates(self, nodes: list[NodeWithScore]) -> list[Candidate]:
        # Positions as ids: node ids may repeat (the same chunk from two retrievers).
        return [
            Candidate(id=str(i), text=n.node.get_content(metadata_mode=self.metadata_mode), score=n.score)
            for i, n in enumerate(nodes)
        ]

    def _finish(self, nodes: list[NodeWithScore], result: RerankResult | None) -> list[NodeWithScore]:
        """The reranked nodes (``result`` None: no nodes to rerank), with the end event."""
        if result is None:
            dispatcher.event(ReRankEndEvent(nodes=[]))
            return []
        overall = result.reasoning
        if result.warnings:  # e.g. on_error="keep_order" fell back to the retrieval order
            logger.warning("reasonrank: %s", "; ".join(result.warnings))
        out: list[NodeWithScore] = []
        for ranked in result.ranked[: self.top_n]:
            original = nodes[int(ranked.candidate.id)]
            added: dict[str, Any] = {}
            if self.keep_retrieval_score:
                added[RETRIEVAL_SCORE_KEY] = original.score
            if self.keep_reasoning_metadata:
                added[METHOD_KEY] = result.method
                added[RANK_KEY] = ranked.rank
                added[REASONING_KEY] = ranked.reasoning or overall
                if ranked.criteria is not None:
                    added[CRITERIA_KEY] = dict(ranked.criteria)
            out.append(NodeWithScore(node=_with_metadata(original.node, added), score=ranked.score))
        dispatcher.event(ReRankEndEvent(nodes=out))
        return out


def _with_metadata(node: Any, added: dict[str, Any]) -> Any:
    """A copy of ``node`` with ``added`` metadata, hidden from LLM and embedding text."""
    if not added:
        return node
    hidden = [k for k in _ADDED_KEYS if k in added]
    return node.model_copy(
        update={
            "metadata": {**node.metadata, **added},
            "excluded_llm_metadata_keys": _union(node.excluded_llm_metadata_keys, hidden),
            "excluded_embed_metadata_keys": _union(node.excluded_embed_metadata_keys, hidden),
        }
    )


def _union(keys: list[str], more: list[str]) -> list[str]:
    return list(keys) + [k for k in more if k not in keys]


class Rank1Rerank(ReasonRankRerank):
    """Pointwise reasoning reranker (Rank1 true/false; ``method_options={"mode": "graded"}``
    for ERank's 0-10 scores)."""

    default_method: ClassVar[str] = "pointwise"


class RebelRerank(ReasonRankRerank):
    """REBEL multi-criteria reranker; per-criterion scores land in ``reasonrank_criteria``."""

    default_method: ClassVar[str] = "rebel"


class SetwiseRerank(ReasonRankRerank):
    """Rank-R1 setwise reasoning reranker."""

    default_method: ClassVar[str] = "setwise"
