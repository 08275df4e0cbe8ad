from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from evaluation.clustering import (
    ari,
    cluster_acc,
    clustering_metrics,
    majority_acc,
    nmi,
    purity,
)
from evaluation.errors import MetricInputError


def test_nmi_ari_equal_sklearn() -> None:
    rng = np.random.default_rng(0)
    t = rng.integers(0, 7, size=500)
    p = np.where(rng.random(500) < 0.7, t, rng.integers(0, 9, size=500))
    assert nmi(t, p) == normalized_mutual_info_score(t, p)
    assert ari(t, p) == adjusted_rand_score(t, p)


def test_cluster_acc_undoes_permutation() -> None:
    rng = np.random.default_rng(1)
    t = rng.integers(0, 10, size=300)
    perm = rng.permutation(10)
    assert cluster_acc(t, perm[t]) == 1.0
    assert purity(t, perm[t]) == 1.0
    assert clustering_metrics(t, perm[t]) == {"nmi": 1.0, "ari": 1.0, "purity": 1.0,
                                              "cluster_acc": 1.0}


def test_cluster_acc_and_purity_hand_made() -> None:
    t = [0, 0, 0, 1, 1, 1]
    # k_pred > k_true: clusters {0,1,2}->... cluster 2 is unmatched
    p = [5, 5, 7, 7, 7, 9]
    # best matching: 5->0 (2), 7->1 (2) → 4/6; purity: 5:2, 7:2 (class 1), 9:1 → 5/6
    assert cluster_acc(t, p) == pytest.approx(4 / 6)
    assert purity(t, p) == pytest.approx(5 / 6)
    # k_pred < k_true: everything in one cluster → acc = largest class share
    assert cluster_acc([0, 1, 2, 2], [0, 0, 0, 0]) == pytest.approx(0.5)


def test_majority_acc_is_the_acc_of_one_cluster() -> None:
    rng = np.random.default_rng(2)
    t = rng.choice(5, size=1000, p=[0.29, 0.10, 0.41, 0.10, 0.10])
    assert majority_acc(t) == cluster_acc(t, np.zeros_like(t)) == np.bincount(t).max() / 1000
    assert majority_acc([3, 3, 1]) == pytest.approx(2 / 3)
    with pytest.raises(MetricInputError, match="at least one"):
        majority_acc([])


def test_clustering_bad_inputs() -> None:
    with pytest.raises(MetricInputError, match="true_labels has 3 .* pred_labels has 2"):
        nmi([0, 1, 1], [0, 1])
    with pytest.raises(MetricInputError, match="1-D"):
        cluster_acc(np.zeros((2, 2)), np.zeros((2, 2)))


def test_balanced_indices_oversample_every_class_to_the_largest():
    from evaluation.clustering import balanced_indices, majority_acc

    y = np.array([0] * 50 + [1] * 20 + [2] * 5)
    idx = balanced_indices(y, seed=3)
    assert np.array_equal(np.bincount(y[idx]), [50, 50, 50])
    assert np.array_equal(idx[-len(y):], np.arange(len(y)))  # the originals, last
    assert majority_acc(y[idx]) == pytest.approx(1 / 3)  # the authors' floor
    assert np.array_equal(idx, balanced_indices(y, seed=3))
