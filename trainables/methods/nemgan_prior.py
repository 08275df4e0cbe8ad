"""NEMGAN's latent space and prior learning as pure functions (papers/latent_structure_clustering_
nemgan.txt, Sec. III; the authors' code NEMGAN-P is cited where it fills a gap).

Latent (Sec. III.A): z = one-hot(y) + ν. ν is uniform on the box [-w, w]^d; the one-hot of the
K modes sits in the last K coordinates (the code pads it with zeros in front). Two modes e_i + box
and e_j + box are disjoint iff 1 − w > w, i.e. w < 1/2 (the code uses w = 0.3).

Mode y from priors softmax(α) through the reparameterised uniform (Eqs. 1–2, Lemma 2):
a_i = Σ_{j≤i} softmax(α)_j, ν₁ ~ U[0, 1], f_i = σ_h(a_i − ν₁) − σ_h(a_{i−1} − ν₁), y = argmax f,
so P(y = i) = a_i − a_{i−1} = softmax(α)_i. σ_h is a unit step, whose gradient is zero almost
everywhere; the code replaces it by hard_sigmoid(1e7·x³). Here the forward value is the exact step
(so y follows softmax(α) exactly) and the backward pass uses a sigmoid of width `temperature`
(straight-through): the batch mean of f then carries an unbiased-in-the-limit estimate of
∂softmax(α)/∂α, since ∫₀¹ σ'((a − ν)/τ)/τ dν ≈ 1 for a boundary a away from 0 and 1.

Prior learning (Sec. III.B.2, Eq. 5): h is retrained with cross-entropy on a sparse labelled set,
then α minimises ‖E_x[h(x)] − P_Y(α)‖₁ on unlabelled real data. P_Y(α) is softmax(α) (Eq. 5 as
printed) or the batch mean of f(α, ν₁) (the code: gradient through the sampler); the code's loss
is KL(E_x[h(x)] ‖ P_Y) instead of L1 (option).
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch.nn import functional as F

from trainables.core import streams

MAX_HALF_WIDTH = 0.5  # w < 1/2 keeps the boxes around the one-hot vertices apart


class LatentError(ValueError):
    """Bad latent settings: the message names the field and what was expected."""


def check_half_width(half_width: float) -> None:
    """The box must be small enough that the K modes of z are disjoint (w < 1/2)."""
    if not 0 < half_width < MAX_HALF_WIDTH:
        raise LatentError(
            f"nu_half_width: ν is uniform on [-w, w]^d around the one-hot vertices, whose "
            f"coordinates differ by 1, so modes are disjoint only for 0 < w < {MAX_HALF_WIDTH}; "
            f"got w={half_width}"
        )


def check_latent_dim(latent_dim: int, n_modes: int) -> None:
    if latent_dim < n_modes:
        raise LatentError(
            f"latent_dim: the one-hot of the {n_modes} modes occupies the last {n_modes} latent "
            f"coordinates; expected latent_dim >= {n_modes}, got {latent_dim}"
        )


def cumulative_bounds(alpha: torch.Tensor) -> torch.Tensor:
    """a_i of Eq. 2; the last is exactly 1 so every ν₁ in [0, 1] falls in some mode."""
    a = torch.cumsum(torch.softmax(alpha, dim=0), dim=0)
    return torch.cat([a[:-1], torch.ones_like(a[-1:])])


def uniform_draws(
    n: int, generator: torch.Generator | None = None, stratified: bool = False
) -> torch.Tensor:
    """ν₁ ~ U[0, 1]; `stratified` puts one draw in each of n equal cells (still marginally
    uniform) so the batch frequencies of y are within 1/n of softmax(α)."""
    u = torch.rand(n, generator=generator)
    if not stratified:
        return u
    return (torch.randperm(n, generator=generator) + u) / n


def modes_from_uniform(
    alpha: torch.Tensor, nu1: torch.Tensor, temperature: float = 0.01
) -> tuple[torch.Tensor, torch.Tensor]:
    """(f, y): f the one-hot of y = argmax f (Eq. 1) as float, with the sigmoid-surrogate
    gradient to α when α requires grad; y the mode index (Lemma 2)."""
    nu1 = nu1.to(alpha.device)
    a = cumulative_bounds(alpha)
    # f_i ≠ 0 iff a_{i−1} < ν₁ ≤ a_i: y counts the boundaries below ν₁.
    y = (nu1[:, None] > a[None, :-1]).sum(dim=1)
    hard = F.one_hot(y, len(alpha)).to(alpha.dtype)
    if not alpha.requires_grad:
        return hard, y
    step = torch.sigmoid((a[None, :] - nu1[:, None]) / temperature)  # smooth σ_h(a_i − ν₁)
    soft = step - torch.cat([torch.zeros_like(step[:, :1]), step[:, :-1]], dim=1)
    return hard + soft - soft.detach(), y


def sample_modes(
    alpha: torch.Tensor, n: int, generator: torch.Generator | None = None,
    temperature: float = 0.01, stratified: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    return modes_from_uniform(alpha, uniform_draws(n, generator, stratified), temperature)


def box_noise(
    n: int, dim: int, half_width: float, generator: torch.Generator | None = None
) -> torch.Tensor:
    """ν ~ U[-w, w]^dim."""
    return (2 * torch.rand(n, dim, generator=generator) - 1) * half_width


def multimodal_latent(onehot: torch.Tensor, nu: torch.Tensor) -> torch.Tensor:
    """z = ν + one-hot(y) placed in the last K coordinates."""
    k = onehot.shape[1]
    pad = torch.zeros(len(nu), nu.shape[1] - k, dtype=nu.dtype, device=nu.device)
    return nu + torch.cat([pad, onehot.to(nu)], dim=1)


def mode_of_latent(z: torch.Tensor, n_modes: int) -> torch.Tensor:
    """The mode a latent lies in (its largest one-hot coordinate): the inverse of the layout."""
    return z[:, -n_modes:].argmax(dim=1)


def prior_matching_loss(
    posterior_mean: torch.Tensor, prior: torch.Tensor, kind: Literal["l1", "kl"] = "l1"
) -> torch.Tensor:
    """Eq. 5's ‖E_x[h(x)] − P_Y‖₁, or the code's KL(E_x[h(x)] ‖ P_Y)."""
    if kind == "l1":
        return (posterior_mean - prior).abs().sum()
    if kind == "kl":
        q = posterior_mean.clamp_min(1e-8)
        return (q * (q.log() - prior.clamp_min(1e-8).log())).sum()
    raise LatentError(f"prior_loss: expected 'l1' or 'kl', got {kind!r}")


def alpha_from_priors(priors: torch.Tensor) -> torch.Tensor:
    """α with softmax(α) = priors (log, centred)."""
    log = priors.double().log()
    return (log - log.mean()).float()


def labelled_subset(n: int, fraction: float, seed: int, minimum: int = 1) -> torch.Tensor:
    """Indices of the sparse labelled set W_s: ⌈fraction·n⌉ points (at least `minimum`), drawn
    with the run's seed so every rank and every resume picks the same set."""
    g = streams.generator(seed, "labelled_subset")
    count = min(n, max(minimum, math.ceil(fraction * n)))
    return torch.randperm(n, generator=g)[:count].sort().values
