"""LangChain: ReasonRankCompressor in a ContextualCompressionRetriever inside a real chain
(retriever -> compressor -> prompt -> LLM), sync and async, top_n, reasoning and scores in
metadata, inputs not mutated; one test over the real listwise method on the tiny model."""
from __future__ import annotations

import copy

import pytest

pytest.importorskip("langchain_core")
pytest.importorskip("langchain_classic")

from langchain_classic.retrievers import ContextualCompressionRetriever
from langchain_core.callbacks import CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.language_models.fake import FakeListLLM
from langchain_core.output_parsers import StrOutputParser
from langchain_core.prompts import PromptTemplate
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableLambda, RunnablePassthrough
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.factory import build_reranker
from rr_integration_helpers import EXPECTED_ORDER, QUERY, TEXTS, reasonrank_answer

from langchain_reasonrank import REASONING_KEY, SCORE_KEY, ReasonRankCompressor


class FixedRetriever(BaseRetriever):
    """A first stage that always finds the same documents (the shared ones: a compressor must
    not change them)."""

    docs: list[Document]

    def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun) -> list[Document]:
        return self.docs


def documents() -> list[Document]:
    return [Document(page_content=t, id=f"d{i}", metadata={"source": f"s{i}"}) for i, t in enumerate(TEXTS)]


def listwise_compressor(top_n: int = 3) -> ReasonRankCompressor:
    engine = ScriptedEngine(reasonrank_answer, model_name="scripted-reasonrank")
    return ReasonRankCompressor(reranker=build_reranker(method="listwise", engine=engine), top_n=top_n)


def test_in_a_contextual_compression_retriever_chain():
    docs = documents()
    before = copy.deepcopy(docs)
    retriever = ContextualCompressionRetriever(base_compressor=listwise_compressor(3),
                                               base_retriever=FixedRetriever(docs=docs))
    prompt = PromptTemplate.from_template("Context:\n{context}\n\nQuestion: {question}")
    seen: list[str] = []

    def remember(value):
        seen.append(value.to_string())
        return value

    chain = ({"context": retriever | RunnableLambda(lambda ds: "\n".join(d.page_content for d in ds)),
              "question": RunnablePassthrough()}
             | prompt | RunnableLambda(remember) | FakeListLLM(responses=["They live 2-3 months."])
             | StrOutputParser())
    assert chain.invoke(QUERY) == "They live 2-3 months."
    assert seen[0].startswith("Context:\n" + "\n".join(TEXTS[i] for i in EXPECTED_ORDER[:3]))
    found = retriever.invoke(QUERY)
    assert [d.id for d in found] == [f"d{i}" for i in EXPECTED_ORDER[:3]]
    assert [d.metadata[SCORE_KEY] for d in found] == [1.0, 0.5, pytest.approx(1 / 3)]
    assert "shares the most query words" in found[0].metadata[REASONING_KEY]
    assert found[0].metadata["source"] == f"s{EXPECTED_ORDER[0]}" and found[0].metadata["reasonrank_rank"] == 0
    assert docs == before  # the retriever's documents are not changed


async def test_async_equals_sync_and_empty_input():
    compressor = listwise_compressor(top_n=10)
    sync = compressor.compress_documents(documents(), QUERY)
    asy = await compressor.acompress_documents(documents(), QUERY)
    assert [(d.id, d.metadata) for d in asy] == [(d.id, d.metadata) for d in sync]
    assert len(sync) == len(TEXTS)
    assert compressor.compress_documents([], QUERY) == [] and await compressor.acompress_documents([], QUERY) == []


def test_options_follow_the_spec_and_the_key_is_not_serialized():
    compressor = ReasonRankCompressor(method="listwise", engine="openai", model="m", base_url="http://x/v1",
                                      api_key="sk-canary-29", depth=7, top_n=2)
    spec = compressor.spec()
    assert (spec.method, spec.engine, spec.model, spec.depth) == ("listwise", "openai", "m", 7)
    assert spec.engine_options["api_key"].resolve() == "sk-canary-29"  # a Secret, handed to the engine only
    assert "sk-canary-29" not in repr(spec) + str(spec.to_dict())
    assert "sk-canary-29" not in repr(compressor) + str(compressor.model_dump()) + compressor.model_dump_json()
    with pytest.raises(ValueError):
        ReasonRankCompressor(top_n=0)


def test_on_the_tiny_transformers_model(request):
    pytest.importorskip("reasonrank.engines.transformers", reason="the transformers engine is not installed")
    tiny_engine = request.getfixturevalue("tiny_engine")
    reranker = build_reranker(method="listwise", engine=tiny_engine, on_error="keep_order", reasoning_budget=16)
    retriever = ContextualCompressionRetriever(base_compressor=ReasonRankCompressor(reranker=reranker, top_n=10),
                                               base_retriever=FixedRetriever(docs=documents()))
    found = retriever.invoke(QUERY)
    assert sorted(d.id for d in found) == sorted(f"d{i}" for i in range(len(TEXTS)))  # each once
    assert all(isinstance(d.metadata[SCORE_KEY], float) for d in found)
