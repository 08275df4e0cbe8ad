"""Evaluation: pure metric functions (features or labels in, numbers out) and feature extractors.

No Ray, MLflow, ``study`` or ``trainables`` imports here: trainers and studies call this package.
``metric_table`` lists every metric key as logged to MLflow: direction, data, label, meaning.

Names are imported on first use (PEP 562): `study ls` and spec validation, which touch one error
class or the metric table, need not load scikit-learn and SciPy.
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "Extractor": "features",
    "FeatureExtractorError": "errors",
    "FeatureShapeError": "errors",
    "FeatureStats": "fid",
    "METRIC_TABLE": "metric_table",
    "MetricInputError": "errors",
    "NonFiniteFeaturesError": "errors",
    "RankDeficientWarning": "errors",
    "StatsCache": "stats_cache",
    "TooFewSamplesError": "errors",
    "ari": "clustering",
    "cluster_acc": "clustering",
    "clustering_metrics": "clustering",
    "compute_prdc": "prdc",
    "convex_accuracy": "latent",
    "convex_accuracy_from_fn": "latent",
    "fid_from_features": "fid",
    "fid_from_stats": "fid",
    "frechet_distance": "fid",
    "get_extractor": "features",
    "grid_centers": "toy",
    "inception_score": "inception_score",
    "knn_radii": "prdc",
    "library_versions": "protocol",
    "logreg_accuracy": "latent",
    "metric_protocol": "protocol",
    "mode_freq_l1": "modes",
    "mode_histogram": "modes",
    "mode_metrics": "modes",
    "modes_covered": "modes",
    "nmi": "clustering",
    "purity": "clustering",
    "register_classifier": "features",
    "register_extractor": "features",
    "reverse_kl": "modes",
    "ring_centers": "toy",
    "toy_metrics": "toy",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'evaluation' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"evaluation.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
