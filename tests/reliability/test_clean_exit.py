"""A clean exit: a script that builds and uses an engine and exits without closing it prints
nothing on stderr at interpreter exit (the llama.cpp engine used to print ``Exception ignored
in: Llama.__del__ ... TypeError: 'NoneType' object is not callable``). One subprocess per
engine available here; the embedded one goes through a LlamaIndex postprocessor, as users do."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import has_module

TESTS = Path(__file__).parents[1]
DOCS = "[{'id': f'd{i}', 'text': f'passage {i} about tides'} for i in range(3)]"

SCRIPTS = {
    "scripted": """
        from reasonrank.engines.scripted import ScriptedEngine
        from reasonrank.methods.listwise import ListwiseReranker
        r = ListwiseReranker(ScriptedEngine(lambda q: '<answer>[2] > [1]</answer>'))
        print(r.rerank('tides', DOCS).ids)
    """,
    "openai": """
        from reasonrank.engines.openai import OpenAIEngine
        from reasonrank.methods.listwise import ListwiseReranker
        from servers.fault_server import fault_server
        with fault_server('ok') as (url, state):
            engine = OpenAIEngine('m', base_url=url, tokenizer=TOK)
            r = ListwiseReranker(engine, on_error='keep_order')
            print(r.rerank('tides', DOCS).ids)
            print(r.rerank_batch([('tides', DOCS)] * 3)[0].ids)  # async pipeline, worker threads
    """,
    "transformers": """
        from reasonrank.engines.transformers import TransformersEngine
        from reasonrank.methods.listwise import ListwiseReranker
        engine = TransformersEngine(TOK, device='cpu', dtype='float32')
        r = ListwiseReranker(engine, reasoning_budget=4, answer_tokens=4)
        print(r.rerank('tides', DOCS).ids)
    """,
    "embedded": """
        from llama_index.core.schema import NodeWithScore, TextNode
        from llama_index_reasonrank import ReasonRankRerank
        post = ReasonRankRerank(top_n=2, method_options={'reasoning_budget': 4, 'answer_tokens': 8})
        nodes = [NodeWithScore(node=TextNode(text=d['text'], id_=d['id']), score=1.0) for d in DOCS]
        print([n.node.node_id for n in post.postprocess_nodes(nodes, query_str='tides')])
        # no close(): the postprocessor keeps the engine until the interpreter exits
    """,
}


# Warnings the library logs on purpose (fallbacks of a tiny model) go to stdout here: the test
# is about what the interpreter prints at exit.
PREAMBLE = "import logging, sys\nlogging.basicConfig(stream=sys.stdout, level=logging.WARNING)\n"


def run_script(body: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run([sys.executable, "-c", PREAMBLE + textwrap.dedent(body)], capture_output=True,
                          text=True, timeout=300, env=env, cwd=TESTS)


@pytest.mark.parametrize("engine", list(SCRIPTS))
def test_no_output_on_stderr_at_exit(engine: str, request) -> None:
    tok = ""
    if engine == "embedded":
        if not has_module("llama_cpp") or not has_module("llama_index.core"):
            pytest.skip("needs llama-cpp-python and llama-index-core")
    if engine in ("transformers", "openai"):
        if not has_module("transformers"):
            pytest.skip("needs transformers")
        tok = str(request.getfixturevalue("tiny_model_path"))
    proc = run_script(SCRIPTS[engine].replace("DOCS", DOCS).replace("TOK", repr(tok)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
    # Nothing at all on stderr: no "Exception ignored in", no traceback, no resource warning.
    assert proc.stderr.strip() == "", proc.stderr[-2000:]
