"""Improved precision/recall (Kynkäänniemi et al. 2019) and density/coverage (Naeem et al. 2020).

Reference for the values: the ``prdc`` package (clovaai/generative-evaluation-prdc,
``prdc.compute_prdc``). Same conventions exactly:

- argument order is ``(real_features, fake_features)`` (torch-fidelity's ``prc`` takes
  (generated, real); ``prdc`` takes (real, fake), as we do);
- the radius of a point is the distance to its k-th nearest neighbour *excluding itself*, i.e. the
  (k+1)-th smallest distance in its row including the zero self-distance (duplicates of a point
  count as neighbours at distance 0);
- membership is the strict comparison ``distance < radius``;
- precision = fraction of fakes inside some real ball; recall = fraction of reals inside some fake
  ball; density = (1/k) · mean over fakes of the number of real balls containing it (can exceed 1);
  coverage = fraction of reals whose nearest fake lies inside the real's own ball.

Unlike ``prdc`` (three dense N×N float64 matrices, ~800 MB each at 10k), distances are computed in
blocks with ``torch.cdist`` and reduced on the fly (running top-(k+1) for the radii, from square
``row_chunk`` blocks of which each symmetric pair is computed once; OR / count / min accumulators
over ``row_chunk × col_chunk`` blocks for the real×fake terms), so memory is
O(N·D + row_chunk·col_chunk), e.g. 50k × 50k × 2048 on CPU.

Precision (``dtype``):
- ``None`` (default): squared distances in float32 GEMMs, and every decision a float32 rounding
  could get wrong re-decided in float64: a membership test whose float32 value lies within a
  rigorous rounding bound of the radius, and each radius from its float32 nearest candidates
  recomputed in float64 (a row whose candidates cannot be proven complete is redone in
  float64). The values are those of the float64 path, at about float32 speed.
- ``torch.float64``: every distance in float64, like ``prdc`` (scikit-learn upcasts float32).
- ``torch.float32``: float32 only; may flip near-ties.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from evaluation.errors import MetricInputError, TooFewSamplesError, check_features, check_same_dim

__all__ = ["compute_prdc", "knn_radii"]

Features = np.ndarray | torch.Tensor


def _blocks(n: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _to_tensor(x: Features, name: str, dtype: torch.dtype | None, device: torch.device | None
               ) -> torch.Tensor:
    """As a tensor of `dtype`; None keeps a floating input as it is (no copy)."""
    check_features(x, name)
    t = torch.as_tensor(x) if isinstance(x, np.ndarray) else x.detach()
    dtype = dtype or (t.dtype if t.is_floating_point() else torch.float64)
    return t.to(device=device if device is not None else t.device, dtype=dtype)


def _cdist(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.cdist(a, b, compute_mode="use_mm_for_euclid_dist")


def _check_k(k: int) -> None:
    if not isinstance(k, (int, np.integer)) or k < 1:
        raise MetricInputError(f"nearest_k: expected a positive integer, got {k!r}")


def _check_chunks(row_chunk: int, col_chunk: int) -> None:
    if row_chunk < 1 or col_chunk < 1:
        raise MetricInputError(
            f"row_chunk/col_chunk: expected positive integers, got {row_chunk}, {col_chunk}"
        )


def _radii(x: torch.Tensor, k: int, row_chunk: int, col_chunk: int) -> torch.Tensor:
    """(k+1)-th smallest distance per row, self included; square blocks of side ``row_chunk``,
    each symmetric pair of blocks computed once and folded into both row sets."""
    n = x.shape[0]
    block = row_chunk
    best = torch.full((n, k + 1), float("inf"), dtype=x.dtype, device=x.device)

    def fold(r0: int, r1: int, d: torch.Tensor) -> None:
        cand = torch.cat([best[r0:r1], d], dim=1)
        best[r0:r1] = torch.topk(cand, k + 1, dim=1, largest=False).values

    for r0, r1 in _blocks(n, block):
        for c0, c1 in _blocks(n, block):
            if c0 < r0:
                continue
            d = _cdist(x[r0:r1], x[c0:c1])
            if c0 == r0:  # self-distances are exactly 0 (as scikit-learn sets for X is Y)
                d.fill_diagonal_(0.0)
            fold(r0, r1, d)
            if c0 != r0:
                fold(c0, c1, d.T)
    return best.max(dim=1).values


# Unit roundoff of float32; distances are compared as squares, whose float32 GEMM error is at
# most 2·γ_(D+2)·(‖x‖² + ‖y‖²) (Higham's bound for any summation order) plus the roundings of
# the norms, the final additions and of float64 inputs cast to float32 (the 8u term).
_U32 = 2.0**-24


def _tolerance_scale(dim: int) -> float:
    gamma = (dim + 2) * _U32 / (1 - (dim + 2) * _U32)
    return 2 * gamma + 8 * _U32


def _sq_norms(x: torch.Tensor) -> torch.Tensor:
    """‖x‖² in float32, in row chunks (no float32 copy of a float64 input)."""
    return torch.cat([x[s : s + 4096].float().pow(2).sum(1) for s in range(0, len(x), 4096)])


def _left(x: torch.Tensor, xn: torch.Tensor, r0: int, r1: int) -> torch.Tensor:
    """Rows [−2x, ‖x‖², 1] and (`_right`) [y, 1, ‖y‖²]: left_a @ right_b.T is
    ‖a‖² + ‖b‖² − 2ab, squared distances in one float32 GEMM; made per block, so nothing
    beyond the caller's features is held."""
    one = torch.ones(r1 - r0, 1, device=x.device)
    return torch.cat([-2 * x[r0:r1].float(), xn[r0:r1, None], one], dim=1)


def _right(x: torch.Tensor, xn: torch.Tensor, c0: int, c1: int) -> torch.Tensor:
    one = torch.ones(c1 - c0, 1, device=x.device)
    return torch.cat([x[c0:c1].float(), one, xn[c0:c1, None]], dim=1)


def _upper_blocks(n: int, size: int) -> Iterator[tuple[int, int, int, int]]:
    """(r0, r1, c0, c1) blocks that cover every unordered pair of rows once: the blocks above
    the diagonal, and each diagonal block as its two diagonal halves plus the one between
    (so the diagonal costs half of its square, not all of it)."""
    for r0, r1 in _blocks(n, size):
        mid = r0 + max(1, (r1 - r0) // 2)
        yield r0, mid, r0, mid
        if mid < r1:
            yield r0, mid, mid, r1
            yield mid, r1, mid, r1
        for c0, c1 in _blocks(n, size):
            if c0 > r0:
                yield r0, r1, c0, c1


def _pair_dist64(a: torch.Tensor, ia: torch.Tensor, b: torch.Tensor, ib: torch.Tensor,
                 chunk: int = 256) -> torch.Tensor:
    """Float64 distances of the matched rows a[ia[i]], b[ib[i]] (the entries re-decided),
    gathered and converted chunk by chunk so that each chunk stays in cache."""
    out = torch.empty(len(ia), dtype=torch.float64, device=a.device)
    for s in range(0, len(ia), chunk):
        diff = a[ia[s : s + chunk]].double() - b[ib[s : s + chunk]].double()
        out[s : s + chunk] = diff.pow_(2).sum(1)
    return out.sqrt_()


def _radii_mixed(x: torch.Tensor, k: int, row_chunk: int, margin: int = 8,
                 xn: torch.Tensor | None = None) -> torch.Tensor:
    """Exact (float64) k-NN radii from float32 candidates. Of a row's k+1+margin nearest by
    float32, those whose squared distance lies within twice the bound of the (k+1)-th are
    recomputed in float64 (usually one); the ones below are surely nearer. A row whose band
    reaches its last candidate (a neighbour might be missing) is redone in float64."""
    n = x.shape[0]
    keep = min(n, k + 1 + margin)
    xn = _sq_norms(x) if xn is None else xn
    vals = torch.full((n, keep), float("inf"), dtype=torch.float32, device=x.device)
    idx = torch.zeros((n, keep), dtype=torch.int64, device=x.device)

    def merge(p0: int, p1: int, bv: torch.Tensor, bi: torch.Tensor) -> None:
        cv = torch.cat([vals[p0:p1], bv], dim=1)
        ci = torch.cat([idx[p0:p1], bi], dim=1)
        top, pos = torch.topk(cv, keep, dim=1, largest=False)  # sorted ascending
        vals[p0:p1], idx[p0:p1] = top, torch.gather(ci, 1, pos)

    def fold(p0: int, p1: int, q0: int, d: torch.Tensor, by_row: bool) -> None:
        """Fold block d into the lists of points p0:p1 (d's rows if by_row, else its columns;
        their neighbours, the other axis, start at q0). Only entries below a point's current
        keep-th smallest can enter its list: once the lists fill, few do, and gathering those
        costs one comparison pass instead of a top-k over every row (a point whose list is not
        full yet takes the top-k)."""
        thr = vals[p0:p1, -1]
        if bool(torch.isinf(thr).any()):
            rows = d if by_row else d.T
            bv, bi = torch.topk(rows, min(keep, rows.shape[1]), dim=1, largest=False)
            merge(p0, p1, bv, bi + q0)
            return
        below = d < (thr[:, None] if by_row else thr[None, :])
        i, j = torch.nonzero(below, as_tuple=True)
        if len(i) == 0:
            return
        v = d[i, j]
        pts, nbr = (i, j) if by_row else (j, i)
        if not by_row:  # group the entries by point
            order = torch.argsort(pts, stable=True)
            pts, nbr, v = pts[order], nbr[order], v[order]
        counts = torch.bincount(pts, minlength=p1 - p0)
        pos = torch.arange(len(pts), device=d.device) - (torch.cumsum(counts, 0) - counts)[pts]
        width = int(counts.max())
        bv = torch.full((p1 - p0, width), float("inf"), dtype=d.dtype, device=d.device)
        bi = torch.zeros((p1 - p0, width), dtype=torch.int64, device=d.device)
        bv[pts, pos], bi[pts, pos] = v, nbr + q0
        merge(p0, p1, bv, bi)

    left, rows = None, (-1, -1)
    for r0, r1, c0, c1 in _upper_blocks(n, row_chunk):
        if (r0, r1) != rows:
            left, rows = _left(x, xn, r0, r1), (r0, r1)
        d = left @ _right(x, xn, c0, c1).T
        if c0 == r0:
            d.fill_diagonal_(0.0)
        fold(r0, r1, c0, d, True)
        if c0 != r0:
            fold(c0, c1, r0, d, False)
    slack = (2 * _tolerance_scale(x.shape[1]) * (xn + xn.max()))[:, None]
    q = vals[:, k : k + 1]
    below = (vals < q - slack).sum(1)
    band = (vals >= q - slack) & (vals <= q + slack)
    rows, cols = torch.nonzero(band, as_tuple=True)
    exact = torch.full((n, keep), float("inf"), dtype=torch.float64, device=x.device)
    pairs = idx[rows, cols]
    exact[rows, cols] = torch.where(pairs == rows, 0.0, _pair_dist64(x, rows, x, pairs))
    radii = exact.sort(dim=1).values.gather(1, (k - below)[:, None]).squeeze(1)
    redo = torch.nonzero(band[:, -1] & (keep < n)).flatten()
    if redo.numel():
        a = x[redo].double()
        dist = torch.cat([_cdist(a, x[c0:c1].double()) for c0, c1 in _blocks(n, row_chunk)], 1)
        dist[torch.arange(len(redo)), redo] = 0.0
        radii[redo] = torch.kthvalue(dist, k + 1, dim=1).values
    return radii


def knn_radii(features: Features, nearest_k: int = 5, *, row_chunk: int = 2048,
              col_chunk: int = 8192, dtype: torch.dtype | None = None,
              device: str | torch.device | None = None) -> torch.Tensor:
    """Distance of each point to its k-th nearest neighbour excluding itself (streaming).

    Equals ``prdc.compute_nearest_neighbour_distances``. Cacheable for the real set.
    """
    _check_k(nearest_k)
    _check_chunks(row_chunk, col_chunk)
    x = _to_tensor(features, "features", dtype, torch.device(device) if device else None)
    _check_enough(x, "features", nearest_k)
    return _knn_radii(x, nearest_k, dtype, row_chunk, col_chunk)


def _check_enough(x: torch.Tensor, name: str, k: int) -> None:
    if x.shape[0] < k + 1:
        raise TooFewSamplesError(
            f"{name}: k-NN radii with k={k} need at least {k + 1} samples, got {x.shape[0]}"
        )


def _knn_radii(x: torch.Tensor, k: int, dtype: torch.dtype | None, row_chunk: int,
               col_chunk: int, norms: torch.Tensor | None = None) -> torch.Tensor:
    """The radii at the precision `dtype` asks for (None: float32 with float64 re-decisions)."""
    if dtype is None:
        return _radii_mixed(x, k, row_chunk, xn=norms)
    return _radii(x, k, row_chunk, col_chunk)


def _inside_mixed(d: torch.Tensor, radius2: torch.Tensor, slack: torch.Tensor,
                  a: torch.Tensor, b: torch.Tensor, radius: torch.Tensor,
                  by_row: bool) -> torch.Tensor:
    """d < radius for a float32 block of squared distances; entries within `slack` of the
    squared radius (per row when by_row, else per column) are re-decided in float64."""
    r2 = radius2[:, None] if by_row else radius2[None, :]
    t = slack[:, None] if by_row else slack[None, :]
    inside = d < r2 - t
    unsure = (d <= r2 + t) ^ inside  # inside implies <= r2 + t: xor is "within the band"
    rows, cols = torch.nonzero(unsure, as_tuple=True)
    if rows.numel():
        exact = _pair_dist64(a, rows, b, cols)
        inside[rows, cols] = exact < (radius[rows] if by_row else radius[cols])
    return inside


def _any_inside_by_column(d: torch.Tensor, radius2: torch.Tensor, slack: torch.Tensor,
                          a: torch.Tensor, b: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    """Per row r of a float32 block: whether d[r, c] < radius[c] for some column c (recall).
    The row's smallest margin d − radius² decides it when it lies beyond twice the largest
    slack of the block (its sign is exact: the subtraction of close floats is); only the
    rows in between are re-decided entry by entry (`_inside_mixed`)."""
    gap = (d - radius2[None, :]).amin(dim=1)
    band = 2 * slack.max()
    out = gap < -band
    unsure = torch.nonzero((gap <= band) & ~out).flatten()
    if unsure.numel():
        sub = _inside_mixed(d[unsure], radius2, slack, a[unsure], b, radius, False)
        out[unsure] = sub.any(dim=1)
    return out


def compute_prdc(real_features: Features, fake_features: Features, nearest_k: int = 5, *,
                 row_chunk: int = 2048, col_chunk: int = 8192,
                 dtype: torch.dtype | None = None,
                 device: str | torch.device | None = None,
                 real_radii: torch.Tensor | np.ndarray | None = None) -> dict[str, float]:
    """Precision, recall, density, coverage of ``fake_features`` w.r.t. ``real_features``.

    Argument order: (real, fake), like ``prdc.compute_prdc`` (NOT torch-fidelity's order).
    ``real_radii`` may be passed from a cache (:func:`knn_radii` of the real set, same k).
    ``dtype``: None (float32 speed, float64 values), float64 or float32 (module docstring).
    Returns ``{"precision", "recall", "density", "coverage"}`` as floats.
    """
    _check_k(nearest_k)
    _check_chunks(row_chunk, col_chunk)
    dev = torch.device(device) if device is not None else None
    real = _to_tensor(real_features, "real_features", dtype, dev)
    fake = _to_tensor(fake_features, "fake_features", dtype, real.device)
    check_same_dim(real, fake, "real_features", "fake_features")
    _check_enough(real, "real_features", nearest_k)
    _check_enough(fake, "fake_features", nearest_k)
    rn, fn = (_sq_norms(real), _sq_norms(fake)) if dtype is None else (None, None)
    if real_radii is None:
        rr = _knn_radii(real, nearest_k, dtype, row_chunk, col_chunk, rn)
    else:
        rr = torch.as_tensor(real_radii).to(device=real.device, dtype=dtype or torch.float64)
        if rr.shape != (real.shape[0],):
            raise MetricInputError(
                f"real_radii: expected shape ({real.shape[0]},), got {tuple(rr.shape)}"
            )
    fr = _knn_radii(fake, nearest_k, dtype, row_chunk, col_chunk, fn)

    n_real, n_fake = real.shape[0], fake.shape[0]
    fake_in_real = torch.zeros(n_fake, dtype=torch.bool, device=real.device)
    fake_count = torch.zeros(n_fake, dtype=torch.int64, device=real.device)
    real_in_fake = torch.zeros(n_real, dtype=torch.bool, device=real.device)
    covered = torch.zeros(n_real, dtype=torch.bool, device=real.device)
    if dtype is None:
        rr2, fr2 = (rr * rr).float(), (fr * fr).float()
        # Bounds per real row / per fake column: the largest norm on the other side.
        scale = _tolerance_scale(real.shape[1])
        r_slack = scale * (rn + fn.max()) + 2 * _U32 * rr2
        f_slack = scale * (fn + rn.max()) + 2 * _U32 * fr2
    for r0, r1 in _blocks(n_real, row_chunk):
        left = _left(real, rn, r0, r1) if dtype is None else None
        for c0, c1 in _blocks(n_fake, col_chunk):
            if left is not None:
                d = left @ _right(fake, fn, c0, c1).T
                args = (real[r0:r1], fake[c0:c1])
                inside = _inside_mixed(d, rr2[r0:r1], r_slack[r0:r1], *args, rr[r0:r1], True)
                # Recall needs only whether some fake ball holds each real.
                in_fake = _any_inside_by_column(d, fr2[c0:c1], f_slack[c0:c1], *args, fr[c0:c1])
            else:
                d = _cdist(real[r0:r1], fake[c0:c1])
                inside, in_fake = d < rr[r0:r1, None], d < fr[None, c0:c1]
            counts = inside.sum(dim=0, dtype=torch.int32)  # int32 (a block count fits) sums faster
            fake_count[c0:c1] += counts
            fake_in_real[c0:c1] |= counts > 0
            real_in_fake[r0:r1] |= in_fake if in_fake.ndim == 1 else in_fake.any(dim=1)
            # The nearest fake inside the real's own ball <=> any fake inside it.
            covered[r0:r1] |= inside.any(dim=1)
    return {
        "precision": fake_in_real.double().mean().item(),
        "recall": real_in_fake.double().mean().item(),
        "density": fake_count.double().mean().item() / float(nearest_k),
        "coverage": covered.double().mean().item(),
    }
