"""The loop: evaluating leaves the training random streams alone."""

from __future__ import annotations

import torch
from pytest import approx

from trainables.checkpoint import STATE_FILE
from trainables.loop import LocalReporter, train_loop


def run(tmp_path, name: str, eval_every: int) -> tuple[dict[str, float], dict]:
    reporter = LocalReporter(checkpoint_root=tmp_path / name)
    last = train_loop({
        "trainer": "selfcond_gan", "method": {"k": 5, "cluster_subset": 400, "kmeans_restarts": 1,
                                              "recluster_every": 8, "batch_size": 32},
        "dataset": {"name": "ring", "options": {"n": 800}}, "steps": 24,
        "eval_every": eval_every, "checkpoint_every": 24, "eval_samples": 1000,
    }, reporter)
    assert reporter.last_checkpoint is not None
    return last, torch.load(reporter.last_checkpoint / STATE_FILE, weights_only=True)


def test_the_trajectory_does_not_depend_on_how_often_the_run_is_evaluated(tmp_path):
    # Each evaluation draws 1000 latents and conditions: taken from the training generator,
    # they would shift every later batch and so the weights at the end.
    once, state_once = run(tmp_path, "once", 24)
    often, state_often = run(tmp_path, "often", 5)
    for part in ("g", "d"):
        a, b = state_once["networks"][part], state_often["networks"][part]
        assert a.keys() == b.keys()
        for key in a:
            assert torch.equal(a[key], b[key]), f"{part}.{key}"
    # The final evaluation draws from a stream of its own seeded by (seed, step): same samples.
    for metric in ("high_quality_pct", "reverse_kl", "modes"):
        assert often[metric] == once[metric], metric


def decay_run(tmp_path, name: str, restore=None) -> tuple[LocalReporter, dict]:
    reporter = LocalReporter(checkpoint_root=tmp_path / name, last_checkpoint=restore)
    train_loop({
        "trainer": "baseline_gan", "method": {"batch_size": 32, "lr_g": 1e-3, "lr_d": 2e-3,
                                              "lr_decay_from": 0.5},
        "dataset": {"name": "ring", "options": {"n": 800}}, "steps": 20,
        "eval_every": 5, "checkpoint_every": 5, "eval_samples": 200,
    }, reporter)
    return reporter, torch.load(reporter.last_checkpoint / STATE_FILE, weights_only=True)


def test_the_learning_rate_decays_linearly_and_a_resumed_run_continues_the_schedule(tmp_path):
    whole, state = decay_run(tmp_path, "whole")
    # Constant to step 10, then (20 - step) / 10 of the base rate for the step about to run:
    # the rate in force after step 15 is that of step index 14, after step 20 that of 19.
    seen = {m["step"]: (m["lr_now.g"], m["lr_now.d"]) for m in whole.history}
    for step, factor in ((5, 1.0), (10, 1.0), (15, 0.6), (20, 0.1)):
        assert seen[step] == (approx(1e-3 * factor), approx(2e-3 * factor)), step
    # Resumed from step 15 (rates already decayed there): the same schedule, the same weights.
    _, resumed = decay_run(tmp_path, "resumed", tmp_path / "whole" / "checkpoint_0000015")
    for part in ("g", "d"):
        for key, value in state["networks"][part].items():
            assert torch.equal(value, resumed["networks"][part][key]), f"{part}.{key}"
