"""Input validation shared by the metrics: clear ``ValueError`` subclasses naming the argument."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch


class MetricInputError(ValueError):
    """Base class: an argument of a metric function is not what the metric expects."""


class FeatureShapeError(MetricInputError):
    """Features are not 2-D, or two feature sets have different dimensions."""


class NonFiniteFeaturesError(MetricInputError):
    """Features contain NaN or ±inf."""


class TooFewSamplesError(MetricInputError):
    """Fewer samples than the metric needs (e.g. k + 1 for k-NN radii)."""


class RankDeficientWarning(UserWarning):
    """Fewer samples than feature dimensions: the covariance is rank-deficient."""


def as_float_array(x: Any, name: str, dtype: Any = np.float64) -> np.ndarray:
    """Return ``x`` (numpy or torch) as a 2-D finite numpy array of ``dtype``."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    arr = np.asarray(x, dtype=dtype)
    check_features(arr, name)
    return arr


def check_features(x: np.ndarray | torch.Tensor, name: str) -> None:
    """Raise if ``x`` is not a 2-D (N, D) array of finite numbers."""
    if x.ndim != 2:
        raise FeatureShapeError(
            f"{name}: expected a 2-D array of shape (n_samples, n_features), "
            f"got shape {tuple(x.shape)}"
        )
    if not all_finite(x):
        raise NonFiniteFeaturesError(
            f"{name}: contains NaN or inf values; expected finite features"
        )


def all_finite(x: np.ndarray | torch.Tensor) -> bool:
    """Whether every entry is finite: min and max (both propagate NaN) in one pass instead of
    a boolean copy of x."""
    if isinstance(x, torch.Tensor):
        if x.numel() == 0 or not x.is_floating_point():
            return True
        lo, hi = torch.aminmax(x)
        return bool(torch.isfinite(lo) & torch.isfinite(hi))
    return x.size == 0 or bool(np.isfinite([x.min(), x.max()]).all())


def check_same_dim(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor,
                   name_a: str, name_b: str) -> None:
    """Raise if two (N, D) feature sets differ in D."""
    if a.shape[1] != b.shape[1]:
        raise FeatureShapeError(
            f"{name_a} has {a.shape[1]} feature dimensions but {name_b} has {b.shape[1]}; "
            "expected the same feature extractor for both"
        )


class FeatureExtractorError(RuntimeError):
    """A feature extractor cannot be built (missing weights, offline, unknown name)."""
