"""SimCLR (Chen et al. 2020): the representation PGMGAN's image partitioner is built on.

PGMGAN (Sec. 4.2, App. C) learns a contrastive "pretext" representation, finds each image's
nearest neighbours in it and trains the partitioner on that graph (SCAN, Van Gansbeke et al.).
Here: two augmented views of every image in a batch → a small ResNet encoder → an MLP projection
→ NT-Xent; the encoder's pooled features are the representation.

- Augmentations, batched on tensors with a different draw per image (torchvision's transforms
  draw one set of parameters per call): random resized crop (scale 0.2–1, aspect 3/4–4/3) with a
  horizontal flip, colour jitter with probability 0.8 (brightness, contrast, saturation 0.4,
  hue 0.1 at strength 0.5: SimCLR's CIFAR setting, SCAN's config), grey-scale with probability
  0.2. No blur (SimCLR drops it at 32×32). The jitter steps run in a fixed order, not a random
  one, and hue turns the chroma plane of YIQ (a cheap stand-in for HSV). Saturation, hue and grey
  need colour: 1-channel images get crop, flip, brightness and contrast only.
- `channel_jitter` (not SimCLR's; off by default): each channel's intensity scaled by its own
  factor U(1 − s, 1 + s). Stacked MNIST's channels are three independent digits, and a crop
  keeps each triple's ink ratio across them: with crops alone NT-Xent fits that colour shortcut
  (contrastive loss 0.23–0.30 while neighbours shared a triple no more often than under an
  untrained encoder, measured). Independent per-channel factors break the ratio without mixing
  one channel's digit into another.
- Encoder: a CIFAR-style ResNet (3×3 stem, no max-pool, three stages of basic blocks at widths
  w, 2w, 4w, strides 1, 2, 2, global average pooling) — any square size works (28, 32, 48).
- Optimiser (App. C): momentum SGD 0.9, weight decay 3e-5, learning rate 0.4 with cosine decay,
  batch 400; the paper trains 500 epochs, the settings here give the budget in steps.
  Temperature 0.1 is SCAN's (the paper does not give one).
"""

from __future__ import annotations

import math
import time
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn
from torch.nn import functional as F


class SimCLRSettings(BaseModel):
    """Everything that changes the representation (and so its cache key)."""

    model_config = ConfigDict(extra="forbid")

    steps: int = Field(5000, ge=0, description="optimiser steps (paper: 500 epochs)")
    batch: int = Field(400, ge=2, description="images per step (two views each)")
    lr: float = Field(0.4, gt=0)
    momentum: float = Field(0.9, ge=0, lt=1)
    weight_decay: float = Field(3e-5, ge=0)
    temperature: float = Field(0.1, gt=0)
    width: int = Field(32, ge=1, description="encoder width w (stages w, 2w, 4w)")
    blocks: int = Field(1, ge=1, description="basic blocks per stage")
    proj_dim: int = Field(128, ge=1, description="projection head output (NT-Xent space)")
    subset: int | None = Field(None, ge=2, description="images it trains on (None: all)")
    crop_min: float = Field(0.2, gt=0, le=1, description="smallest crop area fraction")
    jitter: float = Field(0.5, ge=0, description="colour-distortion strength s")
    jitter_p: float = Field(0.8, ge=0, le=1)
    gray_p: float = Field(0.2, ge=0, le=1)
    flip: bool = True
    channel_jitter: float = Field(
        0.0, ge=0, lt=1, description="per-channel intensity factor U(1-s, 1+s), drawn per image "
        "and channel (breaks a colour-ratio shortcut on Stacked MNIST; 0: off, SimCLR's own)")


# ---- augmentations ---------------------------------------------------------------------------


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> torch.Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def resized_crop(
    x: torch.Tensor, gen: torch.Generator, crop_min: float = 0.2, flip: bool = True,
    ratio_range: tuple[float, float] = (3 / 4, 4 / 3),
) -> torch.Tensor:
    """Per image: a crop of area fraction U(crop_min, 1), aspect ratio log-U(ratio_range), at a
    uniform position, resized back to the input size (bilinear), mirrored with probability ½.
    A side that would leave the image is clipped to it (torchvision redraws instead)."""
    n = len(x)
    area = _uniform(n, crop_min, 1.0, gen)
    ratio = torch.exp(_uniform(n, math.log(ratio_range[0]), math.log(ratio_range[1]), gen))
    w = torch.sqrt(area * ratio).clamp(max=1.0)  # fractions of the side
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (2 * torch.rand(n, generator=gen) - 1) * (1 - w)  # centre in [-1, 1] coordinates
    cy = (2 * torch.rand(n, generator=gen) - 1) * (1 - h)
    sign = torch.where(torch.rand(n, generator=gen) < 0.5, -1.0, 1.0) if flip else torch.ones(n)
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2] = w * sign, cx
    theta[:, 1, 1], theta[:, 1, 2] = h, cy
    grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


_LUMA = torch.tensor([0.299, 0.587, 0.114])
_RGB_TO_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322],
                            [0.211, -0.523, 0.312]])


def _gray(x: torch.Tensor) -> torch.Tensor:
    return (x * _LUMA.to(x).view(1, 3, 1, 1)).sum(dim=1, keepdim=True)


def colour_jitter(
    x01: torch.Tensor, gen: torch.Generator, strength: float = 0.5, p: float = 0.8
) -> torch.Tensor:
    """Images in [0, 1]; with probability p each: brightness, contrast, saturation (0.8·s) and
    hue (0.2·s of a turn), factors drawn per image."""
    n, c = x01.shape[:2]
    on = (torch.rand(n, generator=gen) < p).float()

    def factor(spread: float) -> torch.Tensor:  # 1 where jitter is off
        f = _uniform(n, max(0.0, 1 - spread), 1 + spread, gen)
        return (1 + on * (f - 1)).to(x01).view(n, 1, 1, 1)

    b, ctr, sat = factor(0.8 * strength), factor(0.8 * strength), factor(0.8 * strength)
    hue = (_uniform(n, -0.2 * strength, 0.2 * strength, gen) * on).to(x01)
    x = (x01 * b).clamp(0, 1)
    grey = _gray(x) if c == 3 else x
    mean = grey.mean(dim=(1, 2, 3), keepdim=True)
    x = ((x - mean) * ctr + mean).clamp(0, 1)
    if c != 3:
        return x
    x = (_gray(x) + (x - _gray(x)) * sat).clamp(0, 1)
    yiq = torch.einsum("ij,njhw->nihw", _RGB_TO_YIQ.to(x), x)
    angle = 2 * math.pi * hue
    cos, sin = torch.cos(angle).view(n, 1, 1), torch.sin(angle).view(n, 1, 1)
    i, q = yiq[:, 1], yiq[:, 2]
    yiq = torch.stack([yiq[:, 0], cos * i - sin * q, sin * i + cos * q], dim=1)
    rgb = torch.einsum("ij,njhw->nihw", torch.linalg.inv(_RGB_TO_YIQ).to(x), yiq)
    return rgb.clamp(0, 1)


def channel_jitter(x01: torch.Tensor, gen: torch.Generator, strength: float) -> torch.Tensor:
    """Images in [0, 1]; every channel of every image scaled by its own U(1 − s, 1 + s)."""
    n, c = x01.shape[:2]
    f = _uniform(n * c, 1 - strength, 1 + strength, gen).to(x01).view(n, c, 1, 1)
    return (x01 * f).clamp(0, 1)


def augment(x: torch.Tensor, s: SimCLRSettings, gen: torch.Generator) -> torch.Tensor:
    """One random view of every image of x (NCHW in [-1, 1]); returns the same range."""
    v = resized_crop(x, gen, s.crop_min, s.flip)
    v = colour_jitter((v + 1) / 2, gen, s.jitter, s.jitter_p)
    if s.channel_jitter > 0:
        v = channel_jitter(v, gen, s.channel_jitter)
    if v.shape[1] == 3 and s.gray_p > 0:
        grey = (torch.rand(len(v), generator=gen) < s.gray_p).to(v.device).view(-1, 1, 1, 1)
        v = torch.where(grey, _gray(v).expand_as(v), v)
    return v * 2 - 1


# ---- loss ------------------------------------------------------------------------------------


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """NT-Xent: row i of z1 and row i of z2 are a positive pair, the other 2n − 2 rows negatives;
    cosine similarity over the temperature, cross-entropy averaged over all 2n anchors."""
    if z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"nt_xent: expected two (n, d) views, got {tuple(z1.shape)} and "
                         f"{tuple(z2.shape)}")
    n = len(z1)
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    sim = (z @ z.T) / temperature
    self_mask = torch.eye(2 * n, dtype=torch.bool, device=z.device)
    sim = sim.masked_fill(self_mask, float("-inf"))
    target = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, target)


# ---- networks --------------------------------------------------------------------------------


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                          nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class Encoder(nn.Module):
    """CIFAR-style ResNet: (n, C, S, S) → (n, 4w) pooled features."""

    def __init__(self, channels: int, width: int = 32, blocks: int = 1) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(channels, width, 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(width), nn.ReLU())
        layers: list[nn.Module] = []
        cin = width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for b in range(blocks):
                layers.append(BasicBlock(cin, cout, 2 if stage > 0 and b == 0 else 1))
                cin = cout
        self.body = nn.Sequential(*layers)
        self.out_dim = cin

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.stem(x)).mean(dim=(2, 3))


def build_encoder(channels: int, s: SimCLRSettings) -> Encoder:
    return Encoder(channels, s.width, s.blocks)


# ---- training --------------------------------------------------------------------------------


def train_simclr(
    x: torch.Tensor, s: SimCLRSettings, gen: torch.Generator, device: torch.device | str = "cpu",
) -> tuple[Encoder, dict[str, Any]]:
    """Train the encoder on images x (NCHW in [-1, 1], on the CPU); returns it in eval mode."""
    if x.dim() != 4:
        raise ValueError(f"SimCLR needs images (N, C, H, W), got shape {tuple(x.shape)}")
    device = torch.device(device)
    enc = build_encoder(x.shape[1], s).to(device)
    f = enc.out_dim
    proj = nn.Sequential(nn.Linear(f, f), nn.ReLU(), nn.Linear(f, s.proj_dim)).to(device)
    params = list(enc.parameters()) + list(proj.parameters())
    opt = torch.optim.SGD(params, lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, s.steps))
    batch = min(s.batch, len(x))
    t0, losses = time.perf_counter(), []
    enc.train()
    for _ in range(s.steps):
        idx = torch.randint(len(x), (batch,), generator=gen)
        imgs = x[idx].to(device)
        v1, v2 = augment(imgs, s, gen), augment(imgs, s, gen)
        h = enc(torch.cat([v1, v2]))  # one BN batch for both views
        z = proj(h)
        loss = nt_xent(z[:batch], z[batch:], s.temperature)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
    enc.eval()
    tail = losses[-max(1, len(losses) // 10):] if losses else [float("nan")]
    info = {"simclr_loss_first": losses[0] if losses else float("nan"),
            "simclr_loss_last": sum(tail) / len(tail),
            "simclr_seconds": time.perf_counter() - t0, "feature_dim": f}
    return enc, info


@torch.no_grad()
def embed(
    enc: nn.Module, x: torch.Tensor, device: torch.device | str = "cpu", chunk: int = 1000
) -> torch.Tensor:
    """Pooled encoder features of every image (eval mode), on the CPU: (n, out_dim)."""
    was = enc.training
    enc.eval()
    out = [enc(x[i : i + chunk].to(device)).cpu() for i in range(0, len(x), chunk)]
    enc.train(was)
    return torch.cat(out)
