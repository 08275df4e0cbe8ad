"""Synchronous PBT / PB2 on a real Ray: a trial that errors does not hold the others at the
sync point (Tune alone waits forever there: study.population)."""

from __future__ import annotations

import json
import os
import tempfile
import time

import pytest
from ray import tune

from study.population import PB2Scheduler, PBTScheduler

pytestmark = pytest.mark.ray
STEPS, EVERY, FAILS_AT = 12, 4, 5
GUARD_S = 120  # Tune ends the experiment by then: a hang fails the step assertion, not CI


def trainable(config: dict) -> None:
    step = 0
    if (ckpt := tune.get_checkpoint()) is not None:
        with ckpt.as_directory() as d, open(os.path.join(d, "step.json")) as f:
            step = json.load(f)["step"]
    fails = tune.get_context().get_trial_id().endswith("00001")  # not copied by an exploit
    while step < STEPS:
        step += 1
        if fails and step == FAILS_AT:
            raise RuntimeError("planted failure")
        with tempfile.TemporaryDirectory() as d:
            with open(os.path.join(d, "step.json"), "w") as f:
                json.dump({"step": step}, f)
            tune.report({"step": step, "score": step * config["lr"]},
                        checkpoint=tune.Checkpoint.from_directory(d))


@pytest.mark.parametrize("kind", ["pbt", "pb2"])
def test_a_synchronous_population_goes_on_after_a_trial_errors(tmp_path, ray_cluster, kind):
    common = {"time_attr": "step", "metric": "score", "mode": "max", "synch": True,
              "perturbation_interval": EVERY}
    scheduler = (PBTScheduler(hyperparam_mutations={"lr": tune.uniform(0.1, 1.0)}, **common)
                 if kind == "pbt" else
                 PB2Scheduler(hyperparam_bounds={"lr": [0.1, 1.0]}, **common))
    tuner = tune.Tuner(
        tune.with_resources(trainable, {"cpu": 0.5}),
        param_space={"lr": tune.grid_search([0.5, 0.9])},
        tune_config=tune.TuneConfig(scheduler=scheduler, time_budget_s=GUARD_S),
        run_config=tune.RunConfig(storage_path=str(tmp_path), name=kind, verbose=0),
    )
    t0 = time.monotonic()
    results = tuner.fit()
    by_id = {r.metrics["trial_id"][-5:]: r for r in results}
    assert by_id["00001"].error is not None and by_id["00001"].metrics["step"] == FAILS_AT - 1
    assert by_id["00000"].error is None and by_id["00000"].metrics["step"] == STEPS
    assert time.monotonic() - t0 < GUARD_S
