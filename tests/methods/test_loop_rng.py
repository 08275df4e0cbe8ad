"""The loop: evaluating leaves the training random streams alone."""

from __future__ import annotations

import torch

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
