"""The dense and cross methods from every entry point: CLI, Python, LlamaIndex, Haystack (and
its pipeline YAML), LangChain, ``reasonrank serve`` and Ray, on the bundled all-MiniLM-L6-v2 and
a tiny random cross-encoder. Each returns every id exactly once, ranked as the core ranks."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("sentence_transformers")

from reasonrank import load_reranker
from reasonrank.cli import main
from reasonrank.testing.tiny_encoder import tiny_cross_encoder_dir

QUERY = "how long is the river thames"
TEXTS = [
    "Bake the apple pie for forty minutes.",
    "The River Thames is 346 km long and flows through London.",
    "Stock markets fell sharply on Monday.",
    "The Rhine is a European river about 1,230 km long.",
]
IDS = [f"d{i}" for i in range(len(TEXTS))]


@pytest.fixture(scope="module")
def core_order() -> list[str]:
    """What the core's dense method ranks (the wrappers must agree)."""
    return load_reranker(method="dense").rerank(QUERY, [{"id": i, "text": t} for i, t in zip(IDS, TEXTS)]).ids


def test_cli_rerank_dense_and_cross_json(tmp_path, capsys, core_order) -> None:
    docs = tmp_path / "docs.jsonl"
    docs.write_text("".join(json.dumps({"id": i, "text": t}) + "\n" for i, t in zip(IDS, TEXTS)))
    assert main(["rerank", "--method", "dense", "--query", QUERY, "--docs", str(docs), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in out["results"]] == core_order
    assert main(["rerank", "--method", "cross", "--model", str(tiny_cross_encoder_dir()), "--query", QUERY,
                 "--docs", str(docs), "--json"]) == 0
    assert sorted(r["id"] for r in json.loads(capsys.readouterr().out)["results"]) == sorted(IDS)
    # a folder of the wrong kind: one clear error, bad-input exit code
    assert main(["rerank", "--method", "dense", "--model", str(tiny_cross_encoder_dir()), "--query", QUERY,
                 "--docs", str(docs)]) == 2
    assert "cross-encoder" in capsys.readouterr().err


def test_llama_index_postprocessor(core_order) -> None:
    pytest.importorskip("llama_index.core")
    from llama_index.core.schema import NodeWithScore, TextNode

    from llama_index_reasonrank import ReasonRankRerank

    nodes = [NodeWithScore(node=TextNode(text=t, id_=i), score=0.0) for i, t in zip(IDS, TEXTS)]
    out = ReasonRankRerank(method="dense", top_n=4).postprocess_nodes(nodes, query_str=QUERY)
    assert [n.node.node_id for n in out] == core_order
    cross = ReasonRankRerank(method="cross", model=str(tiny_cross_encoder_dir()), top_n=10)
    assert sorted(n.node.node_id for n in cross.postprocess_nodes(nodes, query_str=QUERY)) == sorted(IDS)


def test_haystack_ranker_and_its_pipeline_yaml(core_order) -> None:
    pytest.importorskip("haystack")
    from haystack import Document, Pipeline

    from haystack_reasonrank import ReasonRankRanker

    docs = [Document(id=i, content=t) for i, t in zip(IDS, TEXTS)]
    ranker = ReasonRankRanker(method="dense", top_k=4)
    assert [d.id for d in ranker.run(query=QUERY, documents=docs)["documents"]] == core_order
    pipe = Pipeline()
    pipe.add_component("ranker", ReasonRankRanker(method="cross", model=str(tiny_cross_encoder_dir())))
    loaded = Pipeline.loads(pipe.dumps()).get_component("ranker")
    assert loaded.to_dict()["init_parameters"]["method"] == "cross"
    got = loaded.run(query=QUERY, documents=docs)["documents"]
    assert sorted(d.id for d in got) == sorted(IDS)


def test_langchain_compressor(core_order) -> None:
    pytest.importorskip("langchain_core")
    from langchain_core.documents import Document

    from langchain_reasonrank import ReasonRankCompressor

    docs = [Document(page_content=t, metadata={"id": i}) for i, t in zip(IDS, TEXTS)]
    out = ReasonRankCompressor(method="dense", top_n=4).compress_documents(docs, QUERY)
    assert [d.metadata["id"] for d in out] == core_order
    cross = ReasonRankCompressor(method="cross", model=str(tiny_cross_encoder_dir()), top_n=10)
    assert sorted(d.metadata["id"] for d in cross.compress_documents(docs, QUERY)) == sorted(IDS)


def test_serve_answers_with_the_dense_method(core_order) -> None:
    pytest.importorskip("fastapi")
    import httpx
    from reasonrank.testing.servers.reasonrank_server import serve

    with serve(["--method", "dense"]) as url:
        reply = httpx.post(f"{url}/v1/rerank", json={"query": QUERY, "documents": TEXTS}, timeout=60).json()
    order = [IDS[r["index"]] for r in reply["results"]]
    assert order == core_order


def test_ray_rerank_dataset_with_both_encoder_specs(tmp_path, core_order) -> None:
    pytest.importorskip("ray")
    rows = [{"query_id": "q1", "query": QUERY, "candidates": [{"id": i, "text": t} for i, t in zip(IDS, TEXTS)]}]
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # a fresh process, as a user's script: the spec pickles to the replica by its fields
    code = ("import json\nfrom pathlib import Path\nfrom reasonrank import RerankerSpec\n"
            "from reasonrank.distributed import RayOptions, rerank_dataset\n"
            "from reasonrank.distributed.output import iter_records\n"
            f"specs = {{'dense': RerankerSpec(method='dense'), 'cross': RerankerSpec(method='cross', "
            f"model={str(tiny_cross_encoder_dir())!r})}}\n"
            "ids = {}\n"
            "for name, spec in specs.items():\n"
            f"    out = Path({str(tmp_path)!r}) / name\n"
            f"    rerank_dataset(Path({str(tmp_path / 'in.jsonl')!r}), out, spec, "
            "ray_options=RayOptions(replicas=1, cpus_per_replica=1, batch_size=1), show_progress=False)\n"
            "    ids[name] = [r['id'] for rec in iter_records(out) for r in rec['results']]\n"
            "print(json.dumps(ids))\n")
    proc = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    ids = json.loads(proc.stdout.strip().splitlines()[-1])
    assert ids["dense"] == core_order and sorted(ids["cross"]) == sorted(IDS)
