"""Spec → Tune conversion, and an Optuna TPE + ASHA study on a real Ray."""

from __future__ import annotations

import numpy as np
import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from ray import tune

from study import tuner as tuning
from study.runner import run_study
from study.spec import num_samples, parse_spec
from study.trial import PENALTY
from tests.study.helpers import fresh_store, toy_spec, write_spec


def test_param_space_maps_every_kind():
    spec = parse_spec(toy_spec("space", seeds=[0, 1], search={
        "lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3},
        "lr_d": {"type": "uniform", "low": 1e-5, "high": 1e-3},
        "latent_dim": {"type": "int", "low": 2, "high": 8},
        "d_steps": {"type": "grid", "values": [1, 2]},
        "loss": {"type": "choice", "values": ["standard", "hinge"]},
    }))
    space = tuning.param_space(spec)
    assert isinstance(space["lr_g"].get_sampler(), tune.search.sample.LogUniform)
    assert space["latent_dim"].lower == 2 and space["latent_dim"].upper == 9  # inclusive high
    assert space["d_steps"] == {"grid_search": [1, 2]}
    assert space["seed"] == {"grid_search": [0, 1]}, "seeds repeat every configuration"
    assert num_samples(spec) == 1


def _random_draws(seed: int) -> list[float]:
    spec = parse_spec(toy_spec("rand", num_samples=3, searcher={"type": "random", "seed": seed},
                               max_concurrent_trials=3,
                               search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3}}))
    gen = tuning.searcher(spec, None)
    gen.add_configurations({"rand": {"run": lambda c: None, "config": tuning.param_space(spec),
                                     "num_samples": 3}})
    draws = []
    while (trial := gen.next_trial()) is not None:
        draws.append(trial.config["lr_g"])
    return draws


def test_random_search_draws_the_same_configurations_for_the_same_seed():
    first = _random_draws(3)
    assert len(first) == 3 and first == _random_draws(3) != _random_draws(4)


def test_the_grid_and_random_generator_bounds_concurrency_itself():
    # Tune ignores max_concurrent_trials once it is given a search_alg.
    spec = parse_spec(toy_spec("conc", num_samples=3, max_concurrent_trials=2,
                               search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3}}))
    gen = tuning.searcher(spec, None)
    gen.add_configurations({"conc": {"run": lambda c: None, "config": tuning.param_space(spec),
                                     "num_samples": 3}})
    live = [gen.next_trial(), gen.next_trial()]
    assert all(live) and gen.next_trial() is None, "a third trial while two run"


def test_optuna_repeats_each_suggestion_over_seeds():
    spec = parse_spec(toy_spec("opt", seeds=[3, 4], num_samples=5,
                               searcher={"type": "optuna", "sampler": "tpe"},
                               search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3}}))
    assert "seed" not in tuning.param_space(spec)
    assert num_samples(spec) == 10
    plan = tuning.trial_plan(spec, __import__("pathlib").Path("/tmp/x"), None)
    assert plan.loop_config({"lr_g": 1e-4, "__trial_index__": 1}, "t").seed == 4


def test_pbt_and_pb2_schedulers_from_the_spec():
    from ray.tune.schedulers import PopulationBasedTraining
    from ray.tune.schedulers.pb2 import PB2

    lr = {"type": "loguniform", "low": 1e-5, "high": 1e-3}
    spec = parse_spec(toy_spec("pbt", fixed={"batch_size": 64},
                               scheduler={"type": "pbt", "perturbation_interval": 60,
                                          "mutations": {"lr_d": lr, "d_steps": {
                                              "type": "int", "low": 1, "high": 3}}}))
    space = tuning.param_space(spec)
    # A mutated setting starts from a draw of its range (fixed and mutated at once is refused:
    # tests/core/test_settings.py).
    assert space["lr_d"].lower == 1e-5 and space["lr_d"].upper == 1e-3
    assert space["d_steps"].lower == 1 and space["d_steps"].upper == 4
    pbt = tuning.scheduler(spec)
    assert isinstance(pbt, PopulationBasedTraining) and pbt._perturbation_interval == 60
    assert pbt._time_attr == "step" and set(pbt._hyperparam_mutations) == {"lr_d", "d_steps"}
    plan = tuning.trial_plan(spec, __import__("pathlib").Path("/tmp/x"), None)
    assert plan.loop_config({"d_steps": 2.6, "lr_d": 1e-4}, "t").method["d_steps"] == 3

    pb2 = tuning.scheduler(parse_spec(toy_spec("pb2", scheduler={
        "type": "pb2", "mutations": {"lr_g": lr}})))
    assert isinstance(pb2, PB2) and pb2._perturbation_interval == 30  # checkpoint_every
    assert pb2._hyperparam_bounds == {"lr_g": [1e-5, 1e-3]}


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "random"])
def test_every_optuna_searcher_survives_the_pickle_that_tune_writes_for_resume(tmp_path, sampler):
    from ray import cloudpickle

    spec = parse_spec(toy_spec("pickled", num_samples=2, metric=["reverse_kl", "high_quality_pct"],
                               mode=["min", "max"], searcher={"type": "optuna", "sampler": sampler},
                               search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3}}))
    search = tuning.searcher(spec, tmp_path)
    search.set_search_properties(None, None, tuning.param_space(spec))
    restored = cloudpickle.loads(cloudpickle.dumps(search))
    # The restored searcher still suggests (a genetic sampler takes its lock to do so).
    assert 1e-5 <= restored.suggest("t0")["lr_g"] <= 1e-3


@pytest.mark.ray
def test_optuna_tpe_with_asha_completes_and_persists_the_optuna_study(tmp_path, ray_cluster):
    # TPE past its start-up phase (1 random trial) under a constrained objective.
    spec = toy_spec("tpe-asha", budget={"steps": 90}, eval_every=30, checkpoint_every=30,
                    num_samples=3, searcher={"type": "optuna", "sampler": "tpe", "seed": 1,
                                             "n_startup_trials": 1},
                    scheduler={"type": "asha", "grace_period": 30, "reduction_factor": 2},
                    constraints={"mode_spread": [0.5, 2.0]},
                    search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3}})
    outcome = run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"),
                        tracking=fresh_store(tmp_path))
    assert outcome.errors == 0
    assert len(outcome.table) == 3
    assert outcome.table["step"].between(30, 90).all()
    storage = JournalStorage(JournalFileBackend(str(outcome.folder / tuning.OPTUNA_JOURNAL)))
    study = optuna.load_study(study_name="tpe-asha", storage=storage)
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(done) == 3
    assert all(1e-5 <= t.params["lr_g"] <= 1e-3 for t in done)
    # Optuna ranked the constrained objective: the reverse KL where the samples' spread is
    # within 0.5-2x the data's, else pushed past every such trial.
    table = outcome.table
    inside = table["mode_spread"].between(0.5, 2.0)
    assert (table["constraints_met"] == inside.astype(float)).all()
    expected = table["reverse_kl"] + (~inside) * PENALTY
    assert np.allclose(table["objective"], expected)
    assert sorted(t.value for t in done) == pytest.approx(sorted(table["objective"]))
    assert list(table["objective"]) == sorted(table["objective"])  # ranked by it


@pytest.mark.ray
def test_multi_objective_optuna_study_reports_its_pareto_front(tmp_path, ray_cluster):
    import pandas as pd

    from study.paths import PARETO_TABLE

    spec = toy_spec("mo", budget={"steps": 30}, eval_every=30, checkpoint_every=30,
                    num_samples=3, searcher={"type": "optuna", "sampler": "nsga2", "seed": 0},
                    metric=["reverse_kl", "high_quality_pct"], mode=["min", "max"],
                    search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-2}})
    outcome = run_study(write_spec(tmp_path, spec), storage=str(tmp_path / "runs"),
                        tracking=fresh_store(tmp_path))
    assert outcome.errors == 0 and len(outcome.table) == 3
    front = pd.read_parquet(outcome.folder / PARETO_TABLE)
    storage = JournalStorage(JournalFileBackend(str(outcome.folder / tuning.OPTUNA_JOURNAL)))
    trials = optuna.load_study(study_name="mo", storage=storage).trials
    points = [(t.values[0], t.values[1]) for t in trials]
    assert len(points) == 3

    def dominated(p: tuple[float, float]) -> bool:
        return any(q[0] <= p[0] and q[1] >= p[1] and q != p for q in points)

    expected = {p for p in points if not dominated(p)}
    assert set(zip(front["reverse_kl"], front["high_quality_pct"], strict=True)) == expected
