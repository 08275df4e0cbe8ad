"""Evaluation: pure metric functions (features or labels in, numbers out) and feature extractors.

No Ray, MLflow, ``study`` or ``trainables`` imports here: trainers and studies call this package.
``metric_table`` lists every metric key as logged to MLflow: direction, data, label, meaning.
"""

from __future__ import annotations

from evaluation.clustering import ari, cluster_acc, clustering_metrics, nmi, purity
from evaluation.errors import (
    FeatureExtractorError,
    FeatureShapeError,
    MetricInputError,
    NonFiniteFeaturesError,
    RankDeficientWarning,
    TooFewSamplesError,
)
from evaluation.features import Extractor, get_extractor, register_classifier, register_extractor
from evaluation.fid import FeatureStats, fid_from_features, fid_from_stats, frechet_distance
from evaluation.inception_score import inception_score
from evaluation.latent import convex_accuracy, convex_accuracy_from_fn, logreg_accuracy
from evaluation.metric_table import METRIC_TABLE
from evaluation.modes import (
    mode_freq_l1,
    mode_histogram,
    mode_metrics,
    modes_covered,
    reverse_kl,
)
from evaluation.prdc import compute_prdc, knn_radii
from evaluation.protocol import library_versions, metric_protocol
from evaluation.stats_cache import StatsCache
from evaluation.toy import grid_centers, ring_centers, toy_metrics

__all__ = [
    "METRIC_TABLE",
    "Extractor",
    "FeatureExtractorError",
    "FeatureShapeError",
    "FeatureStats",
    "MetricInputError",
    "NonFiniteFeaturesError",
    "RankDeficientWarning",
    "StatsCache",
    "TooFewSamplesError",
    "ari",
    "cluster_acc",
    "clustering_metrics",
    "compute_prdc",
    "convex_accuracy",
    "convex_accuracy_from_fn",
    "fid_from_features",
    "fid_from_stats",
    "frechet_distance",
    "get_extractor",
    "grid_centers",
    "inception_score",
    "knn_radii",
    "library_versions",
    "logreg_accuracy",
    "metric_protocol",
    "mode_histogram",
    "mode_freq_l1",
    "mode_metrics",
    "modes_covered",
    "nmi",
    "purity",
    "register_classifier",
    "register_extractor",
    "reverse_kl",
    "ring_centers",
    "toy_metrics",
]
