"""Mode-histogram metrics: reverse KL(p_gen ‖ p_data) and number of modes covered.

Conventions of the references (the log base is part of the metric name):

- ``reverse_kl`` — natural log, as Self-Cond GAN's 2D code (``2d_mix/evaluation.py``:
  ``kl += p * np.log(K * p)`` for modes with ``p != 0``, i.e. empty generated modes skipped);
- ``reverse_kl_log10`` — base 10, as the Stacked-MNIST code of Self-Cond GAN / PacGAN / VEEGAN
  over 1000 modes.

p_data is uniform over the modes unless given; the trainers pass the data's own mode weights
wherever the data set knows them (a toy set's mixture weights ``info["weights"]``, uniform unless
``weights``/``imbalance`` is set; an image set's class frequencies ``info["priors"]``: the
imbalanced MNIST family, Stacked MNIST's 1000 triple frequencies), so that a generator that
reproduces an imbalanced data set scores 0. Empty generated modes contribute 0 (the 0·log 0 = 0
convention that "skipping" implements).

- ``mode_freq_l1`` — Σ_i |p_i − q_i| between generated and data mode frequencies, in [0, 2].
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from evaluation.errors import MetricInputError

__all__ = ["mode_histogram", "reverse_kl", "mode_freq_l1", "modes_covered", "mode_metrics",
           "confident_share", "confident_mask", "between_mask", "modes_confident"]

CONFIDENT = 0.9  # the learning gate's threshold on the reference classifier's top probability


def _counts(counts: Sequence[float] | np.ndarray) -> np.ndarray:
    c = np.asarray(counts, dtype=np.float64)
    if c.ndim != 1 or c.size == 0:
        raise MetricInputError(f"counts: expected a non-empty 1-D histogram, got shape {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise MetricInputError("counts: expected finite non-negative counts")
    if c.sum() <= 0:
        raise MetricInputError("counts: histogram is empty (all counts are zero)")
    return c


def mode_histogram(mode_ids: Sequence[int] | np.ndarray, n_modes: int) -> np.ndarray:
    """Counts of each mode id in ``[0, n_modes)`` (e.g. Stacked-MNIST classifier outputs)."""
    ids = np.asarray(mode_ids)
    if ids.ndim != 1 or (ids.size and (ids.min() < 0 or ids.max() >= n_modes)):
        raise MetricInputError(f"mode_ids: expected 1-D integers in [0, {n_modes})")
    return np.bincount(ids.astype(np.int64), minlength=n_modes)


def reverse_kl(counts: Sequence[float] | np.ndarray, base: Literal["e", 10] | float = "e",
               skip_empty: bool = True,
               p_data: Sequence[float] | np.ndarray | None = None) -> float:
    """KL(p_gen ‖ p_data) = Σ_i p_i log(p_i / q_i) of a generated mode histogram.

    ``base="e"`` (Self-Cond 2D, metric ``reverse_kl``) or ``10`` (Stacked MNIST / PacGAN,
    ``reverse_kl_log10``). ``p_data`` defaults to uniform. ``skip_empty=True`` drops modes with
    no generated sample (their term is 0); ``skip_empty=False`` refuses histograms with empty
    modes instead (a ``MetricInputError``), for callers that require full support.
    """
    p, q = _frequencies(counts, p_data)
    empty = p == 0
    if empty.any() and not skip_empty:
        raise MetricInputError(
            f"counts: {int(empty.sum())} empty modes and skip_empty=False"
        )
    keep = ~empty
    with np.errstate(divide="ignore"):
        kl = float(np.sum(p[keep] * np.log(p[keep] / q[keep])))
    if base == "e":
        return kl
    if isinstance(base, (int, float)) and base > 1:
        return kl / float(np.log(base))
    raise MetricInputError(f"base: expected 'e' or a number > 1 (e.g. 10), got {base!r}")


def _frequencies(counts: Sequence[float] | np.ndarray,
                 p_data: Sequence[float] | np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(generated frequencies, data frequencies: uniform unless given)."""
    c = _counts(counts)
    p = c / c.sum()
    if p_data is None:
        return p, np.full_like(p, 1.0 / p.size)
    q = np.asarray(p_data, dtype=np.float64)
    if q.shape != p.shape or (q < 0).any() or not np.isclose(q.sum(), 1.0):
        raise MetricInputError(
            f"p_data: expected a probability vector of shape {p.shape} summing to 1, got "
            f"shape {q.shape}"
        )
    return p, q


def mode_freq_l1(counts: Sequence[float] | np.ndarray,
                 p_data: Sequence[float] | np.ndarray | None = None) -> float:
    """Σ_i |p_gen,i − p_data,i|: the L1 distance between mode frequencies (0 = the data's)."""
    p, q = _frequencies(counts, p_data)
    return float(np.abs(p - q).sum())


def modes_covered(counts: Sequence[float] | np.ndarray, min_count: int = 1) -> int:
    """Number of modes with at least ``min_count`` samples."""
    c = _counts(counts)
    return int((c >= min_count).sum())


def mode_metrics(counts: Sequence[float] | np.ndarray, min_count: int = 1,
                 p_data: Sequence[float] | np.ndarray | None = None) -> dict[str, float]:
    """``{"modes_covered", "reverse_kl", "reverse_kl_log10", "mode_freq_l1"}`` of a mode
    histogram against ``p_data`` (uniform unless given)."""
    return {
        "modes_covered": modes_covered(counts, min_count),
        "reverse_kl": reverse_kl(counts, "e", p_data=p_data),
        "reverse_kl_log10": reverse_kl(counts, 10, p_data=p_data),
        "mode_freq_l1": mode_freq_l1(counts, p_data),
    }


def _probabilities(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] < 2:
        raise MetricInputError(f"logits: expected an (n >= 1, classes >= 2) array, got {z.shape}")
    if not np.isfinite(z).all():
        raise MetricInputError("logits: expected finite values")
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def confident_mask(logits: np.ndarray, threshold: float = CONFIDENT) -> np.ndarray:
    """Which rows the reference classifier reads with top softmax probability >= `threshold`."""
    return _probabilities(logits).max(axis=1) >= threshold


def between_mask(logits: np.ndarray, threshold: float = CONFIDENT) -> np.ndarray:
    """Which rows the classifier reads as two classes at once: not confident, but the top two
    probabilities together reach `threshold`. Such a sample lies between two modes (the mode
    connecting that a connected latent forces on G); the unconfident rest is read as no class."""
    top2 = np.sort(_probabilities(logits), axis=1)[:, -2:]
    return (top2[:, 1] < threshold) & (top2.sum(axis=1) >= threshold)


def confident_share(logits: np.ndarray, threshold: float = CONFIDENT) -> float:
    """The learning gate: the share of rows whose top softmax probability is >= `threshold`.

    On images it is the share of samples (Stacked MNIST: of channels) that the reference
    classifier reads confidently; a generator still drawing blobs scores near 0, and mode counts
    taken below the gate count classifier noise, not modes.
    """
    return float(confident_mask(logits, threshold).mean())


def modes_confident(modes: np.ndarray, confident: np.ndarray, n_modes: int) -> int:
    """Modes covered by the confidently read samples alone (`confident`: one flag per sample):
    a count that classifier noise on unlearned samples cannot inflate."""
    modes, confident = np.asarray(modes), np.asarray(confident, dtype=bool)
    if modes.shape != confident.shape:
        raise MetricInputError(f"modes {modes.shape} and confident {confident.shape}: expected "
                               f"one flag per sample")
    if not confident.any():  # nothing read confidently: no mode is shown
        return 0
    return modes_covered(mode_histogram(modes[confident], n_modes))
