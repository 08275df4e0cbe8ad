"""NEMGAN: the paper's Table I rows (clustering of the four ablation models) and Table III
(learned vs true priors) beside the paper's numbers (not in CI).

Table I: on each data set of `--table1` (MNIST-5, FMNIST-5 by default), the four models as the
conditions kept - [] (WGAN), [C1] (DeliGAN-like), [C2] (ALI/BiGAN-like), [C1, C2, C3] (NEMGAN,
priors matched to the data) - trained `--steps` steps per seed; ACC / NMI / ARI of h's clusters
on the TEST split (k-means on h's ẑ without C1), mean ± standard error over `--seeds`; FID with
the loop's features (`--features`; the paper's FID is Inception's, so only the ordering compares).
Table III: on each data set of `--table3`, priors learned from uniform with 1 % labels
(`--prior-start`, `--alpha-lr`), the final softmax(α) beside the training set's class
frequencies and the paper's learned priors.
The authors' code trains 200k steps at batch 64 with the full-width networks; a short CPU run
here uses far fewer steps and `--width` < 1, and says so in its header.

    .venv/bin/python bench/bench_nemgan.py --data-root /work/shared/datasets \
        [--steps 200000] [--seeds 3] [--width 1.0] [--only table1|table3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from typing import Any

import torch

from trainables.data import load_dataset
from trainables.loop import LocalReporter, train_loop

MODELS = {  # label → conditions kept
    "WGAN  (-C1 -C2 -C3)": [],
    "C1    ( C1 -C2 -C3)": ["C1"],
    "C2    (-C1  C2 -C3)": ["C2"],
    "NEMGAN( C1  C2  C3)": ["C1", "C2", "C3"],
}
# Table I: (ACC, NMI, ARI, FID) per data set, in MODELS order.
PAPER_T1 = {
    "mnist2_3v5_70": [(0.64, 0.06, 0.08, 19.76), (0.66, 0.13, 0.11, 10.14),
                      (0.75, 0.20, 0.25, 15.11), (0.98, 0.89, 0.93, 1.33)],
    "mnist2_3v5_90": [(0.64, 0.09, 0.07, 20.32), (0.59, 0.15, 0.13, 11.45),
                      (0.61, 0.24, 0.25, 10.84), (0.98, 0.86, 0.91, 1.66)],
    "mnist5": [(0.51, 0.21, 0.19, 20.64), (0.71, 0.55, 0.52, 12.07),
               (0.76, 0.59, 0.64, 15.31), (0.96, 0.89, 0.89, 1.13)],
    "fmnist5": [(0.62, 0.30, 0.30, 10.46), (0.77, 0.66, 0.61, 5.41),
                (0.75, 0.68, 0.65, 9.20), (0.92, 0.81, 0.81, 0.69)],
}
# Table III: (real priors as printed, learned priors). MNIST-2 rows are the 3 vs 5 set of
# Table I; FMNIST-5's printed real priors swap groups 3 and 4 of the paper's merge list.
PAPER_T3 = {
    "mnist2_3v5_70": ([0.7, 0.3], [0.709, 0.291]),
    "mnist2_3v5_90": ([0.9, 0.1], [0.891, 0.109]),
    "mnist5": ([0.3, 0.1, 0.4, 0.1, 0.1], [0.291, 0.095, 0.419, 0.095, 0.099]),
    "fmnist5": ([0.3, 0.1, 0.3, 0.2, 0.1], [0.304, 0.096, 0.284, 0.220, 0.096]),
}


def mean_se(values: list[float]) -> str:
    m = statistics.fmean(values)
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{m:.3f}±{se:.3f}"


def fmt(values: list[float]) -> str:
    return "[" + ", ".join(f"{v:.3f}" for v in values) + "]"


def run(args: argparse.Namespace, dataset: str, seed: int, method: dict[str, Any]
        ) -> dict[str, float]:
    method = {"net_width": args.width, "eval_test_samples": args.eval_test} | method
    cfg = {"trainer": "nemgan", "method": method, "dataset": {"name": dataset},
           "data_root": args.data_root, "seed": seed, "steps": args.steps,
           "eval_every": args.steps, "checkpoint_every": args.steps,
           "eval_samples": args.eval_samples, "eval_features": args.features,
           "threads": args.threads}
    return train_loop(cfg, LocalReporter())


def table1(args: argparse.Namespace) -> None:
    for dataset in args.table1:
        rows = []
        for label, conditions in MODELS.items():
            t0 = time.perf_counter()
            res = [run(args, dataset, s, {"conditions": conditions, "priors": "data"})
                   for s in range(args.seeds)]
            rows.append((label, res))
            print(f"  done {dataset} {label}: {(time.perf_counter() - t0) / args.seeds:.0f} s "
                  "per seed", flush=True)
        print(f"\nTable I, {dataset}: {args.seeds} seed(s), {args.steps} steps, width "
              f"{args.width}, FID features {args.features!r} (paper: Inception)")
        print(f"{'model':20} {'ACC':>12} {'NMI':>12} {'ARI':>12} {'FID':>12}   "
              "paper (ACC, NMI, ARI, FID)")
        for (label, res), paper in zip(rows, PAPER_T1[dataset], strict=True):
            cells = [mean_se([r[m] for r in res]) if m in res[0] else "-"
                     for m in ("acc", "nmi", "ari", "fid")]
            print(f"{label:20} {cells[0]:>12} {cells[1]:>12} {cells[2]:>12} {cells[3]:>12}   "
                  f"{paper}")
        print(flush=True)


def table3(args: argparse.Namespace) -> None:
    rows = []
    for dataset in args.table3:
        true = load_dataset(dataset, root=args.data_root).info["priors"]
        method = {"priors": "learned", "labelled_fraction": args.labelled_fraction,
                  "prior_start": args.prior_start, "alpha_lr": args.alpha_lr,
                  "lr_h": args.lr_h}
        t0 = time.perf_counter()
        res = [run(args, dataset, s, method) for s in range(args.seeds)]
        print(f"  done {dataset}: {(time.perf_counter() - t0) / args.seeds:.0f} s per seed",
              flush=True)
        learned = [statistics.fmean(r[f"prior_{i}"] for r in res) for i in range(len(true))]
        rows.append((dataset, list(true), learned, res))
    print(f"\nTable III: {args.seeds} seed(s), {args.steps} steps, width {args.width}, "
          f"{args.labelled_fraction:.0%} labelled, alpha from step {args.prior_start} at lr "
          f"{args.alpha_lr}")
    for dataset, true, learned, res in rows:
        paper_true, paper_learned = PAPER_T3[dataset]
        l1 = mean_se([r["prior_l1"] for r in res])
        acc = mean_se([r["acc"] for r in res])
        print(f"{dataset:14} real {fmt(true)}  learned {fmt(learned)}  L1 {l1}  (test ACC {acc})")
        paper_l1 = sum(abs(a - b) for a, b in zip(paper_true, paper_learned, strict=True))
        print(f"{'':14} paper real {fmt(paper_true)}  paper learned {fmt(paper_learned)}  "
              f"paper L1 {paper_l1:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default=None, help="default: $STUDY_DATA_ROOT")
    parser.add_argument("--steps", type=int, default=200_000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--width", type=float, default=1.0, help="nemgan_conv width multiplier")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--features", default="auto", help="FID features (loop eval_features)")
    parser.add_argument("--eval-samples", type=int, default=2500, help="generated, for FID")
    parser.add_argument("--eval-test", type=int, default=10_000, help="test points clustered")
    parser.add_argument("--table1", nargs="+", default=["mnist5", "fmnist5"],
                        choices=sorted(PAPER_T1))
    parser.add_argument("--table3", nargs="+", choices=sorted(PAPER_T3),
                        default=["mnist2_3v5_70", "mnist2_3v5_90", "mnist5", "fmnist5"])
    parser.add_argument("--labelled-fraction", type=float, default=0.01)
    parser.add_argument("--prior-start", type=int, default=10_000, help="first alpha step")
    parser.add_argument("--alpha-lr", type=float, default=1e-3)
    parser.add_argument("--lr-h", type=float, default=1e-4)
    parser.add_argument("--only", choices=["table1", "table3"])
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.only != "table3":
        table1(args)
    if args.only != "table1":
        table3(args)


if __name__ == "__main__":
    main()
