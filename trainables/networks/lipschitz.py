"""Invertible-ResNet blocks for the PGMGAN partitioner: x + ψ(x) with Lip(ψ) < 1.

PGMGAN (Sec. 4.2, Theorem 3): if the feature map φ before the partitioner's linear head satisfies
c0‖x − y‖ ≤ ‖φ(x) − φ(y)‖, the guide R_i has no local optima outside partition i. A residual
block B(x) = x + ψ(x) whose ψ is a chain of m linear maps with spectral norm ≤ L < 1 and
1-Lipschitz activations gives (1 − L^m)‖x − y‖ ≤ ‖B(x) − B(y)‖ (Behrmann et al. 2019, i-ResNet).
The width stays the input's dimension throughout (no padding: the theorem needs φ: R^d → R^d).

Spectral norms here are exact (the largest singular value, `torch.linalg.matrix_norm(ord=2)`)
rather than a power-iteration estimate, so the bound holds at every step; the matrices of the
toy partitioner are small. The weight is rescaled only when its norm exceeds the coefficient
(i-ResNet's `min(1, c / σ)`), so the layer can still use norms below c.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def spectral_norm_exact(w: torch.Tensor) -> torch.Tensor:
    """Largest singular value (differentiable); cheap for the toy blocks' d×h matrices."""
    return torch.linalg.matrix_norm(w, ord=2)


class ScaledSNLinear(nn.Module):
    """Linear layer whose effective weight has spectral norm ≤ `coeff`."""

    def __init__(self, in_dim: int, out_dim: int, coeff: float = 0.9) -> None:
        super().__init__()
        if not 0 < coeff < 1:
            raise ValueError(f"coeff: expected a Lipschitz coefficient in (0, 1), got {coeff}")
        self.coeff = coeff
        self.linear = nn.Linear(in_dim, out_dim)

    def weight(self) -> torch.Tensor:
        w = self.linear.weight
        sigma = spectral_norm_exact(w)
        # Slightly inside the bound so float rounding of the division cannot land above it.
        scale = torch.clamp(self.coeff * (1 - 1e-6) / sigma.clamp_min(1e-12), max=1.0)
        return w * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight(), self.linear.bias)


class LipschitzResBlock(nn.Module):
    """x + ψ(x), ψ = SN-linear → act → … → SN-linear (m = `layers` linear maps)."""

    def __init__(
        self, dim: int, hidden: int = 64, layers: int = 2, coeff: float = 0.9,
        activation: str = "elu", out_init: float = 1.0,
    ) -> None:
        super().__init__()
        if layers < 1:
            raise ValueError(f"layers: expected at least 1 linear map per block, got {layers}")
        if activation not in ("elu", "leaky_relu"):
            raise ValueError(f"activation: expected elu or leaky_relu, got {activation!r}")
        dims = [dim] + [hidden] * (layers - 1) + [dim]
        self.linears = nn.ModuleList(
            ScaledSNLinear(a, b, coeff) for a, b in zip(dims[:-1], dims[1:], strict=True)
        )
        # out_init < 1 starts the block near the identity, so a head fitted to k-means centres
        # starts from the k-means partition (used by the partitioner's kmeans init).
        with torch.no_grad():
            self.linears[-1].linear.weight.mul_(out_init)
            self.linears[-1].linear.bias.mul_(out_init)
        # Both are 1-Lipschitz; ELU is also C^1, which Theorem 3 assumes.
        self.act: nn.Module = nn.ELU() if activation == "elu" else nn.LeakyReLU(0.2)
        self.coeff = coeff

    def lipschitz_bound(self) -> float:
        """Upper bound on Lip(ψ): the product of the layers' exact spectral norms."""
        bound = 1.0
        with torch.no_grad():
            for lin in self.linears:
                bound *= float(spectral_norm_exact(lin.weight()))
        return bound

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x
        for j, lin in enumerate(self.linears):
            h = lin(h)
            if j < len(self.linears) - 1:
                h = self.act(h)
        return x + h


class LipschitzResNet(nn.Module):
    """φ = B_n ∘ … ∘ B_1 (bi-Lipschitz, invertible) followed by an unconstrained linear head."""

    def __init__(
        self, dim: int, n_out: int, blocks: int = 4, hidden: int = 64, layers: int = 2,
        coeff: float = 0.9, activation: str = "elu", out_init: float = 1.0,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            LipschitzResBlock(dim, hidden, layers, coeff, activation, out_init)
            for _ in range(blocks)
        )
        self.head = nn.Linear(dim, n_out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
