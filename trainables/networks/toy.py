"""The PacGAN / Self-Conditioned GAN toy networks for 2D (and low-dimensional) mixtures.

G: 4 × (FC 400 + BN + ReLU) then a linear map to data space. D: 3 maxout layers (200 units,
pool size 5) then a linear output. Conditioning follows the Self-Cond paper: G gets the one-hot
condition concatenated to z (an FC layer before the input layer), D gets k outputs instead of one.
`condition="embedding"` is the authors' 2d_mix G instead: a learned 32-d embedding of c,
scaled to unit length, concatenated to z.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainables.data import DataBundle
from trainables.networks.base import FeatureDiscriminator


class ToyGenerator(nn.Module):
    def __init__(
        self, latent_dim: int, out_dim: int = 2, hidden: int = 400, layers: int = 4,
        n_classes: int = 0, condition: str = "onehot", embed_dim: int = 32,
    ) -> None:
        super().__init__()
        if condition not in ("onehot", "embedding"):
            raise ValueError(f"condition: expected 'onehot' or 'embedding', got {condition!r}")
        self.n_classes = n_classes
        self.embed = nn.Embedding(n_classes, embed_dim) if (
            n_classes and condition == "embedding") else None
        blocks: list[nn.Module] = []
        width = latent_dim + (embed_dim if self.embed is not None else n_classes)
        for _ in range(layers):
            blocks += [nn.Linear(width, hidden), nn.BatchNorm1d(hidden), nn.ReLU()]
            width = hidden
        blocks.append(nn.Linear(width, out_dim))
        self.net = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            if c is None:
                raise ValueError("this generator is conditional: pass the condition c")
            if self.embed is not None:
                e = self.embed(c)
                z = torch.cat([z, e / e.norm(dim=1, keepdim=True)], dim=1)
            else:
                z = torch.cat([z, F.one_hot(c, self.n_classes).to(z.dtype)], dim=1)
        return self.net(z)


class Maxout(nn.Module):
    def __init__(self, in_dim: int, out_dim: int, pieces: int) -> None:
        super().__init__()
        self.out_dim, self.pieces = out_dim, pieces
        self.linear = nn.Linear(in_dim, out_dim * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # max (with indices) rather than amax: amax's backward counts ties, ~15% slower here.
        return self.linear(x).view(-1, self.out_dim, self.pieces).max(dim=2).values


class ToyDiscriminator(FeatureDiscriminator):
    def __init__(
        self, in_dim: int = 2, hidden: int = 200, pieces: int = 5, layers: int = 3, n_out: int = 1
    ) -> None:
        super().__init__()
        dims = [in_dim] + [hidden] * layers
        pairs = zip(dims[:-1], dims[1:], strict=True)
        self.body = nn.Sequential(*(Maxout(a, b, pieces) for a, b in pairs))
        self.head = nn.Linear(hidden, n_out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Last hidden layer: the feature space Self-Cond clusters in."""
        return self.body(x)


def build(
    data: DataBundle, latent_dim: int, n_classes: int = 0, d_out: int = 1,
    condition: str = "onehot",
) -> tuple[ToyGenerator, ToyDiscriminator]:
    if data.x.dim() != 2:
        shape = tuple(data.x.shape[1:])
        raise ValueError(f"network toy_mlp needs vector data, {data.name} has {shape}")
    dim = data.x.shape[1]
    g = ToyGenerator(latent_dim, dim, n_classes=n_classes, condition=condition)
    return g, ToyDiscriminator(dim, n_out=d_out)
