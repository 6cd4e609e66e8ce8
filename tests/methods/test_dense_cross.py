"""The dense and cross methods: real models end to end (the bundled all-MiniLM-L6-v2, a tiny
random cross-encoder), and the orchestration on a scripted encoder: batching across queries,
the engine-reply cache per passage, every candidate once, bad input."""
from __future__ import annotations

import pytest

pytest.importorskip("sentence_transformers")

from reasonrank import load_reranker
from reasonrank.cache.replies import cache_layer
from reasonrank.engines import EncodeRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import InvalidInputError
from reasonrank.factory import build_reranker
from reasonrank.methods.cross import CrossEncoderReranker
from reasonrank.methods.dense import DenseReranker, similarity
from reasonrank.testing.tiny_encoder import tiny_cross_encoder_dir

QUERY = "how long is the river thames"
PASSAGES = [
    {"id": "pie", "text": "Bake the apple pie for forty minutes at 180 degrees."},
    {"id": "thames", "text": "The River Thames is 346 km long and flows through London."},
    {"id": "stocks", "text": "Stock markets fell sharply on Monday."},
    {"id": "rhine", "text": "The Rhine is a European river about 1,230 km long."},
]


@pytest.fixture(scope="module")
def dense():
    return load_reranker(method="dense")


def test_the_bundled_dense_model_ranks_the_answer_first(dense) -> None:
    assert isinstance(dense, DenseReranker) and dense.engine.model_name == "embedded-minilm"
    result = dense.rerank(QUERY, PASSAGES)
    assert result.ids[0] == "thames" and result.ids[1] == "rhine"
    scores = [r.score for r in result.ranked]
    assert scores == sorted(scores, reverse=True)
    assert result.usage.prompt_tokens > 0 and result.usage.engine_calls == 1


def test_the_no_option_default_is_dense_fused_with_the_first_stage() -> None:
    reranker = load_reranker()
    assert reranker.method == "dense+score" and reranker.engine.encoder_kind == "dense"
    docs = [{**p, "score": float(len(PASSAGES) - i)} for i, p in enumerate(PASSAGES)]  # BM25-like scores
    fused, plain = reranker.rerank(QUERY, docs), load_reranker(method="dense").rerank(QUERY, docs)
    assert sorted(fused.ids) == sorted(plain.ids) and fused.ids[0] == "thames"
    # 0.9 x the min-max normalised dense score + 0.1 x the normalised first-stage score
    dense = {r.id: r.score for r in plain.ranked}
    lo, hi = min(dense.values()), max(dense.values())
    expected = {i: 0.9 * (dense[i] - lo) / (hi - lo) + 0.1 * (d["score"] - 1) / 3 for i, d in
                ((d["id"], d) for d in docs)}
    assert [r.score for r in fused.ranked] == pytest.approx([expected[i] for i in fused.ids], abs=1e-6)


@pytest.mark.parametrize("depth", [1, 4, 10])
def test_every_id_once_whatever_the_depth(dense, depth: int) -> None:
    result = build_reranker("dense", depth=depth).rerank(QUERY, PASSAGES)
    assert sorted(result.ids) == sorted(p["id"] for p in PASSAGES)
    if depth == 1:
        assert result.ids == [p["id"] for p in PASSAGES]  # one reranked, the tail in input order


def test_empty_long_and_non_english_passages(dense) -> None:
    docs = [*PASSAGES, {"id": "empty", "text": ""}, {"id": "blank", "text": "   \n\t"},
            {"id": "long", "text": "river " * 600}, {"id": "de", "text": "Die Themse ist 346 km lang."},
            {"id": "zh", "text": "泰晤士河长346公里。"}]
    result = dense.rerank(QUERY, docs)
    assert sorted(result.ids) == sorted(d["id"] for d in docs)
    assert result.ids[-2:] == ["empty", "blank"]  # nothing to match: last, in input order
    assert result.usage.truncated == 1
    assert any("empty passage" in w for w in result.warnings)
    assert any("truncated" in w for w in result.warnings)


def test_the_tiny_cross_encoder_scores_every_pair() -> None:
    reranker = load_reranker(method="cross", model=str(tiny_cross_encoder_dir()))
    assert isinstance(reranker, CrossEncoderReranker)
    result = reranker.rerank(QUERY, PASSAGES)
    assert sorted(result.ids) == sorted(p["id"] for p in PASSAGES)
    direct = reranker.engine.encode_batch([EncodeRequest(QUERY, pair=p["text"]) for p in PASSAGES])
    by_id = {p["id"]: d.score for p, d in zip(PASSAGES, direct)}
    assert [r.score for r in result.ranked] == pytest.approx([by_id[i] for i in result.ids], abs=1e-5)


def test_a_model_folder_of_the_other_kind_fails_before_any_query() -> None:
    with pytest.raises(InvalidInputError, match="cross-encoder"):
        load_reranker(method="dense", model=str(tiny_cross_encoder_dir()))


def test_an_engine_that_cannot_encode_names_the_engine_that_can() -> None:
    with pytest.raises(InvalidInputError, match="sentence-transformers"):
        DenseReranker(ScriptedEngine())
    with pytest.raises(InvalidInputError, match="engine 'sentence-transformers'"):
        build_reranker("cross", engine="openai", base_url="http://127.0.0.1:9/v1")
    with pytest.raises(InvalidInputError, match="bi-encoder"):
        DenseReranker(ScriptedEngine(encoder_kind="cross"))


# -- orchestration, on a scripted encoder -------------------------------------------------------
def _docs(prefix: str, n: int = 5) -> list[dict[str, str]]:
    return [{"id": f"{prefix}{i}", "text": f"passage {prefix} {i} about rivers"} for i in range(n)]


@pytest.mark.parametrize("method", ["dense", "cross"])
def test_the_scheduler_batches_many_queries_into_one_engine_call(method: str) -> None:
    engine = ScriptedEngine(encoder_kind=method, max_batch_size=256, max_concurrency=1)
    reranker = build_reranker(method, engine=engine, cache=False)
    results = reranker.rerank_batch([(f"query {q} rivers", _docs(str(q))) for q in range(4)])
    assert [len(r.ids) for r in results] == [5] * 4
    encode_calls = [batch for kind, batch in engine.calls if kind == "encode"]
    per_query = 6 if method == "dense" else 5  # dense embeds the query too
    assert len(encode_calls) == 1 and len(encode_calls[0]) == 4 * per_query


@pytest.mark.parametrize("method", ["dense", "cross"])
def test_a_cached_passage_is_not_encoded_twice(method: str) -> None:
    engine = ScriptedEngine(encoder_kind=method, max_batch_size=256, max_concurrency=1)
    reranker = build_reranker(method, engine=engine, layers=[cache_layer(True)], cache=False)
    shared = _docs("s")
    reranker.rerank("rivers", shared)
    sent = sum(len(b) for k, b in engine.calls if k == "encode")
    again = reranker.rerank("rivers", [*shared, {"id": "new", "text": "a new passage"}])
    sent_after = sum(len(b) for k, b in engine.calls if k == "encode")
    assert sent_after - sent == 1  # only the new passage (dense: the query's embedding is cached too)
    assert again.usage.cache_hits == sent and again.usage.cache_misses == 1
    if method == "dense":  # a passage another query saw is embedded once
        reranker.rerank("another query", shared)
        assert sum(len(b) for k, b in engine.calls if k == "encode") == sent_after + 1


def test_similarity_functions_follow_sentence_transformers() -> None:
    a, b = [1.0, 0.0], [0.6, 0.8]
    assert similarity("cosine", a, b) == pytest.approx(0.6)
    assert similarity("dot", [2.0, 0.0], b) == pytest.approx(1.2)
    assert similarity("euclidean", a, b) == pytest.approx(-((0.4**2 + 0.8**2) ** 0.5))
    assert similarity("manhattan", a, b) == pytest.approx(-1.2)
    assert similarity("cosine", [0.0, 0.0], b) == 0.0


def test_an_engine_failure_follows_on_error() -> None:
    def boom(request):
        raise RuntimeError("encoder crashed")

    engine = ScriptedEngine(encoder_kind="dense", encode_fn=boom)
    kept = build_reranker("dense", engine=engine, on_error="keep_order", cache=False).rerank("q", _docs("x"))
    assert kept.ids == [f"x{i}" for i in range(5)] and kept.usage.engine_fallbacks == 1
    from reasonrank.errors import EngineError

    with pytest.raises(EngineError, match="encoder crashed"):
        build_reranker("dense", engine=engine, cache=False).rerank("q", _docs("x"))
