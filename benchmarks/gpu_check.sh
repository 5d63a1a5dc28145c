#!/usr/bin/env bash
# The first thing to run on a machine with an NVIDIA GPU (under 8 minutes on one H100):
#   bash benchmarks/gpu_check.sh [OUT_DIR]
# 1. the benchmark table (about 2 minutes on an H100) of benchmarks/run.py on the GPU (--quick sizes; the synthetic cases and the allocator
#    cases run on the CPU of that machine, as everywhere);
# 2. the full-size cases: the (29) denoising step at 512 x 512 and the Lanczos extremes of (28) and (32) at all
#    65,536 pixels of Cameraman;
# 3. the batched learning-rate sweep against the same runs one after another (synthetic_sweep_speedup).
# Rows go to OUT_DIR/gpu_quick.json, gpu_lanczos_full.json and gpu_full.json (default: benchmarks/), in the format of run.py.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here}"
mkdir -p "$out"
cd "$here/.."
export PYTHONUNBUFFERED=1
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_check: torch sees no CUDA GPU here')"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
python benchmarks/run.py --quick --device cuda --json "$out/gpu_quick.json"
python benchmarks/run.py --device cuda --only lanczos_cases --json "$out/gpu_lanczos_full.json"
python benchmarks/run.py --device cuda --only sgdl29_denoise_step --only synthetic_sweep_batched --json "$out/gpu_full.json"
