"""Simplicial-cluster paper on vector data (not in CI): the Figure-9 grid and a sampler comparison.

(1) Figure 9: WGAN-GP with Gaussian latents on a mixture of m Gaussians in R^100, precision (and
density) at k = 5 vs latent dimension, for several mode counts; mean over `--seeds`.
(2) `--samplers`: on one mixture, Gaussian vs simplicial (τ_infer sweep) vs DeliGAN vs JBT, the
four PRDC numbers (the paper's claim: simplicial raises density and precision without lowering
coverage). Image sets (the paper's Table 3, FID) need the conv/ResNet networks: not here.

    .venv/bin/python bench/bench_simplicial.py [--quick] [--steps 20000] [--seeds 3] [--samplers]
"""

from __future__ import annotations

import argparse
import statistics
import time

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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help="3 dims x 2 mode counts, 300 steps at batch 64 (lr 2e-4/4e-4), 1 seed")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samplers", action="store_true", help="run the sampler comparison too")
    args = ap.parse_args()
    if args.quick:
        dims, modes, steps, seeds, n, prdc, batch = [2, 8, 32], [5, 25], 300, 1, 20_000, 1000, 64
    else:
        dims, modes, steps, seeds, n, prdc, batch = [2, 4, 8, 16, 32, 64, 128], [5, 10, 25, 50], \
            20_000, 3, 100_000, 5000, 256
    steps = args.steps or steps
    seeds = args.seeds or seeds
    figure9(dims, modes, steps, seeds, n, prdc, args.threads, batch)
    if args.samplers:
        samplers(10, steps, seeds, n, prdc, args.threads)


if __name__ == "__main__":
    main()
