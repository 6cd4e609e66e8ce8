"""Haystack components: scores, order, meta, async, serialization, YAML in a fresh process."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("haystack")

from haystack import Document, Pipeline
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.spec import RerankerSpec
from rr_integration_helpers import EXPECTED_ORDER, EXPECTED_SCORES, QUERY, TEXTS

from haystack_reasonrank import (
    CRITERIA_KEY,
    REASONING_KEY,
    RETRIEVAL_SCORE_KEY,
    ReasonRankGenerator,
    ReasonRankRanker,
)

REPO = Path(__file__).resolve().parents[2]
RANKER_TYPE = "haystack_integrations.components.rankers.reasonrank.ranker.ReasonRankRanker"


def make_docs() -> list[Document]:
    return [Document(content=t, meta={"src": f"doc{i}"}, score=1.0 - i / 10) for i, t in enumerate(TEXTS)]


def test_scores_order_and_meta(keyword_reranker) -> None:
    docs = make_docs()
    out = ReasonRankRanker(reranker=keyword_reranker, top_k=5).run(query=QUERY, documents=docs)
    assert [d.id for d in out["documents"]] == [docs[i].id for i in EXPECTED_ORDER]
    assert [d.score for d in out["documents"]] == EXPECTED_SCORES
    top = out["documents"][0]
    assert top.content == TEXTS[1] and top.meta["src"] == "doc1"
    assert top.meta[RETRIEVAL_SCORE_KEY] == pytest.approx(0.9)
    assert top.meta[REASONING_KEY] == "the passage shares 4 query words"
    assert top.meta[CRITERIA_KEY] == {"overlap": 4.0, "length": float(len(TEXTS[1]))}
    assert out["meta"]["method"] == "keyword-test" and out["meta"]["model"] == "scripted-keyword"
    assert out["meta"]["usage"]["engine_calls"] == len(TEXTS)


def test_input_documents_are_not_mutated(keyword_reranker) -> None:
    docs = make_docs()
    before = [(d.id, d.score, dict(d.meta)) for d in docs]
    out = ReasonRankRanker(reranker=keyword_reranker).run(query=QUERY, documents=docs)
    assert [(d.id, d.score, d.meta) for d in docs] == before
    assert not any(o is d for o in out["documents"] for d in docs)


def test_top_k_default_override_and_larger_than_input(keyword_reranker) -> None:
    ranker = ReasonRankRanker(reranker=keyword_reranker, top_k=2)
    assert len(ranker.run(query=QUERY, documents=make_docs())["documents"]) == 2
    assert len(ranker.run(query=QUERY, documents=make_docs(), top_k=3)["documents"]) == 3
    everything = ranker.run(query=QUERY, documents=make_docs(), top_k=100)["documents"]
    assert sorted(d.content for d in everything) == sorted(TEXTS)


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_top_k_is_an_error(bad: int, keyword_reranker) -> None:
    with pytest.raises(ValueError, match="top_k must be > 0"):
        ReasonRankRanker(top_k=bad)
    with pytest.raises(ValueError, match="top_k must be > 0"):
        ReasonRankRanker(reranker=keyword_reranker).run(query=QUERY, documents=make_docs(), top_k=bad)


def test_empty_input_returns_empty(keyword_reranker) -> None:
    assert ReasonRankRanker(reranker=keyword_reranker).run(query=QUERY, documents=[]) == {"documents": [], "meta": {}}
    assert keyword_reranker.engine.calls == []


def test_meta_fields_and_title_reach_the_model(keyword_reranker) -> None:
    doc = Document(content="body text", meta={"title": "Fleas", "section": "Lifespan"})
    ReasonRankRanker(reranker=keyword_reranker, meta_fields_to_embed=["section"]).run(query=QUERY, documents=[doc])
    prompt = keyword_reranker.engine.calls[0][1][0].messages[-1]["content"]
    assert "Passage: Fleas Lifespan\nbody text" in prompt


async def test_run_async_equals_run_and_is_concurrent(slow_reranker) -> None:
    ranker = ReasonRankRanker(reranker=slow_reranker, top_k=4)
    sync = ranker.run(query=QUERY, documents=make_docs())
    start = time.perf_counter()
    asy = await ranker.run_async(query=QUERY, documents=make_docs())
    elapsed = time.perf_counter() - start
    assert [(d.id, d.score, d.meta) for d in asy["documents"]] == [(d.id, d.score, d.meta) for d in sync["documents"]]
    assert slow_reranker.engine.max_in_flight_seen == len(TEXTS)
    assert elapsed < 0.2 * len(TEXTS) * 0.6


def test_warm_up_is_idempotent_and_lazy(monkeypatch, scripted_engine) -> None:
    from rr_integration_helpers import KeywordReranker

    calls: list[RerankerSpec] = []

    def fake_build(spec: RerankerSpec, **kwargs: Any) -> KeywordReranker:
        calls.append(spec)
        return KeywordReranker(scripted_engine)

    monkeypatch.setattr(RerankerSpec, "build", fake_build)
    ranker = ReasonRankRanker(method="pointwise", engine="openai", model="m", method_options={"mode": "graded"})
    assert calls == []  # __init__ stays light
    ranker.warm_up()
    first = ranker.reranker
    ranker.warm_up()
    ranker.run(query=QUERY, documents=make_docs())
    assert ranker.reranker is first and len(calls) == 1
    assert calls == [RerankerSpec(method="pointwise", engine="openai", model="m", method_options={"mode": "graded"})]


def test_to_dict_from_dict_round_trip() -> None:
    ranker = ReasonRankRanker(method="rebel", preset=None, engine="openai", model="m", base_url="http://h/v1",
                              method_options={"criteria": ["recency"]}, top_k=4, on_error="keep_order")
    data = ranker.to_dict()
    assert data["type"] == RANKER_TYPE
    assert data["init_parameters"]["method_options"] == {"criteria": ["recency"]}
    back = ReasonRankRanker.from_dict(data)
    assert back.to_dict() == data and back.top_k == 4 and back.on_error == "keep_order"


def run_fresh(code: str, stdin: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter outside the repo (so only the installed package counts)."""
    return subprocess.run([sys.executable, "-c", code], input=stdin, capture_output=True, text=True,
                          cwd=cwd, timeout=300, check=False)


def test_pipeline_yaml_loads_in_a_fresh_process_without_allowlist(tmp_path) -> None:
    pipe = Pipeline()
    pipe.add_component("ranker", ReasonRankRanker(method="listwise", top_k=3, model="m", engine="openai",
                                                  base_url="http://h/v1", on_error="keep_order"))
    pipe.add_component("generator", ReasonRankGenerator(engine="openai", model="m", max_tokens=32))
    yaml_text = pipe.dumps()
    assert RANKER_TYPE in yaml_text
    code = (
        "import json, sys\n"
        "from haystack import Pipeline\n"
        "p = Pipeline.loads(sys.stdin.read())\n"  # plain loads: no allowed_modules, no import of ours
        "print(json.dumps({n: p.get_component(n).to_dict() for n in ('ranker', 'generator')}))\n"
    )
    proc = run_fresh(code, yaml_text, tmp_path)
    assert proc.returncode == 0, proc.stderr
    loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    assert loaded["ranker"] == pipe.get_component("ranker").to_dict()
    assert loaded["generator"] == pipe.get_component("generator").to_dict()


def test_example_pipeline_yaml_loads_in_a_fresh_process(tmp_path) -> None:
    code = (
        "import sys\nfrom haystack import Pipeline\n"
        "p = Pipeline.loads(sys.stdin.read())\n"
        "r = p.get_component('ranker')\n"
        "print(type(r).__name__, r.method, r.top_k, r.on_error, sorted(p.graph.nodes))\n"
    )
    proc = run_fresh(code, (REPO / "examples" / "haystack_pipeline.yaml").read_text(), tmp_path)
    assert proc.returncode == 0, proc.stderr
    # method None: the library's CPU default (the dense cheap stage)
    assert proc.stdout.strip() == "ReasonRankRanker None 3 keep_order ['generator', 'prompt_builder', 'ranker', 'retriever']"


def test_pipeline_yaml_saved_with_the_old_field_names_still_loads(tmp_path) -> None:
    """tests/integrations/data/haystack_pipeline_0.1.0.yaml was written by Pipeline.dumps() with
    the ranker of 0.1.0 (keep_reasoning_meta); it loads, in a fresh process without an
    allowlist, and saves back under today's name with the same settings."""
    old = (Path(__file__).parent / "data" / "haystack_pipeline_0.1.0.yaml").read_text()
    with pytest.warns(DeprecationWarning, match="keep_reasoning_meta=.... is deprecated; use keep_reasoning_metadata"):
        ranker = Pipeline.loads(old).get_component("ranker")
    assert ranker.keep_reasoning_metadata is False and ranker.top_k == 3 and ranker.on_error == "keep_order"
    assert ranker.spec() == RerankerSpec(method="pointwise", engine="openai", model="m", base_url="http://h/v1",
                                         engine_options={"max_retries": 0}, on_error="keep_order",
                                         method_options={"mode": "graded", "depth": 7})
    saved = ranker.to_dict()["init_parameters"]
    assert "keep_reasoning_meta" not in saved and saved["keep_reasoning_metadata"] is False
    code = ("import sys\nfrom haystack import Pipeline\n"
            "r = Pipeline.loads(sys.stdin.read()).get_component('ranker')\n"
            "print(r.method, r.top_k, r.keep_reasoning_metadata)\n")
    proc = run_fresh(code, old, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "pointwise 3 False"


def test_keep_reasoning_meta_is_a_deprecated_alias(keyword_reranker) -> None:
    with pytest.warns(DeprecationWarning):
        ranker = ReasonRankRanker(reranker=keyword_reranker, keep_reasoning_meta=False)
    with pytest.warns(DeprecationWarning):
        assert ranker.keep_reasoning_meta is False
    top = ranker.run(query=QUERY, documents=make_docs())["documents"][0]
    assert REASONING_KEY not in top.meta and RETRIEVAL_SCORE_KEY in top.meta


def test_options_are_the_spec_fields_and_are_checked_at_init() -> None:
    import inspect

    from reasonrank.spec import spec_fields

    params = set(inspect.signature(ReasonRankRanker.__init__).parameters)
    assert set(spec_fields()) - params == {"show_progress"}  # a progress bar has no place in a pipeline
    ranker = ReasonRankRanker(method="listwise", depth=5, on_parse_error="raise", fusion="rrf")
    assert ranker.spec().depth == 5 and ranker.to_dict()["init_parameters"]["fusion"] == "rrf"
    with pytest.raises(ValueError, match="unknown method"):
        ReasonRankRanker(method="nope")
    with pytest.raises(ValueError, match="depth must be a positive"):
        ReasonRankRanker(depth=0)


def test_generator_run_async_and_serialization() -> None:
    engine = ScriptedEngine(lambda r: f"  answer to: {r.messages[-1]['content']}  ", model_name="gen")
    gen = ReasonRankGenerator(engine_instance=engine, system_prompt="Be brief.", max_tokens=16)
    out = gen.run(prompt="hello")
    assert out["replies"] == ["answer to: hello"]
    assert out["meta"][0]["model"] == "gen" and out["meta"][0]["finish_reason"] == "stop"
    assert engine.calls[0][1][0].messages[0] == {"role": "system", "content": "Be brief."}
    data = gen.to_dict()
    assert "engine_instance" not in data["init_parameters"]
    assert ReasonRankGenerator.from_dict(data).to_dict() == data


async def test_generator_async() -> None:
    gen = ReasonRankGenerator(engine_instance=ScriptedEngine(lambda r: "yes", model_name="gen"))
    assert (await gen.run_async(prompt="q"))["replies"] == ["yes"]


def test_rag_pipeline_runs_end_to_end(keyword_reranker) -> None:
    from haystack.components.builders import PromptBuilder
    from haystack.components.retrievers.in_memory import InMemoryBM25Retriever
    from haystack.document_stores.in_memory import InMemoryDocumentStore

    store = InMemoryDocumentStore()
    store.write_documents(make_docs())
    prompts: list[str] = []

    def reply(request: Any) -> str:
        prompts.append(request.messages[-1]["content"])
        return "About a year."

    pipe = Pipeline()
    pipe.add_component("retriever", InMemoryBM25Retriever(document_store=store, top_k=5))
    pipe.add_component("ranker", ReasonRankRanker(reranker=keyword_reranker, top_k=2))
    pipe.add_component("prompt_builder", PromptBuilder(
        template="{% for d in documents %}{{ d.content }}\n{% endfor %}Q: {{ query }}", required_variables=["query", "documents"]))
    pipe.add_component("generator", ReasonRankGenerator(engine_instance=ScriptedEngine(reply)))
    pipe.connect("retriever.documents", "ranker.documents")
    pipe.connect("ranker.documents", "prompt_builder.documents")
    pipe.connect("prompt_builder.prompt", "generator.prompt")
    out = pipe.run({"retriever": {"query": QUERY}, "ranker": {"query": QUERY}, "prompt_builder": {"query": QUERY}},
                   include_outputs_from={"ranker"})
    assert out["generator"]["replies"] == ["About a year."]
    ranked = out["ranker"]["documents"]
    # Overlap 4 first; the two overlap-2 passages tie, so BM25 order decides which comes second.
    assert ranked[0].content == TEXTS[1] and ranked[1].content in (TEXTS[3], TEXTS[4])
    assert [d.score for d in ranked] == [4.0, 2.0]
    assert prompts == [f"{ranked[0].content}\n{ranked[1].content}\nQ: {QUERY}"]
