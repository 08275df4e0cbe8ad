"""Partition quality vs true labels: ``nmi``, ``ari``, ``purity``, ``cluster_acc``, and
``majority_acc``, the clustering accuracy of one cluster for every point (the floor to read ACC
against on imbalanced classes).

NMI and ARI are scikit-learn's ``normalized_mutual_info_score`` (arithmetic normalisation, its
default) and ``adjusted_rand_score``. Purity = Σ_clusters max_class |cluster ∩ class| / N.
Clustering accuracy = best one-to-one matching of predicted clusters to classes (Hungarian,
``scipy.optimize.linear_sum_assignment`` on the contingency table, as in DEC / NEMGAN); with
k_pred ≠ k_true the unmatched clusters count as errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score
from sklearn.metrics.cluster import contingency_matrix

from evaluation.errors import MetricInputError

__all__ = ["nmi", "ari", "purity", "cluster_acc", "majority_acc", "clustering_metrics"]

Labels = Sequence[int] | np.ndarray


def _check(true_labels: Labels, pred_labels: Labels) -> tuple[np.ndarray, np.ndarray]:
    t, p = np.asarray(true_labels), np.asarray(pred_labels)
    if t.ndim != 1 or p.ndim != 1:
        raise MetricInputError(
            f"true_labels/pred_labels: expected 1-D label arrays, got shapes {t.shape}, {p.shape}"
        )
    if t.shape != p.shape:
        raise MetricInputError(
            f"true_labels has {t.shape[0]} entries but pred_labels has {p.shape[0]}"
        )
    if t.size == 0:
        raise MetricInputError("true_labels: expected at least one label, got none")
    return t, p


def nmi(true_labels: Labels, pred_labels: Labels) -> float:
    """Normalised mutual information (scikit-learn, arithmetic mean normalisation)."""
    t, p = _check(true_labels, pred_labels)
    return float(normalized_mutual_info_score(t, p))


def ari(true_labels: Labels, pred_labels: Labels) -> float:
    """Adjusted Rand index (scikit-learn)."""
    t, p = _check(true_labels, pred_labels)
    return float(adjusted_rand_score(t, p))


def purity(true_labels: Labels, pred_labels: Labels) -> float:
    """Fraction of samples whose cluster's majority class is their class."""
    t, p = _check(true_labels, pred_labels)
    c = contingency_matrix(t, p)  # (classes, clusters)
    return float(c.max(axis=0).sum() / t.size)


def cluster_acc(true_labels: Labels, pred_labels: Labels) -> float:
    """Accuracy under the best one-to-one cluster→class map (Hungarian; any k_pred, k_true)."""
    t, p = _check(true_labels, pred_labels)
    c = contingency_matrix(t, p)
    rows, cols = linear_sum_assignment(c, maximize=True)
    return float(c[rows, cols].sum() / t.size)


def majority_acc(true_labels: Labels) -> float:
    """``cluster_acc`` of a single cluster: the largest class's share of the labels."""
    t, _ = _check(true_labels, true_labels)
    return float(np.unique(t, return_counts=True)[1].max() / t.size)


def clustering_metrics(true_labels: Labels, pred_labels: Labels) -> dict[str, float]:
    """All four: ``{"nmi", "ari", "purity", "cluster_acc"}``."""
    return {
        "nmi": nmi(true_labels, pred_labels),
        "ari": ari(true_labels, pred_labels),
        "purity": purity(true_labels, pred_labels),
        "cluster_acc": cluster_acc(true_labels, pred_labels),
    }


def balanced_indices(true_labels: Labels, seed: int = 0) -> np.ndarray:
    """Indices that balance a labelled set by oversampling, as the NEMGAN authors' `balancer`:
    every class is topped up, with replacement, to the largest class's count; the original
    points come last. One cluster for everything then scores 1/classes (their floor)."""
    t, _ = _check(true_labels, true_labels)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(t, return_counts=True)
    extra = [rng.choice(np.flatnonzero(t == c), counts.max() - n)
             for c, n in zip(classes, counts, strict=True) if n < counts.max()]
    return np.concatenate([*extra, np.arange(t.size)]).astype(np.int64)
