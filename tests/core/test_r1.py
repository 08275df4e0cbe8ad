"""R1 penalty: its value on discriminators with known gradients, and that D's update includes it
(through the penalty's own gradient) in every method that takes the setting."""

from __future__ import annotations

import copy

import pytest
import torch
from pydantic import ValidationError

from trainables.core.context import RunContext
from trainables.core.losses import d_loss, r1_penalty
from trainables.data import load_dataset
from trainables.registry import get_method


def test_r1_is_the_squared_norm_of_known_input_gradients():
    x = torch.randn(64, 3, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    w = torch.tensor([0.5, -2.0, 3.0])
    # Linear D: ∇ₓD = w for every sample.
    assert r1_penalty(x @ w + 1.0, x).item() == pytest.approx(float(w @ w))
    # D = ‖x‖²: ∇ₓD = 2x, so the penalty is 4·E‖x‖².
    expected = 4 * x.detach().pow(2).sum(1).mean().item()
    assert r1_penalty(x.pow(2).sum(1), x).item() == pytest.approx(expected, rel=1e-6)


def test_r1_is_differentiable_in_the_discriminator_weights():
    x = torch.randn(16, 2).requires_grad_(True)
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    r1_penalty(x @ w, x).backward()  # penalty = ‖w‖², gradient 2w
    assert torch.allclose(w.grad, 2 * w.detach())


def small(trainer: str, gamma: float, tmp_path):
    data, method = load_dataset("grid", n=600), {"batch_size": 16, "r1_gamma": gamma}
    if trainer == "selfcond_gan":
        method |= {"k": 4, "cluster_subset": 300, "kmeans_restarts": 1}
    elif trainer == "pgmgan":
        method |= {"k": 4, "partition.init": "kmeans", "partition.kmeans_restarts": 1,
                   "partition.steps": 10, "partition.subset": 300, "partition.blocks": 1,
                   "partition.hidden": 8, "partition.cache": str(tmp_path)}
    cls = get_method(trainer)
    return cls(cls.Config.model_validate(method), data, RunContext(torch.device("cpu"), seed=0))


@pytest.mark.parametrize("trainer", ["baseline_gan", "selfcond_gan", "pgmgan"])
def test_d_update_adds_half_gamma_times_r1_to_the_loss_it_steps(trainer, tmp_path):
    gamma = 0.3
    method = small(trainer, gamma, tmp_path)
    conditional = trainer != "baseline_gan"
    real = method.data.x[:16].clone()
    c = torch.arange(16) % 4 if conditional else None
    with torch.no_grad():
        fake = method.g(method.latent(16), c)
    # The reference: the same D and optimiser state, the loss written out by hand.
    d_ref = copy.deepcopy(method.d)
    opt_ref = torch.optim.Adam(d_ref.parameters(), lr=method.cfg.lr_d,
                               betas=(method.cfg.beta1, method.cfg.beta2))
    x = real.clone().requires_grad_(True)
    args = () if c is None else (torch.cat([c, c]),)
    logits = d_ref(torch.cat([x, fake]), *args)
    loss = d_loss(method.cfg.loss, logits[:16], logits[16:])
    (grad,) = torch.autograd.grad(logits[:16].sum(), x, create_graph=True)
    penalty = grad.pow(2).sum(1).mean()
    opt_ref.zero_grad()
    (loss + gamma / 2 * penalty).backward()
    opt_ref.step()

    got = method.d_update(real, fake, c)
    assert got.item() == pytest.approx((loss + gamma / 2 * penalty).item(), rel=1e-5)
    assert penalty.item() > 0
    for (name, p), q in zip(method.d.named_parameters(), d_ref.parameters(), strict=True):
        assert torch.allclose(p, q, atol=1e-6), name


def conditional_batch(method):
    """(real, fake, c) of 16 samples and D's plain loss on them, before any update."""
    real, c = method.data.x[:16].clone(), torch.arange(16) % 4
    with torch.no_grad():
        fake = method.g(method.latent(16), c)
        logits = method.d(torch.cat([real, fake]), torch.cat([c, c]))
    return real, fake, c, d_loss(method.cfg.loss, logits[:16], logits[16:]).item()


def test_without_gamma_the_update_is_the_plain_loss(tmp_path):
    method = small("selfcond_gan", 0.0, tmp_path)
    real, fake, c, plain = conditional_batch(method)
    assert method.d_update(real, fake, c).item() == pytest.approx(plain, rel=1e-6)
    assert not real.requires_grad  # the caller's batch is left alone


def test_a_negative_gamma_is_refused_by_name():
    cls = get_method("selfcond_gan")
    with pytest.raises(ValidationError, match="r1_gamma"):
        cls.Config.model_validate({"r1_gamma": -1.0})


def test_pbt_may_change_gamma_mid_run(tmp_path):
    method = small("selfcond_gan", 0.0, tmp_path)
    assert "r1_gamma" in method.mutable
    real, fake, c, plain = conditional_batch(method)
    method.apply_hparams(method.cfg.model_copy(update={"r1_gamma": 0.3}))
    assert method.d_update(real, fake, c).item() > plain  # the penalty is now in the loss
