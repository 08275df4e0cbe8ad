"""PGMGAN: guide, λ schedules, Lipschitz blocks, the cached partition stage, the method."""

from __future__ import annotations

import math

import pytest
import torch

from trainables.checkpoint import STATE_FILE
from trainables.core.context import RunContext
from trainables.data import load_dataset
from trainables.loop import LocalReporter, train_loop
from trainables.methods.pgmgan_guide import guide, in_partition, lam
from trainables.methods.pgmgan_partitioner import (
    PartitionSettings,
    build_partitioner,
    paper_loss,
    partition_for,
    scan_loss,
)
from trainables.networks.lipschitz import LipschitzResNet, spectral_norm_exact

# ---- guide -----------------------------------------------------------------------------------


def test_guide_is_zero_exactly_on_own_partition_and_positive_elsewhere():
    logits = torch.randn(500, 7, generator=torch.Generator().manual_seed(0))
    own = logits.argmax(dim=1)
    assert torch.equal(guide(logits, own), torch.zeros(500))
    assert in_partition(logits, own).all()
    for i in range(7):
        r = guide(logits, i)
        outside = own != i
        assert (r[outside] > 0).all() and (r[~outside] == 0).all()
        assert torch.equal(in_partition(logits, torch.full((500,), i)), ~outside)
        assert torch.allclose(guide(logits, i, reduce="mean"), r / 7)
    # Σ_c (f_c − f_i)_+ by hand.
    f = torch.tensor([[1.0, 3.0, 2.0]])
    assert guide(f, 0).item() == pytest.approx(2.0 + 1.0)
    assert guide(f, 2).item() == pytest.approx(1.0)


def test_guide_gradient_pushes_towards_the_own_partition():
    logits = torch.tensor([[2.0, 0.0, 1.0]], requires_grad=True)
    guide(logits, 1).sum().backward()
    assert logits.grad.tolist() == [[1.0, -2.0, 1.0]]  # raise f_1, lower the larger others


# ---- λ schedules -----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["linear", "cosine", "exponential"])
def test_lambda_schedules_hit_their_endpoints(kind):
    assert lam(0, kind, 6.0, 1e-4, 1000) == 6.0
    assert lam(1000, kind, 6.0, 1e-4, 1000) == 1e-4
    assert lam(5000, kind, 6.0, 1e-4, 1000) == 1e-4
    values = [lam(t, kind, 6.0, 1e-4, 1000) for t in range(0, 1001, 50)]
    assert all(a >= b for a, b in zip(values, values[1:], strict=False))  # annealing down
    assert lam(0, kind, 0.0, 0.0, 10) == 0.0 == lam(10, kind, 0.0, 0.0, 10)


def test_lambda_constant_linear_midpoint_and_the_authors_code():
    assert lam(0, "constant", 2.5, 0.0, 10) == lam(99, "constant", 2.5, 0.0, 10) == 2.5
    assert lam(500, "linear", 6.0, 0.0, 1000) == pytest.approx(3.0)
    assert lam(500, "cosine", 6.0, 0.0, 1000) == pytest.approx(3.0)
    assert lam(500, "exponential", 1.0, 1e-2, 1000) == pytest.approx(0.1)
    for t in (0, 10_000, 49_999, 60_000):  # code: max(1e-4, 6 − 1.2e-4·t)
        assert lam(t, "linear", 6.0, 1e-4, 50_000) == pytest.approx(max(1e-4, 6 - 1.2e-4 * t),
                                                                    abs=1e-3)
    with pytest.raises(ValueError, match="exponential"):
        lam(3, "exponential", 1.0, 0.0, 10)
    with pytest.raises(ValueError, match="lambda_schedule"):
        lam(3, "step", 1.0, 0.0, 10)


# ---- Lipschitz residual blocks ---------------------------------------------------------------


def test_every_residual_block_stays_below_the_lipschitz_coefficient():
    torch.manual_seed(0)
    net = LipschitzResNet(2, 5, blocks=3, hidden=16, layers=2, coeff=0.7)
    with torch.no_grad():
        for p in net.blocks.parameters():
            p.mul_(50.0)  # far beyond the bound: the rescaling must bring every map back
    for block in net.blocks:
        for lin in block.linears:
            with torch.no_grad():
                assert float(spectral_norm_exact(lin.weight())) <= 0.7
        assert block.lipschitz_bound() < 0.7**2 + 1e-6
        # i-ResNet bi-Lipschitz bounds: (1 − L^m)‖x − y‖ ≤ ‖B(x) − B(y)‖ ≤ (1 + L^m)‖x − y‖.
        x, y = torch.randn(2000, 2) * 3, torch.randn(2000, 2) * 3
        with torch.no_grad():
            ratio = (block(x) - block(y)).norm(dim=1) / (x - y).norm(dim=1)
        assert ratio.min() >= 1 - 0.49 - 1e-5 and ratio.max() <= 1 + 0.49 + 1e-5
    with pytest.raises(ValueError, match="coeff"):
        LipschitzResNet(2, 5, coeff=1.0)


# ---- partition stage -------------------------------------------------------------------------

FAST = PartitionSettings(init="kmeans", kmeans_restarts=2, steps=30, subset=800, blocks=2,
                         hidden=16)


def test_partition_losses_prefer_agreeing_confident_neighbours():
    sure = torch.tensor([[0.98, 0.01, 0.01]] * 4)
    unsure = torch.full((4, 3), 1 / 3)
    other = torch.tensor([[0.01, 0.98, 0.01]] * 4)
    assert paper_loss(sure, sure, 5.0, 1e-3) < paper_loss(unsure, unsure, 5.0, 1e-3)
    assert paper_loss(sure, sure, 5.0, 1e-3) < paper_loss(sure, other, 5.0, 1e-3)
    assert scan_loss(sure, sure, 5.0) < scan_loss(sure, other, 5.0)


def test_partition_stage_is_computed_once_and_reused(tmp_path):
    data = load_dataset("grid", n=1500)
    labels, state, info = partition_for(data, 25, 0, FAST, tmp_path)
    assert info["cached"] is False and labels.shape == (1500,)
    assert 0.8 < info["nmi"] <= 1.0 and info["imitation_acc"] == pytest.approx(1.0)
    files = list(tmp_path.glob("*.pt"))
    assert len(files) == 1 and not list(tmp_path.glob("*.tmp"))
    mtime = files[0].stat().st_mtime_ns

    again, state2, info2 = partition_for(data, 25, 0, FAST, tmp_path)
    assert info2["cached"] is True and info2["key"] == info["key"]
    assert files[0].stat().st_mtime_ns == mtime  # read back, not retrained
    assert torch.equal(again, labels) and info2["nmi"] == info["nmi"]
    # The stored weights rebuild a partitioner that reproduces the labels (guide = labels).
    net = build_partitioner(2, 25, FAST)
    net.load_state_dict(state2)
    with torch.no_grad():
        assert torch.equal(net(data.x).argmax(dim=1), labels)
    for block in net.blocks:
        assert block.lipschitz_bound() < FAST.coeff**FAST.layers + 1e-6

    # Any change of key (k, seed, settings) is a new entry.
    partition_for(data, 10, 0, FAST, tmp_path)
    partition_for(data, 25, 1, FAST, tmp_path)
    assert len(list(tmp_path.glob("*.pt"))) == 3


def test_kmeans_partitioner_keeps_the_guide_on_the_scale_of_the_data(tmp_path):
    """k = 50 on 25 modes splits Gaussians in two: centres 0.1 apart. The guide's slope must
    follow the typical gap between centres, not that smallest one (which gave logits of ±3e4
    and a guide that drowned the adversarial loss), while the partition stays exact."""
    data = load_dataset("grid", n=3000)
    s = FAST.model_copy(update={"steps": 0, "subset": 3000})
    labels, state, info = partition_for(data, 50, 0, s, tmp_path)
    assert info["imitation_acc"] > 0.995  # k-means' Voronoi cells (ties within float error)
    net = build_partitioner(2, 50, s)
    net.load_state_dict(state)
    x = data.x.clone().requires_grad_(True)
    logits = net(x)
    assert logits.abs().max() < 20  # the grid spans [-4, 4]²: slopes of order 1
    # Every point asked for a far partition: the mean margin's slope is about one logit per
    # unit of distance (the old scale gave thousands).
    far = guide(logits, (labels + 25) % 50, reduce="mean").sum()
    (grad,) = torch.autograd.grad(far, x)
    slope = grad.norm(dim=1).median()
    assert 0.05 < slope < 2, slope


def test_cache_dir_falls_back_to_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("STUDY_PARTITION_CACHE", str(tmp_path / "env"))
    _, _, info = partition_for(load_dataset("ring", n=600), 8, 0, FAST)
    assert info["path"].startswith(str(tmp_path / "env"))


@pytest.mark.parametrize("loss", ["paper", "scan"])
def test_graph_trained_partitioner_runs(tmp_path, loss):
    s = PartitionSettings(init="scratch", loss=loss, steps=20, subset=400, neighbours=10,
                          blocks=2, hidden=16)
    labels, _, info = partition_for(load_dataset("ring", n=400), 8, 0, s, tmp_path)
    assert labels.shape == (400,) and 1 <= info["nonempty"] <= 8
    assert math.isfinite(info["final_loss"]) and 0 <= info["nmi"] <= 1


# ---- the method ------------------------------------------------------------------------------


def method_cfg(cache, **over) -> dict:
    return {"k": 10, "batch_size": 32, "d_steps": 2, "partition.init": "kmeans",
            "partition.kmeans_restarts": 2, "partition.steps": 30, "partition.subset": 800,
            "partition.blocks": 2, "partition.hidden": 16, "partition.cache": str(cache),
            "lambda_length": 10} | over


def loop_config(cache, steps: int = 10, **over) -> dict:
    return {"trainer": "pgmgan", "method": method_cfg(cache, **over),
            "dataset": {"name": "grid", "options": {"n": 1500}},
            "steps": steps, "eval_every": steps, "checkpoint_every": steps, "eval_samples": 200}


def test_short_run_reports_toy_metrics_acceptance_and_nmi(tmp_path):
    reporter = LocalReporter(checkpoint_root=tmp_path / "ckpt")
    # 40 steps: a G trained for 10 lands in its partitions too rarely (acceptance ~1e-4) for
    # rejection sampling to fill 200 samples within its draw bound.
    last = train_loop(loop_config(tmp_path / "cache", steps=40, lambda_length=40),
                      reporter)
    for key in ("modes", "high_quality_pct", "reverse_kl", "acceptance_rate", "nmi", "purity",
                "guide", "lambda", "partitions_nonempty", "high_quality_pct_box", "modes_box"):
        assert key in last, key
    # The authors' per-coordinate box contains the Euclidean 3-std disc: never fewer points.
    assert last["high_quality_pct_box"] >= last["high_quality_pct"]
    assert last["modes_box"] >= last["modes"]
    assert 0 < last["acceptance_rate"] <= 1 and 0.5 < last["nmi"] <= 1
    assert last["lambda"] == pytest.approx(1e-4)  # annealed by lambda_length
    extra = torch.load(reporter.last_checkpoint / STATE_FILE, weights_only=True)["extra"]
    assert extra["labels"].shape == (1500,) and "head.weight" in extra["partitioner"]


def test_second_trial_reuses_the_partition_and_sampling_rejects_outside(tmp_path):
    from trainables.methods.pgmgan import PGMGAN, PGMGANConfig

    data = load_dataset("grid", n=1500)
    cfg = PGMGANConfig.model_validate(method_cfg(tmp_path, lambda_length=80))
    first = PGMGAN(cfg, data, RunContext(torch.device("cpu"), seed=0))
    second = PGMGAN(cfg, data, RunContext(torch.device("cpu"), seed=0))
    assert first.partition_info["cached"] is False and second.partition_info["cached"] is True
    assert torch.equal(first.labels, second.labels)
    for step in range(80):  # an untrained G lands in its partitions about once in 10^4 draws
        second.train_step(step)
    x = second.sample(400)  # still many rejections, redrawn until accepted
    assert x.shape == (400, 2) and 0 < second.last_acceptance < 1
    # Every returned sample lies in its own partition: R_i(x) = 0.
    c = second.draw_partitions(400)
    x, rate, unfilled = second._sample_in(c, torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert bool(in_partition(second.partitioner(x), c).all()) and unfilled == 0.0
    assert 0 < rate < 1


def test_sampling_fails_naming_the_acceptance_rate_when_the_draw_bound_is_hit(tmp_path):
    from trainables.methods.pgmgan import PGMGAN, PGMGANConfig, SamplingError

    data = load_dataset("grid", n=1500)
    cfg = PGMGANConfig.model_validate(method_cfg(tmp_path) | {"max_draw_factor": 1.0})
    method = PGMGAN(cfg, data, RunContext(torch.device("cpu"), seed=0))
    with pytest.raises(SamplingError, match=r"max_draw_factor 1\.0.*acceptance rate 0\.\d+"):
        method.sample(400)  # one draw per slot allowed, and an untrained G misses many
    rows, labels = method.sample_by_condition(20, max_rows=3)  # figures still show every row
    assert rows.shape[:2] == (3, 20) and "accepted" in labels[0]


@pytest.mark.parametrize("over", [
    {"partition.labels": "random"}, {"lambda_start": 0.0, "lambda_end": 0.0},
    {"lambda_schedule": "cosine", "guide_reduce": "mean"},
])
def test_ablations_train(tmp_path, over):
    # No rejection: a 4-step G rarely lands in its partitions (the sampling tests cover it).
    last = train_loop(loop_config(tmp_path, steps=4, rejection=False, **over), LocalReporter())
    assert last["step"] == 4 and "nmi" in last
    if over.get("partition.labels") == "random":
        assert last["nmi"] < 0.2 and last["acceptance_rate"] == 1.0
        assert not list(tmp_path.glob("*.pt"))  # no partitioner was trained
    if over.get("lambda_start") == 0.0:
        assert last["lambda"] == 0.0


def test_the_2d_scripts_generator_loss_is_bce_against_target_2():
    from pydantic import ValidationError
    from torch.nn import functional as F

    from trainables.core.losses import g_loss
    from trainables.methods.pgmgan import PGMGANConfig

    x = (3 * torch.randn(500, generator=torch.Generator().manual_seed(0))).requires_grad_(True)
    ref = F.binary_cross_entropy_with_logits(x, torch.full_like(x, 2.0))
    loss = g_loss("bce_target2", x)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-5)
    loss.backward()
    # dℓ/dx = (σ(x) − 2)/n: between 1/n and 2/n in size, so it never saturates.
    per_sample = -x.grad * len(x)
    assert per_sample.min() > 1 - 1e-5 and per_sample.max() < 2
    assert PGMGANConfig(g_loss="bce_target2").g_loss == "bce_target2"
    assert PGMGANConfig().g_loss is None  # default: G's loss is D's
    with pytest.raises(ValidationError, match="g_loss"):
        PGMGANConfig(g_loss="target2")


def test_sampling_error_survives_pickling_across_processes():
    import pickle

    from trainables.methods.pgmgan import SamplingError

    err = pickle.loads(pickle.dumps(SamplingError("acceptance rate 0.0010", 0.001)))
    assert isinstance(err, SamplingError) and "acceptance rate 0.0010" in str(err)
