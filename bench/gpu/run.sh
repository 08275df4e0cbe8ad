#!/usr/bin/env bash
# On the GPU machine (the device call's command): install the carried wheels into a temporary
# site, point the data, classifier and cache roots at the carried and temporary folders, and run
# a plan with the runner, its output in $OUT. Prepared here by `python -m bench.gpu.prepare`.
#   bash bench/gpu/run.sh bench/gpu/plan_smoke.yaml
set -uo pipefail
cd "$(dirname "$0")/../.."
carry=$(realpath -m "${GPU_CARRY:-.gpu_carry}")
out=${OUT:-$PWD/gpu_out}
mkdir -p "$out"
py=${PYTHON:-python3}
if ! "$py" -c "import pydantic" 2>/dev/null; then
  "$py" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site "$carry"/whl/*.whl || { echo "wheel install failed"; exit 3; }
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
export PYTHONPATH=$PWD${PYTHONPATH:+:$PYTHONPATH} PYTHONUNBUFFERED=1
export STUDY_DATA_ROOT=$carry/data STUDY_CLASSIFIERS_DIR=$carry/classifiers
tmp=${GPU_WORK:-/tmp/gpu_run}
export STUDY_STATS_CACHE=$tmp/stats MPLBACKEND=Agg PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1 | tee "$out/gpu.txt"
"$py" -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" \
  | tee -a "$out/gpu.txt"
cat "$carry/commit.txt" >> "$out/gpu.txt" 2>/dev/null || true
exec "$py" -m bench.gpu.runner "$@" --out "$out" --work "$tmp/work" --data-root "$STUDY_DATA_ROOT"
