"""PGMGAN: the paper's 2D results (App. C.1) and the time per iteration vs k (not in CI).

(1) ring and grid, `--seeds` seeds of `--steps` steps each, printed as mean ± standard error
beside the paper's numbers: ring 8/8 modes, 99.8 % high quality, reverse KL 0.0006; grid 25/25,
99.8 %, 0.0034 (the paper does not say its number of steps or k for 2D). Partitioner: the
authors' toy setup by default (k-means, 100 restarts, imitated by the bi-Lipschitz MLP; cached
per (data, k, seed)); `--partition-init scratch` trains it with Eq. 5 (`--partition-loss`).
The ring uses the authors' code radius 2 (std 0.01), the grid (2i − 4, 2j − 4) with std 0.05.
(2) seconds per training iteration (4 D steps + 1 G step, batch 100) at k = 10 vs k = 200: the
generators share every weight but the partition embedding, so the cost should barely move.

    .venv/bin/python bench/bench_pgmgan.py [--seeds 5] [--steps 50000] [--only table|timing]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from trainables.context import RunContext
from trainables.data import load_dataset
from trainables.loop import LocalReporter, seed_everything, train_loop
from trainables.pgmgan import PGMGAN, PGMGANConfig

DATASETS = {"ring": {"name": "ring", "options": {"n": 100_000, "radius": 2.0}},
            "grid": {"name": "grid", "options": {"n": 100_000}}}
# App. C.1: (modes, % high quality, reverse KL).
PAPER = {"ring": (8.0, 99.8, 0.0006), "grid": (25.0, 99.8, 0.0034)}
METRICS = ("modes", "high_quality_pct", "reverse_kl")


def mean_se(values: list[float]) -> str:
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{m:.4g} ± {se:.2g}"


def run_table(args: argparse.Namespace) -> None:
    method = {"k": args.k, "lambda_length": args.lambda_length,
              "partition_init": args.partition_init, "partition_loss": args.partition_loss,
              "partition_cache": args.cache}
    rows = []
    for name, dataset in DATASETS.items():
        results, t0 = [], time.perf_counter()
        for seed in range(args.seeds):
            cfg = {"trainer": "pgmgan", "method": method, "dataset": dataset, "seed": seed,
                   "steps": args.steps, "eval_every": args.steps,
                   "checkpoint_every": args.steps, "eval_samples": 2500,
                   "threads": args.threads}
            results.append(train_loop(cfg, LocalReporter()))
        secs = (time.perf_counter() - t0) / args.seeds
        rows.append((name, results))
        print(f"  done {name}: {secs:.0f} s per seed (partition stage included)", flush=True)
    print(f"\n2D table: {args.seeds} seed(s), {args.steps} steps, k={args.k}, λ linear 6 → 1e-4 "
          f"over {args.lambda_length} steps, partitioner {args.partition_init}")
    print(f"{'data':5} {'modes':>16} {'% HQ':>16} {'reverse KL':>18} {'accept':>14}"
          "   paper (modes, %, rKL)")
    for name, results in rows:
        cells = [mean_se([r[m] for r in results]) for m in METRICS]
        acc = mean_se([r["acceptance_rate"] for r in results])
        print(f"{name:5} {cells[0]:>16} {cells[1]:>16} {cells[2]:>18} {acc:>14}   {PAPER[name]}")
        nmi = mean_se([r["nmi"] for r in results])
        print(f"{'':5} partition nmi {nmi}, nonempty "
              f"{mean_se([r['partitions_nonempty'] for r in results])}")


def time_iterations(ks: list[int], iters: int, threads: int, cache: str | None) -> None:
    torch.set_num_threads(threads)
    data = load_dataset("grid", n=100_000)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"\nseconds per iteration (grid, 4 D + 1 G step, batch 100, {device}, "
          f"{threads} thread(s)):")
    for k in ks:
        seed_everything(0)
        cfg = PGMGANConfig(k=k, partition_init="kmeans", partition_kmeans_restarts=10,
                           partition_steps=200, partition_cache=cache)
        t0 = time.perf_counter()
        method = PGMGAN(cfg, data, RunContext(device, seed=0))
        setup = time.perf_counter() - t0
        for step in range(10):  # warm-up
            method.train_step(step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for step in range(iters):
            method.train_step(10 + step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        per = (time.perf_counter() - t0) / iters
        t0 = time.perf_counter()
        method.sample(2500)
        sample = time.perf_counter() - t0
        print(f"  k={k:4d}: {1000 * per:7.2f} ms/iter, sampling 2500 with rejection "
              f"{sample:.2f} s (acceptance {method.last_acceptance:.3f}), partition stage "
              f"{setup:.1f} s ({'cached' if method.partition_info.get('cached') else 'computed'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--lambda-length", type=int, default=50_000)
    parser.add_argument("--partition-init", choices=["kmeans", "scratch"], default="kmeans")
    parser.add_argument("--partition-loss", choices=["paper", "scan"], default="paper")
    parser.add_argument("--cache", default=None, help="partition cache folder")
    parser.add_argument("--timing-ks", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--timing-iters", type=int, default=100)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=["table", "timing"])
    args = parser.parse_args()
    if args.only != "table":
        time_iterations(args.timing_ks, args.timing_iters, args.threads, args.cache)
    if args.only != "timing":
        run_table(args)


if __name__ == "__main__":
    main()
