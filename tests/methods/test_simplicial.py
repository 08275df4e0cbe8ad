"""Simplicial-cluster truncation: the samplers as pure functions, the config's errors, the method
through the loop (τ_infer above τ_train raises precision on a trained toy model)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from study.spec import SpecError, parse_spec
from tests.study.helpers import toy_spec
from trainables import latent_samplers as ls
from trainables.loop import LocalReporter, train_loop
from trainables.simplicial import SimplicialConfig

# ---- samplers (pure) --------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "d"), [(2, 2), (10, 64), (100, 128)])
def test_anchors_are_equidistant_with_norm_sqrt_d(n, d):
    u = ls.simplex_anchors(n, d).double()
    assert u.shape == (n, d)
    assert torch.allclose(u.norm(dim=1), torch.full((n,), math.sqrt(d), dtype=torch.float64))
    dist = torch.cdist(u, u)[~torch.eye(n, dtype=torch.bool)]
    assert torch.allclose(dist, torch.full_like(dist, math.sqrt(2 * d)))


def independent_acceptance(n: int, d: int, tau: float, draws: int, seed: int) -> float:
    """P(max_i p_i(z) > τ) by numpy Monte-Carlo, written apart from the sampler."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((draws, d))
    # ‖z − √d·e_j‖² = ‖z‖² + d − 2√d·z_j
    neg = -np.sqrt((z**2).sum(1, keepdims=True) + d - 2 * np.sqrt(d) * z[:, :n])
    p = np.exp(neg - neg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return float((p.max(1) > tau).mean())


@pytest.mark.parametrize(("n", "d", "tau"), [(4, 8, 0.4), (10, 64, 0.2), (10, 16, 0.3)])
def test_accepted_fraction_matches_a_monte_carlo_estimate(n, d, tau):
    expected = independent_acceptance(n, d, tau, 40_000, seed=1)
    sampler = ls.SimplicialSampler(n, d)
    draw = sampler.sample(20_000, tau, torch.Generator().manual_seed(2))
    # Both are binomial estimates: 5 standard errors of their difference.
    se = math.sqrt(expected * (1 - expected) * (1 / 40_000 + 1 / draw.drawn))
    assert abs(draw.acceptance - expected) < 5 * se + 1e-3
    # Every returned latent passes the test and carries its nearest-anchor index.
    p = ls.anchor_scores(draw.z, sampler.anchors)
    assert len(draw.z) == 20_000 and bool((p.max(1).values > tau).all())
    assert torch.equal(draw.cluster, p.argmax(1))
    assert abs(sampler.acceptance_rate(tau, 40_000, torch.Generator().manual_seed(3))
               - expected) < 5 * math.sqrt(2 * expected * (1 - expected) / 40_000) + 1e-3


def test_tau_sweep_shares_one_candidate_stream():
    sampler = ls.SimplicialSampler(4, 8)
    draws = sampler.sample_many(500, [0.3, 0.4, 0.5], torch.Generator().manual_seed(0))
    acc = [draws[t].acceptance for t in (0.3, 0.4, 0.5)]
    assert acc == sorted(acc, reverse=True) and acc[-1] < acc[0]
    assert all(len(dr.z) == 500 for dr in draws.values())
    # A stricter τ keeps a subset of the looser τ's candidates.
    loose = {tuple(r) for r in draws[0.3].z.tolist()}
    assert tuple(draws[0.5].z[0].tolist()) in loose
    assert bool((ls.anchor_scores(draws[0.5].z, sampler.anchors).max(1).values > 0.5).all())


def test_impossible_acceptance_names_tau_n_and_d():
    sampler = ls.SimplicialSampler(10, 64, max_draws_per_sample=50)
    with pytest.raises(ls.SamplerError, match=r"τ=0\.9 with N=10 anchors in d=64.*practically"):
        sampler.sample(100, 0.9, torch.Generator().manual_seed(0))


@pytest.mark.parametrize(
    ("n", "d", "tau", "msg"),
    [(1, 8, 0.3, "N >= 2"), (12, 8, 0.3, "N <= d, got d=8"), (4, 8, 1.0, "τ=1.0"),
     (4, 8, 0.0, "τ=0.0")],
)
def test_bad_tau_n_d_are_rejected(n, d, tau, msg):
    with pytest.raises(ls.SamplerError, match=msg):
        ls.check_simplicial(n, d, tau)


def test_config_rejects_bad_tau_n_d_with_the_field_named():
    for bad, field in [({"tau_train": 1.2}, "tau_train"), ({"tau_infer": 0}, "tau_infer"),
                       ({"tau_infer_sweep": [0.2, 1.5]}, "tau_infer_sweep.1"),
                       ({"n_anchors": 1}, "n_anchors")]:
        with pytest.raises(ValidationError) as exc:
            SimplicialConfig.model_validate(bad)
        assert field in {".".join(map(str, e["loc"])) for e in exc.value.errors()}, bad
    with pytest.raises(ValidationError, match=r"N=20 .*N <= d, got d=8"):
        SimplicialConfig.model_validate({"n_anchors": 20, "latent_dim": 8})
    # The Gaussian baseline has no anchors: any latent dimension goes.
    assert SimplicialConfig.model_validate({"sampler": "gaussian", "latent_dim": 2}).n_anchors == 10


def test_spec_validator_names_the_tau_bound():
    spec = toy_spec("bad_tau", trainer="simplicial",
                    search={"tau_train": {"type": "uniform", "low": 0.1, "high": 1.5}})
    with pytest.raises(SpecError, match=r"search\.tau_train\.high"):
        parse_spec(spec, "s.yaml")


def test_jacobian_norm_and_jbt_keep_the_smoothest_latents():
    z = torch.randn(300, 64, generator=torch.Generator().manual_seed(0))
    est = ls.jacobian_frobenius(lambda x: 3 * x, z, n_dirs=8,
                                generator=torch.Generator().manual_seed(1))
    assert torch.allclose(est, torch.full_like(est, 3 * 8.0), rtol=0.25)
    jfn = torch.arange(10.0).flip(0)
    kept = ls.jbt_select(torch.arange(10.0)[:, None], jfn, 80, 8)
    assert sorted(kept[:, 0].tolist()) == [2.0, 3, 4, 5, 6, 7, 8, 9]
    assert ls.jbt_pool_size(90, 90) == 100
    with pytest.raises(ls.SamplerError, match="percentile"):
        ls.jbt_select(z, est, 0, 10)


def test_deligan_prior_is_reparameterised():
    prior = ls.DeliGANPrior(5, 4, torch.Generator().manual_seed(0))
    z, k = prior(64, torch.Generator().manual_seed(1))
    assert z.shape == (64, 4) and int(k.max()) < 5
    (z.sum() + prior.sigma_penalty()).backward()
    assert prior.mu.grad is not None and prior.sigma.grad is not None


# ---- the method through the loop --------------------------------------------------------------

STEPS, MARGIN = 200, 0.1  # seed 0 gives precision 0.58 at τ = 0.3 and 0.83 at τ = 0.5
MIXTURE = {"name": "gaussian_mixture", "options": {"n": 5000, "m": 4, "dim": 10}}
SMALL = {"batch_size": 64, "latent_dim": 8, "n_anchors": 4, "eval_prdc_samples": 200,
         "eval_latent_samples": 200, "convex_pairs": 20}


def run(method: dict, steps: int, seed: int = 0) -> dict[str, float]:
    cfg = {"trainer": "simplicial", "steps": steps, "eval_every": steps,
           "checkpoint_every": steps, "eval_samples": 200, "dataset": MIXTURE, "seed": seed,
           "method": SMALL | method}
    return train_loop(cfg, LocalReporter())


@pytest.mark.parametrize("sampler", ["gaussian", "deligan", "jbt"])
def test_baseline_samplers_train_and_report_prdc(sampler):
    last = run({"sampler": sampler, "jbt_percentile": 80}, steps=3)
    assert {"precision", "recall", "density", "coverage", "latent_classes"} <= set(last)
    assert not any(k.startswith("precision_tau") for k in last)


def test_impossible_tau_fails_at_construction_not_mid_run():
    with pytest.raises(ls.SamplerError, match=r"τ=0\.99 with N=4 anchors in d=8"):
        run({"tau_infer_sweep": [0.99], "max_draws_per_sample": 20}, steps=1)


def test_tau_infer_above_tau_train_raises_precision_on_a_trained_toy_model():
    # 4 modes in R^10, N = 4 anchors in d = 8; τ_train = 0.3 keeps ~98% of latents, τ = 0.5 ~33%.
    # The MI head ties each anchor cell to a mode, so the cells' borders, which τ_infer cuts
    # away, are where G puts its between-mode points.
    last = run({"tau_train": 0.3, "tau_infer": 0.3, "tau_infer_sweep": [0.3, 0.5],
                "mi_steps": STEPS // 2, "lr_g": 2e-4, "lr_d": 4e-4, "beta1": 0.5, "beta2": 0.9,
                "eval_prdc_samples": 1000}, steps=STEPS)
    assert 0.2 < last["acceptance_tau0.5"] < 0.5 < 0.9 < last["acceptance_tau0.3"]
    assert last["precision_tau0.5"] >= last["precision_tau0.3"] + MARGIN
    assert last["precision"] == last["precision_tau0.3"]
