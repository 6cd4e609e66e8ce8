"""A clean exit: a script that builds and uses an engine and exits without closing it prints
nothing on stderr at interpreter exit (the llama.cpp engine used to print ``Exception ignored
in: Llama.__del__ ... TypeError: 'NoneType' object is not callable``). One subprocess per
engine available here; the embedded one goes through a LlamaIndex postprocessor, as users do."""
from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from reasonrank.testing import has_module

pytestmark = pytest.mark.reliability

TESTS = Path(__file__).parents[1]
PROGRESS = re.compile(r"\d+/\d+ \[[\d:<?]+|it/s\]|s/it\]")  # a tqdm bar line
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
        from reasonrank.testing.servers.fault_server import fault_server
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
        from llama_index_reasonrank import ReasonRankRerank
        from reasonrank.engines.base import ChatRequest, SamplingParams
        post = ReasonRankRerank(method='listwise', top_n=2, engine_options={'n_ctx': 512})  # llama.cpp
        engine = post.reranker.engine  # the embedded model, owned by the postprocessor
        request = ChatRequest.of([{'role': 'user', 'content': 'Say yes.'}])
        print(engine.generate([request], SamplingParams(max_tokens=2))[0].completion_tokens)
        print(engine.choice_logprobs([request], ['yes', 'no'])[0].probs)
        # no close(): the postprocessor keeps the engine until the interpreter exits
    """,
}


# Warnings the library logs on purpose (fallbacks of a tiny model) go to stdout here: the test
# is about what the interpreter prints at exit.
PREAMBLE = "import logging, sys\nlogging.basicConfig(stream=sys.stdout, level=logging.WARNING)\n"


def run_script(body: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", PREAMBLE + textwrap.dedent(body)], capture_output=True,
                          text=True, timeout=600, cwd=TESTS, check=False)


@pytest.mark.parametrize("engine", list(SCRIPTS))
def test_no_output_on_stderr_at_exit(engine: str, request) -> None:
    tok = ""
    if engine == "embedded" and (not has_module("llama_cpp") or not has_module("llama_index.core")):
        pytest.skip("needs llama-cpp-python and llama-index-core")
    if engine in ("transformers", "openai"):
        if not has_module("transformers"):
            pytest.skip("needs transformers")
        tok = str(request.getfixturevalue("tiny_model_path"))
    proc = run_script(SCRIPTS[engine].replace("DOCS", DOCS).replace("TOK", repr(tok)))
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip()
    # Nothing on stderr but progress bars (transformers' "Loading weights"): no "Exception
    # ignored in", no traceback, no warning.
    unexpected = [line for line in proc.stderr.splitlines() if line.strip() and not PROGRESS.search(line)]
    assert unexpected == [], proc.stderr[-2000:]
