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
O(N·D + row_chunk·col_chunk), e.g. 50k × 50k × 2048 on CPU. Distances are float64 by default,
like ``prdc`` (scikit-learn upcasts float32 to float64 internally); ``dtype=torch.float32`` is
about twice as fast but decides near-ties by float32 rounding.
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


def _to_tensor(x: Features, name: str, dtype: torch.dtype, device: torch.device | None
               ) -> torch.Tensor:
    check_features(x, name)
    t = torch.as_tensor(x) if isinstance(x, np.ndarray) else x.detach()
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


def knn_radii(features: Features, nearest_k: int = 5, *, row_chunk: int = 2048,
              col_chunk: int = 8192, dtype: torch.dtype = torch.float64,
              device: str | torch.device | None = None) -> torch.Tensor:
    """Distance of each point to its k-th nearest neighbour excluding itself (streaming).

    Equals ``prdc.compute_nearest_neighbour_distances``. Cacheable for the real set.
    """
    _check_k(nearest_k)
    _check_chunks(row_chunk, col_chunk)
    x = _to_tensor(features, "features", dtype, torch.device(device) if device else None)
    if x.shape[0] < nearest_k + 1:
        raise TooFewSamplesError(
            f"features: k-NN radii with k={nearest_k} need at least {nearest_k + 1} samples, "
            f"got {x.shape[0]}"
        )
    return _radii(x, nearest_k, row_chunk, col_chunk)


def compute_prdc(real_features: Features, fake_features: Features, nearest_k: int = 5, *,
                 row_chunk: int = 2048, col_chunk: int = 8192,
                 dtype: torch.dtype = torch.float64,
                 device: str | torch.device | None = None,
                 real_radii: torch.Tensor | np.ndarray | None = None) -> dict[str, float]:
    """Precision, recall, density, coverage of ``fake_features`` w.r.t. ``real_features``.

    Argument order: (real, fake), like ``prdc.compute_prdc`` (NOT torch-fidelity's order).
    ``real_radii`` may be passed from a cache (:func:`knn_radii` of the real set, same k).
    Returns ``{"precision", "recall", "density", "coverage"}`` as floats.
    """
    _check_k(nearest_k)
    _check_chunks(row_chunk, col_chunk)
    dev = torch.device(device) if device is not None else None
    real = _to_tensor(real_features, "real_features", dtype, dev)
    fake = _to_tensor(fake_features, "fake_features", dtype, real.device)
    check_same_dim(real, fake, "real_features", "fake_features")
    for name, x in (("real_features", real), ("fake_features", fake)):
        if x.shape[0] < nearest_k + 1:
            raise TooFewSamplesError(
                f"{name}: k-NN radii with k={nearest_k} need at least {nearest_k + 1} samples, "
                f"got {x.shape[0]}"
            )
    if real_radii is None:
        rr = _radii(real, nearest_k, row_chunk, col_chunk)
    else:
        rr = torch.as_tensor(real_radii).to(device=real.device, dtype=dtype)
        if rr.shape != (real.shape[0],):
            raise MetricInputError(
                f"real_radii: expected shape ({real.shape[0]},), got {tuple(rr.shape)}"
            )
    fr = _radii(fake, nearest_k, row_chunk, col_chunk)

    n_real, n_fake = real.shape[0], fake.shape[0]
    fake_in_real = torch.zeros(n_fake, dtype=torch.bool, device=real.device)
    fake_count = torch.zeros(n_fake, dtype=torch.int64, device=real.device)
    real_in_fake = torch.zeros(n_real, dtype=torch.bool, device=real.device)
    nearest_fake = torch.full((n_real,), float("inf"), dtype=dtype, device=real.device)
    for r0, r1 in _blocks(n_real, row_chunk):
        r_rad = rr[r0:r1, None]
        for c0, c1 in _blocks(n_fake, col_chunk):
            d = _cdist(real[r0:r1], fake[c0:c1])
            inside = d < r_rad
            fake_in_real[c0:c1] |= inside.any(dim=0)
            fake_count[c0:c1] += inside.sum(dim=0)
            real_in_fake[r0:r1] |= (d < fr[None, c0:c1]).any(dim=1)
            nearest_fake[r0:r1] = torch.minimum(nearest_fake[r0:r1], d.min(dim=1).values)
    return {
        "precision": fake_in_real.double().mean().item(),
        "recall": real_in_fake.double().mean().item(),
        "density": fake_count.double().mean().item() / float(nearest_k),
        "coverage": (nearest_fake < rr).double().mean().item(),
    }
