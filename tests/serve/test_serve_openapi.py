"""The OpenAPI document is the contract: request bodies, every error answer with its body, the
real content types; schemathesis (every check, coverage and fuzzing phases) finds nothing
against a running ``reasonrank serve`` over a scripted engine."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from reasonrank.testing.servers.reasonrank_server import scripted_args

KEY = "openapi-key-29"
# The module's server (conftest.py).
SERVE_ARGS = scripted_args("instant", "--max-documents", "30", method_options={"reasoning_budget": 16}, api_key=KEY)


def test_the_document_declares_bodies_errors_and_content_types(server):
    doc = httpx.get(server + "/openapi.json", timeout=10).json()
    for path in ("/v2/rerank", "/v1/rerank", "/rerank", "/infinity/rerank", "/score", "/v1/score"):
        op = doc["paths"][path]["post"]
        assert op["requestBody"]["required"] is True
        assert {"200", "400", "401", "413", "422", "429", "500", "503", "504"} <= set(op["responses"])
        assert op["security"] == [{"bearer": []}]
    assert set(doc["paths"]["/metrics"]["get"]["responses"]["200"]["content"]) == {"text/plain"}
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    tei_or_not = doc["paths"]["/rerank"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert len(tei_or_not["anyOf"]) == 3  # TEI (texts), Infinity (raw_scores), Jina/vLLM (neither)


def test_schemathesis_finds_nothing(server, tmp_path):
    pytest.importorskip("schemathesis")
    cli = Path(sys.executable).with_name("schemathesis")
    cmd = [str(cli), "run", f"{server}/openapi.json", "-H", f"Authorization: Bearer {KEY}",
           "--checks", "all", "--max-examples", "30", "--seed", "29", "--workers", "1"]
    out = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=240, cwd=tmp_path)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-2000:]
    assert " passed" in out.stdout and "failure" not in out.stdout.lower().split("summary")[-1]
