"""Image G/D pairs (dcgan, sngan_resnet, wgan_conv_mnist, wgan_resnet32): the G/D contract at
every supported shape, conditioning, spectral norm, the papers' widths, shape errors, and one
optimisation step (tiny widths, except where the papers' sizes are checked by construction)."""

from __future__ import annotations

import copy
import io

import pytest
import torch
from torch import nn
from torch.nn import functional as F
from torch.nn.utils import parametrize

from trainables.core.losses import gradient_penalty
from trainables.data import DataBundle
from trainables.networks.select import build_pair

# (network, image shape, data set name): every shape each builder supports.
CASES = [
    ("dcgan", (1, 28, 28), "mnist"),
    ("dcgan", (3, 28, 28), "stacked_mnist"),
    ("dcgan", (3, 32, 32), "stacked_mnist"),
    ("dcgan", (3, 32, 32), "cifar10"),
    ("sngan_resnet", (3, 32, 32), "cifar10"),
    ("sngan_resnet", (3, 48, 48), "stl10"),
    ("wgan_conv_mnist", (1, 28, 28), "mnist"),
    ("wgan_resnet32", (3, 32, 32), "cifar10"),
]
TINY = {
    "dcgan": {"g_ch": 4, "d_ch": 4, "embed_dim": 8},
    "sngan_resnet": {"g_ch": 2, "d_ch": 2},
    "wgan_conv_mnist": {"g_ch": 2, "d_ch": 4},
    "wgan_resnet32": {"g_ch": 4, "d_ch": 4, "sm_hidden": 4},
}
LATENT, K = 16, 3


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """The test machine's cores are shared: one thread is faster than two fighting."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def images(shape: tuple[int, ...], n: int = 2, name: str = "data") -> DataBundle:
    return DataBundle(name, torch.rand(n, *shape) * 2 - 1)


def tiny_pair(network, shape, name, n_classes=K, d_out=K, **extra):
    torch.manual_seed(0)
    opts = {**TINY[network], **extra}
    return build_pair(network, images(shape, name=name), LATENT, n_classes, d_out, **opts)


def case_id(case) -> str:
    net, shape, name = case
    return f"{net}-{name}-{shape[1]}"


# ---- the contract ------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_shapes_range_and_contract(case):
    net, shape, name = case
    g, d = tiny_pair(net, shape, name)
    z, c = torch.randn(4, LATENT), torch.tensor([0, 1, 2, 1])
    x = g(z, c).detach()
    assert x.shape == (4, *shape)
    assert float(x.abs().max()) <= 1.0
    d.eval()  # no power iteration between the calls compared below
    h = d.features(x)
    assert isinstance(d.head, nn.Linear) and d.head.out_features == K
    assert h.shape == (4, d.head.in_features)
    logits = d.head(h)
    assert torch.allclose(d(x), logits[:, 0], atol=1e-6)
    assert torch.allclose(d(x, c), logits[torch.arange(4), c], atol=1e-6)
    with pytest.raises(ValueError, match="conditional"):
        g(z)
    g.eval()  # BN on running statistics: one sample alone
    assert g(z[:1], c[:1]).shape == (1, *shape)
    # Unconditional pair: G(z) and a single-column head.
    g0, d0 = tiny_pair(net, shape, name, n_classes=0, d_out=1)
    x0 = g0(z).detach()
    assert x0.shape == (4, *shape) and float(x0.abs().max()) <= 1.0
    assert d0(x0).shape == (4,) and d0.head.out_features == 1


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_conditional_generator_depends_on_the_condition(case):
    net, shape, name = case
    g, _ = tiny_pair(net, shape, name)
    # One z, two conditions; batch statistics (train mode) keep the activations at unit scale.
    z = torch.randn(1, LATENT).repeat(8, 1)
    with torch.no_grad():
        x = g(z, torch.tensor([0] * 4 + [1] * 4))
    assert torch.allclose(x[0], x[3], atol=1e-5) and torch.allclose(x[4], x[7], atol=1e-5)
    assert (x[0] - x[4]).abs().max() > 1e-4


def test_dcgan_conditional_bn_option_conditions_every_bn():
    shape = (3, 32, 32)
    g, _ = tiny_pair("dcgan", shape, "cifar10", cond="bn")
    assert not hasattr(g, "embed")
    assert all(m.n_classes == K for m in g.norms)
    with torch.no_grad():
        x = g(torch.randn(1, LATENT).repeat(4, 1), torch.tensor([0, 0, 2, 2]))
    assert (x[0] - x[2]).abs().max() > 1e-4


def test_auto_picks_dcgan_and_its_variant_by_shape_and_data():
    cases = [((3, 28, 28), "stacked_mnist", 5, 2048), ((3, 32, 32), "stacked_mnist", 4, 2048),
             ((3, 32, 32), "cifar10", 3, 8192)]
    for shape, name, kernel, features in cases:
        _, d = build_pair("auto", images(shape, name=name), LATENT)
        assert d.body[0].kernel_size[0] == kernel  # pacgan 5×5, shallow 4×4, deep 3×3 first
        assert d.head.in_features == features  # 8 × 64 channels × 2×2 or 4×4


# ---- spectral norm -----------------------------------------------------------------------------


@pytest.mark.parametrize("side", [32, 48])
def test_sngan_discriminator_layers_have_unit_spectral_norm(side):
    torch.manual_seed(1)
    _, d = build_pair("sngan_resnet", images((3, side, side)), LATENT, d_ch=4)
    layers = [m for m in d.modules() if parametrize.is_parametrized(m, "weight")]
    # Every conv (3 or 2 per block) and the head.
    assert len(layers) == {32: 3 + 3 + 2 + 2 + 1, 48: 3 * 5 + 1}[side]
    x = torch.randn(2, 3, side, side)
    with torch.no_grad():
        for _ in range(30):  # one power iteration per training forward
            d(x)
    d.eval()  # read the normalised weights without another iteration
    for m in layers:
        w = m.weight.detach().reshape(m.weight.size(0), -1)
        sigma = float(torch.linalg.matrix_norm(w, ord=2))
        # The power-iteration estimate never exceeds the true σ, so W/σ̂ sits at or just above 1.
        assert 1 - 1e-4 < sigma < 1.05, (m, sigma)


def test_sngan_checkpoint_round_trip_keeps_outputs():
    g, d = tiny_pair("sngan_resnet", (3, 32, 32), "cifar10")
    x = torch.randn(2, 3, 32, 32)
    d(x)  # a training forward moves the power-iteration vectors
    buf = io.BytesIO()
    torch.save({"g": g.state_dict(), "d": d.state_dict()}, buf)
    buf.seek(0)
    state = torch.load(buf, weights_only=True)
    g2, d2 = tiny_pair("sngan_resnet", (3, 32, 32), "cifar10")
    g2.load_state_dict(state["g"])
    d2.load_state_dict(state["d"])
    for m in (g, d, g2, d2):
        m.eval()
    z, c = torch.randn(2, LATENT), torch.tensor([0, 1])
    assert torch.allclose(d(x, c), d2(x, c)) and torch.allclose(g(z, c), g2(z, c))


def test_sngan_discriminator_fits_pgmgan_projection_head():
    from trainables.methods.pgmgan import ProjectionDiscriminator

    _, base = tiny_pair("sngan_resnet", (3, 48, 48), "stl10", d_out=1)
    d = ProjectionDiscriminator(base, K).eval()
    x, c = torch.randn(2, 3, 48, 48), torch.tensor([0, 2])
    h = base.features(x)
    expected = base.head(h)[:, 0] + (d.embed(c) * h).sum(1)
    assert torch.allclose(d(x, c), expected, atol=1e-5)


# ---- the papers' widths (construction only) ----------------------------------------------------


def convs(module: nn.Module) -> list[tuple[int, int, int, int]]:
    """(in, out, kernel, stride) of every conv / deconv in registration order."""
    return [(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0])
            for m in module.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d)]


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_sngan_resnet_32_matches_pgmgan_table_6():
    g, d = build_pair("sngan_resnet", images((3, 32, 32)), 128, n_classes=0)
    assert g.linear.out_features == 4 * 4 * 256  # dense 4×4×256
    # 3 × ResBlock up 256 (conv1, conv2, 1×1 shortcut), then BN, ReLU, 3×3 conv → 3.
    assert convs(g) == [(256, 256, 3, 1), (256, 256, 3, 1), (256, 256, 1, 1)] * 3 + [
        (256, 3, 3, 1)]
    assert [b.down for b in d.blocks] == [True, True, False, False]
    assert convs(d) == ([(3, 128, 3, 1), (128, 128, 3, 1), (3, 128, 1, 1)]
                        + [(128, 128, 3, 1), (128, 128, 3, 1), (128, 128, 1, 1)]
                        + [(128, 128, 3, 1), (128, 128, 3, 1)] * 2)
    assert d.head.in_features == 128 and d.head.out_features == 1
    # SN-GAN's CIFAR ResNet sizes: D = (3·9·128+128) + (128²·9+128)·7 + (3·128+128)
    # + (128²+128) + (128+1); G counted alike (Mimicry quotes 4.3M / 1.0M).
    assert n_params(d) == 1_053_825
    assert n_params(g) == 4_276_739


def test_sngan_resnet_48_matches_pgmgan_table_7():
    g, d = build_pair("sngan_resnet", images((3, 48, 48)), 128, n_classes=0)
    assert g.linear.out_features == 3 * 3 * 1024  # dense 3×3×1024
    outs = [b.conv1.out_channels for b in g.blocks]
    assert [b.conv1.in_channels for b in g.blocks] == [1024, 512, 256, 128]
    assert outs == [512, 256, 128, 64] and g.conv_out.in_channels == 64
    assert [b.conv1.out_channels for b in d.blocks] == [64, 128, 256, 512, 1024]
    assert [b.down for b in d.blocks] == [True] * 4 + [False]
    assert d.head.in_features == 1024


def test_sngan_conditional_bn_has_one_gamma_beta_per_partition():
    g, _ = build_pair("sngan_resnet", images((3, 32, 32)), 128, n_classes=50)
    for block in g.blocks:
        for bn in (block.bn1, block.bn2):
            assert bn.gain.weight.shape == bn.bias.weight.shape == (50, bn.bn.num_features)


def test_wgan_conv_mnist_matches_table_4():
    g, d = build_pair("wgan_conv_mnist", images((1, 28, 28)), 64)
    assert g.fc.out_features == 7 * 7 * 128
    assert convs(g) == [(128, 64, 3, 1), (64, 64, 3, 1), (64, 32, 3, 1), (32, 32, 3, 1),
                        (32, 16, 3, 1), (16, 1, 3, 1)]
    assert convs(d) == [(1, 512, 4, 2), (512, 512, 3, 1), (512, 512, 4, 2), (512, 512, 3, 1)]
    assert d.head.in_features == 7 * 7 * 512
    assert not any(isinstance(m, nn.modules.batchnorm._NormBase) for m in d.modules())


def test_wgan_resnet32_matches_table_5():
    g, d = build_pair("wgan_resnet32", images((3, 32, 32)), 128)
    assert g.fc.out_features == 4 * 4 * 128
    assert convs(g) == [(128, 128, 3, 1)] * 6 + [(128, 3, 3, 1)]
    # Self-modulated BN: 2 per block, γ and β from z through 32 hidden units.
    mods = [m for m in g.modules() if m.__class__.__name__ == "SelfModulatedBatchNorm2d"]
    assert len(mods) == 6
    assert all(m.mlp[0].in_features == 128 and m.mlp[0].out_features == 32 for m in mods)
    assert convs(d) == [(3, 256, 3, 1), (256, 256, 3, 1), (3, 256, 1, 1)] + [
        (256, 256, 3, 1)] * 6
    assert sum(isinstance(m, nn.AvgPool2d) for m in d.modules()) == 2
    assert d.head.in_features == 256
    assert not any(isinstance(m, nn.modules.batchnorm._NormBase) for m in d.modules())


def test_dcgan_matches_the_authors_nets():
    g, d = build_pair("dcgan", images((3, 32, 32), name="cifar10"), 128, n_classes=100,
                      d_out=100)
    # G (dcgan_deep / shallow): fc(z ⊕ 256-d embedding) → 4×4×512, deconvs 256/128/64, conv → 3.
    assert g.fc.in_features == 128 + 256 and g.fc.out_features == 4 * 4 * 512
    assert convs(g) == [(512, 256, 4, 2), (256, 128, 4, 2), (128, 64, 4, 2), (64, 3, 3, 1)]
    assert convs(d) == [(3, 64, 3, 1), (64, 64, 4, 2), (64, 128, 3, 1), (128, 128, 4, 2),
                        (128, 256, 3, 1), (256, 256, 4, 2), (256, 512, 3, 1)]
    assert d.head.in_features == 512 * 4 * 4 and d.head.out_features == 100
    _, d = build_pair("dcgan", images((3, 32, 32), name="stacked_mnist"), 128)
    assert convs(d) == [(3, 64, 4, 2), (64, 128, 4, 2), (128, 256, 4, 2), (256, 512, 4, 2)]
    g, d = build_pair("dcgan", images((3, 28, 28), name="stacked_mnist"), 100)
    assert g.fc.out_features == 2 * 2 * 512
    assert convs(g) == [(512, 256, 5, 2), (256, 128, 5, 2), (128, 64, 5, 2), (64, 3, 5, 2)]
    assert convs(d) == [(3, 64, 5, 2), (64, 128, 5, 2), (128, 256, 5, 2), (256, 512, 5, 2)]


# ---- errors ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("network", "shape"), [
    ("dcgan", (3, 64, 64)), ("dcgan", (2, 32, 32)), ("dcgan", (2,)),
    ("sngan_resnet", (3, 28, 28)), ("sngan_resnet", (3, 32, 48)),
    ("wgan_conv_mnist", (3, 32, 32)), ("wgan_resnet32", (1, 28, 28)),
])
def test_unsupported_shape_names_network_and_shape(network, shape):
    with pytest.raises(ValueError, match=f"network {network}: ") as err:
        build_pair(network, images(shape), LATENT)
    assert f"has shape {shape}" in str(err.value)


def test_dcgan_variant_for_another_size_is_refused():
    with pytest.raises(ValueError, match="variant 'pacgan' is for 28"):
        build_pair("dcgan", images((3, 32, 32)), LATENT, variant="pacgan")
    with pytest.raises(ValueError, match="cond must be"):
        build_pair("dcgan", images((3, 32, 32)), LATENT, cond="concat")


# ---- one optimisation step ---------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_one_step_of_each_player_changes_its_weights(case):
    net, shape, name = case
    g, d = tiny_pair(net, shape, name)
    opt_g = torch.optim.Adam(g.parameters(), lr=1e-3, betas=(0.0, 0.99))
    opt_d = torch.optim.Adam(d.parameters(), lr=1e-3, betas=(0.0, 0.99))
    before_g = {k: v.detach().clone() for k, v in g.named_parameters()}
    before_d = {k: v.detach().clone() for k, v in d.named_parameters()}
    real, c = torch.rand(4, *shape) * 2 - 1, torch.tensor([0, 1, 2, 0])
    z = torch.randn(4, LATENT)

    fake = g(z, c).detach()
    if net.startswith("wgan"):  # trained with WGAN-GP: the penalty needs double backward
        loss_d = d(fake, c).mean() - d(real, c).mean() + 10 * gradient_penalty(d, real, fake)
    else:
        loss_d = F.softplus(-d(real, c)).mean() + F.softplus(d(fake, c)).mean()
    opt_d.zero_grad()
    loss_d.backward()
    opt_d.step()
    grads_d = {k: p.grad.clone() for k, p in d.named_parameters() if p.grad is not None}
    loss_g = F.softplus(-d(g(z, c), c)).mean()
    opt_g.zero_grad()
    loss_g.backward()
    opt_g.step()
    grads_g = {k: p.grad for k, p in g.named_parameters() if p.grad is not None}

    for net_, before, grads in ((g, before_g, grads_g), (d, before_d, grads_d)):
        assert set(grads) == set(before), "every parameter takes part in its player's loss"
        for k, p in net_.named_parameters():
            # (Under the WGAN loss the critic's output bias has no gradient: it cancels.)
            if grads[k].abs().max() > 1e-6:
                assert not torch.equal(p.detach(), before[k]), f"{k} did not change"
        changed = sum(not torch.equal(p.detach(), before[k]) for k, p in net_.named_parameters())
        assert changed >= len(before) - 1


def test_toy_generator_embedding_condition_is_unit_length_and_learned():
    from trainables.networks.toy import ToyGenerator

    torch.manual_seed(0)
    g = ToyGenerator(2, n_classes=5, condition="embedding").eval()
    z, c = torch.randn(8, 2), torch.arange(8) % 5
    x = g(z, c)
    assert x.shape == (8, 2) and g.net[0].in_features == 2 + 32
    with torch.no_grad():  # only the direction of an embedding reaches G: rescaling is a no-op
        g.embed.weight.mul_(7.0)
    assert torch.allclose(g(z, c), x, atol=1e-5)
    assert g.embed.weight.requires_grad
    with pytest.raises(ValueError, match="condition"):
        ToyGenerator(2, n_classes=5, condition="film")


@pytest.mark.parametrize("case", CASES, ids=case_id)
def test_d_step_scores_fakes_as_g_step_does(case):
    """In train mode the D step's fake logits equal D on the fakes alone, which is what G's step
    sees. A D with batch norm on one mixed real+fake batch breaks this (it separates the two by the
    batch statistics, so both players' losses fall to zero and G learns nothing)."""
    from trainables.core.method import d_logits, has_batch_norm

    _, d = tiny_pair(*case, n_classes=0, d_out=1)
    d.train()
    shape = case[1]
    real, fake = torch.rand(8, *shape) * 2 - 1, torch.rand(8, *shape) * 0.2
    start = copy.deepcopy(d.state_dict())  # spectral norm's power iteration moves per call

    def fresh(x: torch.Tensor) -> torch.Tensor:
        d.load_state_dict(start)
        return d(x)

    logits = d_logits(d, real, fake)
    assert logits.shape == (16,)
    torch.testing.assert_close(logits[8:], fresh(fake))
    torch.testing.assert_close(logits[:8], fresh(real))
    if has_batch_norm(d):  # the mixed batch really would score the fakes differently
        assert not torch.allclose(fresh(torch.cat([real, fake]))[8:], fresh(fake), atol=1e-4)
