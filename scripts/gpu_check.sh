#!/usr/bin/env bash
# GPU checks on a machine that has CUDA torch + transformers but no package registry:
# installs the carried wheels (.device/wheels) and runs the GPU tests and a short SFT + GRPO on
# CUDA with the tiny model (carried in .device/cache). Output goes to $OUT.
set -uo pipefail
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
export REASONRANK_CACHE="$PWD/.device/cache" HF_HUB_OFFLINE=1
python3 -m pip install -q --no-deps .device/wheels/*.whl 2>&1 | tail -2
python3 -m pip install -q --no-deps --no-build-isolation -e . 2>&1 | tail -2
{ nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv; python3 -c "import torch, transformers, trl; print('torch', torch.__version__, 'transformers', transformers.__version__, 'trl', trl.__version__)"; } > "$OUT/env.txt" 2>&1
python3 -m pytest -p no:cacheprovider -q -s -rs tests/engines/test_gpu.py tests/training/test_sft_grpo_smoke.py tests/training/test_rewards.py 2>&1 | tail -40 > "$OUT/pytest-gpu.txt"
cat "$OUT/env.txt" "$OUT/pytest-gpu.txt"
