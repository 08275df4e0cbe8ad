"""A tiny study through `study run` on a real Ray and a real MLflow sqlite store."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from study.runner import resume_study, run_study
from tests.study.helpers import runs_of, toy_spec, write_spec

pytestmark = pytest.mark.ray


def test_study_runs_logs_one_child_per_trial_and_survives_a_nan_trial(tmp_path, ray_cluster):
    # lr 1e30 drives the losses to NaN at the first step: a real failure, not an injected one.
    spec = toy_spec("e2e", description="two learning rates of D, one of them diverging",
                    search={"lr_d": {"type": "grid", "values": [1e-4, 1e30]},
                                   "lr_g": {"type": "grid", "values": [1e-4]}})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    outcome = run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"), tracking=uri)

    assert outcome.errors == 1
    table = outcome.table
    assert len(table) == 2
    good = table[table["lr_d"] == 1e-4].iloc[0]
    assert good["step"] == 60 and 0 <= good["modes"] <= 25

    parent, children = runs_of(uri, "e2e")
    assert parent.data.tags["spec_hash"] == outcome.record.spec_hash
    assert "version.torch" in parent.data.tags and "version.ray" in parent.data.tags
    assert len(children) == 2
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    by_status = {c.info.status: c for c in children}
    assert set(by_status) == {"FINISHED", "FAILED"}

    finished, failed = by_status["FINISHED"], by_status["FAILED"]
    assert float(finished.data.params["lr_d"]) == 1e-4
    # Named by the searched values and seed; every setting logged, the defaults included.
    assert finished.data.tags["mlflow.runName"] == "lr_d=0.0001 lr_g=0.0001 s0"
    assert failed.data.tags["mlflow.runName"] == "lr_d=1e+30 lr_g=0.0001 s0"
    assert finished.data.params["setting.beta2"] == "0.999"  # a default the spec never names
    assert finished.data.params["setting.batch_size"] == "64"  # fixed in the spec
    assert parent.data.tags["mlflow.note.content"] == spec.get("description", "")
    assert finished.data.params["dataset.name"] == "grid"
    client = MlflowClient(uri)
    steps = [m.step for m in client.get_metric_history(finished.info.run_id, "reverse_kl")]
    assert steps == [30, 60]
    # The step is every metric's x axis, not a metric; rates that never change are the
    # setting.* params, not a chart.
    assert not {"step", "training_iteration", "lr_now.g"} & set(finished.data.metrics)
    artifacts = {a.path for a in client.list_artifacts(finished.info.run_id)}
    assert {"final_metrics.json", "protocol.json", "samples"} <= artifacts
    plots = [a.path for a in client.list_artifacts(finished.info.run_id, "samples")]
    assert any(p.endswith(".png") for p in plots)
    local = client.download_artifacts(finished.info.run_id, "final_metrics.json", str(tmp_path))
    assert json.loads(open(local).read())["final_metrics"]["step"] == 60
    proto = client.download_artifacts(finished.info.run_id, "protocol.json", str(tmp_path))
    proto = json.loads(open(proto).read())
    assert proto["n_fake"] == 500 and proto["n_modes"] == 25 and "version_torch" in proto

    reason = failed.data.tags["failure_reason"]
    assert "nan" in reason.lower() and "step 1" in reason

    saved = pd.read_parquet(outcome.folder / "results.parquet")
    assert len(saved) == 2 and "reverse_kl" in saved.columns

    # `study resume --retry-failed` runs the failed trial again in its own MLflow run (it
    # diverges again: same seed, same rate) and leaves the finished one alone.
    again = resume_study("e2e", storage=str(tmp_path / "runs"), retry_failed=True)
    assert again.errors == 1 and len(again.table) == 2
    _, rerun = runs_of(uri, "e2e")
    ended = {c.info.run_id: c.info.end_time for c in rerun}
    assert len(rerun) == 2 and set(ended) == {finished.info.run_id, failed.info.run_id}
    assert ended[failed.info.run_id] > failed.info.end_time
    assert ended[finished.info.run_id] == finished.info.end_time


def test_resources_the_cluster_lacks_are_refused_before_anything_exists(tmp_path, ray_cluster):
    from study.spec import SpecError

    spec = toy_spec("gpu", resources={"workers": 1, "gpus_per_worker": 1})
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    with pytest.raises(SpecError, match=r"resources.gpus_per_worker: a trial needs 1 GPU .*"
                                        r"the cluster has 0 GPU and 2 CPU in all"):
        run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"), tracking=uri,
                  address=ray_cluster)
    assert not (tmp_path / "runs" / "gpu").exists()
    assert not (tmp_path / "mlflow.db").exists()
