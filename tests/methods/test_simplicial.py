"""Simplicial-cluster truncation: the samplers as pure functions, the config's errors, the method
through the loop (τ_infer above τ_train raises precision on a trained toy model)."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from evaluation.classifiers import ConvClassifier
from evaluation.features import register_classifier
from evaluation.stats_cache import STATS_CACHE_ENV
from study.cli import main as cli_main
from study.spec import SpecError, parse_spec
from tests.study.helpers import toy_spec, write_spec
from trainables.core.context import RunContext
from trainables.core.losses import gradient_penalty
from trainables.data import load_dataset
from trainables.data.images import image_bundle
from trainables.loop import LocalReporter, train_loop
from trainables.methods import simplicial_samplers as ls
from trainables.methods.simplicial import SimplicialConfig, SimplicialGAN
from trainables.scoring.evaluate import evaluate

# ---- samplers (pure) --------------------------------------------------------------------------


@pytest.mark.parametrize(("n", "d"), [(2, 2), (10, 64), (100, 128)])
def test_anchors_are_equidistant_with_norm_sqrt_d(n, d):
    u = ls.simplex_anchors(n, d).double()
    assert u.shape == (n, d)
    assert torch.allclose(u.norm(dim=1), torch.full((n,), math.sqrt(d), dtype=torch.float64))
    dist = torch.cdist(u, u)[~torch.eye(n, dtype=torch.bool)]
    assert torch.allclose(dist, torch.full_like(dist, math.sqrt(2 * d)))


def independent_acceptance(n: int, d: int, tau: float, draws: int, seed: int,
                           rule: str = "code") -> float:
    """P(max_i p_i(z) > τ) by numpy Monte-Carlo, written apart from the sampler: the authors'
    code's softmax(⟨z/‖z‖, √d·e_j⟩), or App. B.3's softmax(−‖z − √d·e_j‖)."""
    rng = np.random.default_rng(seed)
    z = rng.standard_normal((draws, d))
    if rule == "code":
        neg = np.sqrt(d) * z[:, :n] / np.linalg.norm(z, axis=1, keepdims=True)
    else:  # ‖z − √d·e_j‖² = ‖z‖² + d − 2√d·z_j
        neg = -np.sqrt((z**2).sum(1, keepdims=True) + d - 2 * np.sqrt(d) * z[:, :n])
    p = np.exp(neg - neg.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    return float((p.max(1) > tau).mean())


@pytest.mark.parametrize("rule", ["code", "paper"])
@pytest.mark.parametrize(("n", "d", "tau"), [(4, 8, 0.4), (10, 64, 0.3), (100, 128, 0.08)])
def test_accepted_fraction_matches_a_monte_carlo_estimate(n, d, tau, rule):
    expected = independent_acceptance(n, d, tau, 40_000, seed=1, rule=rule)
    sampler = ls.SimplicialSampler(n, d, rule=rule)
    draw = sampler.sample(20_000, tau, torch.Generator().manual_seed(2))
    # Both are binomial estimates: 5 standard errors of their difference.
    se = math.sqrt(expected * (1 - expected) * (1 / 40_000 + 1 / draw.drawn))
    assert abs(draw.acceptance - expected) < 5 * se + 1e-3
    # Every returned latent passes the test and carries its nearest-anchor index.
    p = ls.anchor_scores(draw.z, sampler.anchors, rule)
    assert len(draw.z) == 20_000 and bool((p.max(1).values > tau).all())
    assert torch.equal(draw.cluster, p.argmax(1))
    assert abs(sampler.acceptance_rate(tau, 40_000, torch.Generator().manual_seed(3))
               - expected) < 5 * math.sqrt(2 * expected * (1 - expected) / 40_000) + 1e-3


def test_the_two_rules_truncate_differently_where_the_issue_measured():
    """N = 100, d = 128: τ 0.08 keeps about 38 % under the authors' rule and 7 % under App.
    B.3's; at N = 10, d = 64, τ 0.3 keeps about half under the code's rule."""
    gen = torch.Generator().manual_seed(0)
    code = ls.SimplicialSampler(100, 128).acceptance_rate(0.08, 40_000, gen)
    paper = ls.SimplicialSampler(100, 128, rule="paper").acceptance_rate(0.08, 40_000, gen)
    assert 0.35 < code < 0.42 and 0.06 < paper < 0.09
    assert 0.45 < ls.SimplicialSampler(10, 64).acceptance_rate(0.3, 40_000, gen) < 0.53
    with pytest.raises(ls.SamplerError, match="rule must be one of"):
        ls.SimplicialSampler(10, 64, rule="cosine")


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
    with pytest.raises(ValidationError) as exc:
        SimplicialConfig.model_validate({"n_anchors": 20, "latent_dim": 8})
    # More anchors than latent dimensions is an error of both fields, each named.
    errs = {".".join(map(str, e["loc"])): e["msg"] for e in exc.value.errors()}
    assert set(errs) == {"n_anchors", "latent_dim"}
    assert all(re.search(r"N=20 .*N <= d, got d=8", m) for m in errs.values())
    # The Gaussian baseline has no anchors: any latent dimension goes.
    assert SimplicialConfig.model_validate({"sampler": "gaussian", "latent_dim": 2}).n_anchors == 10


def test_spec_validator_names_the_anchor_and_latent_dim_fields(tmp_path, capsys):
    fixed = toy_spec("bad_n", trainer="simplicial",
                     fixed={"n_anchors": 20, "latent_dim": 8})
    with pytest.raises(SpecError) as exc:
        parse_spec(fixed, "s.yaml")
    assert "fixed.n_anchors: simplicial sampler: N=20" in str(exc.value)
    assert "fixed.latent_dim: simplicial sampler: N=20" in str(exc.value)
    # A searched latent dimension below the fixed N: the offending grid value is named.
    searched = toy_spec("bad_d", trainer="simplicial", fixed={"n_anchors": 10},
                        search={"latent_dim": {"type": "grid", "values": [64, 4]}},
                        searcher={"type": "grid"})
    with pytest.raises(SpecError, match=r"search\.latent_dim\.values\[1\]: .*N=10 .*d=4"):
        parse_spec(searched, "s.yaml")
    # `study validate` prints the same field paths and exits non-zero.
    assert cli_main(["validate", str(write_spec(tmp_path, fixed))]) == 2
    err = capsys.readouterr().err
    assert "fixed.n_anchors: simplicial sampler: N=20" in err and "fixed.latent_dim" in err


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


def test_sample_per_anchor_rows_lie_in_their_anchor_cell():
    sampler = ls.SimplicialSampler(6, 8)
    rows = sampler.sample_per_anchor(50, 0.3, [0, 2, 5], torch.Generator().manual_seed(0))
    assert rows.shape == (3, 50, 8)
    p = ls.anchor_scores(rows.reshape(-1, 8), sampler.anchors).reshape(3, 50, 6)
    assert torch.equal(p.argmax(2), torch.tensor([0, 2, 5])[:, None].expand(3, 50))
    assert bool((p.amax(2) > 0.3).all())
    with pytest.raises(ls.SamplerError, match=r"anchors \[6\] not in 0\.\.5"):
        sampler.sample_per_anchor(5, 0.3, [6])
    with pytest.raises(ls.SamplerError, match=r"τ=0\.95 with N=6 anchors in d=8"):
        ls.SimplicialSampler(6, 8, max_draws_per_sample=5).sample_per_anchor(10, 0.95, [0])


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
    # 4 modes in R^10, N = 4 anchors in d = 8; under App. B.3's rule τ_train = 0.3 keeps ~98%
    # of latents, τ = 0.5 ~33%. The MI head ties each anchor cell to a mode, so the cells'
    # borders, which τ_infer cuts away, are where G puts its between-mode points.
    last = run({"acceptance_rule": "paper", "tau_train": 0.3, "tau_infer": 0.3,
                "tau_infer_sweep": [0.3, 0.5],
                "mi_steps": STEPS // 2, "lr_g": 2e-4, "lr_d": 4e-4, "beta1": 0.5, "beta2": 0.9,
                "eval_prdc_samples": 1000}, steps=STEPS)
    assert 0.2 < last["acceptance_tau0.5"] < 0.5 < 0.9 < last["acceptance_tau0.3"]
    assert last["precision_tau0.5"] >= last["precision_tau0.3"] + MARGIN
    assert last["precision"] == last["precision_tau0.3"]


def method_with_identity_generator(sampler: str) -> SimplicialGAN:
    """A SimplicialGAN on 8-d data whose G is the identity: samples are the latents themselves,
    so a row's cell can be read off the samples."""
    data = load_dataset("gaussian_mixture", n=500, m=4, dim=8)
    cfg = SimplicialConfig.model_validate(SMALL | {"sampler": sampler, "tau_infer": 0.4,
                                                   "deligan_components": 5})
    method = SimplicialGAN(cfg, data, RunContext(torch.device("cpu"), seed=0))
    method.g = torch.nn.Identity()
    return method


def test_sample_by_condition_gives_one_row_per_anchor_cell():
    method = method_with_identity_generator("simplicial")
    out = method.sample_by_condition(20, max_rows=3)
    assert out is not None
    x, labels = out
    assert x.shape == (3, 20, 8) and labels == ["anchor 0", "anchor 1", "anchor 2"]
    p = ls.anchor_scores(x.reshape(-1, 8), method.simplicial.anchors).reshape(3, 20, 4)
    assert torch.equal(p.argmax(2), torch.arange(3)[:, None].expand(3, 20))
    assert bool((p.amax(2) > 0.4).all())  # cut at τ_infer
    # Rows are reproducible: a figure per evaluation shows the same latents.
    assert torch.equal(method.sample_by_condition(20, max_rows=3)[0], x)


def test_sample_by_condition_deligan_rows_are_components_and_gaussian_has_none():
    method = method_with_identity_generator("deligan")
    method.prior.sigma.data.fill_(1e-3)  # tight components: each sample's nearest mean is its own
    x, labels = method.sample_by_condition(30, max_rows=10)
    assert x.shape == (5, 30, 8) and labels[4] == "component 4"
    nearest = torch.cdist(x.reshape(-1, 8), method.prior.mu.detach()).argmin(1).reshape(5, 30)
    assert torch.equal(nearest, torch.arange(5)[:, None].expand(5, 30))
    assert method_with_identity_generator("gaussian").sample_by_condition(4) is None


# ---- images: the paper's conv nets (tiny widths), MI head, GP on NCHW, classifier features ----

TINY_NETS = {"wgan_conv_mnist": ((1, 28, 28), {"g_ch": 2, "d_ch": 4}),
             "wgan_resnet32": ((3, 32, 32), {"g_ch": 4, "d_ch": 8, "sm_hidden": 4})}


def image_method(network: str, data_name: str = "tiny_images", **method: object
                 ) -> SimplicialGAN:
    shape, widths = TINY_NETS[network]
    x = torch.rand(128, *shape, generator=torch.Generator().manual_seed(0)) * 2 - 1
    data = image_bundle(data_name, x, np.arange(128) % 10, 10)
    cfg = SimplicialConfig.model_validate(
        SMALL | {"batch_size": 8, "network": network, "network_options": widths,
                 "mi_steps": 1} | method)
    return SimplicialGAN(cfg, data, RunContext(torch.device("cpu"), seed=0))


@pytest.mark.parametrize("network", sorted(TINY_NETS))
def test_image_train_step_with_the_mi_head(network):
    method = image_method(network)
    assert method.d.head.out_features == 1 + 4  # critic + one logit per anchor
    g0 = [p.detach().clone() for p in method.g.parameters()]
    losses = method.train_step(0)  # step 0 < mi_steps: the MI head is on
    assert all(torch.isfinite(v) for v in losses.values())
    assert float(losses["gp"]) > 0 and float(losses["loss_mi_d"]) > 0
    assert float(losses["loss_mi_g"]) > 0
    # The anchor logits got gradients; the generator moved.
    assert float(method.d.head.weight.grad[1:].abs().sum()) > 0
    assert any(not torch.equal(a, b) for a, b in zip(g0, method.g.parameters(), strict=True))
    # After mi_steps the anchor logits take no part in either loss.
    losses = method.train_step(1)
    assert float(losses["loss_mi_d"]) == 0 and float(losses["loss_mi_g"]) == 0
    assert float(method.d.head.weight.grad[1:].abs().sum()) == 0
    x, labels = method.sample_by_condition(3, max_rows=2)
    assert x.shape == (2, 3, *TINY_NETS[network][0]) and labels == ["anchor 0", "anchor 1"]


def test_gradient_penalty_interpolates_whole_images():
    # One α per image: the penalty of a critic linear in x with ‖w‖ = 1 is exactly 0.
    w = torch.randn(1, 3, 8, 8)
    w /= w.norm()
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731
    real, fake = torch.randn(16, 3, 8, 8), torch.randn(16, 3, 8, 8)
    assert float(gradient_penalty(critic, real, fake)) == pytest.approx(0, abs=1e-10)


class CountingClassifier(ConvClassifier):
    """Counts the images its feature layer sees."""

    seen = 0

    def features(self, x: torch.Tensor) -> torch.Tensor:
        CountingClassifier.seen += len(x)
        return super().features(x)


@pytest.fixture
def stand_in_mnist_classifier(tmp_path, monkeypatch):
    """An untrained MNIST-shaped classifier registered as classifier:mnist; stats cache in tmp."""
    monkeypatch.setenv(STATS_CACHE_ENV, str(tmp_path / "stats"))
    torch.manual_seed(0)
    trunk = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(784, 32), torch.nn.ReLU())
    model = CountingClassifier(trunk, 32, 10, (1, 28, 28)).eval()
    register_classifier("mnist", lambda root: (model, {"arch": "stand-in"}))
    yield model
    register_classifier("mnist", None)


def test_image_tau_sweep_uses_the_loops_image_metrics(stand_in_mnist_classifier):
    method = image_method("wgan_conv_mnist", data_name="mnist", tau_infer=0.3,
                          tau_infer_sweep=[0.3, 0.5], eval_prdc_samples=40,
                          eval_latent_samples=40, convex_pairs=5)
    method.train_step(0)
    seen = CountingClassifier.seen
    out = evaluate(method, method.data, 40, 1, None)  # the loop's evaluation, then the method's
    # Both τ went through the classifier's features (40 fakes each), beside the loop's own 40.
    assert CountingClassifier.seen - seen >= 3 * 40
    for tau in ("0.3", "0.5"):
        assert {f"{m}_tau{tau}" for m in ("fid", "precision", "recall", "density", "coverage",
                                          "acceptance")} <= set(out)
    # Unsuffixed numbers are the loop's (τ_infer samples): the method does not overwrite them.
    assert {"fid", "precision", "density", "coverage"} <= set(out)
    assert out["fid"] != out["fid_tau0.3"]  # other draws: the loop's sample, not the sweep's
    assert "latent_classes" in out  # G(z) labelled by the classifier
