"""Self-Cond's recluster at the image setting: 25k features × 2048-d, k = 100 (on demand).

Ours (`trainables.core.kmeans.recluster`: scikit-learn's KMeans behind the paper's warm start and
matching) against the project's previous torch k-means (k-means++ then Lloyd, kept below as the
reference), same features, same run:
1. the first clustering with 10 restarts and a warm-started one: wall time;
2. the k-means objective (inertia) of one k-means++ + Lloyd run, mean over `--seeds` seeds;
3. the warm recluster's labels after matching onto the old ones: share of points on which the
   two implementations agree, and how many points each moved.

Features: a random-init DCGAN discriminator's D_f on Stacked MNIST with `--data-root` (what
Self-Cond clusters at its first recluster), else a 2048-d mixture of 200 Gaussians.

    .venv/bin/python bench/bench_kmeans.py [--n 25000 --k 100 --seeds 5] [--data-root DIR]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from trainables.core.kmeans import (
    KMeansResult,
    assign_to_centres,
    match_clusters,
    recluster,
    sq_distances,
    warm_start_centres,
)


def features(n: int, data_root: str | None) -> torch.Tensor:
    if data_root is None:
        g = torch.Generator().manual_seed(0)
        means = torch.randn(200, 2048, generator=g)
        which = torch.randint(200, (n,), generator=g)
        return means[which] + 2.0 * torch.randn(n, 2048, generator=g)
    from trainables.core.context import RunContext
    from trainables.data import load_dataset
    from trainables.methods.selfcond_gan import SelfCondConfig, SelfCondGAN

    torch.manual_seed(0)
    data = load_dataset("stacked_mnist", root=data_root, n=n, size=32)
    method = SelfCondGAN(SelfCondConfig(k=100, network="dcgan"), data, RunContext(
        torch.device("cpu"), seed=0))
    return method.features(torch.arange(n))


def torch_kmeans(x: torch.Tensor, k: int, g: torch.Generator, init: torch.Tensor | None = None,
                 max_iter: int = 100) -> KMeansResult:
    """The reference: k-means++ (D² sampling) unless `init`, then Lloyd until stable."""
    if init is None:
        idx = int(torch.randint(len(x), (1,), generator=g))
        centres = [x[idx]]
        closest = sq_distances(x, x[idx : idx + 1])[:, 0]
        for _ in range(1, k):
            idx = int(torch.multinomial(closest / closest.sum(), 1, generator=g))
            centres.append(x[idx])
            closest = torch.minimum(closest, sq_distances(x, x[idx : idx + 1])[:, 0])
        init = torch.stack(centres)
    centres = init.clone()
    assign, dist = assign_to_centres(x, centres)
    for it in range(1, max_iter + 1):  # noqa: B007 (the count is returned)
        sums = torch.zeros_like(centres).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).to(x.dtype)
        filled = counts > 0
        centres[filled] = sums[filled] / counts[filled, None]
        new, dist = assign_to_centres(x, centres)
        if bool((new == assign).all()):
            break
        assign = new
    return KMeansResult(assign, centres, float(dist.sum()), it)


def timed(fn):  # noqa: ANN001, ANN202
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=25_000)
    ap.add_argument("--k", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--data-root")
    args = ap.parse_args()
    x = features(args.n, args.data_root)
    print(f"{len(x)} x {x.shape[1]} features ({'D_f' if args.data_root else 'mixture'}), "
          f"k = {args.k}, {torch.get_num_threads()} threads")

    first, t_first = timed(lambda: recluster(x, args.k, restarts=10,
                                             generator=torch.Generator().manual_seed(0)))

    def ref_first() -> KMeansResult:
        g = torch.Generator().manual_seed(0)
        return min((torch_kmeans(x, args.k, g) for _ in range(10)), key=lambda r: r.inertia)

    ref, t_ref_first = timed(ref_first)
    moved = x + 0.1 * x.std() * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))
    warm, t_warm = timed(lambda: recluster(moved, args.k, first.assign))

    def ref_warm() -> torch.Tensor:
        res = torch_kmeans(moved, args.k, torch.Generator(),
                           init=warm_start_centres(moved, first.assign, args.k))
        return match_clusters(res.assign, first.assign, args.k)[res.assign]

    ref_assign, t_ref_warm = timed(ref_warm)
    print(f"first (10 restarts): ours {t_first:.1f} s, reference {t_ref_first:.1f} s "
          f"({t_ref_first / t_first:.2f}x); inertia ours {first.inertia:.5g}, "
          f"reference {ref.inertia:.5g}")
    print(f"warm-started: ours {t_warm:.1f} s, reference {t_ref_warm:.1f} s "
          f"({t_ref_warm / t_warm:.2f}x); matched labels agree on "
          f"{(warm.assign == ref_assign).double().mean():.4f} of the points; moved: ours "
          f"{warm.changed}, reference {int((ref_assign != first.assign).sum())}")
    ours_obj, ref_obj = [], []
    for seed in range(args.seeds):
        ours_obj.append(recluster(x, args.k, restarts=1,
                                  generator=torch.Generator().manual_seed(seed)).inertia)
        ref_obj.append(torch_kmeans(x, args.k, torch.Generator().manual_seed(seed)).inertia)
    print(f"objective, one k-means++ run, mean over {args.seeds} seeds: ours "
          f"{statistics.mean(ours_obj):.6g}, reference {statistics.mean(ref_obj):.6g} "
          f"(ours / reference {statistics.mean(ours_obj) / statistics.mean(ref_obj):.4f})")


if __name__ == "__main__":
    main()
