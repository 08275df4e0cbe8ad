"""PGMGAN: the paper's 2D results (App. C.1) and the time per iteration vs k (not in CI).

(1) ring and grid, `--seeds` seeds of `--steps` steps each, printed as mean ± standard error
beside the paper's numbers: ring 8/8 modes, 99.8 % high quality, reverse KL 0.0006; grid 25/25,
99.8 %, 0.0034 (the paper does not say its number of steps or k for 2D). Partitioner: the
authors' toy setup by default (k-means, 100 restarts, imitated by the bi-Lipschitz MLP; cached
per (data, k, seed)); `--partition-init scratch` trains it with Eq. 5 (`--partition-loss`).
The ring has radius 1 (std 0.01) as in the Self-Cond paper whose data sets these are
(`--ring-radius 2`: the 2d_mix code), the grid (2i − 4, 2j − 4) with std 0.05.
`--recipe code2d` trains as the authors' 2D script does (its defaults: 1 D step per G step,
the standard loss, the guide averaged over partitions; Adam 1e-4 β (0.8, 0.999) of the Self-Cond
2d_mix code it forks) instead of the paper's image recipe (4 D steps, hinge, Adam 2e-4
β (0, 0.999)); a third of the cost per step. That script weighs the guide by a constant
(`--reg_guide`, default 0); here λ runs linearly from 6 to 1e-4 over `--lambda-length` steps
(default: all of `--steps`), as the paper's schedule does. `--recipe code2d_script` also takes
the script's G loss as it runs: its guided G step asks BCE for target 2, i.e. softplus(−D) − D.
Metrics use `--eval-samples` (the script: 50k) with rejection sampling; `% HQ (box)` is the
script's per-coordinate criterion.
`--jobs N` runs N seeds at a time in separate processes; `--eval-every N` also scores every N
steps and prints each metric's course.
(2) seconds per training iteration (4 D steps + 1 G step, batch 100) at k = 10 vs k = 200: the
generators share every weight but the partition embedding, so the cost should barely move.
`--timing-image` adds the same for the SN-GAN ResNet pair on 32×32 images (`--image-width` sets
g_ch = d_ch; 64 is the paper's Table 6) with an untrained SimCLR encoder under the partitioner.

    .venv/bin/python bench/bench_pgmgan.py [--seeds 5] [--steps 50000]
        [--recipe paper|code2d|code2d_script] [--lambda-length N] [--jobs 2]
        [--only table|timing] [--timing-image]
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
from trainables.data import DataBundle, load_dataset
from trainables.data.images import image_bundle
from trainables.loop import seed_everything
from trainables.methods.pgmgan import PGMGAN, PGMGANConfig

# App. C.1: (modes, % high quality, reverse KL).
PAPER = {"ring": (8.0, 99.8, 0.0006), "grid": (25.0, 99.8, 0.0034)}
METRICS = ("modes", "high_quality_pct", "high_quality_pct_box", "reverse_kl")
RECIPES = {
    "paper": {"d_steps": 4, "loss": "hinge", "lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.0},
    # The authors' 2D script also averages the guide over partitions (guide_reduce mean).
    "code2d": {"d_steps": 1, "loss": "standard", "lr_g": 1e-4, "lr_d": 1e-4, "beta1": 0.8,
               "guide_reduce": "mean"},
    # The same with the script's G loss as it runs: its guided G step asks BCE for target 2.
    "code2d_script": {"d_steps": 1, "loss": "standard", "g_loss": "bce_target2", "lr_g": 1e-4,
                      "lr_d": 1e-4, "beta1": 0.8, "guide_reduce": "mean"},
}


def toy_line(r: dict[str, float]) -> str:
    return (f"{score_line(r)}, acceptance {r['acceptance_rate']:.3f}, nmi {r['nmi']:.3f}"
            f"{live_line(r)}")


def run_table(args: argparse.Namespace) -> None:
    length = args.lambda_length or args.steps
    method = {"k": args.k, "lambda_length": length, "partition.init": args.partition_init,
              "partition.loss": args.partition_loss, "partition.cache": args.cache,
              **RECIPES[args.recipe], **method_fields(args)}
    if args.partition_labels == "random":  # the paper's "Random Partition ID" ablation
        method["partition.labels"] = "random"
    cfgs = [{"trainer": "pgmgan", "method": method, "seed": seed,
             "dataset": toy_dataset(name, args.ring_radius), **loop_fields(args)}
            for name in args.datasets for seed in table_seeds(args)]
    t0 = time.perf_counter()
    done = run_all(cfgs, args.jobs, lambda c: f"{c['dataset']['name']} seed {c['seed']}",
                   toy_line)
    wall = time.perf_counter() - t0
    print(f"\n2D table: {args.seeds} seed(s), {args.steps} steps, ring radius {args.ring_radius}, "
          f"k={args.k}, recipe "
          f"{args.recipe}, λ linear 6 → 1e-4 over {length} steps, partitioner "
          f"{args.partition_init}{settings_note(args)}, {args.eval_samples} samples evaluated; "
          f"{wall:.0f} s wall with "
          f"{args.jobs} job(s), {statistics.fmean(s for _, s, _ in done):.0f} s per run (partition "
          "stage included)")
    print(f"{'data':5} {'modes':>14} {'% HQ':>14} {'% HQ (box)':>14} {'reverse KL':>18} "
          f"{'accept':>14}   paper (modes, %, rKL)")
    for j, name in enumerate(args.datasets):
        runs = done[j * args.seeds:(j + 1) * args.seeds]
        results = [r for r, _, _ in runs]
        cells = [mean_se([r[m] for r in results]) for m in METRICS]
        acc = mean_se([r["acceptance_rate"] for r in results])
        print(f"{name:5} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14} {cells[3]:>18} "
              f"{acc:>14}   {PAPER[name]}")
        if "nmi" in results[0]:
            print(f"{'':5} partition nmi {mean_se([r['nmi'] for r in results])}, nonempty "
                  f"{mean_se([r['partitions_nonempty'] for r in results])}")
        print_live(results, f"{'':5} ")
        print_course(runs, course_metrics(METRICS + ("acceptance_rate",), args.g_ema))


def image_data(n: int = 2000, side: int = 32) -> DataBundle:
    """Random 32×32 RGB images: the cost per iteration does not depend on their content."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, side, side, generator=gen) * 2 - 1
    return image_bundle("cifar10", x, torch.zeros(n, dtype=torch.long).numpy(), 10)


def time_iterations(ks: list[int], iters: int, threads: int, cache: str | None,
                    image_width: int | None = None) -> None:
    torch.set_num_threads(threads)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if image_width is None:
        data = load_dataset("grid", n=100_000)
        what = "grid, toy MLPs"
        base = {"partition.init": "kmeans", "partition.kmeans_restarts": 10,
                "partition.steps": 200}
    else:
        data = image_data()
        what = f"32×32 images, sngan_resnet g_ch = d_ch = {image_width}, z 128"
        base = {"network": "sngan_resnet", "latent_dim": 128,
                "network_options": {"g_ch": image_width, "d_ch": image_width},
                "simclr.steps": 0, "partition.loss": "scan", "partition.steps": 50,
                "partition.subset": 2000}
    print(f"\nseconds per iteration ({what}; 4 D + 1 G step, batch 100, {device}, "
          f"{threads} thread(s)):", flush=True)
    for k in ks:
        seed_everything(0)
        cfg = PGMGANConfig(k=k, **{"partition.cache": cache}, **base)
        t0 = time.perf_counter()
        method = PGMGAN(cfg, data, RunContext(device, seed=0))
        setup = time.perf_counter() - t0
        warm = 10 if image_width is None else 2
        for step in range(warm):
            method.train_step(step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        for step in range(iters):
            method.train_step(warm + step)
        if device.type == "cuda":
            torch.cuda.synchronize()
        per = (time.perf_counter() - t0) / iters
        t0 = time.perf_counter()
        n_sample = 2500 if image_width is None else 500
        method.sample(n_sample)
        sample = time.perf_counter() - t0
        print(f"  k={k:4d}: {1000 * per:8.2f} ms/iter, sampling {n_sample} with rejection "
              f"{sample:.2f} s (acceptance {method.last_acceptance:.3f}), partition stage "
              f"{setup:.1f} s ({'cached' if method.partition_info.get('cached') else 'computed'})",
              flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_table_arguments(parser)
    parser.add_argument("--steps", type=int, default=50_000)
    parser.add_argument("--k", type=int, default=50)
    parser.add_argument("--lambda-length", type=int, default=None,
                        help="G steps of the λ schedule (default: --steps)")
    parser.add_argument("--recipe", choices=sorted(RECIPES), default="paper")
    parser.add_argument("--partition-init", choices=["kmeans", "scratch"], default="kmeans")
    parser.add_argument("--partition-loss", choices=["paper", "scan"], default="paper")
    parser.add_argument("--cache", default=None, help="partition cache folder")
    parser.add_argument("--timing-ks", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--timing-iters", type=int, default=100)
    parser.add_argument("--timing-image", action="store_true",
                        help="also time the SN-GAN ResNet pair on 32×32 images")
    parser.add_argument("--image-width", type=int, default=16)
    parser.add_argument("--image-iters", type=int, default=5)
    parser.add_argument("--partition-labels", choices=["learned", "random"], default="learned")
    parser.add_argument("--only", choices=["table", "timing"])
    args = parser.parse_args()
    if args.only != "table":
        time_iterations(args.timing_ks, args.timing_iters, args.threads, args.cache)
        if args.timing_image:
            time_iterations(args.timing_ks, args.image_iters, args.threads, args.cache,
                            args.image_width)
    if args.only != "timing":
        run_table(args)


if __name__ == "__main__":
    main()
