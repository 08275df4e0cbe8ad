"""Self-Conditioned GAN: the method through the loop, 2-rank gloo (k-means: tests/core)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from tests.study.helpers import free_port
from trainables.checkpoint import STATE_FILE
from trainables.core.context import RunContext
from trainables.data import DataBundle, load_dataset
from trainables.loop import LocalReporter, train_loop
from trainables.methods import selfcond_gan
from trainables.methods.selfcond_gan import SelfCondConfig, SelfCondGAN, with_data_defaults

# ---- the method through the generic loop ----------------------------------------------------

METHOD = {"k": 8, "recluster_every": 10, "cluster_subset": 800, "kmeans_restarts": 2,
          "batch_size": 32}


def loop_config(steps: int, **method) -> dict:
    return {
        "trainer": "selfcond_gan", "method": METHOD | method,
        "dataset": {"name": "grid", "options": {"n": 1500}},
        "steps": steps, "eval_every": 15 if steps % 15 == 0 else steps, "checkpoint_every": 15,
        "eval_samples": 300,
    }


def final_state(reporter: LocalReporter) -> dict:
    assert reporter.last_checkpoint is not None
    return torch.load(reporter.last_checkpoint / STATE_FILE, weights_only=True)


def test_short_run_reports_clustering_metrics_and_resume_keeps_the_partition(tmp_path):
    full = LocalReporter(checkpoint_root=tmp_path / "a")
    last = train_loop(loop_config(30), full)
    for key in ("modes", "reverse_kl", "nmi", "purity", "cluster_changed",
                "cluster_min_size", "cluster_max_size"):
        assert key in last, key
    assert 0 <= last["nmi"] <= 1 and 0 < last["purity"] <= 1
    assert last["cluster_min_size"] <= last["cluster_max_size"]
    assert last["reclusters"] == 3  # steps 0, 10, 20
    extra = final_state(full)["extra"]
    assert extra["assign"].shape == (1500,) and extra["centres"].shape[0] == 8

    # Resume from the step-15 snapshot: the partition (and so the warm start at step 20) carries
    # over, and the run ends exactly where the uninterrupted one did.
    resumed = LocalReporter(checkpoint_root=tmp_path / "b")
    resumed.last_checkpoint = tmp_path / "a" / "checkpoint_0000015"
    train_loop(loop_config(30), resumed)
    extra_b = final_state(resumed)["extra"]
    assert torch.equal(extra_b["assign"], extra["assign"])
    assert torch.allclose(extra_b["centres"], extra["centres"])


@pytest.mark.parametrize("options", [
    {"labels": "random"}, {"labels": "true"}, {"clustering": "online"}, {"matching": False},
])
def test_baselines_and_variants_train(options):
    last = train_loop(loop_config(12, **options), LocalReporter())
    assert last["step"] == 12 and "nmi" in last
    if options.get("labels") == "true":
        assert last["nmi"] == pytest.approx(1.0) and last["purity"] == pytest.approx(1.0)
    if options.get("labels") == "random":
        assert last["nmi"] < 0.2 and last["reclusters"] == 0


def toy_method(k: int = 8, **cfg) -> SelfCondGAN:
    data = load_dataset("grid", n=1500)
    ctx = RunContext(torch.device("cpu"), seed=0)
    return SelfCondGAN(SelfCondConfig(k=k, cluster_subset=800, kmeans_restarts=2, **cfg), data, ctx)


def test_image_data_takes_the_papers_image_settings_where_the_config_is_silent():
    images = DataBundle("img", torch.zeros(4, 3, 8, 8))
    cfg = with_data_defaults(SelfCondConfig(k=7, lr_g=3e-4), images)
    assert (cfg.k, cfg.lr_g) == (7, 3e-4)  # set in the config: kept
    assert (cfg.recluster_every, cfg.cluster_subset, cfg.latent_dim, cfg.batch_size) == (
        25_000, 25_000, 128, 64)
    assert (cfg.lr_d, cfg.beta1, cfg.beta2) == (1e-4, 0.0, 0.99)
    assert with_data_defaults(SelfCondConfig(), images).k == 100
    vectors = DataBundle("pts", torch.zeros(4, 2))
    assert with_data_defaults(SelfCondConfig(), vectors) == SelfCondConfig()


def test_labelling_in_small_chunks_gives_the_same_partition(monkeypatch):
    method = toy_method()
    method.recluster(0)
    whole = method.label_all(method.centres)
    assert torch.equal(whole, method.assign)
    monkeypatch.setattr(selfcond_gan, "FEATURE_CHUNK_ROWS", 7)
    assert method._chunk_rows() == 7
    assert torch.equal(method.label_all(method.centres), whole)
    idx = torch.randperm(1500)[:100]
    feats = method.features(idx)
    assert feats.shape == (100, 200)
    monkeypatch.setattr(selfcond_gan, "FEATURE_CHUNK_ROWS", 8192)
    assert torch.allclose(method.features(idx), feats, atol=1e-5)


def test_sample_by_condition_gives_one_row_per_cluster_largest_first():
    method = toy_method(k=8)
    assert method.sample_by_condition(5) is None  # no partition yet
    method.train_step(0)
    grid, labels = method.sample_by_condition(5, max_rows=6)
    assert grid.shape == (6, 5, 2) and len(labels) == 6
    sizes = torch.bincount(method.assign, minlength=8)
    shown = [int(label.split()[1]) for label in labels]
    assert [int(sizes[c]) for c in shown] == sorted(sizes.tolist(), reverse=True)[:6]
    assert labels[0] == f"cluster {shown[0]} (n={int(sizes[shown[0]])})"
    # The same latents in every row: rows differ only by the condition, and calls repeat.
    again, _ = method.sample_by_condition(5, max_rows=6)
    assert torch.equal(again, grid)
    assert not torch.allclose(grid[0], grid[1])
    assert method.sample_by_condition(3, max_rows=50)[0].shape == (8, 3, 2)


def test_stacked_mnist_dcgan_trains_and_reclusters(shared_datasets):
    data = load_dataset("stacked_mnist", root=shared_datasets, n=240, size=32)
    ctx = RunContext(torch.device("cpu"), seed=0)
    cfg = SelfCondConfig(network="dcgan", network_options={"g_ch": 4, "d_ch": 4}, k=6,
                         recluster_every=2, cluster_subset=150, kmeans_restarts=2, batch_size=16)
    method = SelfCondGAN(cfg, data, ctx)
    assert (method.cfg.latent_dim, method.cfg.beta1, method.cfg.beta2) == (128, 0.0, 0.99)
    d_bn = [m for m in method.d.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert d_bn, "the shallow DCGAN D has BN: features must not move its running statistics"
    running = d_bn[-1].running_mean.clone()
    method.recluster(0)
    assert torch.equal(d_bn[-1].running_mean, running)
    for step in range(1, 5):  # reclusters at 2 and 4: warm start + matching
        losses = method.train_step(step)
        assert all(torch.isfinite(v) for v in losses.values())
    assert method.reclusters == 3 and method.assign.shape == (240,)
    assert method.centres.shape == (6, 4 * 8 * 2 * 2)  # D_f: last conv layer, 8·d_ch × 2 × 2
    metrics = method.evaluate(5)
    assert 0 <= metrics["nmi"] <= 1 and metrics["clusters_nonempty"] >= 1
    grid, labels = method.sample_by_condition(3, max_rows=4)
    assert grid.shape == (4, 3, 3, 32, 32) and len(labels) == 4
    assert grid.abs().max() <= 1


def test_unknown_network_option_names_the_field():
    with pytest.raises(ValueError, match="network_options"):
        toy_method(network_options={"d_ch": 4})  # the toy MLP takes no widths


# ---- two ranks on gloo, no Ray ---------------------------------------------------------------


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    from trainables.core.context import RunContext
    from trainables.data import load_dataset
    from trainables.methods.selfcond_gan import SelfCondConfig, SelfCondGAN

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                            world_size=world)
    try:
        torch.set_num_threads(1)
        torch.manual_seed(rank)  # different initial weights per rank: the broadcast aligns them
        data = load_dataset("grid", n=1200)
        ctx = RunContext(torch.device("cpu"), seed=0, rank=rank, world_size=world)
        cfg = SelfCondConfig(k=8, cluster_subset=600, kmeans_restarts=2, batch_size=32,
                             recluster_every=4)
        method = SelfCondGAN(cfg, data, ctx)
        for module in method.networks().values():
            ctx.broadcast_module(module)
        for step in range(5):  # k-means++ at step 0, warm start + matching at step 4
            method.train_step(step)
        torch.save({"assign": method.assign, "centres": method.centres,
                    "reclusters": method.reclusters}, Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def test_two_ranks_agree_on_the_partition(tmp_path):
    # fork: the children reuse the imported modules (spawn re-imports torch, ~10 s each here).
    mp.start_processes(_ddp_worker, args=(2, free_port(), str(tmp_path)), nprocs=2, join=True,
                       start_method="fork")
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["reclusters"] == r1["reclusters"] == 2
    assert torch.equal(r0["assign"], r1["assign"])
    assert torch.equal(r0["centres"], r1["centres"])
    assert len(r0["assign"].unique()) > 1
