"""PGMGAN on images (no Ray): SimCLR augmentations and NT-Xent, the cached image partition stage
(SimCLR once per data set and seed, the partitioner once per k), and the image method's train
step, rejection sampling, per-partition rows and checkpoint state with tiny networks."""

from __future__ import annotations

import math

import pytest
import torch

from study.trial import STAGES_DIR
from trainables.core.context import RunContext
from trainables.data.images import image_bundle
from trainables.methods.pgmgan_guide import in_partition
from trainables.methods.pgmgan_partitioner import (
    ImagePartitioner,
    PartitionSettings,
    build_for,
    partition_for,
    resolve_cache_dir,
    stage_summary,
)
from trainables.methods.pgmgan_pca import PCAEncoder, fit_pca
from trainables.methods.pgmgan_simclr import (
    SimCLRSettings,
    augment,
    channel_jitter,
    colour_jitter,
    embed,
    nt_xent,
    resized_crop,
    train_simclr,
)

TINY_SIMCLR = SimCLRSettings(steps=4, batch=16, width=4, proj_dim=8)
TINY_PARTITION = PartitionSettings(steps=10, subset=120, neighbours=5, blocks=2, hidden=8,
                                   batch=32)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def colour_blobs(n: int = 150, side: int = 32, seed: int = 0):
    """Three classes of noisy images: a red, a green or a blue square on grey."""
    gen = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.full((n, 3, side, side), -0.5) + 0.1 * torch.randn(n, 3, side, side, generator=gen)
    for i in range(n):
        r, c = torch.randint(0, side // 2, (2,), generator=gen).tolist()
        x[i, :, r : r + side // 2, c : c + side // 2] = -1.0
        x[i, int(y[i]), r : r + side // 2, c : c + side // 2] = 1.0
    return image_bundle("cifar10", x.clamp(-1, 1), y.numpy(), 3)


# ---- augmentations and loss ------------------------------------------------------------------


def test_augment_keeps_shape_and_range_and_draws_per_image():
    x = colour_blobs(8).x
    same = x[:1].repeat(6, 1, 1, 1)  # six copies of one image
    v = augment(same, SimCLRSettings(), torch.Generator().manual_seed(0))
    assert v.shape == same.shape and v.min() >= -1 and v.max() <= 1
    flat = v.flatten(1)
    assert (torch.cdist(flat, flat) + torch.eye(6) * 1e9).min() > 1e-3  # every view differs
    # A different seed, a different view; the same seed, the same view.
    again = augment(same, SimCLRSettings(), torch.Generator().manual_seed(0))
    assert torch.equal(v, again)
    # 1-channel images: crop, flip, brightness and contrast only.
    grey = augment(x[:, :1], SimCLRSettings(), torch.Generator().manual_seed(1))
    assert grey.shape == (8, 1, 32, 32)


def test_augmentations_switched_off_are_the_identity():
    x = colour_blobs(4).x
    gen = torch.Generator().manual_seed(0)
    whole = resized_crop(x, gen, crop_min=1.0, flip=False, ratio_range=(1.0, 1.0))
    assert torch.allclose(whole, x, atol=1e-5)
    mirrored = resized_crop(x, torch.Generator().manual_seed(5), 1.0, True, (1.0, 1.0))
    assert all(torch.allclose(m, x[i], atol=1e-5) or torch.allclose(m, x[i].flip(-1), atol=1e-5)
               for i, m in enumerate(mirrored))
    x01 = (x + 1) / 2
    assert torch.allclose(colour_jitter(x01, gen, strength=0.5, p=0.0), x01, atol=1e-5)
    # Hue turns colour but leaves grey pixels grey.
    out = colour_jitter(torch.full((2, 3, 4, 4), 0.4), gen, strength=2.0, p=1.0)
    assert torch.allclose(out[:, 0], out[:, 1], atol=1e-5)
    assert torch.allclose(out[:, 0], out[:, 2], atol=1e-5)
    # ... and does turn a coloured one.
    red = torch.zeros(1, 3, 4, 4)
    red[:, 0] = 0.9
    turned = colour_jitter(red, torch.Generator().manual_seed(3), strength=2.0, p=1.0)
    assert (turned[:, 1:] - red[:, 1:]).abs().max() > 0.05


def test_channel_jitter_scales_each_channel_alone_and_breaks_the_colour_ratio():
    # Stacked MNIST-like: three independent "digits" (random ink masks), one per channel.
    gen = torch.Generator().manual_seed(0)
    x01 = (torch.rand(64, 3, 8, 8, generator=gen) > 0.7).float() * 0.8
    out = channel_jitter(x01, torch.Generator().manual_seed(1), strength=0.5)
    # No mixing: each output channel is its own input channel times one factor in [0.5, 1.5].
    ink = x01 > 0
    ratio = torch.where(ink, out / x01.clamp_min(1e-8), torch.nan)
    per_channel = ratio.flatten(2)
    lo, hi = per_channel.nan_to_num(9).amin(2), per_channel.nan_to_num(-9).amax(2)
    assert torch.allclose(lo, hi, atol=1e-6) and lo.min() >= 0.5 - 1e-6 and hi.max() <= 1.5
    assert (out[~ink] == 0).all()
    # The ink ratio across channels, which a crop keeps, varies between two views of one image.
    views = [channel_jitter(x01, torch.Generator().manual_seed(s), 0.5) for s in (2, 3)]
    share = [v.sum(dim=(2, 3)) / v.sum(dim=(1, 2, 3))[:, None] for v in views]
    assert (share[0] - share[1]).abs().mean() > 0.03
    # Off by default: SimCLR's augmentations unchanged.
    s = SimCLRSettings(channel_jitter=0.0)
    assert torch.equal(augment(x01 * 2 - 1, s, torch.Generator().manual_seed(4)),
                       augment(x01 * 2 - 1, SimCLRSettings(), torch.Generator().manual_seed(4)))


def test_nt_xent_is_lower_for_matched_pairs_than_for_shuffled_ones():
    gen = torch.Generator().manual_seed(0)
    z1 = torch.randn(64, 16, generator=gen)
    z2 = z1 + 0.05 * torch.randn(64, 16, generator=gen)
    matched = nt_xent(z1, z2, 0.1)
    shuffled = nt_xent(z1, z2[torch.randperm(64, generator=gen)], 0.1)
    assert matched < 0.5 and shuffled > 2.0
    # Identical views, orthogonal negatives (each other basis vector twice: 30 negatives at
    # similarity 0): the loss is log(1 + 30·e^{−1/τ}) exactly.
    e = torch.eye(16)
    assert nt_xent(e, e, 0.5).item() == pytest.approx(math.log(1 + 30 * math.exp(-2.0)), rel=1e-5)
    with pytest.raises(ValueError, match="nt_xent"):
        nt_xent(z1, z2[:10], 0.1)


def test_simclr_trains_and_embeds_any_square_size():
    data = colour_blobs(40, side=28)
    enc, info = train_simclr(data.x, TINY_SIMCLR, torch.Generator().manual_seed(0))
    assert math.isfinite(info["simclr_loss_last"]) and info["feature_dim"] == 16
    assert embed(enc, data.x, chunk=16).shape == (40, 16) and not enc.training
    with pytest.raises(ValueError, match="images"):
        train_simclr(torch.zeros(4, 8), TINY_SIMCLR, torch.Generator())


# ---- the cached image stage ------------------------------------------------------------------


def test_image_stage_is_computed_once_reused_and_shares_simclr_across_k(tmp_path):
    data = colour_blobs()
    labels, state, info = partition_for(data, 6, 0, TINY_PARTITION, tmp_path, TINY_SIMCLR)
    assert info["cached"] is False and info["simclr_cached"] is False
    assert labels.shape == (150,) and 0 <= info["nmi"] <= 1
    assert 0 <= info["neighbour_agreement"] <= 1
    assert len(list(tmp_path.glob("simclr-*.pt"))) == 1 and len(list(tmp_path.glob("*.pt"))) == 2
    files = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.pt")}

    again, state2, info2 = partition_for(data, 6, 0, TINY_PARTITION, tmp_path, TINY_SIMCLR)
    assert info2["cached"] is True and info2["key"] == info["key"]
    assert {p: p.stat().st_mtime_ns for p in tmp_path.glob("*.pt")} == files  # nothing rewritten
    assert torch.equal(again, labels)
    # The stored weights rebuild S on the images themselves, and S agrees with the labels.
    net = build_for(data, 6, TINY_PARTITION, TINY_SIMCLR)
    assert isinstance(net, ImagePartitioner)
    net.load_state_dict(state2)
    net.eval()
    with torch.no_grad():
        assert torch.equal(net(data.x).argmax(dim=1), labels)
    for block in net.blocks:
        assert block.lipschitz_bound() < TINY_PARTITION.coeff ** TINY_PARTITION.layers + 1e-6

    # Another k reuses the SimCLR stage; other SimCLR settings or seeds do not.
    _, _, info3 = partition_for(data, 4, 0, TINY_PARTITION, tmp_path, TINY_SIMCLR)
    assert info3["cached"] is False and info3["simclr_cached"] is True
    assert len(list(tmp_path.glob("simclr-*.pt"))) == 1
    other = TINY_SIMCLR.model_copy(update={"temperature": 0.5})
    _, _, info4 = partition_for(data, 4, 0, TINY_PARTITION, tmp_path, other)
    assert info4["simclr_cached"] is False and len(list(tmp_path.glob("simclr-*.pt"))) == 2


def test_pca_encoder_matches_scikit_learn_and_is_a_linear_projection():
    from sklearn.decomposition import PCA

    x = colour_blobs(60, side=8).x
    enc = fit_pca(x, 5, seed=0)
    ref = PCA(n_components=5, svd_solver="full").fit(x.flatten(1).numpy())
    got = enc(x).numpy()
    want = ref.transform(x.flatten(1).numpy())
    # Components agree up to sign.
    signs = (got * want).sum(0) / abs((got * want).sum(0))
    assert abs(got * signs - want).max() < 1e-3
    assert fit_pca(x[:3], 50, seed=0).out_dim == 3  # at most the number of images


def test_pca_representation_and_the_stage_references(tmp_path, capsys):
    data = colour_blobs()
    pca = TINY_PARTITION.model_copy(update={"representation": "pca", "pca_dim": 8})
    labels, state, info = partition_for(data, 3, 0, pca, tmp_path, TINY_SIMCLR)
    assert not list(tmp_path.glob("simclr-*.pt"))  # no SimCLR stage for a PCA partition
    net = build_for(data, 3, pca, TINY_SIMCLR)
    assert isinstance(net.encoder, PCAEncoder) and net.encoder.out_dim == 8
    net.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(net.eval()(data.x).argmax(dim=1), labels)
    # The colour of the square separates the classes in pixel space: the PCA graph joins
    # images of one class far more often than chance (1/3), and the head partitions by class.
    assert info["neighbour_agreement"] > 0.9 and info["nmi_subset"] > 0.5
    assert "agreement_untrained" not in info and "agreement_pixels" not in info
    # SimCLR with references: an untrained encoder's and the pixels' figures from the same run,
    # printed on one line at the end of the stage.
    simclr = TINY_PARTITION.model_copy(update={"pca_dim": 8})
    _, _, info2 = partition_for(data, 3, 0, simclr, tmp_path, TINY_SIMCLR)
    for key in ("agreement_untrained", "nmi_untrained", "agreement_pixels", "nmi_pixels",
                "nmi_random"):
        assert 0 <= info2[key] <= 1, key
    # The pixel reference is the PCA representation above, on the same subset.
    assert info2["agreement_pixels"] == pytest.approx(info["neighbour_agreement"])
    line = capsys.readouterr().out
    assert stage_summary(info2) in line and "untrained" in line and "pixels" in line
    off = simclr.model_copy(update={"references": False})
    _, _, info3 = partition_for(data, 3, 0, off, tmp_path, TINY_SIMCLR)
    assert info3["cached"] is True and info3["key"] == info2["key"]  # references: not in the key


def test_cache_folder_is_the_study_storage_unless_overridden(tmp_path, monkeypatch):
    monkeypatch.delenv("STUDY_PARTITION_CACHE", raising=False)
    stages = tmp_path / "study" / STAGES_DIR
    assert resolve_cache_dir(None, stages) == stages
    assert resolve_cache_dir(str(tmp_path / "own"), stages) == tmp_path / "own"
    monkeypatch.setenv("STUDY_PARTITION_CACHE", str(tmp_path / "env"))
    assert resolve_cache_dir(None, stages) == tmp_path / "env"


# ---- the method on images --------------------------------------------------------------------


def image_cfg(**over):
    from trainables.methods.pgmgan import PGMGANConfig

    base = {"k": 4, "latent_dim": 8, "batch_size": 8, "d_steps": 2, "network": "sngan_resnet",
            "network_options": {"g_ch": 2, "d_ch": 2}, "partition.loss": "scan",
            "partition.steps": 10, "partition.subset": 120, "partition.neighbours": 5,
            "partition.blocks": 2, "partition.hidden": 8, "partition.batch": 32,
            "simclr.steps": 4, "simclr.batch": 16, "simclr.width": 4, "simclr.proj_dim": 8,
            "lambda_length": 4, "max_draw_factor": 400, "sample_chunk": 16,
            "guide_reduce": "sum"}  # the summed guide: the rejection test's 3-step G
    return PGMGANConfig.model_validate(base | over)


def test_image_method_trains_samples_with_rejection_and_restores(tmp_path):
    from trainables.methods.pgmgan import PGMGAN, SamplingError

    data = colour_blobs()
    study = tmp_path / "my_study"
    ctx = RunContext(torch.device("cpu"), seed=0, artifact_dir=study / "artifacts" / "trial_0",
                     stage_dir=study / STAGES_DIR)
    # 100 SCAN steps: with 10, S's logits stayed nearly flat and every point took one partition,
    # which a 3-step G then hit or missed wholesale (acceptance 0 or 1 by the numerics' luck).
    cfg = image_cfg(**{"partition.steps": 100})
    method = PGMGAN(cfg, data, ctx)
    # No partition.cache, no environment: the stage went to the study's stages/ folder.
    assert method.partition_info["path"].startswith(str(study / STAGES_DIR))
    assert method.cfg.partition.resolved(False).init == "scratch"  # auto → Eq.-5-style graph
    assert int((method.sizes() > 0).sum()) >= 3, method.sizes()  # a real partition, not one
    for step in range(3):
        losses = method.train_step(step)
        assert all(math.isfinite(float(v)) for v in losses.values())
        assert float(losses["guide"]) >= 0
    # A 3-step G lands in its partitions too rarely to fill 40 accepted samples within the
    # draw bound: sampling refuses, naming the acceptance rate, instead of returning rejects.
    with pytest.raises(SamplingError, match=r"acceptance rate 0\.\d+"):
        method.sample(40)
    assert 0 <= method.last_acceptance < 1  # the failed draw's rate is still recorded
    # Without the bound's check, the slots left unfilled are exactly those outside their
    # partition, and every other one is accepted (R_i(x) = 0).
    c = method.draw_partitions(40)
    x, rate, unfilled = method._sample_in(c, torch.Generator().manual_seed(0), strict=False)
    assert x.shape == (40, 3, 32, 32) and 0 <= rate < 1
    with torch.no_grad():
        inside = in_partition(method.partitioner(x), c).float().mean().item()
    assert inside == pytest.approx(1 - unfilled)
    acceptance = method.last_acceptance
    rows, labels = method.sample_by_condition(5, max_rows=3)
    nonempty = int((method.sizes() > 0).sum())
    assert rows.shape == (min(3, nonempty), 5, 3, 32, 32) and len(labels) == rows.shape[0]
    assert labels[0].startswith("partition ") and "accepted" in labels[0]
    assert method.last_acceptance == acceptance  # the figure leaves the metric alone
    metrics = method.evaluate(3)
    for key in ("acceptance_rate", "nmi", "purity", "neighbour_agreement", "lambda"):
        assert key in metrics, key
    # The guide's probe: where G's samples sit for the partitioner, beside real images.
    assert 0 <= metrics["partition_in_rate"] <= 1
    assert metrics["partition_logit_spread"] > 0 and metrics["partition_logit_spread_real"] > 0
    assert method.evaluate(3)["partition_in_rate"] == metrics["partition_in_rate"]  # own stream

    # Checkpoint state carries the partitioner with its encoder; a restore rebuilds it exactly.
    state = method.extra_state()
    assert any(k.startswith("encoder.") for k in state["partitioner"])
    other = PGMGAN(cfg, data, RunContext(torch.device("cpu"), seed=0,
                                         artifact_dir=study / "artifacts" / "trial_1",
                                         stage_dir=study / STAGES_DIR))
    assert other.partition_info["cached"] is True  # the second trial reuses the stage
    other.load_extra_state(state)
    probe = data.x[:20]
    with torch.no_grad():
        assert torch.equal(other.partitioner(probe), method.partitioner(probe))


@pytest.mark.parametrize("over", [
    {"partition.labels": "random"},
    {"network": "dcgan", "network_options": {"g_ch": 2, "d_ch": 2, "cond": "bn"}},
])
def test_image_ablation_and_dcgan_take_steps(tmp_path, over):
    from trainables.methods.pgmgan import PGMGAN

    data = colour_blobs(60, side=28) if over.get("network") == "dcgan" else colour_blobs(60)
    cfg = image_cfg(**{"partition.cache": str(tmp_path)}, rejection=False, **over)
    method = PGMGAN(cfg, data, RunContext(torch.device("cpu"), seed=1))
    losses = method.train_step(0)
    assert math.isfinite(float(losses["loss_d"])) and math.isfinite(float(losses["loss_g"]))
    assert method.sample(10).shape == (10, *data.x.shape[1:])
    if over.get("partition.labels") == "random":
        assert method.partitioner is None and method.last_acceptance == 1.0
        assert not list(tmp_path.glob("*.pt"))
