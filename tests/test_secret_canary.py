"""The canary: one unique upstream key, given the ways a user gives it (a plain string in
``engine_options``, the wrappers' ``api_key``, ``$REASONRANK_API_KEY``), reaches the upstream server
and appears in none of the library's serialised forms and outputs:

``repr``/``str``/``to_dict``/JSON/pickle of the spec, ``describe_factory``, the presets listing,
the CLI's ``rerank --json``, the ``eval`` output folder (``metrics.json``, ``results.jsonl``, every
file) and its ``--json``, the ``rerank-dataset`` output folder on a real local Ray cluster (every
file) and its ``--json``, serve's answers, ``/metrics``, ``/openapi.json``, ``/health`` and
``/v1/stats``, the LlamaIndex/Haystack/LangChain serialisations (and the specs they build), every
log record at DEBUG, every warning, and the messages of the errors raised on the way.

The upstream is the instant OpenAI-compatible server (a local subprocess): no network. It
records each ``Authorization`` header by its SHA-256, which proves the key was sent.
"""
from __future__ import annotations

import hashlib
import json
import logging
import pickle
import secrets
import urllib.request
import warnings
from pathlib import Path
from typing import Any

import pytest
from reasonrank.cli import main
from reasonrank.distributed.runner import describe_factory
from reasonrank.spec import RerankerSpec
from reasonrank.testing.servers.instant_openai import instant_server

CANARY = f"sk-canary-{secrets.token_hex(8)}"  # unique per run: no false match
ENV = "RR_TEST_CANARY_UPSTREAM_KEY"
TINY = Path(__file__).parent / "eval" / "data" / "tiny"
DOCS = [{"id": f"d{i}", "text": f"passage number {i} about ranking"} for i in range(4)]


class Seen:
    """Every text the test looked at, by where it came from."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def add(self, label: str, value: Any) -> None:
        text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
        self.texts[label] = self.texts.get(label, "") + "\n" + text

    def folder(self, label: str, folder: Path) -> None:
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        assert files, f"{label}: nothing written"
        for path in files:
            self.add(f"{label}/{path.relative_to(folder)}", path.read_bytes())

    def error(self, label: str, call: Any) -> None:
        """Run ``call``; an exception's message (and its cause's) is scanned too."""
        try:
            self.add(label, call())
        except BaseException as exc:  # noqa: BLE001 - any failure's text is what we scan
            self.add(label, f"{type(exc).__name__}: {exc} / {exc.__cause__!r}")

    def leaks(self) -> list[str]:
        return [label for label, text in self.texts.items() if CANARY in text]


def sent_key(upstream: str) -> int:
    """How many requests reached the upstream with ``Authorization: Bearer CANARY``."""
    stats = json.loads(urllib.request.urlopen(upstream.removesuffix("/v1") + "/stats", timeout=10).read())
    return stats["auth"].get(hashlib.sha256(f"Bearer {CANARY}".encode()).hexdigest(), 0)


def spec_of(upstream: str, **options: Any) -> RerankerSpec:
    return RerankerSpec(method="listwise", engine="openai", model="instant", base_url=upstream,
                        engine_options={"api_key": CANARY, "max_retries": 0, "tokenizer": False, **options})


def cli(capsys: Any, seen: Seen, label: str, *argv: str) -> int:
    code = main(list(argv))
    out, err = capsys.readouterr()
    seen.add(f"{label} stdout", out)
    seen.add(f"{label} stderr", err)
    return code


def test_the_upstream_key_leaks_nowhere(tmp_path, monkeypatch, caplog, capsys):
    monkeypatch.setenv(ENV, CANARY)
    monkeypatch.setenv("REASONRANK_API_KEY", CANARY)  # the engine's default key, read from here
    monkeypatch.delenv("REASONRANK_SERVE_API_KEYS", raising=False)
    caplog.set_level(logging.DEBUG)
    seen = Seen()
    key_json = json.dumps({"api_key": CANARY, "tokenizer": False, "max_retries": 0})
    served = ["--engine", "openai", "--model", "instant", "--method", "listwise", "--engine-options", key_json]
    with warnings.catch_warnings(record=True) as caught, instant_server() as upstream:
        warnings.simplefilter("always")
        served += ["--base-url", upstream]
        spec = spec_of(upstream)
        # -- the spec and what is made from it --------------------------------------------------
        seen.add("repr(spec)", repr(spec))
        seen.add("str(spec)", str(spec))
        seen.add("spec.to_dict()", spec.to_dict())
        seen.error("json(spec.to_dict())", lambda: json.dumps(spec.to_dict()))
        seen.error("pickle(spec)", lambda: pickle.dumps(spec))
        seen.add("describe_factory(spec)", describe_factory(spec))
        reranker = spec.build()
        result = reranker.rerank("ranking passages", [d["text"] for d in DOCS])
        seen.add("result.to_dict()", json.dumps(result.to_dict()))
        seen.add("repr(engine)", repr(reranker.engine))
        seen.add("engine.describe()", reranker.engine.describe())
        seen.add("vars(engine)", {k: repr(v) for k, v in vars(reranker.engine.inner).items()}
                 if hasattr(reranker.engine, "inner") else vars(reranker.engine))
        assert sent_key(upstream) > 0, "the key never reached the upstream"
        # -- the CLI ------------------------------------------------------------------------------
        docs = tmp_path / "docs.jsonl"
        docs.write_text("".join(json.dumps(d) + "\n" for d in DOCS))
        assert cli(capsys, seen, "rerank --json", "rerank", "--query", "q", "--docs", str(docs), "--json",
                   "--no-progress", *served) == 0
        assert cli(capsys, seen, "presets --json", "presets", "--json") == 0
        out = tmp_path / "eval"
        assert cli(capsys, seen, "eval --json", "eval", str(TINY), "-o", str(out), "--depth", "3",
                   "--limit-queries", "1", "--no-progress", "--json", *served) == 0
        assert (out / "metrics.json").is_file() and (out / "results.jsonl").is_file()
        seen.folder("eval output", out)
        # -- serve ----------------------------------------------------------------------------------
        pytest.importorskip("fastapi")
        from fastapi.testclient import TestClient
        from reasonrank.serve import ServeSettings, create_app

        client_key = "client-key-not-the-canary"
        with TestClient(create_app(spec_of(upstream), ServeSettings(api_keys=(client_key,))),
                        raise_server_exceptions=False) as client:
            auth = {"Authorization": f"Bearer {client_key}"}
            answer = client.post("/v2/rerank", json={"query": "q", "documents": ["a", "b"]}, headers=auth)
            assert answer.status_code == 200, answer.text
            seen.add("serve answer", answer.text + str(dict(answer.headers)))
            for page in ("/metrics", "/openapi.json", "/health"):
                seen.add(f"serve {page}", client.get(page).text)
            seen.add("serve /v1/stats", client.get("/v1/stats", headers=auth).text)
        # -- the framework wrappers -----------------------------------------------------------------
        _wrappers(seen, upstream)
        # -- errors: a dead upstream, with the key --------------------------------------------------
        dead = spec_of("http://127.0.0.1:9/v1")
        seen.error("engine error", lambda: dead.build().rerank("q", ["a", "b"]))
        # -- Ray: rerank-dataset (a real local cluster; workers inherit this environment) -----------
        _rerank_dataset(seen, capsys, tmp_path, served)
    seen.add("warnings", [f"{w.category.__name__}: {w.message}" for w in caught])
    seen.add("logs", [f"{r.name} {r.levelname}: {r.getMessage()} {r.exc_text or ''}" for r in caplog.records])
    checked = sorted(seen.texts)
    print("canary checked:", *checked, sep="\n  ")
    leaked = seen.leaks()
    assert not leaked, f"the key leaked into {len(leaked)} of {len(checked)} outputs: {leaked}"


def _wrappers(seen: Seen, upstream: str) -> None:
    dead = {"engine": "openai", "model": "instant", "base_url": upstream}
    llama = pytest.importorskip("llama_index_reasonrank")
    haystack = pytest.importorskip("haystack")
    from haystack.utils import Secret as HaystackSecret

    from haystack_reasonrank import ReasonRankGenerator, ReasonRankRanker

    rerank = llama.ReasonRankRerank(**dead, api_key=CANARY)
    moved = llama.ReasonRankRerank(**dead, engine_options={"api_key": CANARY})
    for name, wrapper in (("llama_index api_key", rerank), ("llama_index engine_options", moved)):
        seen.add(name, [wrapper.to_dict(), wrapper.to_json(), repr(wrapper), str(wrapper)])
        seen.add(f"{name} spec", [repr(wrapper.spec()), wrapper.spec().to_dict()])
    ranker = ReasonRankRanker(**dead, api_key=HaystackSecret.from_env_var(ENV))
    generator = ReasonRankGenerator(**dead, api_key=HaystackSecret.from_env_var(ENV))
    pipe = haystack.Pipeline()
    pipe.add_component("ranker", ranker)
    pipe.add_component("generator", generator)
    seen.add("haystack pipeline yaml", pipe.dumps())
    seen.add("haystack to_dict", [ranker.to_dict(), generator.to_dict(), repr(ranker)])
    seen.add("haystack spec", [repr(ranker.spec()), ranker.spec().to_dict()])
    token = ReasonRankRanker(**dead, api_key=HaystackSecret.from_token(CANARY))
    seen.error("haystack token to_dict", token.to_dict)
    seen.add("haystack token spec", [repr(token.spec()), token.spec().to_dict()])
    lc = pytest.importorskip("langchain_reasonrank")
    compressor = lc.ReasonRankCompressor(**dead, api_key=CANARY)
    seen.add("langchain", [compressor.model_dump(), compressor.model_dump_json(), repr(compressor)])
    seen.add("langchain spec", [repr(compressor.spec()), compressor.spec().to_dict()])


def _rerank_dataset(seen: Seen, capsys: Any, tmp_path: Path, served: list[str]) -> None:
    ray = pytest.importorskip("ray")
    if ray.is_initialized():  # a cluster started before this test lacks its environment variable
        ray.shutdown()
    base = ["rerank-dataset", str(TINY), "--limit-queries", "1", "--depth", "3",
            "--no-progress", "--json", "--cpus-per-replica", "0.5"]
    # The key's value: refused with one clear error (it would travel to the workers in clear).
    value = tmp_path / "ray-value"
    cli(capsys, seen, "rerank-dataset (value key)", *base, "-o", str(value), *served)
    if value.exists():
        seen.folder("rerank-dataset output (value key)", value)
    # The documented route: the key as an environment variable's name.
    by_name = json.dumps({"api_key": {"type": "env_var", "env_vars": [ENV]}, "tokenizer": False, "max_retries": 0})
    named = [*served[:-4], "--engine-options", by_name, *served[-2:]]
    out = tmp_path / "ray-env"
    code = cli(capsys, seen, "rerank-dataset (env key)", *base, "-o", str(out), *named)
    seen.folder("rerank-dataset output (env key)", out)
    assert code == 0, seen.texts["rerank-dataset (env key) stderr"][-2000:]
