"""Latent samplers of the simplicial-cluster paper and its baselines (pure: no training state).

- Simplicial-cluster truncation (papers/latent_geometry_simplicial.txt): N equidistant
  anchors u_i in R^d, z ~ N(0, I) kept when max_i p_i(z) > τ, with p(z) by `rule`:
  `code` (default: the authors' TransGAN_simplicial, `ViT_custom_rp.py` forward, and the
  paper's §3.3) p = softmax_i(⟨z/‖z‖, u_i⟩) = softmax_i(√d·cos(z, e_i)); `paper` (App. B.3)
  p = softmax_i(−‖z − u_i‖). The two differ widely in what a τ keeps: at N = 10, d = 64,
  τ = 0.135 the App. B.3 rule keeps 99.9 % of draws (it truncates nothing), the code's far
  fewer. The anchors are √d·e_j for the first N coordinates j: equidistant (pairwise
  distance √(2d)) with norm √d, the typical norm of a Gaussian latent, so every anchor sits where
  the latent mass is. Needs N ≤ d. Since max_i p_i ≥ 1/N always, τ < 1/N accepts everything.
- Gaussian: plain z ~ N(0, I) (the baseline GAN).
- DeliGAN (Gurumurthy et al. 2017): z = μ_k + σ_k ⊙ ε, k uniform, μ and σ learned with G.
- JBT, Jacobian-based truncation (Tanielian et al. 2020): keep the latents whose generator
  Jacobian has the smallest Frobenius norm (the given percentile of a candidate pool); applied
  at sampling only, to a generator trained on Gaussian latents.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn


class SamplerError(ValueError):
    """Bad sampler settings (τ, N, d, percentile) or an acceptance that is practically zero."""


def check_simplicial(n_anchors: int, dim: int, tau: float) -> None:
    if n_anchors < 2:
        raise SamplerError(f"simplicial sampler: need N >= 2 anchors, got N={n_anchors}")
    if n_anchors > dim:
        raise SamplerError(
            f"simplicial sampler: N={n_anchors} equidistant anchors √d·e_j need N <= d, got "
            f"d={dim}"
        )
    if not 0 < tau < 1:
        raise SamplerError(f"simplicial sampler: τ must lie in (0, 1), got τ={tau}")


def simplex_anchors(n_anchors: int, dim: int) -> torch.Tensor:
    """(N, d) anchors √d·e_j, j = 0..N−1: pairwise distance √(2d), norm √d."""
    check_simplicial(n_anchors, dim, 0.5)
    return math.sqrt(dim) * torch.eye(dim)[:n_anchors]


Rule = Literal["code", "paper"]
RULES: tuple[Rule, ...] = ("code", "paper")


def anchor_scores(z: torch.Tensor, anchors: torch.Tensor, rule: Rule = "code") -> torch.Tensor:
    """(n, N) p_i(z): `code` softmax_i(⟨z/‖z‖, u_i⟩) (the authors' code; u_i of norm √d),
    `paper` softmax_i(−‖z − u_i‖) (App. B.3)."""
    u = anchors.to(z)
    if rule == "code":
        return torch.softmax(torch.nn.functional.normalize(z, dim=1) @ u.T, dim=1)
    if rule == "paper":
        return torch.softmax(-torch.cdist(z, u), dim=1)
    raise SamplerError(f"simplicial sampler: rule must be one of {RULES}, got {rule!r}")


def accept_mask(z: torch.Tensor, anchors: torch.Tensor, tau: float,
                rule: Rule = "code") -> torch.Tensor:
    return anchor_scores(z, anchors, rule).amax(dim=1) > tau


@dataclass
class Draw:
    """n accepted latents, their anchor index argmax_i p_i(z), and the candidates behind them
    (`accepted` of `drawn` passed the test; the surplus beyond n is dropped)."""

    z: torch.Tensor
    cluster: torch.Tensor
    drawn: int
    accepted: int

    @property
    def acceptance(self) -> float:
        return self.accepted / self.drawn if self.drawn else float("nan")


class SimplicialSampler:
    """Rejection sampler around N anchors, with bounded redraws.

    `max_draws_per_sample` bounds the work: asking for n latents draws at most that many times n
    candidates, then raises SamplerError naming τ, N and d (an acceptance below
    ~1/max_draws_per_sample is "practically impossible" for training).
    """

    def __init__(self, n_anchors: int, dim: int, max_draws_per_sample: int = 1000,
                 chunk: int = 65_536, rule: Rule = "code") -> None:
        check_simplicial(n_anchors, dim, 0.5)
        if rule not in RULES:
            raise SamplerError(f"simplicial sampler: rule must be one of {RULES}, got {rule!r}")
        self.n_anchors, self.dim, self.rule = n_anchors, dim, rule
        self.anchors = simplex_anchors(n_anchors, dim)
        self.max_draws_per_sample = max_draws_per_sample
        self.chunk = chunk

    def _impossible(self, tau: float, accepted: int, drawn: int) -> SamplerError:
        return SamplerError(
            f"simplicial sampler: τ={tau} with N={self.n_anchors} anchors in d={self.dim} accepted "
            f"{accepted} of {drawn} draws (acceptance < {1 / self.max_draws_per_sample:.0e}); "
            f"acceptance is practically impossible: lower τ (max p_i ≥ 1/N = "
            f"{1 / self.n_anchors:.3g} always, so τ near 1/N accepts most draws), or change N or d"
        )

    def _candidates(self, n: int, tau: float, generator: torch.Generator | None
                    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Rounds of candidates (z, max_i p_i(z)) until n of them pass τ; bounded redraws."""
        budget = n * self.max_draws_per_sample
        have, drawn = 0, 0
        while have < n:
            if drawn >= budget:
                raise self._impossible(tau, have, drawn)
            # Size the next round from the acceptance seen so far (at least n, at most a chunk).
            rate = max(have / drawn, 1 / self.max_draws_per_sample) if drawn else 1.0
            size = int(min(max(n, math.ceil(1.2 * (n - have) / rate)), self.chunk, budget - drawn))
            z = torch.randn(size, self.dim, generator=generator)
            pmax = anchor_scores(z, self.anchors, self.rule).amax(dim=1)
            have += int((pmax > tau).sum())
            drawn += size
            yield z, pmax

    def sample(self, n: int, tau: float, generator: torch.Generator | None = None) -> Draw:
        check_simplicial(self.n_anchors, self.dim, tau)
        zs: list[torch.Tensor] = []
        drawn = 0
        for z, pmax in self._candidates(n, tau, generator):
            zs.append(z[pmax > tau])  # keep only accepted latents: rare acceptance stays small
            drawn += len(z)
        kept = torch.cat(zs)
        z = kept[:n]
        cluster = anchor_scores(z, self.anchors, self.rule).argmax(dim=1)
        return Draw(z, cluster, drawn, len(kept))

    def sample_many(self, n: int, taus: list[float],
                    generator: torch.Generator | None = None) -> dict[float, Draw]:
        """n latents for each τ from one shared candidate stream (the τ curve without noise
        between points: a larger τ keeps a subset of the same candidates)."""
        for tau in taus:
            check_simplicial(self.n_anchors, self.dim, tau)
        zs, scores = [], []
        for z, pmax in self._candidates(n, max(taus), generator):
            zs.append(z)
            scores.append(pmax)
        z_all, p_all = torch.cat(zs), torch.cat(scores)
        out = {}
        for tau in taus:
            ok = p_all > tau
            z = z_all[torch.nonzero(ok)[:n, 0]]
            out[tau] = Draw(z, anchor_scores(z, self.anchors, self.rule).argmax(dim=1), len(z_all),
                            int(ok.sum()))
        return out

    def sample_per_anchor(self, n: int, tau: float, anchors: list[int],
                          generator: torch.Generator | None = None) -> torch.Tensor:
        """(len(anchors), n, d): for each listed anchor i, n accepted latents whose
        argmax_j p_j(z) is i (the cell of anchor i, cut at τ). One candidate stream for all
        rows; the redraw bound scales with N, as each cell holds ~1/N of the accepted mass."""
        check_simplicial(self.n_anchors, self.dim, tau)
        bad = [i for i in anchors if not 0 <= i < self.n_anchors]
        if bad:
            raise SamplerError(f"simplicial sampler: anchors {bad} not in 0..{self.n_anchors - 1}")
        if not anchors:
            return torch.empty(0, n, self.dim)
        rows: dict[int, list[torch.Tensor]] = {i: [] for i in anchors}
        have = dict.fromkeys(anchors, 0)
        budget, drawn = n * self.n_anchors * self.max_draws_per_sample, 0
        while min(have.values()) < n:
            if drawn >= budget:
                raise self._impossible(tau, min(have.values()), drawn)
            size = int(min(self.chunk, budget - drawn, max(4 * n * self.n_anchors, 1024)))
            z = torch.randn(size, self.dim, generator=generator)
            p = anchor_scores(z, self.anchors, self.rule)
            pmax, cell = p.max(dim=1)
            drawn += size
            for i in anchors:
                if have[i] < n:
                    kept = z[(pmax > tau) & (cell == i)][: n - have[i]]
                    rows[i].append(kept)
                    have[i] += len(kept)
        return torch.stack([torch.cat(rows[i]) for i in anchors])

    def acceptance_rate(self, tau: float, n: int = 100_000,
                        generator: torch.Generator | None = None) -> float:
        """Monte-Carlo P(max_i p_i(z) > τ) for z ~ N(0, I_d)."""
        check_simplicial(self.n_anchors, self.dim, tau)
        hits = 0
        for start in range(0, n, self.chunk):
            z = torch.randn(min(self.chunk, n - start), self.dim, generator=generator)
            hits += int(accept_mask(z, self.anchors, tau, self.rule).sum())
        return hits / n


def gaussian(n: int, dim: int, generator: torch.Generator | None = None) -> torch.Tensor:
    return torch.randn(n, dim, generator=generator)


class DeliGANPrior(nn.Module):
    """Mixture of K Gaussians with learned means and stds (reparameterised, trained with G).

    Initialisation as the DeliGAN paper: μ ~ U(−1, 1), σ = 0.2; `sigma_penalty` is its
    regulariser Σ (1 − σ)² that keeps the stds from collapsing to 0.
    """

    def __init__(self, n_components: int, dim: int, generator: torch.Generator | None = None,
                 init_std: float = 0.2) -> None:
        super().__init__()
        if n_components < 1:
            raise SamplerError(f"deligan sampler: need >= 1 component, got {n_components}")
        self.mu = nn.Parameter(torch.rand(n_components, dim, generator=generator) * 2 - 1)
        self.sigma = nn.Parameter(torch.full((n_components, dim), init_std))

    def forward(self, n: int, generator: torch.Generator | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        k = torch.randint(len(self.mu), (n,), generator=generator).to(self.mu.device)
        eps = torch.randn(n, self.mu.shape[1], generator=generator).to(self.mu.device)
        return self.mu[k] + self.sigma[k] * eps, k

    def sigma_penalty(self) -> torch.Tensor:
        return ((1 - self.sigma) ** 2).sum()


def jacobian_frobenius(g: Callable[[torch.Tensor], torch.Tensor], z: torch.Tensor,
                       n_dirs: int = 8, generator: torch.Generator | None = None
                       ) -> torch.Tensor:
    """Estimate ‖J_G(z)‖_F per row: ‖J‖_F² = E_v ‖J v‖² over v ~ N(0, I), exact J v by jvp."""
    total = torch.zeros(len(z), device=z.device)
    for _ in range(n_dirs):
        v = torch.randn(z.shape, generator=generator).to(z.device)
        _, jv = torch.autograd.functional.jvp(g, z, v)
        total += jv.flatten(1).pow(2).sum(dim=1)
    return (total / n_dirs).sqrt()


def jbt_select(z: torch.Tensor, jfn: torch.Tensor, percentile: float, n: int) -> torch.Tensor:
    """Keep the latents whose Jacobian norm is at most the `percentile`-th percentile of the pool
    (the n smallest of a pool drawn n·100/percentile large)."""
    if not 0 < percentile <= 100:
        raise SamplerError(f"jbt sampler: percentile must lie in (0, 100], got {percentile}")
    if len(z) < n:
        raise SamplerError(f"jbt sampler: pool of {len(z)} latents is smaller than n={n}")
    return z[torch.argsort(jfn)[:n]]


def jbt_pool_size(n: int, percentile: float) -> int:
    return math.ceil(n * 100 / percentile)
