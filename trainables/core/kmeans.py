"""k-means for Self-Conditioned GAN: torch in and out, no networks, no distribution.

- `kmeans`: k-means++ seeding then Lloyd iterations, best of `restarts` by inertia (the first
  clustering; the paper runs ten restarts), and `lloyd` from given centres: Lloyd is
  scikit-learn's `KMeans`, the seeding `kmeans_plusplus` draws what scikit-learn's would, in the
  features' dtype (PGMGAN's partitioner calls `kmeans` too).
- `warm_start_centres`: the paper's Eq. (3), the means of the *new* features under the *old*
  assignment, used to initialise every later clustering.
- `match_clusters`: Eq. (4), the permutation of new labels onto old ones minimising the number of
  samples that change cluster (Hungarian, `scipy.optimize.linear_sum_assignment`).
- `recluster`: the three above in the order Algorithm 1 uses them.
- `online_kmeans_update`: mini-batch online k-means (Bottou & Bengio 1995): each centre moves
  towards its batch mean with step size batch count / cumulative count.

Empty clusters never crash: Lloyd re-seeds them with the points farthest from their centres, so
every call returns k non-empty clusters whenever there are at least k distinct points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment


@dataclass
class KMeansResult:
    assign: torch.Tensor  # (n,) int64 cluster of each point
    centres: torch.Tensor  # (k, d)
    inertia: float  # Σ squared distance to the assigned centre
    iterations: int


@dataclass
class ReclusterResult:
    assign: torch.Tensor
    centres: torch.Tensor
    inertia: float
    changed: int  # points whose label differs from the old assignment (0 the first time)
    permutation: torch.Tensor | None  # new k-means label → label used from now on


def sq_distances(x: torch.Tensor, centres: torch.Tensor) -> torch.Tensor:
    """(n, k) squared Euclidean distances via ‖x‖² − 2x·c + ‖c‖² (one matmul, no (n, k, d))."""
    d = (x * x).sum(1, keepdim=True) - 2 * x @ centres.T + (centres * centres).sum(1)[None]
    return d.clamp_min_(0)


def assign_to_centres(
    x: torch.Tensor, centres: torch.Tensor, chunk: int = 65536
) -> tuple[torch.Tensor, torch.Tensor]:
    """Nearest centre of every point and its squared distance; chunked to bound memory."""
    labels, dists = [], []
    for s in range(0, len(x), chunk):
        d = sq_distances(x[s : s + chunk], centres)
        best, idx = d.min(1)
        labels.append(idx)
        dists.append(best)
    if not labels:
        return torch.empty(0, dtype=torch.long), torch.empty(0)
    return torch.cat(labels), torch.cat(dists)


def kmeans_plusplus(
    x: torch.Tensor, k: int, rs: np.random.RandomState, restarts: int = 1
) -> tuple[torch.Tensor, np.ndarray]:
    """`restarts` greedy k-means++ seedings, drawn exactly as scikit-learn's `KMeans(n_init=
    restarts)` draws them from `rs` (one after the other; 2 + ⌊ln k⌋ candidates per centre,
    keeping the one that lowers the potential most), so the same points are chosen. Distances
    are in x's own dtype (scikit-learn up-casts float32 to float64 block by block), and all
    seedings' candidates share one product with x per centre instead of one each: the seeding
    of 25k × 2048 features reads x k times, not k · restarts times.
    Returns the centres (restarts, k, d) and the indices of the points chosen (restarts, k)."""
    n, trials = len(x), 2 + int(np.log(k))
    draws = rs.random_sample(restarts * (1 + (k - 1) * trials)).reshape(restarts, -1)
    weights = np.ones(n, dtype=np.float32 if x.dtype == torch.float32 else np.float64)
    cdf = (weights / weights.sum()).astype(np.float64).cumsum()  # RandomState.choice(n, p)
    chosen = np.empty((restarts, k), dtype=np.int64)
    chosen[:, 0] = np.searchsorted(cdf / cdf[-1], draws[:, 0], side="right")
    sq = (x * x).sum(1)

    def sq_dist(idx: np.ndarray) -> torch.Tensor:  # (restarts, m, n)
        rows = torch.from_numpy(idx.ravel())
        d = (sq[rows, None] - 2 * x[rows] @ x.T + sq[None]).clamp_min_(0)
        return d.view(restarts, -1, n)

    closest = sq_dist(chosen[:, :1])[:, 0]
    pot = closest.sum(1).double().numpy()
    every = torch.arange(restarts)
    for c in range(1, k):
        cum = np.cumsum(closest.numpy(), axis=1, dtype=np.float64)
        u = draws[:, 1 + (c - 1) * trials : 1 + c * trials] * pot[:, None]
        ids = np.minimum([np.searchsorted(cum[r], u[r]) for r in range(restarts)], n - 1)
        dist = torch.minimum(closest[:, None], sq_dist(ids))
        pots = dist.sum(2)
        best = pots.argmin(1)
        pot, closest = pots[every, best].double().numpy(), dist[every, best]
        chosen[:, c] = ids[np.arange(restarts), best.numpy()]
    return x[torch.from_numpy(chosen)], chosen


def _sklearn_kmeans(
    x: torch.Tensor, k: int, init: torch.Tensor | None, restarts: int,
    generator: torch.Generator | None, max_iter: int,
) -> KMeansResult:
    """scikit-learn's Lloyd k-means from `init`, or best of `restarts` k-means++ seedings drawn
    as `KMeans(n_init=restarts, random_state=seed)` draws them (`kmeans_plusplus`)."""
    import warnings

    from sklearn.cluster import KMeans
    from sklearn.exceptions import ConvergenceWarning

    xc = x.detach().cpu()
    xs = xc.numpy()
    if init is None:
        rs = np.random.RandomState(int(torch.randint(2**31 - 1, (1,), generator=generator)))
        starts = list(kmeans_plusplus(xc, k, rs, restarts)[0].numpy())
    else:  # from given centres Lloyd draws nothing: the caller's stream is left alone
        starts = [init.detach().cpu().numpy().astype(xs.dtype)]
    best = None
    for start in starts:
        km = KMeans(k, init=start, n_init=1, max_iter=max_iter, algorithm="lloyd")
        with warnings.catch_warnings():  # fewer distinct points than k: handled below
            warnings.simplefilter("ignore", ConvergenceWarning)
            km.fit(xs)
        if best is None or km.inertia_ < best.inertia_:
            best = km
    centres = torch.from_numpy(best.cluster_centers_).to(x)
    assign, dist = assign_to_centres(x, centres)
    centres, reseeded = _reseed_empty(x, centres, assign, dist, k)
    if reseeded:
        assign, dist = assign_to_centres(x, centres)
    return KMeansResult(assign, centres, float(dist.sum()), int(best.n_iter_))


def _reseed_empty(
    x: torch.Tensor, centres: torch.Tensor, assign: torch.Tensor, dist: torch.Tensor, k: int
) -> tuple[torch.Tensor, bool]:
    """Move the centres of empty clusters onto the points farthest from their own centres."""
    counts = torch.bincount(assign, minlength=k)
    empty = (counts == 0).nonzero()[:, 0]
    if len(empty) == 0:
        return centres, False
    far = dist.argsort(descending=True)[: len(empty)]
    centres = centres.clone()
    centres[empty[: len(far)]] = x[far]
    return centres, True


def lloyd(x: torch.Tensor, centres: torch.Tensor, max_iter: int = 100) -> KMeansResult:
    """Lloyd iterations from the given centres (scikit-learn) until they converge."""
    return _sklearn_kmeans(x, len(centres), centres, 1, None, max_iter)


def kmeans(
    x: torch.Tensor, k: int, restarts: int = 10, generator: torch.Generator | None = None,
    max_iter: int = 100,
) -> KMeansResult:
    """k-means++ + Lloyd, best of `restarts` runs by inertia (the paper's first clustering)."""
    if len(x) < k:
        raise ValueError(f"k-means: {len(x)} points cannot make k={k} clusters")
    return _sklearn_kmeans(x, k, None, max(1, restarts), generator, max_iter)


def warm_start_centres(x: torch.Tensor, old_assign: torch.Tensor, k: int) -> torch.Tensor:
    """Eq. (3): mean of the new features of each old cluster.

    An old cluster with no point in `x` gets the point farthest from the filled means, so the
    initialisation still has k distinct centres.
    """
    sums = torch.zeros(k, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, old_assign, x)
    counts = torch.bincount(old_assign, minlength=k).to(x.dtype)
    filled = counts > 0
    centres = torch.zeros_like(sums)
    centres[filled] = sums[filled] / counts[filled, None]
    empty = (~filled).nonzero()[:, 0]
    if len(empty):
        _, dist = assign_to_centres(x, centres[filled]) if filled.any() else (None, x.pow(2).sum(1))
        far = dist.argsort(descending=True)[: len(empty)]
        centres[empty[: len(far)]] = x[far]
    return centres


def match_clusters(new_assign: torch.Tensor, old_assign: torch.Tensor, k: int) -> torch.Tensor:
    """Eq. (4): permutation ρ with ρ[new label] = old label minimising Σ_c |π_c^old \\ π_ρ(c)^new|.

    cost[i, j] = |old_j| − |old_j ∩ new_i|: the samples of old cluster j lost if new cluster i
    takes label j. `linear_sum_assignment` returns (rows, cols) with rows = 0..k−1 in order for a
    square matrix, so cols is the permutation; empty clusters just have zero overlap.
    """
    joint = torch.bincount(new_assign.cpu() * k + old_assign.cpu(), minlength=k * k)
    overlap = joint.view(k, k).numpy().astype(np.int64)  # [new, old]
    cost = overlap.sum(0, keepdims=True) - overlap
    rows, cols = linear_sum_assignment(cost)
    perm = np.empty(k, dtype=np.int64)
    perm[rows] = cols
    return torch.from_numpy(perm)


def recluster(
    x: torch.Tensor, k: int, old_assign: torch.Tensor | None = None, restarts: int = 10,
    match: bool = True, generator: torch.Generator | None = None, max_iter: int = 100,
) -> ReclusterResult:
    """One clustering step of Algorithm 1 on features `x` (old_assign: the same points' labels).

    First time (no old assignment): k-means++ with restarts. Later: Lloyd from the warm-start
    means, then (if `match`) the labels permuted onto the old ones.
    """
    if old_assign is None:
        res = kmeans(x, k, restarts, generator, max_iter)
        return ReclusterResult(res.assign, res.centres, res.inertia, 0, None)
    res = lloyd(x, warm_start_centres(x, old_assign, k), max_iter)
    assign, centres, perm = res.assign, res.centres, None
    if match:
        perm = match_clusters(assign, old_assign, k).to(assign.device)
        assign = perm[assign]
        centres = torch.empty_like(centres).index_copy_(0, perm, centres)
    changed = int((assign != old_assign).sum())
    return ReclusterResult(assign, centres, res.inertia, changed, perm)


def online_kmeans_update(
    x: torch.Tensor, centres: torch.Tensor, counts: torch.Tensor,
    batch_sums: torch.Tensor | None = None, batch_counts: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One online k-means step (Bottou & Bengio 1995, mini-batch form).

    Each point goes to its nearest centre; centre j moves to (N_j c_j + Σ_batch x) / (N_j + n_j),
    i.e. a step of size n_j / (N_j + n_j) towards its batch mean. `batch_sums`/`batch_counts`
    override the local batch statistics (pass all-reduced ones so every worker moves alike).
    Returns (labels of x, new centres, new cumulative counts).
    """
    k = len(centres)
    labels, _ = assign_to_centres(x, centres)
    if batch_sums is None or batch_counts is None:
        batch_sums = torch.zeros_like(centres).index_add_(0, labels, x.to(centres.dtype))
        batch_counts = torch.bincount(labels, minlength=k).to(counts.dtype)
    total = counts + batch_counts
    moved = batch_counts > 0
    new = centres.clone()
    new[moved] = (centres[moved] * counts[moved, None] + batch_sums[moved]) / total[moved, None]
    return labels, new, total
