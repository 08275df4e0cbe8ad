"""NEMGAN: the reparameterised mode sampler and the latent layout as pure functions, the config's
errors, prior learning on a mixture with known unequal weights, the ablation switches, train
steps on vectors and images, the α checkpoint, and the shipped study files."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from pydantic import ValidationError

from study.spec import load_spec
from trainables import checkpoint
from trainables.core.context import RunContext
from trainables.data import DataBundle, load_dataset
from trainables.loop import LocalReporter, seed_everything, train_loop
from trainables.methods import nemgan_prior as npr
from trainables.methods.nemgan import NEMGAN, NEMGANConfig, held_out_split
from trainables.networks.nemgan_conv import build_inverter
from trainables.networks.select import build_pair

REPO = Path(__file__).resolve().parents[2]
WEIGHTS = [0.6, 0.3, 0.1]
MIXTURE = {"n": 3000, "m": 3, "dim": 2, "std": 0.1, "spread": 3.0, "weights": WEIGHTS}
SMALL = {"batch_size": 32, "latent_dim": 6, "net_width": 0.25, "eval_test_samples": 300,
         "eval_fake_samples": 200}


@pytest.fixture(autouse=True)
def one_thread():
    """The CI machine's cores are shared: small nets run fastest on one thread."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def mixture():
    return load_dataset("gaussian_mixture", **MIXTURE)


def make(data, seed: int = 0, **overrides) -> NEMGAN:
    seed_everything(seed)
    cfg = NEMGANConfig.model_validate(SMALL | overrides)
    return NEMGAN(cfg, data, RunContext(torch.device("cpu"), seed))


# ---- the reparameterised sampler (pure) -------------------------------------------------------


def eq1_argmax(alpha: np.ndarray, nu1: np.ndarray) -> np.ndarray:
    """y = argmax f of Eq. 1 with the unit step, written apart from the sampler (numpy)."""
    a = np.cumsum(np.exp(alpha) / np.exp(alpha).sum())
    a[-1] = 1.0
    step = (a[None, :] - nu1[:, None] >= 0).astype(float)  # σ_h(a_i − ν₁)
    f = step - np.concatenate([np.zeros((len(nu1), 1)), step[:, :-1]], axis=1)
    return f.argmax(axis=1)


def test_sampled_modes_follow_softmax_alpha_within_monte_carlo_error():
    alpha = torch.tensor([0.5, -1.0, 1.2, 0.0, -0.3])
    p = torch.softmax(alpha, 0).double()
    n = 200_000
    nu1 = npr.uniform_draws(n, torch.Generator().manual_seed(0))
    f, y = npr.modes_from_uniform(alpha, nu1)
    assert torch.equal(f, torch.nn.functional.one_hot(y, 5).float())
    assert np.array_equal(y.numpy(), eq1_argmax(alpha.numpy().astype(float), nu1.double().numpy()))
    freq = torch.bincount(y, minlength=5).double() / n
    # Bound: each frequency is a binomial mean; 4 standard errors sqrt(p(1-p)/n) per mode
    # (two-sided 6e-5 each), at most 0.0044 here.
    bound = 4 * torch.sqrt(p * (1 - p) / n)
    assert bool(((freq - p).abs() <= bound).all()), (freq, p, bound)
    # Stratified draws (one per cell of width 1/n): each count is within 2 of n·p_i.
    _, ys = npr.sample_modes(alpha, 1000, torch.Generator().manual_seed(1), stratified=True)
    assert bool(((torch.bincount(ys, minlength=5) - 1000 * p).abs() <= 2).all())


def test_gradient_reaches_alpha_through_the_sampler():
    alpha = torch.tensor([0.3, -0.7, 0.9, 0.1], requires_grad=True)
    weights = torch.tensor([1.0, -2.0, 0.5, 3.0])
    f, y = npr.sample_modes(alpha, 200_000, torch.Generator().manual_seed(0), temperature=0.01)
    # Forward values are the exact one-hots: the batch mean is the empirical frequency.
    freq = torch.bincount(y, minlength=4).float() / len(y)
    assert torch.allclose(f.mean(0).detach(), freq, atol=1e-6)
    (f.mean(0) * weights).sum().backward()
    sampled = alpha.grad.clone()
    alpha.grad = None
    (torch.softmax(alpha, 0) * weights).sum().backward()
    analytic = alpha.grad
    assert sampled.abs().max() > 0.1
    # Per boundary the surrogate's gradient has s.d. ≈ 0.4/sqrt(τ n) ≈ 0.009 per unit weight.
    assert torch.allclose(sampled, analytic, atol=0.06), (sampled, analytic)
    # α without grad gives plain one-hots, no graph.
    f2, _ = npr.sample_modes(alpha.detach(), 10, torch.Generator().manual_seed(0))
    assert not f2.requires_grad


# ---- the latent layout ------------------------------------------------------------------------


@pytest.mark.parametrize("w", [0.3, 0.49])
def test_latent_modes_are_disjoint_for_the_box(w):
    k, d, n = 5, 8, 20_000
    g = torch.Generator().manual_seed(0)
    onehot, y = npr.sample_modes(torch.zeros(k), n, g)
    z = npr.multimodal_latent(onehot, npr.box_noise(n, d, w, g))
    assert torch.equal(npr.mode_of_latent(z, k), y)
    assert float(z[:, : d - k].abs().max()) <= w
    tail = z[:, -k:]
    for i in range(k):
        own, other = tail[y == i, i], tail[y != i, i]
        # Along coordinate i, mode i lies in [1 − w, 1 + w] and every other mode in [−w, w].
        assert float(own.min()) >= 1 - w and float(other.max()) <= w
        assert float(own.min()) > float(other.max())


@pytest.mark.parametrize("w", [0.5, 0.6, 0.0, -0.1])
def test_overlapping_box_is_rejected_naming_the_field(w):
    with pytest.raises(ValidationError, match=r"nu_half_width.*disjoint only for 0 < w < 0\.5"):
        NEMGANConfig(nu_half_width=w)


def test_config_errors_name_the_field():
    with pytest.raises(ValidationError, match="C3 \\(matched priors\\) needs C1"):
        NEMGANConfig(conditions=["C2", "C3"])
    with pytest.raises(ValidationError, match="'learned' needs C3"):
        NEMGANConfig(conditions=["C1", "C2"], priors="learned")
    with pytest.raises(ValidationError, match="at most once"):
        NEMGANConfig(conditions=["C1", "C1"])
    with pytest.raises(ValidationError, match="positive mode priors"):
        NEMGANConfig(priors=[0.5, 0.0])
    data = mixture()
    with pytest.raises(ValueError, match="latent_dim: .*expected latent_dim >= 3, got 2"):
        make(data, latent_dim=2)
    with pytest.raises(ValueError, match="priors: expected 3 values"):
        make(data, n_modes=3, priors=[0.5, 0.5])
    assert make(data, priors=[0.5, 0.5]).k == 2  # given priors set K (attribute discovery)


# ---- prior learning ---------------------------------------------------------------------------


def test_prior_learning_moves_alpha_to_the_true_weights():
    """The prior-learning step itself (h retrained on 2 % labels, α on E_x[h(x)]), without the
    GAN: on well separated modes h becomes accurate and softmax(α) must reach the weights."""
    data = mixture()
    true = torch.as_tensor(data.info["priors"], dtype=torch.float32)
    m = make(data, priors="learned", labelled_fraction=0.02, labelled_start=0, prior_start=0,
             h_retrain_every=1, h_retrain_steps=1, alpha_lr=0.05, prior_batch=512, lr_h=3e-3)
    assert len(m.labelled) == 60 and not set(m.labelled.tolist()) & set(m.unlabelled.tolist())
    start = float((m.priors() - true).abs().sum())
    assert start > 0.5  # uniform start
    for step in range(300):
        out = m.learn_priors(step)
    assert set(out) == {"labelled_ce", "prior_loss"}
    end = float((m.priors() - true).abs().sum())
    assert end < 0.08, (m.priors(), true)
    assert m.priors().argmax() == 0 and m.priors().argmin() == 2


def test_labelled_set_depends_on_the_seed_only():
    data = mixture()
    a, b, c = (make(data, seed=s, priors="learned").labelled for s in (0, 0, 1))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert len(a) == math.ceil(0.01 * len(data.x))


# ---- ablations --------------------------------------------------------------------------------


def test_priors_follow_c3_and_the_priors_setting():
    data = mixture()
    true = torch.as_tensor(data.info["priors"], dtype=torch.float32)
    assert torch.allclose(make(data).priors(), true, atol=1e-6)  # default: matched (C3)
    uniform = torch.full((3,), 1 / 3)
    assert torch.allclose(make(data, conditions=["C1", "C2"]).priors(), uniform)
    assert torch.allclose(make(data, priors="uniform").priors(), uniform)
    given = make(data, priors=[2.0, 1.0, 1.0]).priors()
    assert torch.allclose(given, torch.tensor([0.5, 0.25, 0.25]))
    assert not make(data).prior.alpha.requires_grad
    assert make(data, priors="learned").prior.alpha.requires_grad


def test_without_c1_the_latent_is_one_box_and_h_clusters_by_kmeans():
    data = mixture()
    m = make(data, conditions=[])
    z, y = m.draw_latent(1000, torch.Generator().manual_seed(0))
    assert y is None and float(z.abs().max()) <= m.cfg.nu_half_width
    assert m.sample_by_condition(4) is None
    m.train_step(0)
    out = m.evaluate(1)
    assert {"acc", "nmi", "ari"} <= set(out) and not any(k.startswith("prior") for k in out)
    full = make(data)
    z, y = full.draw_latent(1000, torch.Generator().manual_seed(0))
    assert torch.equal(npr.mode_of_latent(z, 3), y)


def test_without_c2_the_inverter_never_reaches_g():
    """G after one step without C2 equals G after a step with C2 but zero inverter weight, and
    differs from the full model's; h (the probe) still trains."""
    data = mixture()

    def one_step(**kw):
        m = make(data, **kw)
        h0 = [p.detach().clone() for p in m.h.parameters()]
        m.train_step(0)
        moved = any(not torch.equal(a, b) for a, b in zip(h0, m.h.parameters(), strict=True))
        return torch.cat([p.detach().flatten() for p in m.g.parameters()]), moved

    g_off, h_moved = one_step(conditions=["C1", "C3"])
    g_zero, _ = one_step(inverter_weight=0.0)
    g_full, _ = one_step()
    assert h_moved
    assert torch.equal(g_off, g_zero)
    assert not torch.allclose(g_off, g_full)


def g_after(data, steps: int, **kw) -> tuple[torch.Tensor, NEMGAN]:
    """G's parameters after `steps` train steps (batch-norm statistics aside: they move with
    every forward pass), and the method."""
    m = make(data, **kw)
    for step in range(steps):
        m.train_step(step)
    return torch.cat([p.detach().flatten() for p in m.g.parameters()]), m


@pytest.mark.parametrize("update", ["separate", "joint"])
def test_the_inverter_step_moves_g_on_its_own(update):
    """With G's adversarial learning rate near zero, G still learns from h's loss in the
    authors' update order (its own optimiser), and not at all in the joint form, where h's
    loss shares G's one (near-zero-rate) step. The separate step also lowers h's loss on G's
    samples. The joint form once left G training as if h were absent (issue 30)."""
    data = mixture()
    frozen = {"lr_g": 1e-12, "inverter_update": update}
    start, m0 = g_after(data, 0, **frozen)
    after, m = g_after(data, 15, **frozen)
    moved = float((after - start).abs().max())
    if update == "separate":
        assert moved > 1e-4 and "opt_inv" in m.optimizers()
        y = torch.arange(64) % m.k
        z, _ = m.draw_latent(64, torch.Generator().manual_seed(6), modes=y)
        m0.g.eval(), m.g.eval(), m0.h.eval(), m.h.eval()
        with torch.no_grad():
            before = sum(m0.inverter_loss(m0.g(z), z, y)).item()
            later = sum(m.inverter_loss(m.g(z), z, y)).item()
        assert later < before
    else:
        assert moved < 1e-9 and "opt_inv" not in m.optimizers()


def test_no_nemgan_conv_layer_is_narrower_than_the_floor():
    """At width 0.25 G's last hidden convolutions had 2 and then 1 channel; every layer now
    keeps min(the code's width, 8)."""
    from trainables.networks.nemgan_conv import MIN_CHANNELS

    x = torch.rand(4, 1, 28, 28) * 2 - 1
    data = DataBundle("tiny", x, torch.zeros(4, dtype=torch.long), {"n_classes": 5})
    g, d = build_pair("nemgan_conv", data, 10, width=0.25)
    h = build_inverter(data, 10, 5, width=0.25)
    for net in (g, d, h):
        for layer in net.modules():
            if isinstance(layer, torch.nn.Conv2d | torch.nn.ConvTranspose2d):
                if layer.out_channels == 1 and net is g:
                    continue  # G's output convolution: the image's one channel
                assert layer.out_channels >= min(4, MIN_CHANNELS), layer
    hidden = [m.out_channels for m in g.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert hidden[-1] == 1  # the output layer
    assert sorted(hidden[:-1])[:2] == [4, 8]  # c4 and c8 at their code widths, not 1 and 2


# ---- training through the loop ----------------------------------------------------------------


@pytest.mark.parametrize("loss", ["wgan", "standard"])
def test_train_loop_on_vector_data_learns_priors_and_reports_the_metrics(loss):
    cfg = {"trainer": "nemgan", "dataset": {"name": "gaussian_mixture", "options": MIXTURE},
           "method": SMALL | {"loss": loss, "priors": "learned", "labelled_start": 0,
                              "prior_start": 30, "h_retrain_every": 1, "h_retrain_steps": 3,
                              "lr_h": 3e-3, "alpha_lr": 0.03},
           "steps": 60, "eval_every": 30, "checkpoint_every": 60, "eval_samples": 200}
    reporter = LocalReporter()
    last = train_loop(cfg, reporter)
    assert [h["step"] for h in reporter.history] == [30, 60]
    for key in ("acc", "nmi", "ari", "prior_l1", "prior_0", "prior_2", "mode_consistency",
                "fake_prior_l1", "labelled_ce", "prior_loss", "inverter_ce"):
        assert math.isfinite(last[key]), key
    assert last["eval_on_test"] == 1.0 and 0 <= last["acc"] <= 1
    # the floor of ACC: one cluster scores the largest class's share (weights 0.6 / 0.3 / 0.1)
    assert 0.5 < last["acc_majority"] < 0.7
    assert abs(sum(last[f"prior_{i}"] for i in range(3)) - 1) < 1e-5
    # h first learns W_s (30 steps), then 30 α steps from uniform toward [0.6, 0.3, 0.1].
    first = reporter.history[0]
    assert abs(first["prior_0"] - 1 / 3) < 1e-6 and first["prior_l1"] > 0.5
    assert last["prior_0"] > 1 / 3 > last["prior_2"]
    assert last["prior_l1"] < first["prior_l1"] - 0.15


def test_train_step_on_a_tiny_image_set(shared_datasets):
    data = load_dataset("mnist5", root=shared_datasets, n=200)
    m = make(data, latent_dim=16, batch_size=8, priors="learned", labelled_fraction=0.05,
             labelled_start=0, prior_start=0, h_retrain_every=1, prior_batch=16,
             net_width=0.125, eval_test_samples=100, eval_fake_samples=20)
    assert type(m.g).__name__ == "NEMGANGenerator"
    for step in range(2):
        out = m.train_step(step)
    assert all(math.isfinite(float(v)) for v in out.values())
    assert m.sample(3).shape == (3, 1, 28, 28)
    rows, labels = m.sample_by_condition(2, max_rows=5)
    assert rows.shape == (5, 2, 1, 28, 28) and labels[0].startswith("mode 0 (prior 0.200)")
    metrics = m.evaluate(2)
    assert metrics["eval_on_test"] == 1.0 and {"acc", "nmi", "ari", "prior_4"} <= set(metrics)
    # The authors' protocol beside ours: balanced test set, so one cluster scores 1/5.
    assert metrics["code_purity_floor"] == pytest.approx(0.2)
    assert 0.2 <= metrics["code_purity"] <= 1 and -1 <= metrics["code_ari"] <= 1


def test_nemgan_conv_keeps_the_network_contract():
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    data = DataBundle("tiny", x, torch.zeros(6, dtype=torch.long), {"n_classes": 3})
    g, d = build_pair("nemgan_conv", data, 10, n_classes=3, d_out=3, width=0.125)
    c = torch.tensor([0, 1, 2, 0, 1, 2])
    fake = g(torch.randn(6, 10), c).detach()
    assert fake.shape == (6, 1, 28, 28) and float(fake.abs().max()) <= 1
    assert isinstance(d.head, torch.nn.Linear) and d.head.in_features == d.features(x).shape[1]
    d.eval()  # no dropout: the same x gives the same logits
    assert d(x).shape == (6,)
    assert torch.equal(d(x, c), d.head(d.features(x)).gather(1, c[:, None])[:, 0])
    z_hat, logits = build_inverter(data, 10, 3, width=0.125)(x)
    assert z_hat.shape == (6, 10) and logits.shape == (6, 3)
    with pytest.raises(ValueError, match="nemgan_conv needs images"):
        build_pair("nemgan_conv", mixture(), 10)


def test_held_out_split_is_the_test_split_of_the_same_set():
    data = mixture()
    test = held_out_split(data)
    assert test is not None and len(test.x) == len(data.x)
    assert not torch.equal(test.x, data.x)
    assert np.allclose(test.info["weights"], data.info["weights"])


# ---- state ------------------------------------------------------------------------------------


def test_checkpoint_round_trip_keeps_learned_alpha(tmp_path):
    data = mixture()
    m = make(data, priors="learned", labelled_start=0, prior_start=0, alpha_lr=0.05)
    for step in range(20):
        m.learn_priors(step)
    assert not torch.allclose(m.priors(), torch.full((3,), 1 / 3))
    checkpoint.save(m, m.ctx, 20, tmp_path, {"trainer": "nemgan"})
    fresh = make(data, seed=0, priors="learned")
    step, _ = checkpoint.load(fresh, fresh.ctx, tmp_path)
    assert step == 20
    assert torch.equal(fresh.prior.alpha, m.prior.alpha) and fresh.prior.alpha.requires_grad
    assert torch.equal(fresh.opt_alpha.state_dict()["state"][0]["exp_avg"],
                       m.opt_alpha.state_dict()["state"][0]["exp_avg"])
    assert torch.equal(fresh.eval_gen.get_state(), m.eval_gen.get_state())


def test_apply_hparams_sets_every_learning_rate():
    m = make(mixture(), priors="learned")
    new = m.cfg.model_copy(update={"lr_g": 1e-3, "lr_d": 2e-3, "lr_h": 3e-3, "alpha_lr": 4e-3,
                                   "lr_inverter": 5e-3})
    m.apply_hparams(new)
    lrs = {k: o.param_groups[0]["lr"] for k, o in m.optimizers().items()}
    assert lrs == {"opt_g": 1e-3, "opt_d": 2e-3, "opt_h": 3e-3, "opt_alpha": 4e-3,
                   "opt_inv": 5e-3}
    assert set(NEMGAN.mutable) >= {"lr_g", "lr_d", "lr_h", "alpha_lr", "lr_inverter"}


# ---- shipped studies --------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted((REPO / "search_spaces").glob("nemgan_*.yaml")),
                         ids=lambda p: p.stem)
def test_shipped_nemgan_studies_validate(path):
    spec = load_spec(path)
    assert spec.trainer == "nemgan"
