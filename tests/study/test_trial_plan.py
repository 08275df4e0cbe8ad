"""How a multi-worker trial's Ray Train run handles failures (checked without building the
trainer: a TorchTrainer connects to Ray, which these tests do not start)."""

from __future__ import annotations

from study.trial import GROUP_START_RETRIES, TrialPlan


def test_a_train_trial_retries_a_worker_group_start_a_bounded_number_of_times(tmp_path):
    plan = TrialPlan(study="s", study_dir=str(tmp_path), trainer="baseline_gan",
                     dataset={"name": "grid"}, fixed={}, seeds=[0], steps=10, eval_every=10,
                     checkpoint_every=10, eval_samples=100, workers=2, in_process=False,
                     cpus_per_worker=0.5, max_failures=2)
    failure = plan.failure_config()
    # Ray Train's default (-1) retries a group that cannot start for ever: the trial hangs.
    assert failure.controller_failure_limit == GROUP_START_RETRIES >= 0
    assert failure.max_failures == 2
