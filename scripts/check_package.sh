#!/usr/bin/env bash
# The packaging check (scripts/test.sh runs it after the gates):
#   bash scripts/check_package.sh
# builds the sdist and the wheel, checks their metadata (twine check --strict), installs the
# wheel with the `embedded` extra into a fresh virtual environment (versions from
# constraints/ci.txt; downloads come from pip's cache) and runs `reasonrank --help` and a
# three-line rerank there, outside the checkout, so the installed wheel is what gets imported.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${REASONRANK_VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
DIST=".cache/package/dist"
CLEAN="$PWD/.cache/package/venv"
START=$SECONDS
log() { printf '[package %3ds] %s\n' "$((SECONDS - START))" "$*" >&2; }

rm -rf "$DIST" "$CLEAN"
log "building the sdist and the wheel"
"$VENV/bin/python" -m build --no-isolation --sdist --wheel --outdir "$DIST" . >/dev/null
ls -l "$DIST" >&2
log "checking their metadata (twine check --strict)"
"$VENV/bin/python" -m twine check --strict "$DIST"/*
WHEEL="$(ls "$DIST"/*.whl)"
log "installing $(basename "$WHEEL")[embedded] into a fresh virtual environment"
"$PYTHON" -m venv "$CLEAN"
"$CLEAN/bin/python" -m pip install --disable-pip-version-check -c constraints/ci.txt "$WHEEL[embedded]"
cd "$CLEAN"
log "reasonrank --help (from the wheel)"
bin/reasonrank --help | head -n 4
log "a three-line rerank (the no-option default)"
bin/python - <<'PY'
from reasonrank import load_reranker

result = load_reranker().rerank("how long is a cat pregnant", ["Dogs are loyal companions.", "Cats are pregnant for about 63 to 65 days."])
print(result.indices, result.method, result.model)
import reasonrank; assert "/.cache/package/venv/" in reasonrank.__file__, reasonrank.__file__
assert sorted(result.indices) == [0, 1], result.indices
PY
log "done"
