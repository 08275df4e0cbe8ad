"""Latent-space diagnostics of the simplicial-cluster paper (papers/latent_geometry_simplicial.txt,
Sec. 4.1, Tables 1 and 6): ``logreg_acc`` and ``convex_acc``.

- LogReg accuracy: multinomial logistic regression from latents z to the oracle class of G(z),
  accuracy on held-out latents (the paper: 100k train / 10k test points).
- Convex accuracy: draw two latents z0, z1 whose images have the same class and check whether
  the interpolations λ z0 + (1 − λ) z1 keep that class. The paper does not state the λ grid nor
  whether a pair counts as a whole; ``per="point"`` (default) scores each interpolated point,
  ``per="pair"`` requires all points of a pair to keep the class.

The oracle (generator + classifier) enters only as a callable ``classify_latents(z) -> labels``,
so these functions stay pure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from evaluation.errors import MetricInputError, as_float_array

__all__ = ["logreg_accuracy", "convex_accuracy", "same_class_pairs", "convex_accuracy_from_fn"]


def logreg_accuracy(z: np.ndarray, labels: Sequence[int] | np.ndarray, test_size: float = 0.1,
                    seed: int = 0, max_iter: int = 1000) -> float:
    """Held-out accuracy of ``LogisticRegression`` (multinomial, lbfgs) from z to labels."""
    x = as_float_array(z, "z")
    y = np.asarray(labels)
    if y.shape != (x.shape[0],):
        raise MetricInputError(f"labels: expected shape ({x.shape[0]},), got {y.shape}")
    if np.unique(y).size < 2:
        raise MetricInputError("labels: expected at least two classes")
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=test_size, random_state=seed)
    clf = LogisticRegression(max_iter=max_iter)
    clf.fit(x_tr, y_tr)
    return float(clf.score(x_te, y_te))


def convex_accuracy(labels_a: Sequence[int] | np.ndarray, labels_b: Sequence[int] | np.ndarray,
                    labels_mid: np.ndarray, per: Literal["point", "pair"] = "point") -> float:
    """Fraction of interpolations that keep the class of their same-class endpoints.

    ``labels_a``/``labels_b``: (N,) classes of G(z0), G(z1); ``labels_mid``: (N, L) classes of
    G(λ z0 + (1 − λ) z1) at L interior λ. Pairs whose endpoints differ are ignored.
    """
    a, b = np.asarray(labels_a), np.asarray(labels_b)
    mid = np.asarray(labels_mid)
    if mid.ndim == 1:
        mid = mid[:, None]
    if a.ndim != 1 or a.shape != b.shape or mid.shape[0] != a.shape[0]:
        raise MetricInputError(
            f"labels_a/labels_b/labels_mid: expected shapes (N,), (N,), (N, L); got "
            f"{a.shape}, {b.shape}, {mid.shape}"
        )
    same = a == b
    if not same.any():
        raise MetricInputError("labels_a/labels_b: no pair has endpoints of the same class")
    keep = mid[same] == a[same, None]
    if per == "point":
        return float(keep.mean())
    if per == "pair":
        return float(keep.all(axis=1).mean())
    raise MetricInputError(f"per: expected 'point' or 'pair', got {per!r}")


def same_class_pairs(labels: Sequence[int] | np.ndarray, n_pairs: int,
                     seed: int = 0) -> np.ndarray:
    """(n_pairs, 2) indices of distinct samples with equal labels, classes drawn by frequency."""
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(y, return_counts=True)
    ok = counts >= 2
    if not ok.any():
        raise MetricInputError("labels: no class has two samples to pair")
    classes, counts = classes[ok], counts[ok]
    picks = rng.choice(classes.size, size=n_pairs, p=counts / counts.sum())
    out = np.empty((n_pairs, 2), dtype=np.int64)
    for i, ci in enumerate(picks):
        idx = np.flatnonzero(y == classes[ci])
        out[i] = rng.choice(idx, size=2, replace=False)
    return out


def convex_accuracy_from_fn(z: np.ndarray, classify_latents: Callable[[np.ndarray], np.ndarray],
                            n_pairs: int = 1000, lambdas: Sequence[float] | None = None,
                            seed: int = 0, per: Literal["point", "pair"] = "point") -> float:
    """Convex accuracy with an oracle ``classify_latents(z) -> labels`` (G then a classifier)."""
    x = as_float_array(z, "z")
    lam = np.asarray(lambdas if lambdas is not None else np.linspace(0, 1, 11)[1:-1], float)
    labels = np.asarray(classify_latents(x))
    pairs = same_class_pairs(labels, n_pairs, seed)
    z0, z1 = x[pairs[:, 0]], x[pairs[:, 1]]
    zm = lam[None, :, None] * z0[:, None, :] + (1 - lam[None, :, None]) * z1[:, None, :]
    mid = np.asarray(classify_latents(zm.reshape(-1, x.shape[1]))).reshape(n_pairs, lam.size)
    return convex_accuracy(labels[pairs[:, 0]], labels[pairs[:, 1]], mid, per=per)
