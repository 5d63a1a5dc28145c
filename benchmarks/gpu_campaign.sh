#!/usr/bin/env bash
# A paper-profile campaign on one GPU for a fixed number of minutes (default 8), records written as runs finish:
#   bash benchmarks/gpu_campaign.sh [MINUTES] [PATTERN ...]
# 1. re-stamps the GPU records left stale by a code change, after a full rerun on this GPU reproduces them
#    (mgdl-results adopt --device cuda; records of a CPU are not touched);
# 2. runs the pending paper-profile configs matching PATTERN (default: Table 1, then the Sec. 5 synthetic sweeps),
#    14 at a time as threads of one worker, each on its own CUDA stream (gradient descent replays CUDA graphs).
# Commit results/ afterwards. Runs cut by the time limit leave no record (their checkpoints stay in
# results/.checkpoints and a later call on the same machine resumes them).
set -uo pipefail
minutes="${1:-8}"
shift || true
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 CUDA_DEVICE_MAX_CONNECTIONS=32
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_campaign: torch sees no CUDA GPU here')" || exit 2
start=$SECONDS
timeout 300 python -m mgdlcore.experiments.verify adopt --device cuda
left=$(( minutes * 60 - (SECONDS - start) ))
patterns=("$@")
[ ${#patterns[@]} -eq 0 ] && patterns=('regression*' 'learning_rate setting*')
only=()
for p in "${patterns[@]}"; do only+=(--only "$p"); done
[ $left -gt 30 ] && timeout $left python -m mgdlcore.experiments.campaign paper --device cuda --workers 1 \
  --runs-per-worker 14 --order profile --progress off "${only[@]}"
echo "gpu_campaign: done after $(( SECONDS - start )) s"
