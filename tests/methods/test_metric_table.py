"""The metric table says what each trainer reports on each kind of data: what a spec's `metric`
is checked against. Short real runs on toy data must report exactly the table's rows."""

from __future__ import annotations

import re

import pytest

from evaluation import metric_table
from trainables.loop import LocalReporter, train_loop

# Losses, bookkeeping and diagnostics that are not metrics of the samples (never objectives).
NOT_METRICS = re.compile(r"^(loss_|lr_now\.|step|lambda|partition|cluster|reclusters|mi_on|guide|gp"
                         r"|wasserstein|latent_classes|inverter_|labelled_ce|prior_loss"
                         r"|eval_on_test|prior_\d+$|dataset_fingerprint$)")

RUNS = [
    ("baseline_gan", "grid", {}),
    ("selfcond_gan", "grid", {"k": 5, "recluster_every": 2, "cluster_subset": 300,
                              "kmeans_restarts": 1}),
    ("pgmgan", "grid", {"k": 5, "partition.init": "kmeans", "partition.steps": 2,
                        "partition.kmeans_restarts": 1, "rejection": False}),
    ("simplicial", "gaussian_mixture", {"latent_dim": 10, "eval_prdc_samples": 200}),
    ("nemgan", "gaussian_mixture", {"latent_dim": 12, "priors": "learned", "labelled_start": 0,
                                    "prior_start": 2, "eval_test_samples": 300,
                                    "eval_fake_samples": 200}),
]


@pytest.mark.parametrize(("trainer", "dataset", "method"), RUNS, ids=[r[0] for r in RUNS])
def test_a_trainer_reports_exactly_the_tables_rows_for_its_data(trainer, dataset, method):
    cfg = {"trainer": trainer, "dataset": {"name": dataset, "options": {"n": 2000}}, "steps": 4,
           "eval_every": 4, "checkpoint_every": 4, "eval_samples": 300,
           "method": {"batch_size": 32} | method}
    reporter = LocalReporter()
    train_loop(cfg, reporter)
    reported = {k for k in reporter.history[-1] if not NOT_METRICS.match(k)}
    kind = "toy2d" if dataset == "grid" else "mixture"
    unknown = {k for k in reported if metric_table.lookup(k) is None}
    assert not unknown, f"reported but not in the metric table: {sorted(unknown)}"
    wrong = {k for k in reported if not metric_table.lookup(k).reported(kind, trainer)}
    assert not wrong, f"the table says {trainer} does not report these on {kind}: {wrong}"
    rows = {metric_table.lookup(k).name for k in reported}  # acceptance_tau0.2 → acceptance
    always = {m for m in metric_table.reported(kind, trainer) if not metric_table.lookup(m).when}
    missing = always - rows
    assert not missing, f"the table promises what {trainer} never reports: {sorted(missing)}"
