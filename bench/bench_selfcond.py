"""Self-Conditioned GAN: the paper's 2D table (Table 1) and the time per recluster (not in CI).

(1) ring and grid, k = 50, `--seeds` seeds, `--steps` steps each, Self-Cond vs the unconditional
GAN (`baseline_gan`), printed as mean ± standard error beside the paper's numbers. The paper
says 400 epochs of 100k points at batch 100 (400k steps) and averages ten trials; the authors'
2d_mix script defaults to 100 epochs (100k steps) and scores 50k samples of G in eval mode with
a per-coordinate box (`% HQ (box)`, printed beside our Euclidean 3-std disc). The ring has the
paper's radius 1 (std 0.01; `--ring-radius 2` is the authors' code), the grid (2i − 4, 2j − 4)
with std 0.05. `--jobs N` runs N seeds at a time in separate processes (one thread each);
`--eval-every N` scores every N steps too and prints the course of each metric.
(2) wall time of one recluster (D features of the subset, k-means, labelling all 100k points) at
10k and 25k subset points: the first (k-means++, 10 restarts) and a warm-started one. With
`--data-root`, the same on Stacked MNIST 32×32 (`--image-n` triples) with the paper's DCGAN D
(2048-d D_f) and k = 100, the image setting (25k images every 25k iterations).

    .venv/bin/python bench/bench_selfcond.py [--seeds 5] [--steps 100000] [--jobs 2]
        [--datasets ring grid] [--only recluster|table] [--data-root DIR --image-n 100000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from toy_table import (  # bench/ is the script's folder
    add_table_arguments,
    course_metrics,
    live_line,
    loop_fields,
    mean_se,
    method_fields,
    print_course,
    print_live,
    run_all,
    score_line,
    settings_note,
    table_seeds,
    toy_dataset,
)

from trainables.core.context import RunContext
from trainables.data import load_dataset
from trainables.loop import seed_everything
from trainables.methods.selfcond_gan import SelfCondConfig, SelfCondGAN

# Table 1 of the paper: (modes, % high quality, reverse KL), mean over ten trials.
PAPER = {
    ("selfcond_gan", "ring"): (8.0, 99.5, 0.0014), ("selfcond_gan", "grid"): (25.0, 99.5, 0.0063),
    ("baseline_gan", "ring"): (6.3, 98.2, 0.45), ("baseline_gan", "grid"): (17.3, 94.8, 0.70),
}
METRICS = ("modes", "high_quality_pct", "high_quality_pct_box", "reverse_kl")


def toy_line(r: dict[str, float]) -> str:
    return score_line(r) + live_line(r)


def run_table(args: argparse.Namespace) -> None:
    cfgs = []
    for dataset in (toy_dataset(name, args.ring_radius) for name in args.datasets):
        for trainer in args.trainers:
            method = {"batch_size": 100, **method_fields(args)}
            if trainer == "selfcond_gan":
                method |= {"k": args.k, "recluster_every": args.recluster_every}
            cfgs += [{"trainer": trainer, "method": method, "dataset": dataset, "seed": seed,
                      **loop_fields(args)} for seed in table_seeds(args)]
    t0 = time.perf_counter()
    done = run_all(cfgs, args.jobs, lambda c: f"{c['dataset']['name']} {c['trainer']} seed "
                   f"{c['seed']}", toy_line)
    wall = time.perf_counter() - t0
    print(f"\n2D table: {args.seeds} seed(s), {args.steps} steps, ring radius {args.ring_radius}, "
          f"k={args.k}, recluster every "
          f"{args.recluster_every}{settings_note(args)}, {args.eval_samples} samples evaluated; "
          f"{wall:.0f} s wall "
          f"with {args.jobs} job(s), {statistics.fmean(s for _, s, _ in done):.0f} s per run")
    print(f"{'data':5} {'method':13} {'modes':>14} {'% HQ':>14} {'% HQ (box)':>14} "
          f"{'reverse KL':>18}   paper (modes, %, rKL)")
    for i in range(0, len(cfgs), args.seeds):
        results = [r for r, _, _ in done[i:i + args.seeds]]
        data_name, trainer = cfgs[i]["dataset"]["name"], cfgs[i]["trainer"]
        cells = [mean_se([r[m] for r in results]) for m in METRICS]
        paper = PAPER[(trainer, data_name)]
        print(f"{data_name:5} {trainer:13} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14} "
              f"{cells[3]:>18}   {paper}")
        if trainer == "selfcond_gan":
            nmi = mean_se([r["nmi"] for r in results])
            pur = mean_se([r["purity"] for r in results])
            print(f"{'':19} nmi {nmi}, purity {pur} (paper ring 1.0/1.0, grid 0.9716/0.9921)")
        print_live(results, f"{'':19}")
        print_course(done[i:i + args.seeds], course_metrics(METRICS, args.g_ema))


def time_recluster(
    subsets: list[int], k: int, threads: int, data_root: str | None = None, image_n: int = 0
) -> None:
    torch.set_num_threads(threads)
    if data_root:
        data = load_dataset("stacked_mnist", root=data_root, n=image_n, size=32)
        what, extra = f"Stacked MNIST 32x32, {image_n} triples", {"network": "dcgan"}
    else:
        data = load_dataset("grid", n=100_000)
        what, extra = "grid, 100k points", {}
    dev = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print(f"\ntime per recluster ({what}, k={k}, {threads} thread(s), {dev}):")
    for m in subsets:
        seed_everything(0)
        ctx = RunContext(dev, seed=0)
        method = SelfCondGAN(SelfCondConfig(k=k, cluster_subset=m, **extra), data, ctx)
        t0, c0 = time.perf_counter(), time.process_time()
        method.recluster(0)
        first, first_cpu = time.perf_counter() - t0, time.process_time() - c0
        with torch.no_grad():  # move D a little so the warm start has something to do
            for p in method.d.parameters():
                p.add_(0.01 * torch.randn_like(p))
        t0, c0 = time.perf_counter(), time.process_time()
        method.recluster(1)
        warm, warm_cpu = time.perf_counter() - t0, time.process_time() - c0
        dim = method.centres.shape[1]
        print(f"  subset {m:6d}: first (k-means++, 10 restarts) {first:7.2f} s "
              f"({first_cpu:.2f} s CPU), warm-started {warm:7.2f} s ({warm_cpu:.2f} s CPU), "
              f"changed {method.changed} of {len(data.x)}, D_f {dim}-d", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_table_arguments(parser)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--recluster-every", type=int, default=5000)
    parser.add_argument("--only", choices=["table", "recluster"])
    parser.add_argument("--trainers", nargs="+", choices=["selfcond_gan", "baseline_gan"],
                        default=["selfcond_gan", "baseline_gan"])
    parser.add_argument("--data-root", help="also time an image recluster (Stacked MNIST)")
    parser.add_argument("--image-n", type=int, default=100_000)
    args = parser.parse_args()
    if args.only != "table":
        time_recluster([10_000, 25_000], args.k, args.threads)
        if args.data_root:
            time_recluster([10_000, 25_000], 100, args.threads, args.data_root, args.image_n)
    if args.only != "recluster":
        run_table(args)


if __name__ == "__main__":
    main()
