from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from torch_fidelity.metric_fid import fid_statistics_to_metric
from torchmetrics.image.fid import _compute_fid

from evaluation.errors import (
    FeatureShapeError,
    NonFiniteFeaturesError,
    RankDeficientWarning,
    TooFewSamplesError,
)
from evaluation.fid import FeatureStats, fid_from_features, fid_from_stats, frechet_distance


def _sets(seed: int = 0, n: int = 800, dim: int = 48):
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    real = rng.normal(size=(n, dim)) @ mix
    fake = rng.normal(size=(n - n // 8, dim)) @ (mix + 0.1 * np.eye(dim)) + 0.2
    return real, fake


def test_feature_stats_equal_numpy_and_merge() -> None:
    real, _ = _sets()
    st = FeatureStats()
    for i in range(0, real.shape[0], 77):  # uneven batches, numpy and torch mixed
        batch = real[i:i + 77]
        st.update(torch.from_numpy(batch) if (i // 77) % 2 else batch)
    np.testing.assert_allclose(st.mean, real.mean(axis=0), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(st.sigma, np.cov(real, rowvar=False), rtol=1e-10, atol=1e-12)
    assert st.n == real.shape[0]
    a = FeatureStats.from_features(real[:333])
    b = FeatureStats.from_features(real[333:])
    a.merge(b)
    np.testing.assert_allclose(a.mean, st.mean, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a.sigma, st.sigma, rtol=1e-10, atol=1e-12)
    assert a.n == st.n
    a.merge(FeatureStats())  # merging an empty accumulator is a no-op
    assert a.n == st.n


def test_feature_stats_save_load(tmp_path) -> None:
    real, _ = _sets(n=200, dim=8)
    st = FeatureStats.from_features(real)
    st.save(tmp_path / "s.npz")
    back = FeatureStats.load(tmp_path / "s.npz")
    assert back.n == st.n and back.dim == 8
    np.testing.assert_array_equal(back.sigma, st.sigma)
    back.update(real[:10])  # still mergeable after loading
    assert back.n == 210


def test_fid_matches_torchmetrics_and_torch_fidelity() -> None:
    real, fake = _sets()
    s1, s2 = FeatureStats.from_features(real), FeatureStats.from_features(fake)
    ours = fid_from_stats(s1, s2)
    tm = _compute_fid(*(torch.from_numpy(a) for a in (s1.mean, s1.sigma, s2.mean, s2.sigma)))
    tf = fid_statistics_to_metric({"mu": s1.mean, "sigma": s1.sigma},
                                  {"mu": s2.mean, "sigma": s2.sigma}, verbose=False)
    assert ours["fid"] == pytest.approx(float(tm), rel=1e-6)
    assert ours["fid"] == pytest.approx(tf["frechet_inception_distance"], rel=1e-6)
    # and the classical sqrtm formula (pytorch-fid) agrees
    covmean = scipy.linalg.sqrtm(s1.sigma @ s2.sigma).real
    d = s1.mean - s2.mean
    classic = d @ d + np.trace(s1.sigma) + np.trace(s2.sigma) - 2 * np.trace(covmean)
    assert ours["fid"] == pytest.approx(classic, rel=1e-6)
    assert ours["fid_rank_deficient"] is False and ours["n_real"] == 800 and ours["n_fake"] == 700
    assert fid_from_features(real, fake)["fid"] == pytest.approx(ours["fid"], rel=1e-12)


def test_fid_2048_closed_form() -> None:
    d = 2048
    eye = np.eye(d)
    assert frechet_distance(np.zeros(d), eye, np.ones(d), eye) == pytest.approx(2048.0, rel=1e-9)
    assert frechet_distance(np.zeros(3), eye[:3, :3], np.zeros(3), eye[:3, :3]) == pytest.approx(
        0.0, abs=1e-12)
    # general (eigvals) path: equal SPD covariances, unit mean shift → FID = d
    rng = np.random.default_rng(1)
    m = rng.normal(size=(256, 256))
    spd = m @ m.T / 256 + 0.1 * np.eye(256)
    assert frechet_distance(np.zeros(256), spd, np.ones(256), spd) == pytest.approx(256, rel=1e-6)
    # identical non-trivial statistics give 0 (clipping of tiny negative eigenvalues)
    rng = np.random.default_rng(0)
    a = rng.normal(size=(30, 40))
    sig = np.cov(a, rowvar=False)  # rank-deficient, has ~0 eigenvalues
    assert abs(frechet_distance(a.mean(0), sig, a.mean(0), sig)) < 1e-5


def test_fid_rank_deficient_warns_and_flags() -> None:
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(20, 32)), rng.normal(size=(40, 32))
    with pytest.warns(RankDeficientWarning, match="rank-deficient"):
        out = fid_from_features(real, fake)
    assert out["fid_rank_deficient"] is True and np.isfinite(out["fid"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert fid_from_features(rng.normal(size=(40, 8)), fake[:, :8])["fid_rank_deficient"] \
            is False


def test_fid_bad_inputs() -> None:
    real, fake = _sets(n=50, dim=4)
    with pytest.raises(FeatureShapeError, match="real has 4 .* fake has 3"):
        fid_from_features(real, fake[:, :3])
    bad = real.copy()
    bad[0, 0] = np.inf
    with pytest.raises(NonFiniteFeaturesError, match="real"):
        fid_from_features(bad, fake)
    with pytest.raises(TooFewSamplesError, match="fake"):
        fid_from_features(real, fake[:1])
    with pytest.raises(FeatureShapeError, match="sigma2"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(FeatureShapeError, match="batch"):
        FeatureStats(dim=4).update(np.zeros((3, 5)))
    with pytest.raises(TooFewSamplesError):
        _ = FeatureStats().sigma
