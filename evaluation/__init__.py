"""Evaluation: pure metric functions (features or labels in, numbers out) and feature extractors.

No Ray, MLflow, ``study`` or ``trainables`` imports here: trainers and studies call this package.
``METRICS`` lists every metric key as logged to MLflow, with the function that produces it.
"""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class MetricInfo:
    """One logged metric: producing function, direction, reference."""

    function: str
    higher_is_better: bool | None
    reference: str


METRICS: dict[str, MetricInfo] = {
    "fid": MetricInfo("fid.fid_from_stats", False, "Heusel 2017; torchmetrics/torch-fidelity"),
    "fid_rank_deficient": MetricInfo("fid.fid_from_stats", None, "flag: n <= feature dim"),
    "is_mean": MetricInfo("inception_score.inception_score", True, "torch-fidelity isc"),
    "is_std": MetricInfo("inception_score.inception_score", None, "torch-fidelity isc"),
    "precision": MetricInfo("prdc.compute_prdc", True, "Kynkäänniemi 2019; prdc package"),
    "recall": MetricInfo("prdc.compute_prdc", True, "Kynkäänniemi 2019; prdc package"),
    "density": MetricInfo("prdc.compute_prdc", True, "Naeem 2020; prdc package"),
    "coverage": MetricInfo("prdc.compute_prdc", True, "Naeem 2020; prdc package"),
    "nmi": MetricInfo("clustering.nmi", True, "sklearn normalized_mutual_info_score"),
    "ari": MetricInfo("clustering.ari", True, "sklearn adjusted_rand_score"),
    "purity": MetricInfo("clustering.purity", True, "majority class per cluster"),
    "cluster_acc": MetricInfo("clustering.cluster_acc", True, "Hungarian (scipy)"),
    "reverse_kl": MetricInfo("modes.reverse_kl", False, "Self-Cond 2D code, natural log"),
    "reverse_kl_log10": MetricInfo("modes.reverse_kl", False, "Stacked MNIST / PacGAN, log10"),
    "mode_freq_l1": MetricInfo("modes.mode_freq_l1", False, "L1 of mode vs data frequencies"),
    "modes_covered": MetricInfo("modes.modes_covered", True, "modes with >= min_count samples"),
    "modes": MetricInfo("toy.toy_metrics", True, "Self-Cond 2D: modes with a HQ sample"),
    "high_quality_pct": MetricInfo("toy.toy_metrics", True, "Self-Cond 2D: % within 3 std"),
    "logreg_acc": MetricInfo("latent.logreg_accuracy", True, "simplicial paper, Sec. 4.1"),
    "convex_acc": MetricInfo("latent.convex_accuracy", True, "simplicial paper, Sec. 4.1"),
}

__all__ = [
    "METRICS",
    "MetricInfo",
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
