"""Platform overhead and concurrency speed-up (run on demand, not in CI).

Prints: (1) wall time of one trial through `study run` vs the same loop called directly, same
steps, as a ratio; (2) wall time of a 4-trial study with max_concurrent_trials 1 vs 2 (speed-up).

    .venv/bin/python bench/bench_platform.py [--steps 1500]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import yaml

from study.runner import connect_ray, run_study
from trainables.loop import LocalReporter, train_loop

BASE = {
    "trainer": "baseline_gan",
    "dataset": {"name": "grid", "options": {"n": 100000}},
    "fixed": {"batch_size": 100},
    "seeds": [0],
    "metric": "reverse_kl",
    "mode": "min",
    "eval_samples": 2500,
}


def study_seconds(tmp: Path, name: str, steps: int, trials: int, concurrent: int) -> float:
    spec = BASE | {
        "name": name, "budget": {"steps": steps}, "eval_every": steps // 3,
        "checkpoint_every": steps // 3, "max_concurrent_trials": concurrent,
        "search": {"lr_g": {"type": "grid", "values": [1e-4 * (i + 1) for i in range(trials)]}},
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    t0 = time.perf_counter()
    outcome = run_study(path, storage=str(tmp / "runs"), tracking=f"sqlite:///{tmp}/mlflow.db")
    assert outcome.errors == 0, outcome.table
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=1500)
    args = parser.parse_args()
    steps = args.steps
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        cfg = {"trainer": "baseline_gan", "dataset": BASE["dataset"], "steps": steps,
               "eval_every": steps // 3, "checkpoint_every": steps // 3,
               "eval_samples": 2500, "method": {"batch_size": 100}}
        t0 = time.perf_counter()
        train_loop(cfg, LocalReporter())
        direct = time.perf_counter() - t0

        connect_ray()
        one = study_seconds(tmp, "overhead", steps, trials=1, concurrent=1)
        seq = study_seconds(tmp, "seq", steps, trials=4, concurrent=1)
        par = study_seconds(tmp, "par", steps, trials=4, concurrent=2)

    print(f"\nsteps per trial: {steps}")
    print(f"direct loop:           {direct:8.1f} s")
    print(f"one trial, study run:  {one:8.1f} s   overhead ratio {one / direct:.2f}x "
          f"(+{one - direct:.1f} s: Ray start, Train worker group, MLflow)")
    print(f"4 trials, 1 at a time: {seq:8.1f} s")
    print(f"4 trials, 2 at a time: {par:8.1f} s   speed-up {seq / par:.2f}x")


if __name__ == "__main__":
    main()
