"""The driver's progress lines: trial k of N with an ETA, and the trial count per searcher."""

from __future__ import annotations

from types import SimpleNamespace

from study.progress import ProgressCallback, short_config
from study.spec import parse_spec, total_trials
from tests.study.helpers import toy_spec

GRID = {"lr_g": {"type": "grid", "values": [1e-4, 1e-3]},
        "latent_dim": {"type": "grid", "values": [2, 8, 32]}}


def test_total_trials_counts_grid_values_seeds_and_samples():
    assert total_trials(parse_spec(toy_spec("g", seeds=[0, 1], search=GRID))) == 12
    optuna = toy_spec("o", seeds=[0, 1, 2], num_samples=4,
                      searcher={"type": "optuna", "sampler": "tpe"},
                      search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3}})
    assert total_trials(parse_spec(optuna)) == 12
    random = toy_spec("r", seeds=[0, 1], num_samples=3, searcher={"type": "random"},
                      search={"lr_g": {"type": "loguniform", "low": 1e-5, "high": 1e-3},
                              "latent_dim": {"type": "grid", "values": [2, 8]}})
    assert total_trials(parse_spec(random)) == 12


def test_finished_line_counts_trials_and_gives_an_eta(capsys):
    progress = ProgressCallback(["reverse_kl"], 100, total=4)
    trials = [SimpleNamespace(trial_id=f"t{i}", status="RUNNING", config={}) for i in range(4)]
    trials[0].status = "TERMINATED"
    progress.on_trial_complete(0, trials, trials[1])
    line = capsys.readouterr().out
    assert "t1 finished (trial 2 of 4 done, ETA " in line
    trials[1].status = trials[2].status = "TERMINATED"
    progress.on_trial_complete(0, trials, trials[3])
    assert "(trial 4 of 4 done)" in capsys.readouterr().out


def test_run_names_carry_searched_values_and_seed():
    assert short_config({"lr_g": 1e-4, "latent_dim": 8, "seed": 0}) == "lr_g=0.0001 latent_dim=8 s0"
    assert short_config({"k": 10, "__trial_index__": 4}, seeds=[3, 5]) == "k=10 s3"


def test_a_callback_pickled_by_an_older_version_still_reports(capsys):
    """A resumed study runs with the callbacks Tune pickled when it started: attributes added
    since then fall back to class defaults instead of failing the driver."""
    import pickle

    from study.tracking import MLflowTrialCallback

    old = ProgressCallback(["reverse_kl"], 100, total=4)
    del old.__dict__["total"]  # as pickled before `total` existed
    restored = pickle.loads(pickle.dumps(old))
    trial = SimpleNamespace(trial_id="t0", status="RUNNING", config={})
    restored.setup()
    restored.on_trial_complete(0, [trial], trial)
    assert "t0 finished (1 trials done so far)" in capsys.readouterr().out
    assert MLflowTrialCallback.__new__(MLflowTrialCallback).seeds is None
