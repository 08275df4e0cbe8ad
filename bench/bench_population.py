"""Random search vs ASHA vs PBT at a fixed toy budget (run on demand, not in CI).

For each of `--reps` repetitions, three studies on the 2D grid (baseline GAN, lr_g and lr_d
searched on a log range) get the same budget of trial-steps (population × steps):
- random: `population` trials, each trained to `steps`;
- ASHA: twice as many trials, most stopped early by ASHA (about the same trial-steps);
- PBT: `population` trials, exploiting every `steps // 5` steps (lr_g, lr_d mutate).
Prints the best final reverse KL of each (lower is better) and the trial-steps actually used.

    .venv/bin/python bench/bench_population.py [--steps 2000 --population 4 --reps 3]
        [--out results/population] [--kinds pbt]

`--kinds` re-runs some of the three and keeps the others' rows already in `--out`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import pandas as pd
import yaml

from evaluation import library_versions
from study.runner import connect_ray, run_study

KINDS = ("random", "asha", "pbt")
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
        # ASHA (η = 3, asynchronous) promotes generously: 2× the trials used about the same
        # trial-steps here (2.5× used 20 % more).
        base |= {"num_samples": population * 2,
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
    parser.add_argument("--out", type=Path, default=None,
                        help="folder for results.parquet, report.md and protocol.json")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS),
                        help="the searches to run (others' rows are kept from --out)")
    args = parser.parse_args()
    connect_ray()
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        for rep in range(args.reps):
            for kind in args.kinds:
                name = f"{kind}-{rep}"
                path = tmp / f"{name}.yaml"
                path.write_text(yaml.safe_dump(spec(name, kind, args.steps, args.population, rep)))
                start = time.perf_counter()
                out = run_study(path, storage=str(tmp / "runs"), tracking=f"sqlite:///{tmp}/m.db")
                finals = out.table["reverse_kl"].dropna()
                rows.append({"rep": rep, "kind": kind, "best_reverse_kl": float(finals.min()),
                             "median_reverse_kl": float(finals.median()),
                             "best_modes": int(out.table.loc[finals.idxmin(), "modes"]),
                             "trials": len(out.table), "trial_steps": int(out.table["step"].sum()),
                             "exploits": int(out.table.get("exploits", pd.Series([0])).sum()),
                             "wall_s": time.perf_counter() - start})
                r = rows[-1]
                print(f"rep {rep} {kind:6s} best reverse KL {r['best_reverse_kl']:.4f} "
                      f"trial-steps {r['trial_steps']}", flush=True)
    table = pd.DataFrame(rows)
    kept = args.out / "results.parquet" if args.out else None
    if kept is not None and kept.is_file() and set(args.kinds) != set(KINDS):
        old = pd.read_parquet(kept)
        table = pd.concat([old[~old["kind"].isin(args.kinds)], table], ignore_index=True)
        table["kind"] = pd.Categorical(table["kind"], KINDS)
        table = table.sort_values(["rep", "kind"]).reset_index(drop=True)
        table["kind"] = table["kind"].astype(str)
    text = summary(table, args)
    print("\n" + text)
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        table.to_parquet(args.out / "results.parquet", index=False)
        (args.out / "report.md").write_text(text)
        protocol = {"args": {k: str(v) for k, v in vars(args).items()},
                    "specs": {k: spec(f"{k}-REP", k, args.steps, args.population, 0)
                              for k in KINDS},
                    "versions": library_versions()}
        (args.out / "protocol.json").write_text(json.dumps(protocol, indent=2))


def summary(table: pd.DataFrame, args: argparse.Namespace) -> str:
    lines = ["# Random search vs ASHA vs PBT on the 2D grid (baseline GAN, lr_g and lr_d)\n",
             f"Budget {args.steps * args.population} trial-steps per study ({args.population} "
             f"trials x {args.steps} steps), {args.reps} repetitions (seeds 0..{args.reps - 1}). "
             "Final reverse KL of each study's best trial (lower is better), mean ± std over "
             "repetitions.\n",
             "| search | best reverse KL | median trial's reverse KL | best trial's modes (of 25) "
             "| trials | trial-steps used | wall s |", "|---|---|---|---|---|---|---|"]
    for kind in KINDS:
        t = table[table["kind"] == kind]

        lines.append(f"| {kind} | {_ms(t['best_reverse_kl'])} | {_ms(t['median_reverse_kl'])} "
                     f"| {_ms(t['best_modes'], '.1f')} | {t['trials'].mean():.0f} "
                     f"| {t['trial_steps'].mean():.0f} | {t['wall_s'].mean():.0f} |")
    return "\n".join(lines) + "\n"


def _ms(values: pd.Series, fmt: str = ".4f") -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):{fmt}} ± {sd:{fmt}}"


if __name__ == "__main__":
    main()
