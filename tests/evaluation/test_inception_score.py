from __future__ import annotations

import numpy as np
import pytest
import torch
from torch_fidelity.metric_isc import isc_features_to_metric

from evaluation.errors import MetricInputError, NonFiniteFeaturesError, TooFewSamplesError
from evaluation.inception_score import inception_score


def test_is_matches_torch_fidelity() -> None:
    logits = torch.from_numpy(np.random.default_rng(0).normal(size=(1000, 50)) * 3)
    ref = isc_features_to_metric(logits, splits=10, shuffle=True, rng_seed=2020)
    mean, std = inception_score(logits)
    assert mean == pytest.approx(ref["inception_score_mean"], rel=1e-10)
    assert std == pytest.approx(ref["inception_score_std"], rel=1e-8)
    ref1 = isc_features_to_metric(logits, splits=1, shuffle=False)
    assert inception_score(logits, splits=1, seed=None)[0] == pytest.approx(
        ref1["inception_score_mean"], rel=1e-10)


def test_is_from_probs_known_values() -> None:
    # one-hot predictions spread evenly over C classes → IS = C; identical rows → IS = 1
    c = 10
    probs = np.eye(c)[np.arange(200) % c]
    assert inception_score(probs, splits=1, seed=None, kind="probs")[0] == pytest.approx(c)
    same = np.full((100, c), 1.0 / c)
    mean, std = inception_score(same, splits=10, kind="probs")
    assert mean == pytest.approx(1.0) and std == pytest.approx(0.0, abs=1e-12)


def test_is_bad_inputs() -> None:
    with pytest.raises(TooFewSamplesError, match="splits"):
        inception_score(np.zeros((5, 3)), splits=10)
    with pytest.raises(NonFiniteFeaturesError):
        inception_score(np.full((20, 3), np.nan))
    with pytest.raises(MetricInputError, match="simplex"):
        inception_score(np.ones((20, 3)), kind="probs")
