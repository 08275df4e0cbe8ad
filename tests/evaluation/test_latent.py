from __future__ import annotations

import numpy as np
import pytest

from evaluation.errors import MetricInputError
from evaluation.latent import (
    convex_accuracy,
    convex_accuracy_from_fn,
    logreg_accuracy,
    same_class_pairs,
)


def _anchors(d: int = 8, n: int = 4) -> np.ndarray:
    return np.sqrt(d) * np.eye(d)[:n]  # simplicial anchors, as the paper's code


def test_logreg_accuracy_on_linear_cells() -> None:
    rng = np.random.default_rng(0)
    z = rng.normal(size=(600, 8))
    labels = (z @ _anchors().T).argmax(axis=1)  # Voronoi cells of anchors: linear boundaries
    assert logreg_accuracy(z, labels) > 0.9
    noise = rng.integers(0, 4, size=600)
    assert logreg_accuracy(z, noise) < 0.5


def test_convex_accuracy_hand_made() -> None:
    a = np.array([0, 1, 2, 1])
    b = np.array([0, 1, 2, 0])  # last pair differs → ignored
    mid = np.array([[0, 0, 0], [1, 2, 1], [2, 2, 2], [0, 0, 0]])
    assert convex_accuracy(a, b, mid) == pytest.approx(8 / 9)
    assert convex_accuracy(a, b, mid, per="pair") == pytest.approx(2 / 3)
    with pytest.raises(MetricInputError, match="same class"):
        convex_accuracy([0], [1], [[0]])


def test_convex_accuracy_from_fn() -> None:
    rng = np.random.default_rng(1)
    z = rng.normal(size=(400, 8))
    anchors = _anchors()

    def cones(x: np.ndarray) -> np.ndarray:  # convex cells → interpolations keep the class
        return (x @ anchors.T).argmax(axis=1)

    def non_convex(x: np.ndarray) -> np.ndarray:  # shells by norm: not convex
        return (np.linalg.norm(x, axis=1) > 2.7).astype(int)

    assert convex_accuracy_from_fn(z, cones, n_pairs=200) == 1.0
    assert convex_accuracy_from_fn(z, non_convex, n_pairs=200) < 0.9
    pairs = same_class_pairs(cones(z), 50)
    lab = cones(z)
    assert (lab[pairs[:, 0]] == lab[pairs[:, 1]]).all() and (pairs[:, 0] != pairs[:, 1]).all()
