"""KID: torch-fidelity's computation, its kernel convention, and input checks."""

from __future__ import annotations

import pytest
import torch

from evaluation.errors import MetricInputError
from evaluation.kid import kid


def features(n: int, d: int, seed: int, shift: float = 0.0) -> torch.Tensor:
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed)) + shift


def test_kid_equals_torch_fidelitys_on_seeded_features():
    from torch_fidelity.metric_kid import kid_features_to_metric

    real, fake = features(300, 16, 0), features(250, 16, 1, 0.3)
    ours = kid(real, fake, subsets=20, subset_size=100)
    theirs = kid_features_to_metric(fake, real, kid_subsets=20, kid_subset_size=100,
                                    verbose=False)
    assert ours["kid_mean"] == theirs["kernel_inception_distance_mean"]
    assert ours["kid_std"] == theirs["kernel_inception_distance_std"]


def test_kid_is_the_unbiased_mmd2_of_the_cubic_kernel():
    """With one subset of every row, KID is the whole sets' unbiased MMD² (order-free)."""
    real, fake = features(60, 8, 2).double(), features(60, 8, 3, 0.5).double()

    def k(a, b):
        return (a @ b.T / a.shape[1] + 1) ** 3

    m = len(real)
    kxx, kyy, kxy = k(real, real), k(fake, fake), k(real, fake)
    expected = ((kxx.sum() - kxx.trace()) + (kyy.sum() - kyy.trace())) / (m * (m - 1)) \
        - 2 * kxy.sum() / m**2
    got = kid(real.float(), fake.float(), subsets=1, subset_size=m)
    assert got["kid_mean"] == pytest.approx(float(expected), rel=1e-4)


def test_kid_orders_near_and_far_distributions_and_shrinks_the_subset():
    real = features(400, 8, 4)
    near, far = kid(real, features(400, 8, 5)), kid(real, features(400, 8, 6, 1.0))
    assert abs(near["kid_mean"]) < far["kid_mean"]
    assert near["kid_subset_size"] == 400  # fewer rows than 1000: every row, recorded


@pytest.mark.parametrize(("real", "fake", "match"), [
    (torch.zeros(5, 3), torch.zeros(5, 4), "feature dimensions differ"),
    (torch.zeros(1, 3), torch.zeros(5, 3), "at least 2 rows"),
    (torch.full((4, 3), float("nan")), torch.zeros(5, 3), "NaN"),
    (torch.zeros(5), torch.zeros(5, 3), r"\(N, D\) tensor"),
])
def test_kid_refuses_bad_inputs(real, fake, match):
    with pytest.raises(MetricInputError, match=match):
        kid(real, fake)
