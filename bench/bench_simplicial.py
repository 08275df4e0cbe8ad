"""Simplicial-cluster paper (not in CI): the Figure-9 grid, a sampler comparison on vectors and
one on MNIST images.

(1) Figure 9: WGAN-GP with Gaussian latents on a mixture of m Gaussians in R^100, precision (and
density) at k = 5 vs latent dimension, for several mode counts; mean over `--seeds`.
(2) `--samplers`: on one mixture, Gaussian vs simplicial (τ_infer sweep) vs DeliGAN vs JBT, the
four PRDC numbers (the paper's claim: simplicial raises density and precision without lowering
coverage).
(3) `--images`: the same comparison on MNIST with the paper's conv G/D (Table 4, widths scaled by
`--g-ch/--d-ch`) and the reference MNIST classifier's features (classifier:mnist, as the paper on
MNIST): FID, precision, recall, density, coverage (+ LogReg / Convex accuracy), mean ± std over
`--seeds`, the paper's CIFAR-10 Table 7 rows beside (it has no MNIST Table-3 row).
`--skip-fig9` runs only the comparisons.

    .venv/bin/python bench/bench_simplicial.py [--quick] [--steps 20000] [--seeds 3] [--samplers]
    .venv/bin/python bench/bench_simplicial.py --skip-fig9 --images --data-root DIR \
        [--image-steps 300] [--image-batch 64] [--g-ch 4] [--d-ch 16]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from trainables.loop import LocalReporter, train_loop


def mixture(m: int, n: int) -> dict:
    return {"name": "gaussian_mixture", "options": {"n": n, "m": m, "dim": 100}}


def train(method: dict, m: int, steps: int, seed: int, n: int, threads: int) -> dict[str, float]:
    cfg = {"trainer": "simplicial", "method": method, "dataset": mixture(m, n), "seed": seed,
           "steps": steps, "eval_every": steps, "checkpoint_every": steps, "eval_samples": 500,
           "threads": threads}
    return train_loop(cfg, LocalReporter())


def figure9(dims: list[int], modes: list[int], steps: int, seeds: int, n: int, prdc: int,
            threads: int, batch: int) -> None:
    table: dict[tuple[int, int], list[dict[str, float]]] = {}
    for m in modes:
        for d in dims:
            t0 = time.perf_counter()
            method = {"sampler": "gaussian", "latent_dim": d, "eval_prdc_samples": prdc,
                      "batch_size": batch, "lr_g": 2e-4 if batch < 256 else 5e-5,
                      "lr_d": 4e-4 if batch < 256 else 1e-4,
                      "eval_latent_samples": 500, "convex_pairs": 100}
            table[m, d] = [train(method, m, steps, s, n, threads) for s in range(seeds)]
            print(f"  m={m:3d} d={d:3d}: {(time.perf_counter() - t0) / seeds:.0f} s per seed",
                  flush=True)
    for metric in ("precision", "density", "recall", "coverage"):
        print(f"\nFigure 9, {metric} (mean of {seeds} seed(s), {steps} steps, batch {batch}, k=5, "
              f"{prdc} real/fake points): rows = modes m, columns = latent dim d")
        print("m \\ d " + "".join(f"{d:>8d}" for d in dims))
        for m in modes:
            vals = [statistics.fmean(r[metric] for r in table[m, d]) for d in dims]
            print(f"{m:5d} " + "".join(f"{v:8.3f}" for v in vals))


def samplers(m: int, steps: int, seeds: int, n: int, prdc: int, threads: int) -> None:
    base = {"latent_dim": 64, "eval_prdc_samples": prdc, "eval_latent_samples": 500,
            "convex_pairs": 100}
    runs = {
        "gaussian": {"sampler": "gaussian"},
        "deligan": {"sampler": "deligan", "deligan_components": m},
        "jbt90": {"sampler": "jbt", "jbt_percentile": 90},
        "jbt80": {"sampler": "jbt", "jbt_percentile": 80},
        "simplicial": {"sampler": "simplicial", "n_anchors": m, "tau_train": 0.135,
                       "mi_steps": steps // 4,
                       "tau_infer_sweep": [0.135, 0.14, 0.1445, 0.15, 0.2]},
    }
    rows: list[tuple[str, dict[str, float]]] = []
    for name, opts in runs.items():
        res = [train(base | opts, m, steps, s, n, threads) for s in range(seeds)]
        if name != "simplicial":
            rows.append((name, {k: statistics.fmean(r[k] for r in res) for k in res[0]}))
            continue
        for tau in opts["tau_infer_sweep"]:
            rows.append((f"simp. (0.135,{tau:g})", {
                k: statistics.fmean(r[f"{k}_tau{tau:g}"] for r in res)
                for k in ("precision", "recall", "density", "coverage", "acceptance")}))
    print(f"\nsamplers on m={m} modes in R^100, d=64, {steps} steps, {seeds} seed(s)")
    print(f"{'sampler':22} {'prec':>7} {'rec':>7} {'dens':>7} {'cov':>7} {'accept':>7}")
    for name, r in rows:
        acc = f"{r['acceptance']:7.4f}" if "acceptance" in r else f"{'':7}"
        print(f"{name:22} {r['precision']:7.3f} {r['recall']:7.3f} {r['density']:7.3f} "
              f"{r['coverage']:7.3f} {acc}")


# Paper Table 7, CIFAR-10 (TransGAN): FID, precision, recall, density, coverage in %.
PAPER_CIFAR10 = {
    "baseline": (8.9, 72.8, 62.6, 79.3, 79.3),
    "deligan": (9.8, 74.6, 58.6, 93.2, 80.0),
    "jbt90": (8.7, 73.0, 61.9, 83.5, 80.0),
    "simp. (0.135,0.135)": (9.0, 72.9, 61.8, 82.7, 80.4),
    "simp. (0.135,0.14)": (9.0, 74.2, 60.7, 88.5, 81.3),
    "simp. (0.135,0.1445)": (9.3, 75.3, 58.8, 98.6, 82.9),
}
IMAGE_METRICS = ("fid", "precision", "recall", "density", "coverage")


def train_images(method: dict, steps: int, seed: int, data_root: str | None, n_eval: int,
                 threads: int) -> dict[str, float]:
    cfg = {"trainer": "simplicial", "method": method, "dataset": {"name": "mnist"},
           "data_root": data_root, "seed": seed, "steps": steps, "eval_every": steps,
           "checkpoint_every": steps, "eval_samples": n_eval, "threads": threads,
           "eval_features": "classifier:mnist"}
    return train_loop(cfg, LocalReporter())


def mean_sd(vals: list[float]) -> str:
    sd = statistics.stdev(vals) if len(vals) > 1 else 0.0
    return f"{statistics.fmean(vals):7.3f}±{sd:5.3f}"


def images(steps: int, seeds: int, data_root: str | None, batch: int, g_ch: int, d_ch: int,
           n_eval: int, threads: int, taus: list[float]) -> None:
    """MNIST: baseline vs simplicial vs DeliGAN vs JBT with classifier:mnist features."""
    base = {"network": "wgan_conv_mnist", "network_options": {"g_ch": g_ch, "d_ch": d_ch},
            "latent_dim": 64, "batch_size": batch, "lr_g": 2e-4, "lr_d": 4e-4, "beta1": 0.5,
            "beta2": 0.9, "eval_prdc_samples": n_eval, "eval_latent_samples": 500,
            "convex_pairs": 50, "eval_features": "classifier:mnist"}
    runs = {
        "baseline": {"sampler": "gaussian"},
        "deligan": {"sampler": "deligan", "deligan_components": 10},
        "jbt90": {"sampler": "jbt", "jbt_percentile": 90},
        "simplicial": {"sampler": "simplicial", "n_anchors": 10, "tau_train": taus[0],
                       "tau_infer": taus[0], "tau_infer_sweep": taus, "mi_steps": steps // 4},
    }
    rows: list[tuple[str, dict[str, list[float]]]] = []
    for name, opts in runs.items():
        t0 = time.perf_counter()
        res = [train_images(base | opts, steps, s, data_root, n_eval, threads)
               for s in range(seeds)]
        print(f"  {name}: {(time.perf_counter() - t0) / seeds:.0f} s per seed", flush=True)
        diag = {k: [r[k] for r in res if k in r] for k in ("logreg_acc", "convex_acc")}
        if name != "simplicial":
            rows.append((name, {k: [r[k] for r in res] for k in IMAGE_METRICS} | diag))
            continue
        for tau in taus:
            rows.append((f"simp. ({taus[0]:g},{tau:g})", {
                k: [r[f"{k}_tau{tau:g}"] for r in res] for k in (*IMAGE_METRICS, "acceptance")
            } | (diag if tau == taus[0] else {})))
    print(f"\nMNIST, wgan_conv_mnist g_ch={g_ch} d_ch={d_ch} (paper: 16, 512), {steps} steps at "
          f"batch {batch}, latent 64, features classifier:mnist, {n_eval} real/fake, k=5; "
          f"mean±sd over {seeds} seed(s)")
    head = "".join(f"{m:>14}" for m in (*IMAGE_METRICS, "logreg", "convex", "accept"))
    print(f"{'sampler':22}{head}")
    for name, r in rows:
        cells = [mean_sd(r[k]) if r.get(k) else f"{'':>13}"
                 for k in (*IMAGE_METRICS, "logreg_acc", "convex_acc", "acceptance")]
        print(f"{name:22}" + "".join(f"{c:>14}" for c in cells))
    print("\npaper, CIFAR-10 TransGAN (Table 7; no MNIST row in Table 3), FID / % as printed:")
    for name, vals in PAPER_CIFAR10.items():
        print(f"{name:22}" + "".join(f"{v:14.1f}" for v in vals))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 dims x 2 mode counts, 300 steps at batch 64 (lr 2e-4/4e-4), 1 seed")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samplers", action="store_true", help="run the sampler comparison too")
    ap.add_argument("--skip-fig9", action="store_true", help="no Figure-9 grid")
    ap.add_argument("--images", action="store_true", help="run the MNIST comparison")
    ap.add_argument("--data-root", default=None, help="folder holding mnist/ (else the default)")
    ap.add_argument("--image-steps", type=int, default=2000)
    ap.add_argument("--image-batch", type=int, default=64)
    ap.add_argument("--image-seeds", type=int, default=3)
    ap.add_argument("--g-ch", type=int, default=16, help="MNIST G width (paper 16)")
    ap.add_argument("--d-ch", type=int, default=64, help="MNIST D width (paper 512)")
    ap.add_argument("--image-eval", type=int, default=2000, help="fake (and PR/DC real) images")
    ap.add_argument("--taus", type=float, nargs="+", default=[0.135, 0.15, 0.2, 0.25],
                    help="τ_train first, then the τ_infer values swept")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.quick:
        dims, modes, steps, seeds, n, prdc, batch = [2, 8, 32], [5, 25], 300, 1, 20_000, 1000, 64
    else:
        dims, modes, steps, seeds, n, prdc, batch = [2, 4, 8, 16, 32, 64, 128], [5, 10, 25, 50], \
            20_000, 3, 100_000, 5000, 256
    steps = args.steps or steps
    seeds = args.seeds or seeds
    if not args.skip_fig9:
        figure9(dims, modes, steps, seeds, n, prdc, args.threads, batch)
    if args.samplers:
        samplers(10, steps, seeds, n, prdc, args.threads)
    if args.images:
        images(args.image_steps, args.image_seeds, args.data_root, args.image_batch, args.g_ch,
               args.d_ch, args.image_eval, args.threads, sorted(args.taus))


if __name__ == "__main__":
    main()
