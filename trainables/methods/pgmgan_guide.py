"""PGMGAN's guide R_i and the schedules of its weight λ(t), as pure functions.

Guide (Eq. 6–7): R_i(x) = Σ_c (f_c(x) − f_i(x))_+ on the partitioner's logits f; it is zero
exactly when f_i is a maximum (x lies in partition A_i) and grows with the logit margin of the
other partitions. The authors' code averages over c instead of summing (`reduce="mean"`), which
divides λ by k.

λ(t): the paper anneals linearly from 6.0 to 1e-4; the authors' code does
λ = max(1e-4, 6 − 1.2e-4·t) with t the G step, i.e. length 50 000 steps. Sweeps vary the shape.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch.nn import functional as F

Reduce = Literal["sum", "mean"]
Schedule = Literal["constant", "linear", "cosine", "exponential"]
SCHEDULES: tuple[str, ...] = ("constant", "linear", "cosine", "exponential")


def guide(logits: torch.Tensor, i: torch.Tensor | int, reduce: Reduce = "sum") -> torch.Tensor:
    """R_i per sample: logits (n, k), i the partition of each row (n,) or one int; returns (n,)."""
    if logits.dim() != 2:
        raise ValueError(f"logits: expected shape (n, k), got {tuple(logits.shape)}")
    if isinstance(i, int):
        i = torch.full((logits.shape[0],), i, dtype=torch.long, device=logits.device)
    own = logits.gather(1, i.view(-1, 1).long())
    margins = F.relu(logits - own)  # the c = i term is exactly 0
    if reduce == "sum":
        return margins.sum(dim=1)
    if reduce == "mean":
        return margins.mean(dim=1)
    raise ValueError(f"guide_reduce: expected sum or mean, got {reduce!r}")


def in_partition(logits: torch.Tensor, i: torch.Tensor) -> torch.Tensor:
    """R_i(x) == 0, i.e. f_i is a maximum (ties count as inside, as in Eq. 7's ≥)."""
    own = logits.gather(1, i.view(-1, 1).long())
    return (logits <= own).all(dim=1)


def lam(step: int, kind: str, start: float, end: float, length: int) -> float:
    """λ at G step `step`: `start` at 0, `end` from `length` on (every kind but constant)."""
    if length < 1:
        raise ValueError(f"lambda_length: expected at least 1 step, got {length}")
    if kind == "constant":
        return float(start)
    frac = min(max(step, 0) / length, 1.0)
    if kind == "linear":
        value = start + (end - start) * frac
    elif kind == "cosine":
        value = end + (start - end) * 0.5 * (1 + math.cos(math.pi * frac))
    elif kind == "exponential":
        if start == end:
            return float(start)
        if start <= 0 or end <= 0:
            raise ValueError(
                f"lambda_schedule exponential: start and end must be > 0, got {start}, {end}"
            )
        value = start * (end / start) ** frac
    else:
        raise ValueError(f"lambda_schedule: expected one of {SCHEDULES}, got {kind!r}")
    return float(end) if frac >= 1.0 else float(value)
