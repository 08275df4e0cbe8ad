"""What a study costs beyond its training loops (run on demand, not in CI).

Every figure is a ratio against a reference measured in the same run:
1. one 1-worker trial through `study run` against the loop called directly plus Ray's start;
2. a 4-trial study, 2 trials at a time, against the same four loops run directly in 2 processes;
3. the former quickstart (8 trials x 1000 steps, 2 at a time; `--quickstart`) in seconds, and
   against its eight loops run directly in 2 processes.

    .venv/bin/python bench/bench_platform.py [--steps 1000] [--quickstart]
"""

from __future__ import annotations

import argparse
import multiprocessing
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml

from study.runner import connect_ray, run_study
from trainables.loop import LocalReporter, train_loop

DATASET = {"name": "grid", "options": {"n": 100000}}
BASE: dict[str, Any] = {
    "trainer": "baseline_gan", "dataset": DATASET, "fixed": {"batch_size": 100, "lr_d": 1e-4},
    "metric": "reverse_kl", "mode": "min", "eval_samples": 2500,
    "resources": {"workers": 1, "cpus_per_worker": 1},
}


def loop_config(steps: int, lr_g: float, latent_dim: int, seed: int) -> dict[str, Any]:
    every = steps // 2
    return {"trainer": "baseline_gan", "dataset": DATASET, "steps": steps, "seed": seed,
            "eval_every": every, "checkpoint_every": every, "eval_samples": 2500,
            "method": {"batch_size": 100, "lr_d": 1e-4, "lr_g": lr_g, "latent_dim": latent_dim}}


def one_loop(cfg: dict[str, Any]) -> float:
    t0 = time.perf_counter()
    train_loop(cfg, LocalReporter())
    return time.perf_counter() - t0


def loops_in_two_processes(cfgs: list[dict[str, Any]]) -> float:
    t0 = time.perf_counter()
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        list(pool.map(one_loop, cfgs))
    return time.perf_counter() - t0


def study_seconds(tmp: Path, name: str, steps: int, lr_g: list[float], latent: list[int],
                  seeds: list[int], concurrent: int) -> float:
    every = steps // 2
    spec = BASE | {
        "name": name, "budget": {"steps": steps}, "eval_every": every, "checkpoint_every": every,
        "max_concurrent_trials": concurrent, "seeds": seeds,
        "search": {"lr_g": {"type": "grid", "values": lr_g},
                   "latent_dim": {"type": "grid", "values": latent}},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    t0 = time.perf_counter()
    outcome = run_study(path, storage=str(tmp / "runs"), tracking=f"sqlite:///{tmp}/mlflow.db")
    assert outcome.errors == 0, outcome.table
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--quickstart", action="store_true")
    args = parser.parse_args()
    steps = args.steps
    direct = one_loop(loop_config(steps, 1e-4, 2, 0))
    t0 = time.perf_counter()
    connect_ray()
    ray_start = time.perf_counter() - t0
    four = [loop_config(steps, lr, 2, s) for lr in (1e-4, 5e-4) for s in (0, 1)]
    four_direct = loops_in_two_processes(four)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        one = study_seconds(tmp, "one", steps, [1e-4], [2], [0], 1)
        par = study_seconds(tmp, "four", steps, [1e-4, 5e-4], [2], [0, 1], 2)
        if args.quickstart:
            quick = study_seconds(tmp, "quick", 1000, [1e-4, 5e-4], [2, 8], [0, 1], 2)
    print(f"\nsteps per trial: {steps}")
    print(f"loop called directly:          {direct:7.1f} s;  Ray start {ray_start:.1f} s")
    print(f"one 1-worker trial, study run: {one:7.1f} s;  ratio to loop + Ray start "
          f"{one / (direct + ray_start):.2f}x (target <= 1.10)")
    print(f"4 loops directly, 2 processes: {four_direct:7.1f} s")
    print(f"4-trial study, 2 at a time:    {par:7.1f} s;  ratio {par / four_direct:.2f}x "
          "(target <= 1.15)")
    if args.quickstart:
        eight = [loop_config(1000, lr, z, s) for lr in (1e-4, 5e-4) for z in (2, 8)
                 for s in (0, 1)]
        eight_direct = loops_in_two_processes(eight)
        print(f"8 x 1000-step study (the former quickstart): {quick:7.1f} s (target <= 90 s); "
              f"its loops directly in 2 processes {eight_direct:.1f} s, ratio "
              f"{quick / eight_direct:.2f}x")


if __name__ == "__main__":
    main()
