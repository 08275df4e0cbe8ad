from __future__ import annotations

import math

import numpy as np
import pytest

from evaluation.errors import FeatureShapeError, MetricInputError
from evaluation.toy import grid_centers, ring_centers, toy_metrics


def test_points_on_three_of_eight_centers() -> None:
    centers = ring_centers(8, 2.0)
    samples = np.repeat(centers[[0, 3, 5]], 10, axis=0)
    for box in (False, True):
        out = toy_metrics(samples, centers, std=0.01, box=box)
        assert out["modes"] == 3
        assert out["high_quality_pct"] == 100.0
        assert out["reverse_kl"] == pytest.approx(math.log(8 / 3))


def test_high_quality_threshold_and_box_variant() -> None:
    centers = grid_centers()
    std = 0.05
    c = centers[12]
    samples = np.array([
        c + [0.14, 0.0],    # 2.8 std: HQ in both variants
        c + [0.16, 0.0],    # 3.2 std: not HQ
        c + [0.12, 0.12],   # 3.39 std Euclidean but within the per-coordinate box
        centers[0] + [0.0, 0.01],  # HQ on another mode
    ])
    eu = toy_metrics(samples, centers, std)
    bx = toy_metrics(samples, centers, std, box=True)
    assert eu["high_quality_pct"] == 50.0 and eu["modes"] == 2
    assert bx["high_quality_pct"] == 75.0 and bx["modes"] == 2
    # KL over all samples (authors' code): 3 on mode 12, 1 on mode 0 of 25
    p = np.array([0.75, 0.25])
    assert eu["reverse_kl"] == pytest.approx(float(np.sum(p * np.log(25 * p))))
    # KL over high-quality samples only: 1 and 1
    hq = toy_metrics(samples, centers, std, kl_over="high_quality")
    assert hq["reverse_kl"] == pytest.approx(math.log(25 / 2))


def test_toy_high_dimensional_mixture() -> None:
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(10, 100)) * 10
    labels = np.arange(1000) % 4
    # per-coordinate std 0.01 in 100-d: norm ≈ 0.1 < 3 · 0.05
    samples = centers[labels] + rng.normal(size=(1000, 100)) * 0.01
    out = toy_metrics(samples, centers, std=0.05, chunk=128)
    assert out["modes"] == 4 and out["high_quality_pct"] == 100.0
    assert out["reverse_kl"] == pytest.approx(math.log(10 / 4))


def test_toy_bad_inputs() -> None:
    with pytest.raises(FeatureShapeError, match="samples"):
        toy_metrics(np.zeros((3, 3)), ring_centers(), 0.01)
    with pytest.raises(MetricInputError, match="std"):
        toy_metrics(np.zeros((3, 2)), ring_centers(), 0.0)


def test_hq_radius_is_3_std_in_2d_and_keeps_real_points_in_high_dimensions():
    from evaluation.toy import hq_radius

    assert hq_radius(0.05, 2) == pytest.approx(0.15, rel=1e-9)
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 100))
    real = centers[rng.integers(0, 5, 4000)] + 0.1 * rng.normal(size=(4000, 100))
    plain = toy_metrics(real, centers, 0.1)
    scaled = toy_metrics(real, centers, 0.1, radius=hq_radius(0.1, 100))
    assert plain["high_quality_pct"] == 0.0  # why the radius must scale with the dimension
    assert scaled["modes"] == 5
    assert scaled["high_quality_pct"] == pytest.approx(100 * (1 - np.exp(-4.5)), abs=1.0)


@pytest.mark.parametrize("dim", [2, 10])
def test_mode_spread_is_one_for_real_samples_and_the_scale_of_a_shrunk_generator(dim) -> None:
    rng = np.random.default_rng(1)
    centers = rng.normal(size=(5, dim)) * 10
    labels = rng.integers(0, 5, 20_000)
    noise = rng.normal(size=(20_000, dim)) * 0.05
    real = toy_metrics(centers[labels] + noise, centers, std=0.05)
    shrunk = toy_metrics(centers[labels] + 0.4 * noise, centers, std=0.05)
    assert real["mode_spread"] == pytest.approx(1.0, abs=0.02)
    assert shrunk["mode_spread"] == pytest.approx(0.4, abs=0.01)
    # High quality cannot tell the two apart from below: the shrunk one scores higher.
    assert shrunk["high_quality_pct"] >= real["high_quality_pct"]


def test_a_point_mass_on_every_mean_has_zero_spread() -> None:
    centers = ring_centers(8, 1.0)
    out = toy_metrics(np.repeat(centers, 10, axis=0), centers, std=0.01)
    assert out["high_quality_pct"] == 100.0 and out["mode_spread"] == 0.0
