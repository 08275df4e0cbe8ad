#!/usr/bin/env bash
# Paper-length versions of the Stacked MNIST and NEMGAN MNIST-5 studies on one GPU, at most
# ~12 minutes: the shipped paper-scale specs with budgets cut to what fits, one seed each,
# written under $OUT (or ./gpu_out). Prepared for the device machine; not yet run (no GPU was
# lent to the session that wrote it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/_venv.sh
out=${OUT:-$PWD/gpu_out}
mkdir -p "$out"
export STUDY_STORAGE="$out/runs" MLFLOW_TRACKING_URI="sqlite:///$out/mlflow.db"
export STUDY_DATA_ROOT=${STUDY_DATA_ROOT:-$PWD/../shared/datasets} RAY_USAGE_STATS_ENABLED=0
study classifiers train mnist
for spec in selfcond_stacked_mnist_k100 nemgan_ablations_mnist5; do
  python - "$spec" "$out" <<'PY'
import sys, yaml
spec, out = sys.argv[1], sys.argv[2]
s = yaml.safe_load(open(f"search_spaces/{spec}.yaml"))
s["name"] = f"gpu_{spec}"
s["seeds"] = [0]
s["budget"] = {"steps": 5000, "time_s": 240}  # the time bound keeps the script under 12 min
s["eval_every"] = s["checkpoint_every"] = 2500
s["resources"] = {"workers": 1, "cpus_per_worker": 4, "gpus_per_worker": 1}
yaml.safe_dump(s, open(f"{out}/{spec}.yaml", "w"), sort_keys=False)
PY
  timeout 330 study run "$out/$spec.yaml" || echo "$spec: stopped (rc $?)"
  study report "gpu_$spec" || true
done
