"""API shapes as adapters: TEI beside Cohere on one service, a new shape as one class plus one
registration line, overlapping paths refused; engine sharing composed when the reranker is
built (the old attribute replacement only as a deprecated alias)."""
from __future__ import annotations

import warnings
from typing import Any

import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient
from pydantic import BaseModel
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.factory import build_reranker
from reasonrank.scheduling import SharedEngine
from reasonrank.scheduling.layers import find_layer
from reasonrank.serve import (
    API_SHAPES,
    ApiShape,
    RerankCall,
    create_app,
    share_engine,
    sharing_layer,
)
from reasonrank.serve.apis import load_apis, load_routes
from reasonrank.serve.apis.tei import TEIRerank
from reasonrank.spec import RerankerSpec
from reasonrank.testing.scripted_engines import reverse_window
from reasonrank.types import RerankResult

DOCS = [f"doc {i}" for i in range(5)]


def spec(**options: Any) -> RerankerSpec:
    return RerankerSpec(method="listwise", engine=ScriptedEngine(reverse_window, max_concurrency=1), **options)


class JinaRequest(BaseModel):
    query: str
    documents: list[str]
    top_n: int | None = None


class JinaShape(ApiShape):
    """The example of the report: Jina's rerank API as one class and one registration line."""

    name = "jina"
    paths = ("/jina/v1/rerank",)

    def parse(self, data: Any) -> RerankCall:
        body = self.validate(JinaRequest, data)
        return RerankCall(query=body.query, documents=body.documents, request=body)

    def respond(self, result: RerankResult, call: RerankCall, request_id: str) -> Any:
        ranked = result.ranked[: call.request.top_n or None]
        return {"model": result.model, "usage": {"total_tokens": result.usage.prompt_tokens},
                "results": [{"index": int(r.id), "relevance_score": r.score} for r in ranked]}


class ClashingTEI(TEIRerank):
    name = "clash"


def test_tei_shape_beside_cohere():
    with TestClient(create_app(spec()), raise_server_exceptions=False) as c:
        tei = c.post("/rerank", json={"query": "q", "texts": DOCS, "return_text": True})
        cohere = c.post("/v2/rerank", json={"query": "q", "documents": DOCS})
        bad = c.post("/rerank", json={"query": "q", "texts": []})
        jina = c.post("/rerank", json={"query": "q", "documents": DOCS})
    assert tei.status_code == 200 and cohere.status_code == 200
    assert [x["index"] for x in tei.json()] == [x["index"] for x in cohere.json()["results"]] == [4, 3, 2, 1, 0]
    assert tei.json()[0] == {"index": 4, "score": cohere.json()["results"][0]["relevance_score"], "text": "doc 4"}
    assert bad.status_code == 422 and bad.json() == {"error": "texts: must not be empty", "error_type": "Validation"}
    # without TEI's "texts" the same path answers in the Jina/vLLM shape (the path's rule)
    assert jina.status_code == 200 and [x["index"] for x in jina.json()["results"]] == [4, 3, 2, 1, 0]


def test_a_new_shape_is_one_class_and_one_registration_line(monkeypatch):
    monkeypatch.setitem(API_SHAPES, "jina", f"{__name__}:JinaShape")
    with TestClient(create_app(spec()), raise_server_exceptions=False) as c:
        r = c.post("/jina/v1/rerank", json={"query": "q", "documents": DOCS, "top_n": 2})
        assert c.post("/v2/rerank", json={"query": "q", "documents": DOCS}).status_code == 200
    assert r.status_code == 200, r.text
    assert [x["index"] for x in r.json()["results"]] == [4, 3] and r.json()["model"] == "scripted"


def test_only_the_named_shapes_are_mounted_and_claims_do_not_clash(monkeypatch):
    with TestClient(create_app(spec(), apis=["tei"]), raise_server_exceptions=False) as c:
        assert c.post("/v2/rerank", json={"query": "q", "documents": DOCS}).status_code == 404
        assert c.post("/rerank", json={"query": "q", "texts": DOCS}).status_code == 200
    monkeypatch.setitem(API_SHAPES, "clash", f"{__name__}:ClashingTEI")
    with pytest.raises(ValueError, match="on /rerank claim requests by the same field"):
        load_routes()
    with pytest.raises(ValueError, match="unknown API shape 'nope'"):
        load_apis(["nope"])


def test_engine_sharing_is_composed_at_build_time():
    fused = spec(fusion="rrf")
    app = create_app(fused)
    reranker = app.state.reranker
    shared = find_layer(reranker.engine, SharedEngine)  # under the result cache
    assert isinstance(shared, SharedEngine) and reranker.inner.engine is reranker.engine
    prebuilt = build_reranker(method="listwise", engine=ScriptedEngine(), layers=[sharing_layer()])
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        assert create_app(prebuilt).state.shared is find_layer(prebuilt.engine, SharedEngine)  # no warning


def test_share_engine_and_an_unshared_reranker_are_deprecated():
    reranker = build_reranker(method="listwise", engine=ScriptedEngine())
    with pytest.warns(DeprecationWarning, match="share_engine is deprecated"):
        shared = share_engine(reranker)
    assert reranker.engine is shared
    with pytest.warns(DeprecationWarning, match="unshared engine is deprecated"):
        app = create_app(build_reranker(method="listwise", engine=ScriptedEngine()))
    assert isinstance(app.state.reranker.engine, SharedEngine)
