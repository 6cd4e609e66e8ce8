"""A LangChain document compressor over the reasonrank rerankers.

:class:`ReasonRankCompressor` is a ``BaseDocumentCompressor`` (sync and async): put it in a
``ContextualCompressionRetriever`` to rerank what a retriever found. Its reranker options are
the fields of :class:`reasonrank.RerankerSpec` under the same names, as in the LlamaIndex and
Haystack wrappers; ``top_n`` is how many documents come back. The returned documents are new
``Document`` objects (the inputs are not changed) whose metadata carries the score
(``relevance_score``, the key LangChain's Cohere/Jina/Voyage rerankers use), the rank, the
method and the model's reasoning.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from pydantic import ConfigDict, Field, PrivateAttr, SecretStr
from reasonrank.engines.base import Engine
from reasonrank.methods.base import Reranker
from reasonrank.secrets import pop_key, with_key
from reasonrank.spec import RerankerSpec
from reasonrank.types import Candidate, RerankResult

logger = logging.getLogger(__name__)

SCORE_KEY = "relevance_score"
REASONING_KEY = "reasonrank_reasoning"
CRITERIA_KEY = "reasonrank_criteria"
RANK_KEY = "reasonrank_rank"
METHOD_KEY = "reasonrank_method"


class ReasonRankCompressor(BaseDocumentCompressor):
    """Rerank retrieved documents with a reasonrank reranker (LangChain compressor).

    With no arguments it runs the library's embedded CPU default. Pass ``preset``, or
    ``engine``/``model``/``base_url`` (with ``api_key`` for an OpenAI-compatible server; by
    default the engine reads ``$REASONRANK_API_KEY`` or ``$OPENAI_API_KEY``), or an already
    built ``reranker``.

    Usage::

        from langchain_classic.retrievers import ContextualCompressionRetriever
        from langchain_reasonrank import ReasonRankCompressor

        retriever = ContextualCompressionRetriever(
            base_compressor=ReasonRankCompressor(top_n=3), base_retriever=vectorstore.as_retriever()
        )
        docs = retriever.invoke("What is the capital of France?")
        docs[0].metadata["reasonrank_reasoning"]
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    top_n: int = Field(default=3, gt=0, description="Number of documents to return.")
    method: str | None = Field(default=None, description="listwise, pointwise, rebel, setwise, icr, "
                               "first or relevance; None = the embedded default.")
    preset: str | None = Field(default=None, description="Preset name (see `reasonrank presets`).")
    engine: str | None = Field(default=None, description="embedded, transformers, vllm, openai, llamacpp.")
    model: str | None = Field(default=None, description="Model name or path for the engine.")
    base_url: str | None = Field(default=None, description="OpenAI-compatible server URL (engine='openai').")
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False,
                                      description="The server's API key (never serialized); default: "
                                      "$REASONRANK_API_KEY or $OPENAI_API_KEY, read by the engine.")
    engine_options: dict[str, Any] = Field(default_factory=dict, description="Extra engine arguments.")
    method_options: dict[str, Any] = Field(default_factory=dict, description="Extra method arguments.")
    on_error: Literal["raise", "keep_order"] = "raise"
    on_parse_error: Literal["keep_order", "raise"] | None = None
    depth: int | None = Field(default=None, gt=0, description="Rerank only the first `depth` documents.")
    fusion: Literal["rrf", "score"] | None = None
    fusion_weight: float | None = Field(default=None, ge=0.0, le=1.0)
    rrf_k: float | None = Field(default=None, ge=0.0)
    cache: bool | str = Field(default=True, description="Result cache: True (in-process), False, or a folder.")
    cache_namespace: str | None = None
    keep_reasoning_metadata: bool = Field(default=True, description="Write reasoning, rank and method "
                                          "into each document's metadata.")

    _reranker: Reranker | None = PrivateAttr(default=None)
    _engine: Engine | None = PrivateAttr(default=None)

    def __init__(self, *, reranker: Reranker | None = None, engine: str | Engine | None = None,
                 **data: Any) -> None:
        built = engine if isinstance(engine, Engine) else None
        if built is not None:
            data.setdefault("model", built.model_name)
        data["engine"] = built.name if built is not None else engine
        if reranker is not None:
            if not isinstance(reranker, Reranker):
                raise TypeError(f"reranker must be a reasonrank Reranker, got {type(reranker).__name__}")
            data["method"] = reranker.method
            data["engine"] = data["engine"] or reranker.engine.name
        data["engine_options"], moved = pop_key(data.get("engine_options"), "ReasonRankCompressor")
        if data["engine_options"] is None:
            del data["engine_options"]
        if moved is not None and data.get("api_key") is None:
            data["api_key"] = moved
        super().__init__(**data)
        self._reranker = reranker
        self._engine = built
        if reranker is None and built is None:
            self.spec()  # checks the options now, without loading anything

    def spec(self) -> RerankerSpec:
        """The :class:`~reasonrank.RerankerSpec` this compressor's fields describe (the API key
        goes to the engine, never into the fields that serialize)."""
        engine = self._engine if self._engine is not None else self.engine
        return with_key(RerankerSpec.from_object(self, engine=engine), self.api_key)  # a core Secret

    @property
    def reranker(self) -> Reranker:
        """The underlying reasonrank reranker (built on first use; the model loads then)."""
        if self._reranker is None:
            self._reranker = self.spec().build()
        return self._reranker

    def compress_documents(self, documents: Sequence[Document], query: str,
                           callbacks: Callbacks | None = None) -> Sequence[Document]:
        """The ``top_n`` best of ``documents`` for ``query``, best first (new documents)."""
        if not documents:
            return []
        return self._finish(documents, self.reranker.rerank(query, _candidates(documents)))

    async def acompress_documents(self, documents: Sequence[Document], query: str,
                                  callbacks: Callbacks | None = None) -> Sequence[Document]:
        """:meth:`compress_documents` on the reranker's async path."""
        if not documents:
            return []
        return self._finish(documents, await self.reranker.arerank(query, _candidates(documents)))

    def _finish(self, documents: Sequence[Document], result: RerankResult) -> list[Document]:
        if result.warnings:  # e.g. on_error="keep_order" kept the retrieval order
            logger.warning("reasonrank: %s", "; ".join(result.warnings))
        out = []
        for ranked in result.ranked[: self.top_n]:
            original = documents[int(ranked.candidate.id)]
            added: dict[str, Any] = {SCORE_KEY: ranked.score}
            if self.keep_reasoning_metadata:
                added.update({RANK_KEY: ranked.rank, METHOD_KEY: result.method,
                              REASONING_KEY: ranked.reasoning or result.reasoning})
                if ranked.criteria is not None:
                    added[CRITERIA_KEY] = dict(ranked.criteria)
            out.append(Document(page_content=original.page_content, id=original.id,
                                metadata={**original.metadata, **added}))
        return out


def _candidates(documents: Sequence[Document]) -> list[Candidate]:
    # Positions as ids: LangChain document ids are optional and may repeat.
    return [Candidate(id=str(i), text=d.page_content, title=d.metadata.get("title") or None)
            for i, d in enumerate(documents)]


__all__ = ["CRITERIA_KEY", "METHOD_KEY", "RANK_KEY", "REASONING_KEY", "SCORE_KEY",
           "ReasonRankCompressor"]
