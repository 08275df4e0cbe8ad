"""Adversarial losses on discriminator logits."""

from __future__ import annotations

import torch
from torch.nn import functional as F


def d_loss(kind: str, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    if kind == "standard":
        return F.softplus(-real).mean() + F.softplus(fake).mean()
    if kind == "hinge":
        return F.relu(1 - real).mean() + F.relu(1 + fake).mean()
    if kind == "wgan":
        return fake.mean() - real.mean()
    raise ValueError(f"loss: unknown kind {kind!r}")


def g_loss(kind: str, fake: torch.Tensor) -> torch.Tensor:
    if kind == "standard":  # non-saturating
        return F.softplus(-fake).mean()
    if kind == "bce_target2":
        # PGMGAN's 2D script: its guided G step calls the loss with target 2, which the hinge
        # branch means as "generator" but BCE takes literally: −2·log σ(x) − (1 − 2)·log(1 − σ(x))
        # = softplus(−x) − x, the non-saturating loss plus −x (gradient σ(x) − 2, never small).
        return (F.softplus(-fake) - fake).mean()
    if kind in ("hinge", "wgan"):
        return -fake.mean()
    raise ValueError(f"loss: unknown kind {kind!r}")


def gradient_penalty(
    critic, real: torch.Tensor, fake: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """WGAN-GP (Gulrajani et al. 2017): (‖∇D(x̂)‖ − 1)² on random interpolates."""
    shape = (real.size(0),) + (1,) * (real.dim() - 1)
    alpha = torch.rand(shape, generator=generator).to(real.device)
    mix = (alpha * real + (1 - alpha) * fake).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mix).sum(), mix, create_graph=True)
    return ((grad.flatten(1).norm(dim=1) - 1) ** 2).mean()


def r1_penalty(real_logits: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """R1 (Mescheder et al. 2018, GAN_stability `compute_grad2`): E‖∇ₓD(x)‖² on real samples;
    `real` must require grad and `real_logits` be computed from it. Differentiable (D's
    update includes it)."""
    (grad,) = torch.autograd.grad(real_logits.sum(), real, create_graph=True)
    return grad.pow(2).flatten(1).sum(1).mean()
