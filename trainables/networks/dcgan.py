"""DCGAN G/D for 28×28 and 32×32 images (Self-Conditioned GAN, Sec. 4.1, and the nets it cites).

Variants (``variant``; ``auto`` picks by shape and data set):
- ``pacgan`` (28×28): the DCGAN of PacGAN's Stacked MNIST runs (DCGAN-tensorflow, 5×5 kernels):
  G fc → 2×2×8g (BN, ReLU), three 5×5 stride-2 deconvs 4g/2g/g (BN, ReLU) to 14×14, a last
  deconv to 28×28 and tanh; D four 5×5 stride-2 convs d/2d/4d/8d (BN on all but the first,
  LeakyReLU 0.2) to 2×2, then the linear head.
- ``shallow`` (32×32): the Self-Cond authors' Stacked MNIST net (``dcgan_shallow``; their
  configs resize Stacked MNIST to 32): D four 4×4 stride-2 convs with BN and LeakyReLU 0.2.
- ``deep`` (32×32): the Self-Cond authors' CIFAR-10 net (``dcgan_deep``, SN-GAN's DCGAN without
  spectral norm): D seven convs (3×3 / 4×4 stride 2 alternating) with LeakyReLU 0.1.
  ``shallow`` and ``deep`` share G: fc → 4×4×8g (no activation, as the authors' code), three 4×4
  stride-2 deconvs 4g/2g/g (BN, ReLU), a 3×3 conv and tanh.

Conditioning (``cond``) when ``n_classes > 0``: ``embed`` (default) is the paper's — a learned
256-d class embedding, L2-normalised, concatenated to z ("the embedding layer used for
conditioning the generator outputs a 256-dimensional vector"); ``bn`` makes every BN of G
conditional instead (per-class γ, β). D is conditioned through its head: ``d_out`` columns.
Widths: ``g_ch`` (ngf) and ``d_ch`` (ndf), 64 in the papers.

This module also holds what the conv networks share: the D contract (`FeatureDiscriminator`),
conditional BN and the shape check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from trainables.data import DataBundle
from trainables.networks.base import FeatureDiscriminator

Variant = Literal["auto", "pacgan", "shallow", "deep"]
VARIANT_SIZE = {"pacgan": 28, "shallow": 32, "deep": 32}


def image_shape(
    data: DataBundle, network: str, sizes: Sequence[int], channels: Sequence[int] = (1, 3)
) -> tuple[int, int]:
    """(channels, side) of the data's square images, or a ValueError naming the network."""
    shape = tuple(data.x.shape[1:])
    ok = len(shape) == 3 and shape[1] == shape[2] and shape[0] in channels and shape[1] in sizes
    if not ok:
        hint = " (stacked_mnist: dataset option size=32 gives 32×32)" if 32 in sizes else ""
        raise ValueError(
            f"network {network}: data set {data.name} has shape {shape}; expected (C, S, S) "
            f"with C in {tuple(channels)} and S in {tuple(sizes)}{hint}"
        )
    return shape[0], shape[1]


class ConditionalBatchNorm2d(nn.Module):
    """BN whose γ, β are looked up per class; plain affine BN when n_classes == 0."""

    def __init__(self, num_features: int, n_classes: int = 0) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.bn = nn.BatchNorm2d(num_features, affine=n_classes == 0)
        if n_classes:
            # γ = 1 + Δγ: Δγ ~ N(0, 0.02), β = 0 at start (Self-Cond / BigGAN initialisation).
            self.gain = nn.Embedding(n_classes, num_features)
            self.bias = nn.Embedding(n_classes, num_features)
            nn.init.normal_(self.gain.weight, std=0.02)
            nn.init.zeros_(self.bias.weight)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        out = self.bn(x)
        if not self.n_classes:
            return out
        if c is None:
            raise ValueError("this generator is conditional: pass the condition c")
        gain = 1 + self.gain(c)[:, :, None, None]
        return gain * out + self.bias(c)[:, :, None, None]


class DCGANGenerator(nn.Module):
    def __init__(
        self, latent_dim: int, channels: int, variant: str, g_ch: int = 64, n_classes: int = 0,
        cond: Literal["embed", "bn"] = "embed", embed_dim: int = 256,
    ) -> None:
        super().__init__()
        self.n_classes, self.cond = n_classes, cond
        bn_classes = n_classes if cond == "bn" else 0
        in_dim = latent_dim
        if n_classes and cond == "embed":
            self.embed = nn.Embedding(n_classes, embed_dim)
            in_dim += embed_dim
        widths = [8 * g_ch, 4 * g_ch, 2 * g_ch, g_ch]
        pacgan = variant == "pacgan"
        self.bottom = 2 if pacgan else 4
        self.fc = nn.Linear(in_dim, widths[0] * self.bottom**2)
        # The authors' 32×32 G feeds fc straight into the first deconv; DCGAN-tensorflow uses BN.
        self.fc_norm = ConditionalBatchNorm2d(widths[0], bn_classes) if pacgan else None
        # 5×5 deconvs: 2→4→7→14 (output_padding 1, 0, 1); 4×4 ones double 4→8→16→32.
        ups = [(5, 2, 1), (5, 2, 0), (5, 2, 1)] if pacgan else [(4, 1, 0)] * 3
        self.ups = nn.ModuleList(
            nn.ConvTranspose2d(widths[i], widths[i + 1], k, 2, p, output_padding=op)
            for i, (k, p, op) in enumerate(ups)
        )
        self.norms = nn.ModuleList(ConditionalBatchNorm2d(w, bn_classes) for w in widths[1:])
        self.out = (
            nn.ConvTranspose2d(g_ch, channels, 5, 2, 2, output_padding=1)  # 14 → 28
            if pacgan else nn.Conv2d(g_ch, channels, 3, 1, 1)
        )
        if pacgan:  # DCGAN-tensorflow initialisation
            for m in self.modules():
                if isinstance(m, nn.Linear | nn.ConvTranspose2d):
                    nn.init.normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes and c is None:
            raise ValueError("this generator is conditional: pass the condition c")
        if self.n_classes and self.cond == "embed":
            z = torch.cat([z, F.normalize(self.embed(c), dim=1)], dim=1)
        h = self.fc(z).view(z.size(0), -1, self.bottom, self.bottom)
        if self.fc_norm is not None:
            h = F.relu(self.fc_norm(h, c))
        for up, norm in zip(self.ups, self.norms, strict=True):
            h = F.relu(norm(up(h), c))
        return torch.tanh(self.out(h))


def _conv_block(
    cin: int, cout: int, k: int, s: int, p: int, bn: bool, slope: float
) -> list[nn.Module]:
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, s, p)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    return layers + [nn.LeakyReLU(slope)]


class DCGANDiscriminator(FeatureDiscriminator):
    """features = the last conv layer's activations, flattened (Self-Cond's "penultimate")."""

    def __init__(self, channels: int, variant: str, d_ch: int = 64, d_out: int = 1) -> None:
        super().__init__()
        d = d_ch
        layers: list[nn.Module] = []
        if variant == "pacgan":
            for i, (a, b) in enumerate([(channels, d), (d, 2 * d), (2 * d, 4 * d), (4 * d, 8 * d)]):
                layers += _conv_block(a, b, 5, 2, 2, bn=i > 0, slope=0.2)
        elif variant == "shallow":
            for a, b in [(channels, d), (d, 2 * d), (2 * d, 4 * d), (4 * d, 8 * d)]:
                layers += _conv_block(a, b, 4, 2, 1, bn=True, slope=0.2)
        else:  # deep
            specs = [(channels, d, 3, 1, 1), (d, d, 4, 2, 1), (d, 2 * d, 3, 1, 1),
                     (2 * d, 2 * d, 4, 2, 1), (2 * d, 4 * d, 3, 1, 1), (4 * d, 4 * d, 4, 2, 1),
                     (4 * d, 8 * d, 3, 1, 1)]
            for a, b, k, s, p in specs:
                layers += _conv_block(a, b, k, s, p, bn=False, slope=0.1)
        self.body = nn.Sequential(*layers)
        if variant == "pacgan":
            for m in self.body.modules():
                if isinstance(m, nn.Conv2d):
                    nn.init.normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)
        # Last map: 28→14→7→4→2 (pacgan), 32→16→8→4→2 (shallow), 32→16→8→4 (deep).
        side = {"pacgan": 2, "shallow": 2, "deep": 4}[variant]
        self.head = nn.Linear(8 * d * side * side, d_out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)


def pick_variant(data: DataBundle, size: int, variant: Variant) -> str:
    if variant == "auto":
        if size == 28:
            return "pacgan"
        return "shallow" if data.name.startswith("stacked_mnist") else "deep"
    if variant not in VARIANT_SIZE:
        raise ValueError(f"network dcgan: variant {variant!r} is not one of "
                         f"{['auto', *VARIANT_SIZE]}")
    if VARIANT_SIZE[variant] != size:
        raise ValueError(
            f"network dcgan: variant {variant!r} is for {VARIANT_SIZE[variant]}×"
            f"{VARIANT_SIZE[variant]} images, data set {data.name} has shape "
            f"{tuple(data.x.shape[1:])}"
        )
    return variant


def build(
    data: DataBundle, latent_dim: int, n_classes: int = 0, d_out: int = 1, *,
    variant: Variant = "auto", g_ch: int = 64, d_ch: int = 64,
    cond: Literal["embed", "bn"] = "embed", embed_dim: int = 256,
) -> tuple[DCGANGenerator, DCGANDiscriminator]:
    channels, size = image_shape(data, "dcgan", sizes=(28, 32))
    if cond not in ("embed", "bn"):
        raise ValueError(f"network dcgan: cond must be 'embed' or 'bn', got {cond!r}")
    v = pick_variant(data, size, variant)
    g = DCGANGenerator(latent_dim, channels, v, g_ch, n_classes, cond, embed_dim)
    return g, DCGANDiscriminator(channels, v, d_ch, d_out)
