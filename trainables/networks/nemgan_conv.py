"""NEMGAN's MNIST / Fashion-MNIST networks and its inverter h.

The paper does not print its architectures; these follow the authors' code (NEMGAN-P,
`nemganp_fmnist_5.py`, Keras), with `width` scaling every channel / unit count (1.0 = the code):
- G: FC 1024 + BN + LReLU(0.2), FC (s·s·128) + BN + LReLU, reshape, Dropout(0.3), then 5×5
  stride-1 transposed convs 64, ↑2, 32, 16, 8, ↑2, 4 (each + BN + LReLU), and a 5×5 conv to the
  image channels. s = size/4 (7 for 28×28). Output tanh (our images lie in [-1, 1]; the code's
  sigmoid matched its [0, 1] data). Upsampling is nearest, as Keras' UpSampling2D.
- D: 5×5 convs 64 (stride 2), 128 (2), 256 (2), 512 (1), each + LReLU(0.2) + Dropout(0.4);
  `features` is the flattened last conv, `head` the linear critic.
- Inverter h ("decoder" in the code): 5×5 stride-2 convs 32, 64, 128, 256, 512 (+ LReLU +
  Dropout(0.4)), FC to latent_dim + LReLU (the code's z prediction), and an FC from it to the K
  mode logits. For vector data, `MLPInverter` has the same two heads on a small MLP.

G/D keep the contract of `networks.select`: with `n_classes > 0` G takes the one-hot class
concatenated to z (as the toy MLPs do; NEMGAN itself builds G unconditional) and D has `d_out`
outputs, D(x, c) the c-th.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from trainables.data import DataBundle
from trainables.networks.base import FeatureDiscriminator

MIN_CHANNELS = 8  # a width-scaled layer keeps at least min(this, the code's own width)


def _ch(n: int, width: float) -> int:
    """The code's n channels/units scaled by `width`, never below min(n, MIN_CHANNELS): at
    width 0.25 G's last hidden convolutions had 2 and then 1 channel, a choke no width means."""
    return max(min(n, MIN_CHANNELS), round(n * width))


def _image_shape(data: DataBundle) -> tuple[int, int, int]:
    if data.x.dim() != 4:
        raise ValueError(
            f"network nemgan_conv needs images (N, C, H, W); {data.name} has shape "
            f"{tuple(data.x.shape[1:])}"
        )
    c, h, w = (int(s) for s in data.x.shape[1:])
    if h != w or h % 4:
        raise ValueError(
            f"network nemgan_conv needs square images with a side divisible by 4 (two 2× "
            f"upsamplings); {data.name} has {h}×{w}"
        )
    return c, h, w


class NEMGANGenerator(nn.Module):
    def __init__(
        self, latent_dim: int, channels: int, size: int, width: float = 1.0, n_classes: int = 0
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        s, depth = size // 4, _ch(128, width)
        self.start = (depth, s, s)
        hidden = _ch(1024, width)
        self.fc = nn.Sequential(
            nn.Linear(latent_dim + n_classes, hidden), nn.BatchNorm1d(hidden), nn.LeakyReLU(0.2),
            nn.Linear(hidden, depth * s * s), nn.BatchNorm1d(depth * s * s), nn.LeakyReLU(0.2),
        )

        def block(cin: int, cout: int) -> list[nn.Module]:
            return [nn.ConvTranspose2d(cin, cout, 5, padding=2), nn.BatchNorm2d(cout),
                    nn.LeakyReLU(0.2)]

        c64, c32, c16, c8, c4 = (_ch(c, width) for c in (64, 32, 16, 8, 4))
        self.conv = nn.Sequential(
            nn.Dropout(0.3),
            *block(depth, c64), nn.Upsample(scale_factor=2),
            *block(c64, c32), *block(c32, c16), *block(c16, c8), nn.Upsample(scale_factor=2),
            *block(c8, c4), nn.ConvTranspose2d(c4, channels, 5, padding=2), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            if c is None:
                raise ValueError("this generator is conditional: pass the condition c")
            z = torch.cat([z, F.one_hot(c, self.n_classes).to(z.dtype)], dim=1)
        return self.conv(self.fc(z).view(-1, *self.start))


def _conv_stack(channels: int, widths: list[int], strides: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for cout, stride in zip(widths, strides, strict=True):
        layers += [nn.Conv2d(channels, cout, 5, stride=stride, padding=2), nn.LeakyReLU(0.2),
                   nn.Dropout(0.4)]
        channels = cout
    return nn.Sequential(*layers, nn.Flatten())


def _flat_size(body: nn.Module, shape: tuple[int, int, int]) -> int:
    with torch.no_grad():
        return int(body(torch.zeros(1, *shape)).shape[1])


class NEMGANDiscriminator(FeatureDiscriminator):
    def __init__(self, shape: tuple[int, int, int], width: float = 1.0, d_out: int = 1) -> None:
        super().__init__()
        widths = [_ch(c, width) for c in (64, 128, 256, 512)]
        self.body = _conv_stack(shape[0], widths, [2, 2, 2, 1])
        self.head = nn.Linear(_flat_size(self.body, shape), d_out)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Inverter(nn.Module):
    """h(x) → (ẑ, mode logits): the two heads on a body that maps x to a flat feature."""

    def __init__(self, body: nn.Module, feat: int, latent_dim: int, n_modes: int) -> None:
        super().__init__()
        self.body = body
        self.z_head = nn.Sequential(nn.Linear(feat, latent_dim), nn.LeakyReLU(0.2))
        self.y_head = nn.Linear(latent_dim, n_modes)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.z_head(self.body(x))
        return z, self.y_head(z)


def conv_inverter(
    shape: tuple[int, int, int], latent_dim: int, n_modes: int, width: float = 1.0
) -> Inverter:
    widths = [_ch(c, width) for c in (32, 64, 128, 256, 512)]
    body = _conv_stack(shape[0], widths, [2] * 5)
    return Inverter(body, _flat_size(body, shape), latent_dim, n_modes)


def mlp_inverter(in_dim: int, latent_dim: int, n_modes: int, width: float = 1.0) -> Inverter:
    hidden = _ch(256, width)
    body = nn.Sequential(nn.Linear(in_dim, hidden), nn.LeakyReLU(0.2),
                         nn.Linear(hidden, hidden), nn.LeakyReLU(0.2))
    return Inverter(body, hidden, latent_dim, n_modes)


def build(
    data: DataBundle, latent_dim: int, n_classes: int = 0, d_out: int = 1, width: float = 1.0
) -> tuple[NEMGANGenerator, NEMGANDiscriminator]:
    c, h, w = _image_shape(data)
    return (NEMGANGenerator(latent_dim, c, h, width, n_classes),
            NEMGANDiscriminator((c, h, w), width, d_out))


def build_inverter(
    data: DataBundle, latent_dim: int, n_modes: int, width: float = 1.0
) -> Inverter:
    """The conv inverter for images, the MLP one for vectors."""
    if data.x.dim() == 2:
        return mlp_inverter(int(data.x.shape[1]), latent_dim, n_modes, width)
    return conv_inverter(_image_shape(data), latent_dim, n_modes, width)
