"""PGMGAN on images through `study run` with 2 Ray Train workers (gloo, CPU): rank 0 computes the
SimCLR + partitioner stage into the study storage and broadcasts it, both ranks take steps, and
MLflow records the guide, the acceptance rate and the partition NMI. Tiny everything."""

from __future__ import annotations

import pytest
import torch
from mlflow.tracking import MlflowClient

from study.runner import run_study
from tests.study.helpers import fresh_store, runs_of, toy_spec, write_spec
from trainables.checkpoint import STATE_FILE

pytestmark = [pytest.mark.ray, pytest.mark.train_group]


def test_two_worker_image_pgmgan_takes_steps(tmp_path, ray_cluster, shared_datasets,
                                             monkeypatch):
    monkeypatch.delenv("STUDY_PARTITION_CACHE", raising=False)
    spec = toy_spec(
        "pgmgan_images_ddp", trainer="pgmgan",
        dataset={"name": "stacked_mnist", "options": {"n": 256}},
        fixed={"k": 4, "latent_dim": 8, "batch_size": 16, "d_steps": 1, "network": "dcgan",
               "network_options": {"g_ch": 2, "d_ch": 2, "cond": "bn"},
               "partition.loss": "scan", "partition.steps": 20, "partition.subset": 256,
               "partition.neighbours": 5, "partition.blocks": 1, "partition.hidden": 8,
               "simclr.steps": 3, "simclr.batch": 16, "simclr.width": 4, "simclr.proj_dim": 8,
               "lambda_length": 6, "rejection": False},  # a 6-step G rarely fills its partitions
        budget={"steps": 6}, eval_every=3, checkpoint_every=6, eval_samples=32,
        eval_features="raw", resources={"workers": 2, "cpus_per_worker": 1},
        max_concurrent_trials=1, metric="fid",
    )
    uri = fresh_store(tmp_path)
    outcome = run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"), tracking=uri,
                        data_root=str(shared_datasets))
    assert outcome.errors == 0
    assert outcome.table.iloc[0]["step"] == 6
    # One SimCLR stage and one partition stage, in the study's own storage.
    stages = outcome.folder / "stages"
    assert len(list(stages.glob("simclr-*.pt"))) == 1 and len(list(stages.glob("*.pt"))) == 2

    _, children = runs_of(uri, "pgmgan_images_ddp")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    client = MlflowClient(uri)
    run_id = children[0].info.run_id
    for name in ("loss_d", "loss_g", "guide", "acceptance_rate", "nmi", "fid"):
        assert [m.step for m in client.get_metric_history(run_id, name)] == [3, 6], name
    assert 0 < client.get_metric_history(run_id, "acceptance_rate")[-1].value <= 1
    # Both ranks trained (each saved its RNG state) on the one partition rank 0 broadcast.
    folder = sorted(outcome.folder.rglob(STATE_FILE))[-1].parent
    assert {p.name for p in folder.glob("rng_rank*.pt")} == {"rng_rank0.pt", "rng_rank1.pt"}
    extra = torch.load(folder / STATE_FILE, weights_only=True)["extra"]
    assert extra["labels"].shape == (256,)
    assert any(k.startswith("encoder.") for k in extra["partitioner"])
