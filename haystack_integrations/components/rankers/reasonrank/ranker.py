"""Haystack ranker component over the reasonrank reasoning rerankers.

The class lives under ``haystack_integrations.*`` on purpose: Haystack 3.x deserializes pipeline
YAML only from allow-listed modules, and ``haystack_integrations`` is on the default list, so a
YAML naming this component loads with a plain ``Pipeline.loads(...)`` in a fresh process.
``haystack_reasonrank`` re-exports it under the short name.
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any, Literal, TypeVar

from haystack import Document, component, default_from_dict, default_to_dict
from haystack.utils import Secret, deserialize_secrets_inplace

from reasonrank.deprecation import warn_renamed
from reasonrank.methods.base import Reranker
from reasonrank.secrets import KEY_ENV_VARS, pop_key, with_key
from reasonrank.spec import RerankerSpec
from reasonrank.types import Candidate, RerankResult

logger = logging.getLogger(__name__)
C = TypeVar("C")

REASONING_KEY = "reasonrank_reasoning"
CRITERIA_KEY = "reasonrank_criteria"
RANK_KEY = "reasonrank_rank"
RETRIEVAL_SCORE_KEY = "retrieval_score"
# The key of an OpenAI-compatible server: read from the environment, serialized as the name.
DEFAULT_KEY = Secret.from_env_var(list(KEY_ENV_VARS), strict=False)


def to_dict_with_key(component: Any, **init_parameters: Any) -> dict[str, Any]:
    """Haystack's ``default_to_dict`` of ``component`` with its ``api_key`` Secret serialized (an
    environment-variable Secret as the variable's name; a token Secret refuses)."""
    api_key = component.api_key
    return default_to_dict(component, **init_parameters, api_key=api_key.to_dict() if api_key else None)


def from_dict_with_key(cls: type[C], data: dict[str, Any]) -> C:
    """Haystack's ``default_from_dict`` with the ``api_key`` Secret deserialized (``data`` is
    left as it was)."""
    data = {**data, "init_parameters": dict(data.get("init_parameters", {}))}  # the caller's untouched
    deserialize_secrets_inplace(data["init_parameters"], keys=["api_key"])
    return default_from_dict(cls, data)


def _check_top_k(top_k: int | None) -> None:
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k <= 0):
        raise ValueError(f"top_k must be > 0, but got {top_k}")


@component
class ReasonRankRanker:
    """Reranks Documents with a reasoning reranker.

    With no arguments it runs the library's embedded CPU default (``DEFAULT_PRESET``, chosen on
    TREC DL19; see the README); the reranker options are :class:`reasonrank.RerankerSpec`'s
    fields under the same names; ``method`` picks ``"listwise"`` (ReasonRank), ``"pointwise"``
    (Rank1/ERank), ``"rebel"``, ``"setwise"``, ``"icr"``, ``"first"`` or ``"relevance"``; ``preset``/``engine``/``model``/
    ``base_url`` choose where it runs. Returned Documents are new objects (the input is never
    mutated) with ``score`` set to the reranker's score and, in ``meta``, the reasoning
    (``reasonrank_reasoning``), per-criterion scores (``reasonrank_criteria``), the rank and the
    retriever's score (``retrieval_score``).

    ### Usage example

    ```python
    from haystack import Document
    from haystack_reasonrank import ReasonRankRanker

    ranker = ReasonRankRanker(top_k=3)
    ranker.warm_up()
    docs = [Document(content="Paris is the capital of France."), Document(content="Berlin...")]
    result = ranker.run(query="capital of France", documents=docs)
    print(result["documents"][0].meta["reasonrank_reasoning"])
    ```
    """

    def __init__(
        self,
        *,
        method: str | None = None,
        preset: str | None = None,
        engine: str | None = None,
        model: str | None = None,
        base_url: str | None = None,
        engine_options: dict[str, Any] | None = None,
        method_options: dict[str, Any] | None = None,
        top_k: int = 10,
        on_error: Literal["raise", "keep_order"] = "raise",
        on_parse_error: Literal["keep_order", "raise"] | None = None,
        depth: int | None = None,
        fusion: Literal["rrf", "score"] | None = None,
        fusion_weight: float | None = None,
        rrf_k: float | None = None,
        cache: bool | str = True,
        cache_namespace: str | None = None,
        keep_reasoning_metadata: bool = True,
        meta_fields_to_embed: list[str] | None = None,
        reranker: Reranker | None = None,
        keep_reasoning_meta: bool | None = None,
        api_key: Secret | None = DEFAULT_KEY,
    ) -> None:
        """
        The reranker options are the fields of :class:`reasonrank.RerankerSpec` under the same
        names (see :meth:`spec`).

        :param method: "listwise", "pointwise", "rebel", "setwise", "icr", "first" or "relevance";
            None (with no preset) runs the library's embedded default (``DEFAULT_PRESET``).
        :param preset: A reasonrank preset name; None uses the method's embedded default.
        :param engine: Engine name (embedded, transformers, vllm, openai, llamacpp).
        :param model: Model name or path for the engine.
        :param base_url: Base URL of an OpenAI-compatible server (engine="openai").
        :param engine_options: / :param method_options: Extra keyword arguments for the engine / method.
        :param top_k: Maximum number of Documents to return.
        :param on_error: "raise" on an engine failure, or "keep_order" to keep the input order
            with a warning.
        :param on_parse_error: On a model output with no usable answer: "keep_order" (the
            default: input order or the fallback score, with a warning) or "raise".
        :param depth: Rerank only the first `depth` Documents (rerank depth); the rest follow in
            input order. None: the preset's (all).
        :param fusion: Fuse the reranker's order with the input order: "rrf" or "score".
        :param fusion_weight: / :param rrf_k: The reranker's share in the fusion (default 0.5) / RRF's k (60).
        :param cache: The result cache: True (an in-process LRU), False, or a folder shared by processes.
        :param cache_namespace: A name kept apart in the cache (a server swapping weights).
        :param keep_reasoning_metadata: Write reasoning, criteria and rank into each Document's meta.
        :param meta_fields_to_embed: Meta fields shown to the model before the content
            ("title" is always used as the passage title when present).
        :param reranker: An already built reasonrank Reranker (not serialized; for sharing a model).
        :param keep_reasoning_meta: Deprecated name of `keep_reasoning_metadata` (pipelines
            saved before reasonrank 0.2 use it; they keep loading).
        :param api_key: The API key of an OpenAI-compatible server (engine="openai"), a Haystack
            `Secret`: by default the env var `REASONRANK_API_KEY` or `OPENAI_API_KEY`, serialized
            as the variable's name, never as the key. A key in `engine_options` is moved here
            (with a warning): a token `Secret` cannot be serialized, by Haystack's design.
        :raises ValueError: If `top_k` is not > 0, or a reranker option is invalid.
        """
        _check_top_k(top_k)
        if keep_reasoning_meta is not None:
            warn_renamed("ReasonRankRanker(keep_reasoning_meta=...)", "keep_reasoning_metadata")
            keep_reasoning_metadata = keep_reasoning_meta
        engine_options, moved = pop_key(engine_options, "ReasonRankRanker")
        self.api_key = Secret.from_token(moved) if moved is not None else api_key
        # Every init parameter is an attribute of the same name (Haystack's default_to_dict).
        self.method, self.preset, self.engine, self.model = method, preset, engine, model
        self.base_url, self.engine_options, self.method_options = base_url, engine_options, method_options
        self.on_error, self.on_parse_error, self.depth = on_error, on_parse_error, depth
        self.fusion, self.fusion_weight, self.rrf_k = fusion, fusion_weight, rrf_k
        self.cache, self.cache_namespace, self.top_k = cache, cache_namespace, top_k
        self.keep_reasoning_metadata = keep_reasoning_metadata
        self.meta_fields_to_embed = meta_fields_to_embed
        self._reranker = reranker
        self.spec()  # checks the options now, without loading anything

    @property
    def keep_reasoning_meta(self) -> bool:
        """Deprecated name of :attr:`keep_reasoning_metadata`."""
        warn_renamed("ReasonRankRanker.keep_reasoning_meta", "keep_reasoning_metadata")
        return self.keep_reasoning_metadata

    def spec(self) -> RerankerSpec:
        """The :class:`~reasonrank.RerankerSpec` this component's options describe (the API key
        added for the engine only)."""
        return with_key(RerankerSpec.from_object(self), self.api_key)  # the core Secret it maps onto

    # -- lifecycle ----------------------------------------------------------------------------
    def warm_up(self) -> None:
        """Build the reranker and its engine (loads the model). Idempotent."""
        if self._reranker is None:
            self._reranker = self.spec().build()

    def close(self) -> None:
        """Release the engine. A later run warms up again."""
        if self._reranker is not None:
            self._reranker.engine.close()
            self._reranker = None

    @property
    def reranker(self) -> Reranker:
        """The underlying reasonrank reranker (warms up if needed)."""
        self.warm_up()
        assert self._reranker is not None
        return self._reranker

    def to_dict(self) -> dict[str, Any]:
        """Serializes the component (the injected `reranker`, if any, is not serialized)."""
        return to_dict_with_key(
            self,
            method=self.method,
            preset=self.preset,
            engine=self.engine,
            model=self.model,
            base_url=self.base_url,
            engine_options=self.engine_options,
            method_options=self.method_options,
            top_k=self.top_k,
            on_error=self.on_error,
            on_parse_error=self.on_parse_error,
            depth=self.depth,
            fusion=self.fusion,
            fusion_weight=self.fusion_weight,
            rrf_k=self.rrf_k,
            cache=self.cache,
            cache_namespace=self.cache_namespace,
            keep_reasoning_metadata=self.keep_reasoning_metadata,
            meta_fields_to_embed=self.meta_fields_to_embed,
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReasonRankRanker:
        """Deserializes the component from a dictionary."""
        return from_dict_with_key(cls, data)

    # -- running ------------------------------------------------------------------------------
    @component.output_types(documents=list[Document], meta=dict[str, Any])
    def run(self, query: str, documents: list[Document], top_k: int | None = None) -> dict[str, Any]:
        """Rerank `documents` for `query`.

        :param query: The query text.
        :param documents: The Documents to rerank.
        :param top_k: Maximum number of Documents to return (default: the init `top_k`).
        :returns: `documents`: new Documents, best first, with scores and reasoning in `meta`;
            `meta`: method, model, reasoning, warnings and token usage of the rerank.
        :raises ValueError: If `top_k` is not > 0.
        """
        limit = self._limit(top_k)
        if not documents:
            return {"documents": [], "meta": {}}
        result = self.reranker.rerank(query, self._candidates(documents))
        return self._output(documents, result, limit)

    @component.output_types(documents=list[Document], meta=dict[str, Any])
    async def run_async(
        self, query: str, documents: list[Document], top_k: int | None = None
    ) -> dict[str, Any]:
        """Async :meth:`run`, on the engine's concurrent path (windows/pairs run concurrently)."""
        limit = self._limit(top_k)
        if not documents:
            return {"documents": [], "meta": {}}
        result = await self.reranker.arerank(query, self._candidates(documents))
        return self._output(documents, result, limit)

    # -- helpers ------------------------------------------------------------------------------
    def _limit(self, top_k: int | None) -> int:
        _check_top_k(top_k)
        return self.top_k if top_k is None else top_k

    def _candidates(self, documents: list[Document]) -> list[Candidate]:
        # Positions as ids: Document ids can repeat in merged retrieval results.
        cands = []
        for i, doc in enumerate(documents):
            extra = [str(doc.meta[k]) for k in self.meta_fields_to_embed or [] if doc.meta.get(k)]
            text = "\n".join([*extra, doc.content or ""])
            title = doc.meta.get("title")
            cands.append(
                Candidate(id=str(i), text=text, title=title if isinstance(title, str) else None, score=doc.score)
            )
        return cands

    def _output(self, documents: list[Document], result: RerankResult, limit: int) -> dict[str, Any]:
        overall = result.reasoning
        if result.warnings:
            logger.warning("reasonrank: %s", "; ".join(result.warnings))
        out = []
        for ranked in result.ranked[:limit]:
            doc = documents[int(ranked.candidate.id)]
            meta = dict(doc.meta)
            meta[RETRIEVAL_SCORE_KEY] = doc.score
            if self.keep_reasoning_metadata:
                meta[RANK_KEY] = ranked.rank
                meta[REASONING_KEY] = ranked.reasoning or overall
                if ranked.criteria is not None:
                    meta[CRITERIA_KEY] = dict(ranked.criteria)
            out.append(replace(doc, score=ranked.score, meta=meta))
        info = {
            "method": result.method,
            "model": result.model,
            "reasoning": overall,
            "warnings": list(result.warnings),
            "usage": {
                "engine_calls": result.usage.engine_calls,
                "prompt_tokens": result.usage.prompt_tokens,
                "completion_tokens": result.usage.completion_tokens,
            },
            "criteria_weights": result.criteria_weights,
        }
        return {"documents": out, "meta": info}
