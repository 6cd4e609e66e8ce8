#!/usr/bin/env bash
# The type-checker gate (run by .ci/run before the tests): mypy at its default strictness plus
# checked function bodies (config in pyproject.toml) on the library and the framework wrappers.
# mypy follows neither setuptools' editable finder nor the folder -> import-name mapping
# (`core` is `reasonrank`, `training` is `reasonrank.training`), so the sources are laid out under
# their import names in a scratch folder first; findings are reported with the real paths.
#   bash scripts/typecheck.sh
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${REASONRANK_VENV:-.venv}"
TREE=".cache/typecheck/src"
rm -rf "$TREE"
mkdir -p "$TREE/haystack_integrations/components/rankers" "$TREE/haystack_integrations/components/generators"
cp -r core "$TREE/reasonrank"
cp -r training "$TREE/reasonrank/training"
cp -r llama_index_reasonrank haystack_reasonrank langchain_reasonrank "$TREE/"
cp -r haystack_integrations/components/rankers/reasonrank "$TREE/haystack_integrations/components/rankers/"
cp -r haystack_integrations/components/generators/reasonrank "$TREE/haystack_integrations/components/generators/"
find "$TREE" -name __pycache__ -prune -exec rm -rf {} +
set +e
MYPYPATH="$TREE" "$VENV/bin/python" -m mypy --cache-dir .cache/typecheck/mypy 2>&1 \
  | sed -e "s#^$TREE/reasonrank/training/#training/#" -e "s#^$TREE/reasonrank/#core/#" -e "s#^$TREE/##"
status=${PIPESTATUS[0]}
set -e
exit "$status"
