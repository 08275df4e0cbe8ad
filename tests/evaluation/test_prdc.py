from __future__ import annotations

import numpy as np
import prdc as prdc_ref
import prdc.prdc as prdc_impl
import pytest
import torch

from evaluation.errors import (
    FeatureShapeError,
    MetricInputError,
    NonFiniteFeaturesError,
    TooFewSamplesError,
)
from evaluation.prdc import _radii_mixed, compute_prdc, knn_radii

KEYS = ("precision", "recall", "density", "coverage")


def _features(seed: int, n_real: int = 600, n_fake: int = 500, dim: int = 32):
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(n_real, dim))
    fake = rng.normal(size=(n_fake, dim)) * 1.1 + 0.25
    return real, fake


def _assert_matches(ours: dict, ref: dict) -> None:
    for key in KEYS:
        assert ours[key] == pytest.approx(float(ref[key]), abs=1e-6), key


@pytest.mark.parametrize("row_chunk,col_chunk", [(2048, 8192), (128, 200), (97, 61)])
def test_prdc_matches_reference(row_chunk: int, col_chunk: int) -> None:
    real, fake = _features(0)
    ref = prdc_ref.compute_prdc(real, fake, nearest_k=5)
    ours = compute_prdc(real, fake, 5, row_chunk=row_chunk, col_chunk=col_chunk)
    _assert_matches(ours, ref)
    assert 0 < ours["precision"] < 1 and 0 < ours["recall"] < 1  # not a degenerate case


@pytest.mark.parametrize("k", [1, 3, 5])
def test_prdc_matches_reference_k_and_unequal_sizes(k: int) -> None:
    real, fake = _features(1, n_real=300, n_fake=450, dim=16)
    ref = prdc_ref.compute_prdc(real, fake, nearest_k=k)
    _assert_matches(compute_prdc(real, fake, k, row_chunk=100, col_chunk=128), ref)


def test_prdc_with_duplicate_points() -> None:
    real, fake = _features(2, n_real=400, n_fake=400, dim=16)
    # exact duplicates inside each set (pairs and a triple: fewer than k+1 copies, so no radius
    # is a 0-vs-rounding tie between implementations)
    real[200:240] = real[0:40]
    real[240] = real[41]
    real[241] = real[41]
    fake[100:150] = fake[0:50]
    ref = prdc_ref.compute_prdc(real, fake, nearest_k=5)
    ours = compute_prdc(real, fake, 5, row_chunk=64, col_chunk=96)
    _assert_matches(ours, ref)
    # duplicates are neighbours at distance 0: radii equal the reference's too
    radii = knn_radii(real, 5, row_chunk=64).numpy()
    np.testing.assert_allclose(radii, prdc_impl.compute_nearest_neighbour_distances(real, 5),
                               rtol=1e-9, atol=1e-9)


def test_prdc_float32_torch_input_and_cached_radii() -> None:
    real, fake = _features(3, n_real=300, n_fake=300, dim=24)
    ref = prdc_ref.compute_prdc(real, fake, nearest_k=5)
    radii = knn_radii(torch.from_numpy(real), 5)
    ours = compute_prdc(torch.from_numpy(real), torch.from_numpy(fake), 5, real_radii=radii,
                        row_chunk=128, col_chunk=128)
    _assert_matches(ours, ref)
    f32 = compute_prdc(real.astype(np.float32), fake.astype(np.float32), 5,
                       dtype=torch.float32)
    for key in KEYS:  # float32 may flip a near-tie or two
        assert f32[key] == pytest.approx(float(ref[key]), abs=3 / 300)


@pytest.mark.parametrize("offset", [100.0, 300.0])
def test_prdc_default_float32_with_float64_recheck_keeps_the_reference_values(offset) -> None:
    # Far from the origin, float32 rounding of ‖x‖² + ‖y‖² − 2xy flips near-ties: the float32
    # path disagrees with prdc, the default (float32 GEMMs, near-ties re-decided) must not.
    real, fake = _features(6, n_real=600, n_fake=500, dim=64)
    real, fake = real + offset, fake + offset
    ref = prdc_ref.compute_prdc(real, fake, nearest_k=5)
    ours = compute_prdc(real, fake, 5, row_chunk=128, col_chunk=200)
    f32 = compute_prdc(real, fake, 5, dtype=torch.float32)
    for key in KEYS:
        assert ours[key] == pytest.approx(float(ref[key]), abs=1e-12), key
    assert any(abs(f32[k] - ref[k]) > 1e-12 for k in KEYS), "float32 alone should flip a tie"
    expected = prdc_impl.compute_nearest_neighbour_distances(real, 5)
    np.testing.assert_allclose(knn_radii(real, 5, row_chunk=128).numpy(), expected, rtol=1e-9)
    # No spare candidates: every row's band reaches its last one and is redone in float64.
    redone = _radii_mixed(torch.from_numpy(real), 5, 128, margin=0).numpy()
    np.testing.assert_allclose(redone, expected, rtol=1e-9)


def test_prdc_identical_sets() -> None:
    real, _ = _features(4, n_real=200, dim=8)
    ours = compute_prdc(real, real.copy(), 5, row_chunk=64, col_chunk=64)
    assert ours["precision"] == 1.0 and ours["recall"] == 1.0 and ours["coverage"] == 1.0


def test_prdc_bad_inputs() -> None:
    real, fake = _features(5, n_real=20, n_fake=20, dim=8)
    with pytest.raises(FeatureShapeError, match="fake_features"):
        compute_prdc(real, fake[:, :4])
    with pytest.raises(TooFewSamplesError, match="real_features.*k=5.*6"):
        compute_prdc(real[:5], fake)
    with pytest.raises(TooFewSamplesError, match="fake_features"):
        compute_prdc(real, fake[:3])
    bad = fake.copy()
    bad[3, 2] = np.nan
    with pytest.raises(NonFiniteFeaturesError, match="fake_features"):
        compute_prdc(real, bad)
    # One NaN or one ±inf anywhere, numpy or torch (float32 included), is caught.
    for value in (np.nan, np.inf, -np.inf):
        for row, col in ((0, 0), (19, 7), (11, 3)):
            bad = real.copy()
            bad[row, col] = value
            for features in (bad, torch.from_numpy(bad), torch.from_numpy(bad).float()):
                with pytest.raises(NonFiniteFeaturesError, match="real_features"):
                    compute_prdc(features, fake)
    with pytest.raises(FeatureShapeError, match="real_features"):
        compute_prdc(real[0], fake)
    with pytest.raises(MetricInputError, match="nearest_k"):
        compute_prdc(real, fake, 0)
    with pytest.raises(MetricInputError, match="real_radii"):
        compute_prdc(real, fake, 5, real_radii=np.ones(3))
    assert issubclass(TooFewSamplesError, ValueError)
