from __future__ import annotations

import numpy as np

from evaluation.fid import FeatureStats
from evaluation.stats_cache import StatsCache, stats_key


def test_cache_roundtrip_and_keys(tmp_path) -> None:
    cache = StatsCache(tmp_path)
    feats = np.random.default_rng(0).normal(size=(50, 4))
    calls = []

    def compute() -> FeatureStats:
        calls.append(1)
        return FeatureStats.from_features(feats)

    a = cache.get_or_compute(compute, "mnist", "train", "classifier:mnist", "abc", 50)
    b = cache.get_or_compute(compute, "mnist", "train", "classifier:mnist", "abc", 50)
    assert len(calls) == 1
    np.testing.assert_array_equal(a.sigma, b.sigma)
    # a different weights hash or n is a different entry
    cache.get_or_compute(compute, "mnist", "train", "classifier:mnist", "def", 50)
    assert len(calls) == 2
    assert stats_key("m", "s", "e", "h", 1) != stats_key("m", "s", "e", "h", 2)
    # extra arrays (e.g. PR/DC radii) and no temporary files left behind
    cache.save(a, "mnist", "test", "raw", None, None, extra={"radii_k5": np.arange(3.0)})
    st, extra = cache.load("mnist", "test", "raw", None, None)
    assert st.n == 50 and extra["radii_k5"].tolist() == [0.0, 1.0, 2.0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    assert cache.load("cifar10", "test", "raw", None, None) is None
