"""A short Self-Cond study through `study run` (real Ray, real MLflow): toy + clustering metrics."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from study.runner import run_study
from tests.study.helpers import fresh_store, runs_of, toy_spec, write_spec

pytestmark = pytest.mark.ray


def test_selfcond_study_records_toy_and_clustering_metrics(tmp_path, ray_cluster):
    spec = toy_spec(
        "selfcond_e2e", trainer="selfcond_gan",
        fixed={"batch_size": 64, "k": 10, "recluster_every": 30, "cluster_subset": 1000,
               "kmeans_restarts": 2},
        max_concurrent_trials=1,
    )
    uri = fresh_store(tmp_path)
    outcome = run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"), tracking=uri)
    assert outcome.errors == 0
    row = outcome.table.iloc[0]
    assert row["step"] == 60 and 0 <= row["modes"] <= 25 and 0 <= row["nmi"] <= 1

    _, children = runs_of(uri, "selfcond_e2e")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    run = children[0]
    assert run.data.params["fixed.k"] == "10" and run.data.params["trainer"] == "selfcond_gan"
    client = MlflowClient(uri)
    for name in ("modes", "high_quality_pct", "reverse_kl", "nmi", "purity", "cluster_changed",
                 "cluster_min_size", "cluster_max_size"):
        steps = [m.step for m in client.get_metric_history(run.info.run_id, name)]
        assert steps == [30, 60], name
    # Reclustered at steps 0 and 30: the second one moved some points or none, never more than all.
    changed = client.get_metric_history(run.info.run_id, "cluster_changed")[-1].value
    assert 0 <= changed <= 5000
