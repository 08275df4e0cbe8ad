"""A short PGMGAN study through `study run` (real Ray, real MLflow): toy + partition metrics."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from study.runner import run_study
from tests.study.helpers import fresh_store, runs_of, toy_spec, write_spec

pytestmark = pytest.mark.ray


def test_pgmgan_study_records_toy_metrics_acceptance_and_nmi(tmp_path, ray_cluster):
    cache = tmp_path / "partitions"
    spec = toy_spec(
        "pgmgan_e2e", trainer="pgmgan",
        fixed={"batch_size": 64, "k": 10, "d_steps": 2, "partition.init": "kmeans",
               "partition.kmeans_restarts": 2, "partition.steps": 50, "partition.subset": 1000,
               "partition.blocks": 2, "partition.hidden": 16, "partition.cache": str(cache),
               "lambda_length": 60},
        max_concurrent_trials=1,
    )
    uri = fresh_store(tmp_path)
    outcome = run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"), tracking=uri)
    assert outcome.errors == 0
    row = outcome.table.iloc[0]
    assert row["step"] == 60 and 0 <= row["modes"] <= 25 and 0 < row["acceptance_rate"] <= 1
    assert len(list(cache.glob("*.pt"))) == 1  # the partition stage landed in the cache

    _, children = runs_of(uri, "pgmgan_e2e")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    run = children[0]
    assert run.data.params["fixed.k"] == "10" and run.data.params["trainer"] == "pgmgan"
    client = MlflowClient(uri)
    for name in ("modes", "high_quality_pct", "reverse_kl", "acceptance_rate", "nmi", "lambda",
                 "guide"):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, name)]
        assert steps == [30, 60], name
    nmi = client.get_metric_history(run.info.run_id, "nmi")[-1].value
    assert 0.5 < nmi <= 1
