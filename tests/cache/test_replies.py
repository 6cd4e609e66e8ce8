"""The result cache layer: its key, what it stores and what it never stores, the disk store."""
from __future__ import annotations

import multiprocessing
import os
import stat
from pathlib import Path

import pytest
from reasonrank.cache.replies import (
    CachedEngine,
    cache_layer,
    find_cache,
    model_identity,
    request_key,
)
from reasonrank.cache.stores import DB_NAME, DiskStore, MemoryStore
from reasonrank.engines.base import AttentionRequest, ChatRequest, SamplingParams
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.errors import EngineError, InvalidInputError
from reasonrank.spec import RerankerSpec
from reasonrank.testing.scripted_engines import reverse_window

pytestmark = pytest.mark.cost

REQ = ChatRequest.of([{"role": "user", "content": "hello"}])
PARAMS = SamplingParams(max_tokens=16)
IDENT = '{"engine": "scripted"}'


def key(**change):
    parts = {"identity": IDENT, "namespace": "", "kind": "generate", "request": REQ, "settings": PARAMS}
    parts.update(change)
    return request_key(parts["identity"], parts["namespace"], parts["kind"], parts["request"], parts["settings"])


# -- one test per part of the key ---------------------------------------------------------------
def test_key_is_stable():
    assert key() == key()


def test_key_engine_kind():
    assert key(identity='{"engine": "vllm"}') != key()


def test_key_model_identity():
    a = model_identity(ScriptedEngine(model_name="m1"))
    b = model_identity(ScriptedEngine(model_name="m2"))
    assert a != b and key(identity=str(a)) != key(identity=str(b))


def test_key_local_model_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("REASONRANK_CACHE", str(tmp_path / "rr-cache"))  # the digest memo
    f = tmp_path / "model.gguf"
    f.write_bytes(b"a" * 100)
    engine = ScriptedEngine()
    engine.model_path = str(f)  # type: ignore[attr-defined]
    before = model_identity(engine)
    f.write_bytes(b"b" * 100)
    assert model_identity(engine) != before


def test_key_server_url_and_models():
    engine = ScriptedEngine()
    engine.base_url = "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]  # nothing listens: "?"
    one = model_identity(engine)
    engine.base_url = "http://127.0.0.1:10/v1"  # type: ignore[attr-defined]
    assert model_identity(engine) != one and one["served"] == "?"


def test_key_namespace():
    assert key(namespace="team-a") != key()


def test_key_request_messages_and_prefix():
    assert key(request=ChatRequest.of([{"role": "user", "content": "hello!"}])) != key()
    assert key(request=ChatRequest.of(REQ.messages, "<think>")) != key()


def test_key_sampling_params_and_seed():
    assert key(settings=SamplingParams(max_tokens=17)) != key()
    assert key(settings=SamplingParams(max_tokens=16, seed=1)) != key()
    assert key(settings=SamplingParams(max_tokens=16, stop=("x",))) != key()


def test_key_choices():
    assert key(kind="choices", settings=["true", "false"]) != key(kind="choices", settings=["yes", "no"])


def test_key_attention_request():
    a = AttentionRequest(("a", "b"), ("q",))
    assert key(kind="attention", request=a, settings=None) != key(
        kind="attention", request=AttentionRequest(("a", "c"), ("q",)), settings=None)


# -- behaviour ----------------------------------------------------------------------------------
def test_hit_served_without_engine():
    inner = ScriptedEngine(lambda r: "answer")
    engine = CachedEngine(inner)
    first = engine.generate([REQ], PARAMS)[0]
    second = engine.generate([REQ], PARAMS)[0]
    assert len(inner.calls) == 1 and second.text == first.text and second.cached and not first.cached
    assert engine.stats.hits == 1 and engine.stats.misses == 1


def test_sampled_without_seed_not_cached():
    inner = ScriptedEngine(lambda r: "x")
    engine = CachedEngine(inner)
    hot = SamplingParams(max_tokens=8, temperature=0.7)
    engine.generate([REQ], hot)
    engine.generate([REQ], hot)
    assert len(inner.calls) == 2 and engine.stats.bypassed == 2
    seeded = SamplingParams(max_tokens=8, temperature=0.7, seed=3)
    engine.generate([REQ], seeded)
    engine.generate([REQ], seeded)
    assert len(inner.calls) == 3
    asked = CachedEngine(inner, cache_sampled=True)
    asked.generate([REQ], hot)
    asked.generate([REQ], hot)
    assert len(inner.calls) == 4


def test_errors_not_cached():
    state = {"fail": True}

    def fn(r):
        if state["fail"]:
            raise EngineError("server down")
        return "ok"

    inner = ScriptedEngine(fn)
    engine = CachedEngine(inner)
    with pytest.raises(EngineError):
        engine.generate([REQ], PARAMS)
    state["fail"] = False
    assert engine.generate([REQ], PARAMS)[0].text == "ok"
    assert engine.generate([REQ], PARAMS)[0].text == "ok" and engine.stats.hits == 1


def test_reranker_usage_counts_hits_and_spec_default():
    inner = ScriptedEngine(reverse_window)
    reranker = RerankerSpec(method="listwise", engine=inner).build()
    docs = [{"id": f"d{i}", "text": f"passage {i}"} for i in range(20)]
    first = reranker.rerank("q", docs)
    n_calls = len(inner.calls)
    again = reranker.rerank("q", docs)
    assert len(inner.calls) == n_calls and again.ids == first.ids
    assert again.usage.cache_hits == 1 and again.usage.cache_misses == 0
    assert first.usage.cache_misses == 1 and again.to_dict()["usage"]["cache_hits"] == 1
    off = RerankerSpec(method="listwise", engine=inner, cache=False).build()
    off.rerank("q", docs)
    assert len(inner.calls) == n_calls + 1


def test_fallbacks_not_cached():
    # An output with no usable answer is a method fallback: the result is never kept whole
    # (the engine reply itself is a reply: a greedy engine would give it again anyway).
    inner = ScriptedEngine(lambda r: "no answer at all")
    reranker = RerankerSpec(method="listwise", engine=inner).build()
    docs = [{"id": "a", "text": "a"}, {"id": "b", "text": "b"}]
    assert reranker.rerank("q", docs).usage.fallbacks == 1
    again = reranker.rerank("q", docs)
    assert again.usage.fallbacks == 1  # the method ran again (a kept result has no fallbacks)
    cached = find_cache(reranker.engine)
    assert cached is not None and len(cached.results) == 0


def test_engine_fallback_results_not_kept():
    state = {"fail": True}

    def fn(r):
        if state["fail"]:
            raise EngineError("server down")
        return reverse_window(r)

    inner = ScriptedEngine(fn)
    reranker = RerankerSpec(method="listwise", engine=inner, on_error="keep_order").build()
    docs = [{"id": "a", "text": "a"}, {"id": "b", "text": "b"}]
    assert reranker.rerank("q", docs).usage.engine_fallbacks == 1
    state["fail"] = False
    fixed = reranker.rerank("q", docs)
    assert fixed.ids == ["b", "a"] and fixed.usage.engine_fallbacks == 0


# -- the disk store -----------------------------------------------------------------------------
def test_disk_store_private_and_shared(tmp_path: Path):
    folder = tmp_path / "c"
    layer = cache_layer(str(folder))
    assert layer is not None
    inner = ScriptedEngine(lambda r: "disk")
    layer(inner).generate([REQ], PARAMS)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert stat.S_IMODE((folder / DB_NAME).stat().st_mode) == 0o600
    fresh = layer(ScriptedEngine(lambda r: "other"))  # another process would see the same file
    assert fresh.generate([REQ], PARAMS)[0].text == "disk"


def _writer(folder: str, worker: int) -> None:
    store = DiskStore(folder)
    for i in range(200):
        store.put(f"k{i % 50}", f"{worker}:{i}".encode())
        store.get(f"k{(i * 7) % 50}")


def test_two_processes_write_one_store(tmp_path: Path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
    assert [p.exitcode for p in procs] == [0, 0]
    store = DiskStore(tmp_path)
    assert store.stats()["entries"] == 50
    assert all(store.get(f"k{i}") is not None for i in range(50))


def test_truncated_store_warns_and_misses(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    layer = cache_layer(str(tmp_path))
    assert layer is not None
    layer(ScriptedEngine(lambda r: "x")).generate([REQ], PARAMS)
    db = tmp_path / DB_NAME
    for suffix in ("-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    db.write_bytes(db.read_bytes()[:100])  # truncated mid-header
    inner = ScriptedEngine(lambda r: "fresh")
    with caplog.at_level("WARNING", logger="reasonrank.cache"):
        reply = CachedEngine(inner, DiskStore(tmp_path)).generate([REQ], PARAMS)[0]
    assert reply.text == "fresh" and len(inner.calls) == 1
    assert "unusable" in caplog.text


def test_memory_lru_bounded():
    store = MemoryStore(2)
    for k in "abc":
        store.put(k, b"v")
    assert store.get("a") is None and len(store) == 2


def test_cache_folder_that_is_a_file(tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(InvalidInputError, match="cannot be written"):
        RerankerSpec(cache=str(blocker / "sub"))


def test_unwritable_cache_folder_one_clear_error(tmp_path: Path):
    ro = tmp_path / "ro"
    ro.mkdir(mode=0o500)
    if os.access(ro, os.W_OK):  # running as root: permissions do not stop writes
        pytest.skip("root can write anywhere")
    with pytest.raises(InvalidInputError, match="cannot be written"):
        RerankerSpec(cache=str(ro / "sub"))


def test_cli_cache_stats_and_clear(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    from reasonrank.cli import main

    layer = cache_layer(str(tmp_path))
    assert layer is not None
    layer(ScriptedEngine(lambda r: "x")).generate([REQ], PARAMS)
    assert main(["cache", "stats", str(tmp_path)]) == 0
    assert '"entries": 1' in capsys.readouterr().out
    assert main(["cache", "clear", str(tmp_path)]) == 0
    assert DiskStore(tmp_path).stats()["entries"] == 0


def test_cli_cache_flag_reaches_the_spec(tmp_path: Path):
    import argparse

    from reasonrank.cli.common import add_reranker_arguments, spec_from_args

    parser = argparse.ArgumentParser()
    add_reranker_arguments(parser)
    assert spec_from_args(parser.parse_args(["--cache", "off"])).cache is False
    assert spec_from_args(parser.parse_args([])).cache is True
    assert spec_from_args(parser.parse_args(["--cache", str(tmp_path)])).cache == str(tmp_path)
