#!/usr/bin/env bash
# A paper-profile campaign on one GPU for a fixed number of minutes (default 8), records written as runs finish:
#   bash benchmarks/gpu_campaign.sh [MINUTES] [PATTERN ...]
# 1. re-stamps the GPU records left stale by a code change, after a full rerun on this GPU reproduces them
#    (mgdl-results adopt --device cuda; records of a CPU are not touched);
# 2. runs the pending paper-profile configs (matching PATTERN, if given) in the order that decides the most undecided
#    claims of the paper for the time (--order claims: mgdlcore.paper.claims.deciding; the runs no claim reads
#    after them), with --batch: each learning-rate sweep as one stacked model, any other config alone; 4 jobs at a
#    time as threads of one worker, each on its own CUDA stream (plain GD replays CUDA graphs).
#    `mgdl-campaign paper --plan --device cuda --batch --by-claim`, on any machine, shows that order.
# 3. parks the checkpoints of runs cut by the time limit in results/.parked/ (mgdl-results park, at most
#    $MGDL_PARK_MAX_MB megabytes in all, default 30), so that a later
#    campaign on any machine, after a commit, resumes them.
# 4. with $OUT set (the device tool's folder of files that come back): packs every file of results/ that the
#    campaign wrote or changed into $OUT/results.tar.gz and lists the parked folders left in $OUT/parked.txt.
#    Here, in the checkout's root: `tar -xzf <files_at>/results.tar.gz`, remove the folders of results/.parked/
#    that parked.txt does not list (their runs finished there), and commit.
# Commit results/ (records, their .series.npz and .npz files, and results/.parked) afterwards.
set -uo pipefail
minutes="${1:-8}"
shift || true
cd "$(dirname "$0")/.."
export PYTHONUNBUFFERED=1 CUDA_DEVICE_MAX_CONNECTIONS=32
python -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'gpu_campaign: torch sees no CUDA GPU here')" || exit 2
start=$SECONDS
stamp=$(mktemp)
timeout 300 python -m mgdlcore.experiments.verify adopt --device cuda
left=$(( minutes * 60 - (SECONDS - start) ))
only=()
for p in "$@"; do only+=(--only "$p"); done
[ $left -gt 30 ] && timeout $left python -m mgdlcore.experiments.campaign paper --device cuda --batch --workers 1 \
  --runs-per-worker 4 --order claims --progress off "${only[@]}"
python -m mgdlcore.experiments.verify park --max-mb "${MGDL_PARK_MAX_MB:-30}"
if [ -n "${OUT:-}" ]; then
  find results -newer "$stamp" -type f ! -name '*.lock' ! -path '*/.checkpoints/*' -print0 \
    | tar -czf "$OUT/results.tar.gz" --null -T -
  ls results/.parked 2>/dev/null > "$OUT/parked.txt" || true
  echo "gpu_campaign: $(tar -tzf "$OUT/results.tar.gz" | wc -l) file(s) in \$OUT/results.tar.gz," \
       "$(wc -l < "$OUT/parked.txt") parked folder(s) left"
fi
echo "gpu_campaign: done after $(( SECONDS - start )) s"
