"""Every trainer's final 2D metrics for one seed, as JSON: run it before and after a change that
must not alter behaviour (a refactor) and compare the two files (`--compare A B`).

    python bench/bench_same_figures.py --out before.json    # on the old commit
    python bench/bench_same_figures.py --out after.json     # on the new one
    python bench/bench_same_figures.py --compare before.json after.json

Short runs (200 steps, batch 64, 1000 samples scored) of baseline GAN, Self-Cond and two PGMGAN
settings on the grid, simplicial and NEMGAN on a Gaussian mixture; timings are left out of the
comparison.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from trainables.loop import LocalReporter, train_loop  # noqa: E402

RUNS = [
    ("baseline_gan", "grid", {}),
    ("selfcond_gan", "grid", {"k": 10, "recluster_every": 100, "cluster_subset": 2000,
                              "kmeans_restarts": 2}),
    ("pgmgan", "grid", {"k": 10, "d_steps": 1, "loss": "standard", "lambda_schedule": "linear",
                        "lambda_length": 100, "rejection": False,
                        "partition": {"init": "kmeans", "steps": 100, "kmeans_restarts": 2}}),
    ("pgmgan", "grid", {"k": 6, "rejection": True, "partition": {"steps": 40}}),
    ("simplicial", "gaussian_mixture", {"latent_dim": 10, "eval_prdc_samples": 500}),
    ("nemgan", "gaussian_mixture", {"latent_dim": 12, "priors": "learned", "labelled_start": 0,
                                    "prior_start": 20, "eval_test_samples": 500,
                                    "eval_fake_samples": 500}),
]
TIMINGS = ("step_time_s", "time")


def run(seed: int, steps: int) -> dict[str, dict[str, float]]:
    out = {}
    for i, (trainer, data, method) in enumerate(RUNS):
        cfg = {"trainer": trainer, "dataset": {"name": data, "options": {"n": 5000}},
               "steps": steps, "eval_every": steps, "checkpoint_every": steps,
               "eval_samples": 1000, "seed": seed, "method": {"batch_size": 64} | method}
        t0 = time.perf_counter()
        reporter = LocalReporter()
        train_loop(cfg, reporter)
        out[f"{i}:{trainer}"] = {k: v for k, v in reporter.history[-1].items()
                                 if isinstance(v, int | float) and not k.startswith(TIMINGS)}
        print(f"{trainer:14s} {time.perf_counter() - t0:6.1f} s", flush=True)
    return out


def compare(a: Path, b: Path) -> int:
    def values(path: Path) -> dict[str, dict[str, float]]:
        return {r: {k: v for k, v in m.items() if not k.startswith(TIMINGS)}
                for r, m in json.loads(path.read_text()).items()}

    x, y = values(a), values(b)
    diff = [(run_, k, x[run_][k], y.get(run_, {}).get(k)) for run_ in x for k in x[run_]
            if x[run_][k] != y.get(run_, {}).get(k) and x[run_][k] == x[run_][k]]
    missing = sorted(set(x) ^ set(y))
    n = sum(len(v) for v in x.values())
    print(f"{n} values in {len(x)} runs; {len(diff)} differ; runs in one file only: {missing}")
    for row in diff[:20]:
        print("  ", *row)
    return 1 if diff or missing else 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--out", type=Path, help="write the metrics here (JSON)")
    ap.add_argument("--compare", nargs=2, type=Path, metavar=("A", "B"))
    args = ap.parse_args()
    if args.compare:
        sys.exit(compare(*args.compare))
    result = run(args.seed, args.steps)
    if args.out:
        args.out.write_text(json.dumps(result, indent=1, sort_keys=True))
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
