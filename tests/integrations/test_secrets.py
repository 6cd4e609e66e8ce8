"""A canary API key given to every wrapper (Haystack ranker and generator, LlamaIndex,
LangChain) reaches the engine and nothing else: not ``to_dict``, pipeline YAML, JSON, ``repr``,
a log line, a warning or an engine error's message. Each wrapper's key becomes the core's
:class:`~reasonrank.secret.Secret` in the spec (a Haystack env-var Secret stays a reference)."""
from __future__ import annotations

import logging
import warnings

import pytest

pytest.importorskip("haystack")
pytest.importorskip("llama_index.core")

from haystack import Pipeline
from haystack.utils import Secret as HaystackSecret
from reasonrank.errors import EngineError
from reasonrank.secret import Secret

from haystack_reasonrank import ReasonRankGenerator, ReasonRankRanker
from llama_index_reasonrank import ReasonRankRerank

CANARY = "sk-canary-7d3a41b9e2"
ENV = "RR_TEST_CANARY_KEY"
DEAD = {"engine": "openai", "model": "m", "base_url": "http://127.0.0.1:9/v1"}  # nothing listens


def leaks(*texts: object) -> list[str]:
    return [str(t)[:200] for t in texts if CANARY in str(t)]


def test_haystack_keys_are_secrets(monkeypatch, caplog):
    monkeypatch.setenv(ENV, CANARY)
    caplog.set_level(logging.DEBUG)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old_way = ReasonRankRanker(**DEAD, engine_options={"api_key": CANARY, "timeout": 5})
        with pytest.raises(ValueError) as refused:  # Haystack refuses to serialize a token Secret
            old_way.to_dict()
        ranker = ReasonRankRanker(**DEAD, api_key=HaystackSecret.from_env_var(ENV))
        generator = ReasonRankGenerator(**DEAD, api_key=HaystackSecret.from_env_var(ENV))
        pipe = Pipeline()
        pipe.add_component("ranker", ranker)
        pipe.add_component("generator", generator)
        yaml = pipe.dumps()
        loaded = Pipeline.loads(yaml)
    assert old_way.engine_options == {"timeout": 5} and old_way.spec().engine_options["api_key"].resolve() == CANARY
    key = ranker.spec().engine_options["api_key"]
    assert key == Secret.from_env_var(ENV) and key.resolve() == CANARY  # a reference: the engine reads it
    assert loaded.get_component("ranker").spec().engine_options["api_key"].resolve() == CANARY
    assert f"env_vars:\n      - {ENV}" in yaml or ENV in yaml
    assert any("api_key" in str(w.message) for w in caught)
    assert not leaks(yaml, ranker.to_dict(), generator.to_dict(), refused.value, repr(ranker),
                     *[w.message for w in caught], *[r.getMessage() for r in caplog.records])


def test_default_key_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("REASONRANK_API_KEY", CANARY)
    ranker = ReasonRankRanker(**DEAD)
    spec = ranker.spec()
    assert "api_key" not in spec.engine_options  # the engine's own default, read at each request
    assert spec.build_engine().auth_headers() == {"Authorization": f"Bearer {CANARY}"}
    assert ranker.to_dict()["init_parameters"]["api_key"]["env_vars"][0] == "REASONRANK_API_KEY"
    assert "api_key" not in ReasonRankRanker(method="listwise").spec().engine_options  # embedded: no key
    assert not leaks(ranker.to_dict())


def test_llama_index_and_langchain_exclude_the_key():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        llama = ReasonRankRerank(**DEAD, engine_options={"api_key": CANARY})
        direct = ReasonRankRerank(**DEAD, api_key=CANARY)
    texts = [llama.to_dict(), llama.to_json(), repr(llama), direct.to_dict(), str(direct), *[w.message for w in caught]]
    assert llama.spec().engine_options["api_key"] == direct.spec().engine_options["api_key"] == Secret.from_token(CANARY)
    lc = pytest.importorskip("langchain_reasonrank")
    compressor = lc.ReasonRankCompressor(**DEAD, engine_options={"api_key": CANARY})
    texts += [compressor.model_dump(), compressor.model_dump_json(), repr(compressor)]
    assert compressor.spec().engine_options["api_key"].resolve() == CANARY
    assert not leaks(*texts)


def test_engine_errors_and_logs_do_not_carry_the_key(caplog):
    caplog.set_level(logging.DEBUG)
    rerank = ReasonRankRerank(**DEAD, method="listwise", api_key=CANARY,
                              engine_options={"timeout": 2, "max_retries": 0})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(EngineError) as failed:
            rerank.postprocess_nodes(nodes(), query_str="q")
    assert not leaks(failed.value, repr(failed.value.__cause__), *[w.message for w in caught],
                     *[r.getMessage() for r in caplog.records])


def nodes():
    from llama_index.core.schema import NodeWithScore, TextNode

    return [NodeWithScore(node=TextNode(text=t), score=1.0) for t in ("a", "b")]


def test_an_env_var_reference_in_engine_options_stays_a_name(monkeypatch):
    monkeypatch.setenv(ENV, CANARY)
    reference = {"type": "env_var", "env_vars": [ENV]}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing to move out: a name serialises safely
        rerank = ReasonRankRerank(**DEAD, engine_options={"api_key": reference})
    assert ENV in rerank.to_json() and not leaks(rerank.to_json(), repr(rerank.spec()))
    assert rerank.spec().engine_options["api_key"] == Secret.from_env_var(ENV)
    assert rerank.spec().engine_options["api_key"].resolve() == CANARY
