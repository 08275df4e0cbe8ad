"""SN-GAN ResNet G/D for 32×32 and 48×48 images: PGMGAN appendix C, Tables 6 and 7.

32×32 (Table 6): G z → dense 4×4×4g → 3 × ResBlock up 4g → BN, ReLU, 3×3 conv, tanh;
                 D ResBlock down 2d, ResBlock down 2d, ResBlock 2d, ResBlock 2d → ReLU, sum pool.
48×48 (Table 7): G z → dense 3×3×16g → ResBlock up 8g, 4g, 2g, g → BN, ReLU, 3×3 conv, tanh;
                 D ResBlock down d, 2d, 4d, 8d, ResBlock 16d → ReLU, global sum pooling.
With g = d = 64 (``g_ch``, ``d_ch``) these are the tables' widths (256 / 128; 1024…64 / 64…1024).

Blocks follow the authors' code (BigGAN-PyTorch layers): G block BN-ReLU-up-conv3-BN-ReLU-conv3
with an up + 1×1 conv shortcut; D block (ReLU)-conv3-ReLU-conv3-avgpool with a 1×1 conv shortcut
when it changes width or resolution, hidden width = output width (``D_wide``); the first D block
takes the image without a pre-activation. Every D layer (head included) is spectrally normalised
(one power iteration per training forward); ``g_spectral_norm`` also normalises G (the authors'
``G_param: SN``; off by default, as in SN-GAN). When ``n_classes > 0`` the BN layers of G's blocks
are conditional (per-partition γ, β embeddings; the tables' Embed(Partition_ID)). D's
``features`` (ReLU + global sum pooling) and ``head`` are what PGMGAN's projection D wraps.
Weights start from N(0, 0.02) (appendix C).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils.parametrizations import spectral_norm

from trainables.data import DataBundle
from trainables.networks.base import FeatureDiscriminator
from trainables.networks.dcgan import ConditionalBatchNorm2d, image_shape


def _layer(module: nn.Module, sn: bool) -> nn.Module:
    """N(0, 0.02) weights (paper), then the spectral-norm parametrisation if asked."""
    nn.init.normal_(module.weight, std=0.02)
    return spectral_norm(module) if sn else module


class GBlock(nn.Module):
    def __init__(self, cin: int, cout: int, n_classes: int = 0, sn: bool = False) -> None:
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(cin, n_classes)
        self.conv1 = _layer(nn.Conv2d(cin, cout, 3, 1, 1), sn)
        self.bn2 = ConditionalBatchNorm2d(cout, n_classes)
        self.conv2 = _layer(nn.Conv2d(cout, cout, 3, 1, 1), sn)
        self.shortcut = _layer(nn.Conv2d(cin, cout, 1, 1, 0), sn)  # always upsamples: learnable

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2)
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2))


class DBlock(nn.Module):
    def __init__(self, cin: int, cout: int, down: bool, first: bool = False) -> None:
        super().__init__()
        self.down, self.first = down, first
        self.conv1 = _layer(nn.Conv2d(cin, cout, 3, 1, 1), True)
        self.conv2 = _layer(nn.Conv2d(cout, cout, 3, 1, 1), True)
        learnable = down or cin != cout
        self.shortcut = _layer(nn.Conv2d(cin, cout, 1, 1, 0), True) if learnable else None

    def _skip(self, x: torch.Tensor) -> torch.Tensor:
        if self.shortcut is None:
            return x
        if self.first:  # pool first: the 1×1 conv then runs on a quarter of the pixels
            return self.shortcut(F.avg_pool2d(x, 2))
        x = self.shortcut(x)
        return F.avg_pool2d(x, 2) if self.down else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self.conv2(F.relu(self.conv1(h)))
        if self.down:
            h = F.avg_pool2d(h, 2)
        return h + self._skip(x)


class SNGANGenerator(nn.Module):
    def __init__(
        self, latent_dim: int, channels: int, bottom: int, widths: list[int],
        n_classes: int = 0, sn: bool = False,
    ) -> None:
        super().__init__()
        self.n_classes, self.bottom = n_classes, bottom
        self.linear = _layer(nn.Linear(latent_dim, widths[0] * bottom * bottom), sn)
        self.blocks = nn.ModuleList(
            GBlock(a, b, n_classes, sn) for a, b in zip(widths[:-1], widths[1:], strict=True)
        )
        self.bn = nn.BatchNorm2d(widths[-1])
        self.conv_out = _layer(nn.Conv2d(widths[-1], channels, 3, 1, 1), sn)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes and c is None:
            raise ValueError("this generator is conditional: pass the condition c")
        h = self.linear(z).view(z.size(0), -1, self.bottom, self.bottom)
        for block in self.blocks:
            h = block(h, c)
        return torch.tanh(self.conv_out(F.relu(self.bn(h))))


class SNGANDiscriminator(FeatureDiscriminator):
    def __init__(self, channels: int, widths: list[int], downs: list[bool], d_out: int = 1) -> None:
        super().__init__()
        ins = [channels] + widths[:-1]
        self.blocks = nn.Sequential(*(
            DBlock(a, b, down, first=i == 0)
            for i, (a, b, down) in enumerate(zip(ins, widths, downs, strict=True))
        ))
        self.head = _layer(nn.Linear(widths[-1], d_out), True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """ReLU, then global sum pooling of the last block: (n, widths[-1])."""
        return F.relu(self.blocks(x)).sum(dim=(2, 3))


def build(
    data: DataBundle, latent_dim: int, n_classes: int = 0, d_out: int = 1, *,
    g_ch: int = 64, d_ch: int = 64, g_spectral_norm: bool = False,
) -> tuple[SNGANGenerator, SNGANDiscriminator]:
    channels, size = image_shape(data, "sngan_resnet", sizes=(32, 48))
    g, d = g_ch, d_ch
    if size == 32:  # Table 6
        g_widths, bottom = [4 * g] * 4, 4
        d_widths, downs = [2 * d] * 4, [True, True, False, False]
    else:  # Table 7
        g_widths, bottom = [16 * g, 8 * g, 4 * g, 2 * g, g], 3
        d_widths, downs = [d, 2 * d, 4 * d, 8 * d, 16 * d], [True] * 4 + [False]
    gen = SNGANGenerator(latent_dim, channels, bottom, g_widths, n_classes, g_spectral_norm)
    return gen, SNGANDiscriminator(channels, d_widths, downs, d_out)
