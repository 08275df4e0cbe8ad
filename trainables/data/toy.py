"""Synthetic Gaussian mixtures: the 2D toy benchmarks and the mixture of m Gaussians in R^D.

ring: 8 Gaussians with means (r cos 2πi/8, r sin 2πi/8), std 0.01 (variance 1e-4). The paper
text gives r = 1; the authors' code uses r = 2 (option `radius`).
grid: 25 Gaussians with means (2i − 4, 2j − 4), i, j ∈ {0..4}, std 0.05 (variance 0.0025).
gaussian_mixture: m Gaussians in R^D (simplicial-truncation paper, App. B.4: MoG in R^100 with a
varying number of modes). The paper does not give the means; ours are drawn iid N(0, spread² I)
from `means_seed`, so the mixture stays fixed while `seed` redraws the points.

Every set takes `weights` (one per mode, normalised) or `imbalance` (geometric weights whose
largest/smallest ratio is `imbalance`) for imbalanced modes; `info["weights"]` holds the
normalised weights, `info["priors"]` the realised mode frequencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from trainables.data.bundle import DataBundle, DatasetError, register


def ring_centers(n_modes: int = 8, radius: float = 1.0) -> np.ndarray:
    angles = 2 * np.pi * np.arange(n_modes) / n_modes
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid_centers(side: int = 5, spacing: float = 2.0) -> np.ndarray:
    offset = spacing * (side - 1) / 2
    return np.array(
        [(spacing * i - offset, spacing * j - offset) for i in range(side) for j in range(side)]
    )


def random_centers(m: int, dim: int, spread: float = 1.0, seed: int = 0) -> np.ndarray:
    return spread * np.random.default_rng(seed).standard_normal((m, dim))


def mode_weights(
    m: int, weights: Sequence[float] | None = None, imbalance: float | None = None
) -> np.ndarray:
    """Normalised mode weights: explicit `weights`, else geometric with max/min = `imbalance`."""
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (m,) or np.any(w < 0) or w.sum() <= 0:
            raise DatasetError(
                f"dataset.options.weights: expected {m} non-negative weights with a positive "
                f"sum, got {list(np.atleast_1d(w))}"
            )
    elif imbalance is not None:
        if imbalance < 1:
            raise DatasetError(f"dataset.options.imbalance: expected >= 1, got {imbalance}")
        w = imbalance ** (-np.arange(m) / max(m - 1, 1))
    else:
        w = np.ones(m)
    return w / w.sum()


def sample_mixture(
    centers: np.ndarray, std: float, n: int, seed: int, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """n points from an isotropic Gaussian mixture; returns (points, mode index)."""
    rng = np.random.default_rng(seed)
    m = len(centers)
    p = np.full(m, 1.0 / m) if weights is None else np.asarray(weights, float) / np.sum(weights)
    modes = rng.choice(m, size=n, p=p)
    points = centers[modes] + std * rng.standard_normal((n, centers.shape[1]))
    return points.astype(np.float32), modes.astype(np.int64)


def _bundle(
    name: str, centers: np.ndarray, std: float, n: int, seed: int, split: str,
    weights: Sequence[float] | None = None, imbalance: float | None = None, kind: str = "toy2d",
) -> DataBundle:
    if n < 1:
        raise DatasetError(f"dataset.options.n: expected a positive number of points, got {n}")
    if std <= 0:
        raise DatasetError(f"dataset.options.std: expected a positive std, got {std}")
    w = mode_weights(len(centers), weights, imbalance)
    # Different splits draw from different streams of the same mixture.
    split_seed = seed + {"train": 0, "test": 1_000_003}.get(split, 2_000_003)
    x, y = sample_mixture(centers, std, n, split_seed, w)
    priors = np.bincount(y, minlength=len(centers)) / n
    info = {
        "n_modes": len(centers), "centers": centers, "std": std, "kind": kind,
        "weights": w, "priors": priors,
    }
    return DataBundle(name, torch.from_numpy(x), torch.from_numpy(y), info)


@register("ring", "toy2d")
def load_ring(
    root: Path, split: str = "train", n: int = 100_000, seed: int = 0,
    radius: float = 1.0, std: float = 0.01, n_modes: int = 8,
    weights: Sequence[float] | None = None, imbalance: float | None = None,
) -> DataBundle:
    centers = ring_centers(n_modes, radius)
    return _bundle("ring", centers, std, n, seed, split, weights, imbalance)


@register("grid", "toy2d")
def load_grid(
    root: Path, split: str = "train", n: int = 100_000, seed: int = 0,
    std: float = 0.05, side: int = 5,
    weights: Sequence[float] | None = None, imbalance: float | None = None,
) -> DataBundle:
    return _bundle("grid", grid_centers(side), std, n, seed, split, weights, imbalance)


@register("gaussian_mixture", "mixture")
def load_gaussian_mixture(
    root: Path, split: str = "train", n: int = 100_000, seed: int = 0,
    m: int = 10, dim: int = 100, std: float = 0.1, spread: float = 1.0, means_seed: int = 0,
    weights: Sequence[float] | None = None, imbalance: float | None = None,
) -> DataBundle:
    # Defaults keep modes disjoint in R^100: mean gaps ≈ spread·√(2D) ≈ 14 ≫ radius std·√D = 1.
    if m < 1 or dim < 1:
        raise DatasetError(f"dataset.options: expected m >= 1 and dim >= 1, got m={m}, dim={dim}")
    centers = random_centers(m, dim, spread, means_seed)
    bundle = _bundle(
        "gaussian_mixture", centers, std, n, seed, split, weights, imbalance, kind="mixture"
    )
    bundle.info.update(spread=spread, means_seed=means_seed)
    return bundle
