"""The WGAN-GP conv nets of the latent-geometry / simplicial-cluster paper (App. B.1).

MNIST (Table 4, ``build_mnist``), g = 16, d = 512 by default (``g_ch``, ``d_ch``):
  G z → FC 7×7×8g → conv3 4g, conv3 4g → up → conv3 2g, conv3 2g → up → conv3 g → conv3 C, tanh
    (LeakyReLU 0.2 after every conv but the last; no normalisation; the table lists no activation
    after the FC layer, so none is applied);
  D conv4 s2 d → conv3 d → conv4 s2 d → conv3 d (LeakyReLU 0.2) → FC; features = the flattened
    7×7×d map.
CIFAR (Table 5, ``build_resnet32``), g = 128, d = 256:
  G z → FC 4×4×g → [ResBlock g, nearest up] × 3 → ReLU, conv3 3, tanh. The blocks' BN is
    self-modulated (Chen et al. 2018b): γ(z) = 1 + MLP(z), β(z) = MLP(z), a one-hidden-layer MLP
    of ``sm_hidden`` = 32 units per BN layer;
  D ResBlock d, avgpool, ResBlock d, avgpool, ResBlock d, ResBlock d → ReLU, mean spatial pooling
    → FC; features = the pooled d-vector.
No normalisation in either D: the gradient penalty is per sample, which batch statistics break.

Conditioning when ``n_classes > 0`` (the paper trains unconditional nets): the one-hot class is
concatenated to z for the MNIST G, and to the self-modulation input for the ResNet G.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainables.data import DataBundle
from trainables.networks.base import FeatureDiscriminator
from trainables.networks.dcgan import image_shape


def _with_class(
    z: torch.Tensor, c: torch.Tensor | None, n_classes: int
) -> torch.Tensor:
    if not n_classes:
        return z
    if c is None:
        raise ValueError("this generator is conditional: pass the condition c")
    return torch.cat([z, F.one_hot(c, n_classes).to(z.dtype)], dim=1)


# ---- MNIST (Table 4) ---------------------------------------------------------------------------


class MnistGenerator(nn.Module):
    def __init__(self, latent_dim: int, channels: int = 1, g_ch: int = 16, n_classes: int = 0):
        super().__init__()
        self.n_classes = n_classes
        g = g_ch
        self.fc = nn.Linear(latent_dim + n_classes, 7 * 7 * 8 * g)
        act = nn.LeakyReLU(0.2)
        self.body = nn.Sequential(
            nn.Conv2d(8 * g, 4 * g, 3, 1, 1), act, nn.Conv2d(4 * g, 4 * g, 3, 1, 1), act,
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(4 * g, 2 * g, 3, 1, 1), act, nn.Conv2d(2 * g, 2 * g, 3, 1, 1), act,
            nn.Upsample(scale_factor=2, mode="nearest"),
            nn.Conv2d(2 * g, g, 3, 1, 1), act, nn.Conv2d(g, channels, 3, 1, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = self.fc(_with_class(z, c, self.n_classes))
        return self.body(h.view(z.size(0), -1, 7, 7))


class MnistDiscriminator(FeatureDiscriminator):
    def __init__(self, channels: int = 1, d_ch: int = 512, d_out: int = 1) -> None:
        super().__init__()
        d, act = d_ch, nn.LeakyReLU(0.2)
        self.body = nn.Sequential(
            nn.Conv2d(channels, d, 4, 2, 1), act, nn.Conv2d(d, d, 3, 1, 1), act,
            nn.Conv2d(d, d, 4, 2, 1), act, nn.Conv2d(d, d, 3, 1, 1), act,
        )
        self.head = nn.Linear(7 * 7 * d, d_out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).flatten(1)


def build_mnist(
    data: DataBundle, latent_dim: int, n_classes: int = 0, d_out: int = 1, *,
    g_ch: int = 16, d_ch: int = 512,
) -> tuple[MnistGenerator, MnistDiscriminator]:
    channels, _ = image_shape(data, "wgan_conv_mnist", sizes=(28,))
    return (MnistGenerator(latent_dim, channels, g_ch, n_classes),
            MnistDiscriminator(channels, d_ch, d_out))


# ---- CIFAR ResNet (Table 5) --------------------------------------------------------------------


class SelfModulatedBatchNorm2d(nn.Module):
    """BN without its own affine; γ(s) = 1 + MLP(s), β(s) = MLP(s) for a conditioning vector s."""

    def __init__(self, num_features: int, cond_dim: int, hidden: int = 32) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(num_features, affine=False)
        self.mlp = nn.Sequential(
            nn.Linear(cond_dim, hidden), nn.ReLU(), nn.Linear(hidden, 2 * num_features)
        )

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.mlp(s)[:, :, None, None].chunk(2, dim=1)
        return (1 + gamma) * self.bn(x) + beta


class SMResBlock(nn.Module):
    """x + conv3(ReLU(SM-BN(conv3(ReLU(SM-BN(x)))))), constant width."""

    def __init__(self, ch: int, cond_dim: int, hidden: int) -> None:
        super().__init__()
        self.bn1 = SelfModulatedBatchNorm2d(ch, cond_dim, hidden)
        self.conv1 = nn.Conv2d(ch, ch, 3, 1, 1)
        self.bn2 = SelfModulatedBatchNorm2d(ch, cond_dim, hidden)
        self.conv2 = nn.Conv2d(ch, ch, 3, 1, 1)

    def forward(self, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
        h = self.conv1(F.relu(self.bn1(x, s)))
        return x + self.conv2(F.relu(self.bn2(h, s)))


class ResNetGenerator(nn.Module):
    def __init__(
        self, latent_dim: int, channels: int = 3, g_ch: int = 128, n_classes: int = 0,
        sm_hidden: int = 32,
    ) -> None:
        super().__init__()
        self.n_classes, self.g_ch = n_classes, g_ch
        self.fc = nn.Linear(latent_dim, 4 * 4 * g_ch)
        cond_dim = latent_dim + n_classes
        self.blocks = nn.ModuleList(SMResBlock(g_ch, cond_dim, sm_hidden) for _ in range(3))
        self.conv_out = nn.Conv2d(g_ch, channels, 3, 1, 1)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        s = _with_class(z, c, self.n_classes)
        h = self.fc(z).view(z.size(0), self.g_ch, 4, 4)
        for block in self.blocks:  # 4 → 8 → 16 → 32
            h = F.interpolate(block(h, s), scale_factor=2, mode="nearest")
        return torch.tanh(self.conv_out(F.relu(h)))


class ResBlockD(nn.Module):
    """(ReLU)-conv3-ReLU-conv3 plus a 1×1 conv shortcut when the width changes; the first block
    sees the image itself, so it has no pre-activation."""

    def __init__(self, cin: int, cout: int, first: bool = False) -> None:
        super().__init__()
        self.first = first
        self.conv1 = nn.Conv2d(cin, cout, 3, 1, 1)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)
        self.shortcut = nn.Conv2d(cin, cout, 1, 1, 0) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        return self.shortcut(x) + self.conv2(F.relu(self.conv1(h)))


class ResNetDiscriminator(FeatureDiscriminator):
    def __init__(self, channels: int = 3, d_ch: int = 256, d_out: int = 1) -> None:
        super().__init__()
        d = d_ch
        self.body = nn.Sequential(
            ResBlockD(channels, d, first=True), nn.AvgPool2d(2),
            ResBlockD(d, d), nn.AvgPool2d(2), ResBlockD(d, d), ResBlockD(d, d),
        )
        self.head = nn.Linear(d, d_out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x)).mean(dim=(2, 3))


def build_resnet32(
    data: DataBundle, latent_dim: int, n_classes: int = 0, d_out: int = 1, *,
    g_ch: int = 128, d_ch: int = 256, sm_hidden: int = 32,
) -> tuple[ResNetGenerator, ResNetDiscriminator]:
    channels, _ = image_shape(data, "wgan_resnet32", sizes=(32,))
    return (ResNetGenerator(latent_dim, channels, g_ch, n_classes, sm_hidden),
            ResNetDiscriminator(channels, d_ch, d_out))
