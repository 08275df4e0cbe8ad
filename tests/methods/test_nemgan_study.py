"""A short NEMGAN prior-learning study through `study run` (real Ray, real MLflow): the clustering
metrics of h on the test split and the learned priors over time appear in MLflow."""

from __future__ import annotations

import pytest
from mlflow.tracking import MlflowClient

from study.runner import run_study
from tests.study.helpers import fresh_store, runs_of, toy_spec, write_spec

pytestmark = pytest.mark.ray


def test_nemgan_study_records_clustering_and_learned_priors(tmp_path, ray_cluster):
    spec = toy_spec(
        "nemgan_e2e", trainer="nemgan",
        dataset={"name": "gaussian_mixture",
                 "options": {"n": 3000, "m": 3, "dim": 2, "std": 0.1, "spread": 3.0,
                             "weights": [0.6, 0.3, 0.1]}},
        fixed={"batch_size": 32, "latent_dim": 6, "priors": "learned", "labelled_start": 0,
               "prior_start": 30, "h_retrain_every": 1, "h_retrain_steps": 3, "lr_h": 3e-3,
               "alpha_lr": 0.03, "eval_test_samples": 300, "eval_fake_samples": 200},
        eval_samples=200, max_concurrent_trials=1, metric="acc", mode="max",
    )
    uri = fresh_store(tmp_path)
    outcome = run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"), tracking=uri)
    assert outcome.errors == 0
    assert outcome.table.iloc[0]["step"] == 60

    _, children = runs_of(uri, "nemgan_e2e")
    assert len(children) == 1 and children[0].info.status == "FINISHED"
    run = children[0]
    assert run.data.params["trainer"] == "nemgan"
    client = MlflowClient(uri)

    def history(name: str) -> list[float]:
        points = client.get_metric_history(run.info.run_id, name)
        assert [m.step for m in points] == [30, 60], name
        return [m.value for m in points]

    for name in ("acc", "nmi", "ari", "mode_consistency"):
        assert all(0 <= v <= 1 for v in history(name)), name
    assert history("eval_on_test") == [1.0, 1.0]
    priors = [history(f"prior_{i}") for i in range(3)]
    for step in range(2):
        assert abs(sum(p[step] for p in priors) - 1) < 1e-5
    # α is uniform until prior_start, then moves toward the weights [0.6, 0.3, 0.1].
    assert abs(priors[0][0] - 1 / 3) < 1e-6
    assert priors[0][1] > 1 / 3 > priors[2][1]
    l1 = history("prior_l1")
    assert l1[1] < l1[0] - 0.15
