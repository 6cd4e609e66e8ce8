"""The whole-result memo: its key is what each method declares, a repeat (in the same batch,
in another thread) is prepared once, and usage counts what the engine did."""
from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from reasonrank.cache.replies import find_cache, jsonable
from reasonrank.cli import main
from reasonrank.engines.base import ChatRequest
from reasonrank.engines.scripted import ScriptedEngine
from reasonrank.methods import METHODS
from reasonrank.methods.base import Reranker
from reasonrank.methods.cascade import CascadeReranker
from reasonrank.methods.fusion import FusedReranker
from reasonrank.registry import load_registered
from reasonrank.spec import RerankerSpec
from reasonrank.testing.scripted_engines import reverse_window

pytestmark = pytest.mark.cost

DOCS = [{"id": f"d{i}", "text": f"passage {i}"} for i in range(6)]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "data" / "dl19_query_1037798.jsonl"


def built_methods() -> dict[str, Reranker]:
    """One reranker of every registered method that runs on the scripted engine, plus the composites."""
    out: dict[str, Reranker] = {}
    for name in sorted(METHODS):
        if name == "icr":  # reads attention: no scripted engine for it (its fields are checked below)
            continue
        kind = name if name in ("dense", "cross") else None
        out[name] = load_registered(METHODS, name, "method")(ScriptedEngine(encoder_kind=kind))
    out["fused"] = FusedReranker(out["dense"], fusion="score", weight=0.9)
    out["cascade"] = CascadeReranker([out["dense"], out["listwise"]], [10, 5])
    return out


def declared(reranker: Reranker) -> set[str]:
    return {n for cls in type(reranker).__mro__
            for n in (*vars(cls).get("result_fields", ()), *vars(cls).get("operational_fields", ()))}


@pytest.mark.parametrize("name", sorted(built_methods()))
def test_every_attribute_is_declared_result_or_operational(name):
    # A new option that is neither would silently be left out of the memo key (stale answers):
    # the method must say whether it changes answers.
    reranker = built_methods()[name]
    assert set(vars(reranker)) <= declared(reranker), sorted(set(vars(reranker)) - declared(reranker))


def test_icr_declares_its_options():
    from reasonrank.methods.icr import ICRReranker

    fields = set(ICRReranker.result_fields)
    assert {"scoring", "retrieval_type", "max_passage_tokens", "calibration_query", "layers"} <= fields


@pytest.mark.parametrize("name", sorted(built_methods()))
def test_settings_are_plain_data_and_equal_across_builds(name):
    # The key must not depend on object identity (a repr with an address would never hit again).
    a, b = built_methods()[name], built_methods()[name]
    blob = json.dumps(jsonable(a.result_settings()), sort_keys=True)  # no default=repr needed
    assert " at 0x" not in blob
    assert a.result_settings() == b.result_settings()


def test_an_option_that_changes_answers_changes_the_key():
    engine = ScriptedEngine(reverse_window)
    small = RerankerSpec(method="listwise", engine=engine, method_options={"window_size": 4, "stride": 2}).build()
    large = RerankerSpec(method="listwise", engine=engine, method_options={"window_size": 6, "stride": 3}).build()
    assert small.result_settings() != large.result_settings()
    progress = RerankerSpec(method="listwise", engine=engine, method_options={"window_size": 4, "stride": 2},
                            show_progress=True).build()
    assert progress.result_settings() == small.result_settings()  # how it runs, not what it answers


def test_a_repeat_within_one_batch_is_prepared_once():
    inner = ScriptedEngine(reverse_window)
    reranker = RerankerSpec(method="listwise", engine=inner).build()
    first, repeat = reranker.rerank_batch([("q", DOCS), ("q", DOCS)])
    assert len(inner.calls) == 1 and first.ids == repeat.ids
    assert first.usage.engine_calls == 1 and repeat.usage.engine_calls == 0 and repeat.usage.cache_hits == 1
    stats = find_cache(reranker.engine).stats  # type: ignore[union-attr]
    assert stats.result_hits == 1 and stats.result_coalesced == 1


def test_a_repeat_in_another_thread_waits_for_its_original():
    release, entered = threading.Event(), threading.Event()
    prepared: list[str] = []

    def gated(request: ChatRequest) -> str:
        entered.set()
        assert release.wait(30)
        return reverse_window(request)

    inner = ScriptedEngine(gated)
    reranker = RerankerSpec(method="listwise", engine=inner).build()
    original_job = reranker._job

    def counting_job(query, candidates):  # type: ignore[no-untyped-def]
        prepared.append(query.text)
        return original_job(query, candidates)

    reranker._job = counting_job  # type: ignore[method-assign]
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(reranker.rerank("q", DOCS)), daemon=True)
               for _ in range(2)]
    threads[0].start()
    assert entered.wait(30)
    threads[1].start()
    cache = find_cache(reranker.engine)
    assert cache is not None
    for _ in range(3000):
        if cache.results.flights.waiting():
            break
        threading.Event().wait(0.01)
    release.set()
    for t in threads:
        t.join(30)
    assert prepared == ["q"] and len(inner.calls) == 1  # the repeat never prepared the query
    assert sorted(r.usage.engine_calls for r in results) == [0, 1]
    assert cache.stats.result_coalesced == 1


def test_cli_repeat_from_the_disk_cache_reports_no_engine_call(tmp_path, capsys):
    # The second process misses the in-memory result memo but every engine reply comes from the
    # on-disk cache: usage says the engine did nothing (it used to report the calls it skipped).
    args = ["rerank", "--query", "who is robert gray", "--docs", str(EXAMPLE), "--json", "--method", "listwise",
            "--engine", "scripted", "--on-error", "keep_order", "--cache", str(tmp_path / "cache")]
    assert main(args) == 0
    first = json.loads(capsys.readouterr().out)["usage"]
    assert main(args) == 0
    again = json.loads(capsys.readouterr().out)["usage"]
    assert first["engine_calls"] > 0 and first["cache_hits"] == 0
    assert again["engine_calls"] == 0 and again["engine_seconds"] == 0
    assert again["prompt_tokens"] == 0 and again["cache_hits"] == first["cache_misses"] > 0
