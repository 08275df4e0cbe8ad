"""A short simplicial-truncation study through `study run` (real Ray, real MLflow): the τ_infer
curve (Figure 8) appears in MLflow as per-step metrics."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from study.runner import run_study
from tests.study.helpers import fresh_store, runs_of, toy_spec, write_spec

pytestmark = pytest.mark.ray


def test_simplicial_study_logs_the_tau_infer_curve(tmp_path, ray_cluster):
    spec = toy_spec(
        "simplicial_e2e", trainer="simplicial",
        dataset={"name": "gaussian_mixture", "options": {"n": 5000, "m": 4, "dim": 10}},
        fixed={"batch_size": 64, "latent_dim": 8, "n_anchors": 4, "tau_train": 0.3,
               "tau_infer": 0.35, "tau_infer_sweep": [0.3, 0.4, 0.5], "mi_steps": 30,
               "lr_g": 2e-4, "lr_d": 4e-4, "eval_prdc_samples": 300,
               "eval_latent_samples": 300, "convex_pairs": 50},
        max_concurrent_trials=1, metric="precision", mode="max",
    )
    uri = fresh_store(tmp_path)
    outcome = run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"), tracking=uri)
    assert outcome.errors == 0
    assert outcome.table.iloc[0]["step"] == 60

    _, children = runs_of(uri, "simplicial_e2e")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    run = children[0]
    assert run.data.params["trainer"] == "simplicial"
    client = MlflowClient(uri)
    curve = [f"{m}_tau{t}" for t in ("0.3", "0.35", "0.4", "0.5")
             for m in ("precision", "recall", "density", "coverage", "acceptance")]
    for name in curve + ["precision", "acceptance_rate", "logreg_acc", "convex_acc"]:
        history = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in history] == [30, 60], name
        assert all(0 <= m.value for m in history), name
    # A larger τ accepts fewer candidates of the same stream.
    acc = [client.get_metric_history(run.info.run_id, f"acceptance_tau{t}")[-1].value
           for t in ("0.3", "0.35", "0.4", "0.5")]
    assert acc == sorted(acc, reverse=True) and 0 < acc[-1] < acc[0] <= 1
