"""Random search vs ASHA vs PBT at a fixed toy budget (run on demand, not in CI).

For each of `--reps` repetitions, three studies on the 2D grid (baseline GAN, lr_g and lr_d
searched on a log range) get the same budget of trial-steps (population × steps):
- random: `population` trials, each trained to `steps`;
- ASHA: more trials, stopped early by ASHA; trials are added until the budget is spent;
- PBT: `population` trials, exploiting every `steps // 5` steps (lr_g, lr_d mutate).
Prints the best final reverse KL of each (lower is better) and the trial-steps actually used.

    .venv/bin/python bench/bench_population.py [--steps 2000 --population 4 --reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import yaml

from study.runner import connect_ray, run_study

LR = {"type": "loguniform", "low": 1e-5, "high": 3e-3}


def spec(name: str, kind: str, steps: int, population: int, rep: int) -> dict:
    every = steps // 5
    base = {
        "name": name, "trainer": "baseline_gan",
        "dataset": {"name": "grid", "options": {"n": 50000}},
        "fixed": {"batch_size": 100}, "seeds": [rep], "metric": "reverse_kl", "mode": "min",
        "budget": {"steps": steps}, "eval_every": every, "checkpoint_every": every,
        "eval_samples": 2500, "max_concurrent_trials": population,
        "resources": {"cpus_per_worker": 2 / population},
        "search": {"lr_g": LR, "lr_d": LR}, "searcher": {"type": "random", "seed": rep},
        "num_samples": population,
    }
    if kind == "asha":
        # ASHA (η = 3) keeps about a third per rung: ~2.5× the trials for the same trial-steps.
        base |= {"num_samples": int(population * 2.5),
                 "scheduler": {"type": "asha", "grace_period": every, "reduction_factor": 3}}
    if kind == "pbt":
        base |= {"scheduler": {"type": "pbt", "perturbation_interval": every,
                               "quantile_fraction": 0.25, "resample_probability": 0.25,
                               "mutations": {"lr_g": LR, "lr_d": LR}}}
    return base


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--population", type=int, default=4)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    connect_ray()
    best: dict[str, list[float]] = {"random": [], "asha": [], "pbt": []}
    used: dict[str, list[int]] = {k: [] for k in best}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for rep in range(args.reps):
            for kind in best:
                name = f"{kind}-{rep}"
                path = tmp / f"{name}.yaml"
                path.write_text(yaml.safe_dump(spec(name, kind, args.steps, args.population, rep)))
                out = run_study(path, storage=str(tmp / "runs"), tracking=f"sqlite:///{tmp}/m.db")
                best[kind].append(float(out.table["reverse_kl"].min()))
                used[kind].append(int(out.table["step"].sum()))
                print(f"rep {rep} {kind:6s} best reverse KL {best[kind][-1]:.4f} "
                      f"trial-steps {used[kind][-1]}", flush=True)
    budget = args.steps * args.population
    print(f"\nbudget {budget} trial-steps per study, {args.reps} repetitions "
          "(best final reverse KL, mean ± std over repetitions; lower is better)")
    for kind, values in best.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{kind:6s} {statistics.mean(values):.4f} ± {sd:.4f}   "
              f"trial-steps used {statistics.mean(used[kind]):.0f}")


if __name__ == "__main__":
    main()
