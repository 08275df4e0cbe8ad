"""Inception Score (Salimans et al. 2016): exp(E_x KL(p(y|x) ‖ p(y))), mean ± std over splits.

Reference: torch-fidelity ``metric_isc.isc_features_to_metric`` (shuffle with
``np.random.RandomState(seed).permutation``, float64, split i = rows ``[i·N//s, (i+1)·N//s)``,
population std ``np.std``). Same defaults: 10 splits, seed 2020. Metric names: ``is_mean``,
``is_std``. TF-exact Inception logits exclude the fc bias (torch-fidelity's ``logits_unbiased``).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch

from evaluation.errors import MetricInputError, TooFewSamplesError, check_features

__all__ = ["inception_score"]


def inception_score(probs_or_logits: np.ndarray | torch.Tensor, splits: int = 10,
                    seed: int | None = 2020,
                    kind: Literal["logits", "probs"] = "logits") -> tuple[float, float]:
    """Return ``(is_mean, is_std)`` from (N, C) class logits (default) or probabilities.

    ``seed=None`` disables the shuffle before splitting.
    """
    check_features(probs_or_logits, "probs_or_logits")
    x = torch.as_tensor(probs_or_logits).detach().cpu().to(torch.float64)
    n = x.shape[0]
    if not isinstance(splits, (int, np.integer)) or splits < 1:
        raise MetricInputError(f"splits: expected a positive integer, got {splits!r}")
    if n < splits:
        raise TooFewSamplesError(f"probs_or_logits: {splits} splits need ≥ {splits} rows, got {n}")
    if seed is not None:
        x = x[np.random.RandomState(seed).permutation(n), :]
    if kind == "logits":
        p, log_p = x.softmax(dim=1), x.log_softmax(dim=1)
    elif kind == "probs":
        if (x < 0).any() or not torch.allclose(x.sum(dim=1), torch.ones(n, dtype=x.dtype),
                                               atol=1e-4):
            raise MetricInputError("probs_or_logits: kind='probs' expects rows on the simplex")
        p, log_p = x, torch.log(x)
    else:
        raise MetricInputError(f"kind: expected 'logits' or 'probs', got {kind!r}")
    scores = []
    for i in range(splits):
        sl = slice(i * n // splits, (i + 1) * n // splits)
        pc, lpc = p[sl], log_p[sl]
        q = pc.mean(dim=0, keepdim=True)
        kl = torch.where(pc > 0, pc * (lpc - q.log()), torch.zeros_like(pc))
        scores.append(kl.sum(dim=1).mean().exp().item())
    return float(np.mean(scores)), float(np.std(scores))
