"""A study that compares trainers: one grid axis `trainer`, each with its own fixed settings,
one MLflow parent, one results table and one report table (real Ray, MLflow, Parquet)."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from study.report import write_report
from study.runner import run_study
from study.spec import SpecError, parse_spec, total_trials
from study.tuner import param_space, trial_plan
from tests.study.helpers import fresh_store, runs_of, toy_spec, write_spec

TRAINERS = {"baseline_gan": {"latent_dim": 4},
            "selfcond_gan": {"k": 5, "recluster_every": 30, "cluster_subset": 1000}}


def compare_spec(name: str, **overrides) -> dict:
    spec = toy_spec(name, trainers=TRAINERS, seeds=[0, 1], **overrides)
    del spec["trainer"]
    return spec


def test_each_trainer_gets_its_own_settings_on_top_of_the_shared_ones(tmp_path):
    spec = parse_spec(compare_spec("plan", search={"lr_g": {"type": "grid",
                                                             "values": [1e-4, 1e-3]}}))
    assert param_space(spec)["trainer"] == {"grid_search": ["baseline_gan", "selfcond_gan"]}
    assert total_trials(spec) == 8 and spec.label == "baseline_gan vs selfcond_gan"
    plan = trial_plan(spec, tmp_path, None)
    sc = plan.loop_config({"trainer": "selfcond_gan", "lr_g": 1e-3, "seed": 1}, "t")
    assert sc.trainer == "selfcond_gan" and sc.seed == 1
    assert sc.method == {"batch_size": 64, "k": 5, "recluster_every": 30,
                         "cluster_subset": 1000, "lr_g": 1e-3}
    base = plan.loop_config({"trainer": "baseline_gan", "lr_g": 1e-4, "seed": 0}, "t")
    assert base.method == {"batch_size": 64, "latent_dim": 4, "lr_g": 1e-4}


@pytest.mark.parametrize(("change", "expected"), [
    ({"trainers": {"nope": {}}}, "trainers.nope: unknown trainer 'nope'"),
    ({"trainers": {"baseline_gan": {"k": 5}}},
     "trainers.baseline_gan.k: unknown setting of trainer 'baseline_gan'"),
    ({"search": {"k": {"type": "grid", "values": [5, 10]}}},
     "search.k: unknown setting of trainer 'baseline_gan'"),
    ({"trainer": "baseline_gan"}, "trainer / trainers: give exactly one"),
    ({"searcher": {"type": "optuna"}, "search": {}}, "they need searcher.type grid or random"),
])
def test_a_bad_comparison_names_the_trainer_and_field(change, expected):
    with pytest.raises(SpecError) as exc:
        parse_spec(compare_spec("bad") | change, "s.yaml")
    assert expected in str(exc.value)


@pytest.mark.ray
def test_trainers_compared_in_one_study_one_parent_one_table(tmp_path, ray_cluster):
    spec = compare_spec("versus", budget={"steps": 30}, eval_every=30, checkpoint_every=30)
    uri = fresh_store(tmp_path)
    storage = str(tmp_path / "runs")
    outcome = run_study(write_spec(tmp_path, spec), storage=storage, tracking=uri)
    assert outcome.errors == 0 and len(outcome.table) == 4
    assert sorted(outcome.table["trainer"]) == ["baseline_gan"] * 2 + ["selfcond_gan"] * 2

    parent, children = runs_of(uri, "versus")
    assert len(children) == 4
    by_trainer = {}
    for child in children:
        by_trainer.setdefault(child.data.params["trainer"], []).append(child)
        assert child.data.tags["mlflow.runName"].startswith(child.data.params["trainer"])
    sc, base = by_trainer["selfcond_gan"][0], by_trainer["baseline_gan"][0]
    assert sc.data.params["setting.k"] == "5" and "setting.k" not in base.data.params
    assert base.data.params["setting.latent_dim"] == "4"
    # Self-Cond reports its clusters, the baseline has none: each ran its own method.
    client = MlflowClient(uri)
    assert client.get_metric_history(sc.info.run_id, "clusters_nonempty")
    assert not client.get_metric_history(base.info.run_id, "clusters_nonempty")

    report = write_report("versus", storage=storage)
    summary = pd.read_parquet(report / "summary.parquet")
    assert sorted(summary["trainer"]) == ["baseline_gan", "selfcond_gan"]
    assert (summary["n"] == 2).all()
    trials = pd.read_parquet(report / "trials.parquet")
    assert sorted(trials["trainer"]) == sorted(outcome.table["trainer"])
