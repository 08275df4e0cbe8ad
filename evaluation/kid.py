"""Kernel Inception Distance (Bińkowski et al. 2018) as torch-fidelity computes it.

The unbiased MMD² with the cubic polynomial kernel k(x, y) = (x·y / d + 1)³, averaged over
`subsets` random subsets of `subset_size` rows drawn from each side without replacement by
``np.random.RandomState(seed)`` (torch-fidelity's defaults: 100 subsets of 1000, seed 2020).
The computation is torch-fidelity's own `kid_features_to_metric`; this module checks the inputs,
shrinks the subset to the smaller side when there are fewer rows than `subset_size` (recorded
in the result), and names the outputs as the project logs them.
"""

from __future__ import annotations

import torch

from evaluation.errors import MetricInputError, all_finite

KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000
KID_SEED = 2020  # torch-fidelity's default rng_seed


def kid(real: torch.Tensor, fake: torch.Tensor, subsets: int = KID_SUBSETS,
        subset_size: int = KID_SUBSET_SIZE, seed: int = KID_SEED) -> dict[str, float]:
    """{'kid_mean', 'kid_std', 'kid_subset_size'} of two (N, D) feature sets."""
    from torch_fidelity.metric_kid import (
        KEY_METRIC_KID_MEAN,
        KEY_METRIC_KID_STD,
        kid_features_to_metric,
    )

    for name, x in (("real", real), ("fake", fake)):
        if not isinstance(x, torch.Tensor) or x.ndim != 2:
            raise MetricInputError(f"kid: {name} features must be an (N, D) tensor")
        if not all_finite(x):
            raise MetricInputError(f"kid: {name} features contain NaN or inf values")
    if real.shape[1] != fake.shape[1]:
        raise MetricInputError(f"kid: feature dimensions differ ({real.shape[1]} vs "
                               f"{fake.shape[1]})")
    size = min(subset_size, len(real), len(fake))
    if size < 2:
        raise MetricInputError(f"kid: needs at least 2 rows on each side, got {len(real)} real "
                               f"and {len(fake)} fake")
    # generated first, as torch-fidelity's calculate_metrics(input1=generated, input2=real)
    out = kid_features_to_metric(fake.float().cpu(), real.float().cpu(), kid_subsets=subsets,
                                 kid_subset_size=size, kid_kernel="poly",
                                 kid_kernel_poly_degree=3, kid_kernel_poly_gamma=None,
                                 kid_kernel_poly_coef0=1, rng_seed=seed, verbose=False)
    return {"kid_mean": out[KEY_METRIC_KID_MEAN], "kid_std": out[KEY_METRIC_KID_STD],
            "kid_subset_size": float(size)}
