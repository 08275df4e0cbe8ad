"""Image evaluation at the loop's cadence: FID, precision/recall/density/coverage, IS and mode
histograms of generated images against the run's training images (figures: `scoring.figures`).

Feature space (`eval_features`): "auto" is the data set's reference classifier
`classifier:<family>` (mnist for MNIST, Stacked MNIST and the MNIST-based imbalanced sets,
fashion_mnist for Fashion-MNIST and FMNIST-5, digits, cifar10), "inception" for data sets without
one; "raw", "inception" and "classifier:<ds>" name one explicitly.
Stacked MNIST with a 1-channel classifier: each channel goes through the MNIST classifier (resized
to 28×28 bicubic first when the data set was resized), the three penultimate feature vectors are
concatenated (3×128-d) and the logits of the 1000 joint classes are the sums of the per-channel
log-probabilities (the channels are classified independently), which IS uses.

Real reference: a fixed subset (first n of randperm(seed 0)) of the training images: n_real =
min(N, max(10k, eval_samples)) for the FID statistics, n_prdc = min(eval_samples, N) for PR/DC
(k = 5, with its k-NN radii); both cached on disk with `evaluation.stats_cache.StatsCache`, keyed
by the data set's name and a hash of those images (which covers loader options, root and subset),
extractor name, weights hash and n.
Modes: the argmax of the family classifier on generated images, mapped to the data set's modes
(merged groups for the imbalanced sets; a class outside every group counts in `off_mode_frac`),
gives `modes_covered` and the reverse KL against the data's class priors (`reverse_kl` natural
log, `reverse_kl_log10`); Stacked MNIST: the 1000 modes of
`evaluation.classifiers.stacked_mnist_modes` against the uniform prior (PacGAN convention).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from evaluation.errors import FeatureExtractorError, RankDeficientWarning
from evaluation.features import Extractor, get_extractor, inception_weights_file
from evaluation.fid import FeatureStats
from evaluation.modes import (
    between_mask,
    confident_mask,
    mode_histogram,
    modes_confident,
    reverse_kl,
)
from trainables.data import DataBundle

PRDC_K = 5
IS_SPLITS = 10
FID_REAL_MIN = 10_000  # real images in the FID statistics (or every image, if fewer)
REAL_SUBSET_SEED = 0
SPLIT = "train"  # default reference: the bundle the run trains on (eval_split: test)

_FAMILIES = {"mnist": "mnist", "stacked_mnist": "mnist", "fashion_mnist": "fashion_mnist",
             "digits": "digits", "cifar10": "cifar10"}
# Heavy to build: one per device and weights file (path and mtime) in a process.
_INCEPTION: dict[tuple[str, str, int], Extractor] = {}


def classifier_family(data: DataBundle) -> str | None:
    """The reference classifier whose classes are this data set's (or whose groups are)."""
    base = data.info.get("base")  # the imbalanced sets record the set they were cut from
    if base in ("mnist", "fashion_mnist"):
        return str(base)
    return _FAMILIES.get(data.name)


def resolve_features(data: DataBundle, features: str = "auto") -> str:
    if features != "auto":
        return features
    family = classifier_family(data)
    return f"classifier:{family}" if family else "inception"


class ChannelAdapter(Extractor):
    """Fits images to a classifier's input: bicubic resize to its H×W, and, for a 1-channel
    classifier on 3-channel images, one pass per channel with features concatenated and the
    joint logits Σ_c log p(y_c | x_c) over the n_classes³ channel combinations."""

    def __init__(self, base: Extractor, input_shape: tuple[int, int, int],
                 image_shape: tuple[int, int, int]) -> None:
        self.base, self.input_shape, self.batch_size = base, input_shape, base.batch_size
        self.per_channel = input_shape[0] == 1 and image_shape[0] > 1
        self.resized = tuple(image_shape[1:]) != tuple(input_shape[1:])
        self.name = f"{base.name}/per-channel" if self.per_channel else base.name

    def _fit(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if self.per_channel:
            x = x.reshape(-1, 1, *x.shape[2:])
        if tuple(x.shape[2:]) != self.input_shape[1:]:
            x = F.interpolate(x, size=self.input_shape[1:], mode="bicubic",
                              align_corners=False).clamp_(-1, 1)
        return x

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        f = self.base(self._fit(images))
        return f.reshape(len(images), -1)

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        lg = self.base.logits(self._fit(images))
        if not self.per_channel:
            return lg
        lp = lg.log_softmax(1).reshape(len(images), -1, lg.shape[1])
        joint = lp[:, 0]
        for c in range(1, lp.shape[1]):  # (n, K^c) + (n, K) → (n, K^(c+1)), first channel major
            joint = (joint[:, :, None] + lp[:, c, None, :]).reshape(len(images), -1)
        return joint

    def describe(self) -> dict[str, Any]:
        out = dict(self.base.describe())
        out["name"] = self.name
        if self.per_channel:
            out["layout"] = ("per channel through the 1-channel classifier; features "
                             "concatenated, logits = sum of per-channel log-probabilities")
        if self.resized:
            out["resize"] = f"bicubic to {self.input_shape[1]}x{self.input_shape[2]}, clamped"
        return out


def inception_extractor(device: torch.device | str = "cpu") -> Extractor:
    """This process's Inception for the device and the weights file that resolves now (missing
    weights raise FeatureExtractorError even after an earlier build)."""
    weights = inception_weights_file()
    key = (str(device), str(weights.resolve()), weights.stat().st_mtime_ns)
    if key not in _INCEPTION:
        _INCEPTION[key] = get_extractor("inception", weights_path=weights, device=str(device))
    return _INCEPTION[key]


def build_extractor(name: str, data: DataBundle, device: torch.device | str = "cpu",
                    features: str = "auto") -> Extractor:
    """The named extractor, fitted to the data's image shape; missing classifier weights give a
    FeatureExtractorError that names the classifier and the command that trains it."""
    if name == "inception":
        return inception_extractor(device)
    if name == "raw":
        return get_extractor("raw")
    try:
        ex = get_extractor(name, device=str(device))
    except FeatureExtractorError as exc:
        ds = name.split(":", 1)[1] if name.startswith("classifier:") else name
        raise FeatureExtractorError(
            f"evaluating data set {data.name!r} with eval_features={features!r} needs the "
            f"reference classifier {name!r}, which is not available: {exc} "
            f"(train it with `study classifiers train {ds}`, or set eval_features to 'raw' "
            "or 'inception')"
        ) from exc
    shape = getattr(getattr(ex, "model", None), "input_shape", None)
    if shape is not None and tuple(shape) != tuple(data.x.shape[1:]):
        c, h, w = data.x.shape[1:]
        if shape[0] not in (1, c):
            raise FeatureExtractorError(
                f"eval_features={name!r} takes {shape[0]}-channel images, data set "
                f"{data.name!r} has {c} channels ({c}x{h}x{w}); choose another extractor"
            )
        return ChannelAdapter(ex, tuple(shape), (c, h, w))
    return ex


@contextmanager
def exact_math() -> Iterator[None]:
    """TF32 off while extracting features: cached real statistics and fresh fake ones must
    come from the same arithmetic (stylegan2-ada does the same for its metrics)."""
    if not torch.cuda.is_available():
        yield
        return
    prev = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = prev


def real_subset(data: DataBundle, n: int) -> torch.Tensor:
    """Indices of the first n of a fixed permutation: every run of a study shares the set."""
    g = torch.Generator().manual_seed(REAL_SUBSET_SEED)
    return torch.randperm(len(data.x), generator=g)[:n]


@dataclass
class RealReference:
    """Real samples held for PR/DC and their k-NN radii; image runs add the FID statistics of
    n_real images and the cache files they came from."""

    features: torch.Tensor  # (n_prdc, D)
    radii: np.ndarray | torch.Tensor  # k-NN radii of features
    stats: FeatureStats | None = None
    key: str = ""
    files: list[str] = field(default_factory=list)


def real_reference(data: DataBundle, ex: Extractor, n_real: int, n_prdc: int,
                   k: int = PRDC_K, cache: Any = None, split: str = SPLIT) -> RealReference:
    """Real statistics of `data` (its `split` split) from the cache, computed (and stored)
    only on a miss."""
    from evaluation.prdc import knn_radii
    from evaluation.stats_cache import StatsCache

    cache = cache or StatsCache()
    sha = ex.describe().get("weights_sha256")
    key = f"{data.name}-{data.fingerprint[:16]}"
    fid_args = (key, split, ex.name, sha, n_real)
    prdc_args = (f"{key}-prdc-k{k}", split, ex.name, sha, n_prdc)
    fid_hit, prdc_hit = cache.load(*fid_args), cache.load(*prdc_args)
    need_fid = fid_hit is None
    need_prdc = prdc_hit is None or "features" not in prdc_hit[1]
    if need_fid or need_prdc:
        with exact_math():  # the PR/DC set is a prefix of the same permutation
            feats = ex(data.x[real_subset(data, n_real if need_fid else n_prdc)])
    if need_fid:
        stats = FeatureStats.from_features(feats)
        cache.save(stats, *fid_args)
    else:
        stats = fid_hit[0]
    if need_prdc:
        prdc = feats[:n_prdc]
        radii = knn_radii(prdc, k).numpy()
        cache.save(FeatureStats.from_features(prdc), *prdc_args,
                   extra={"features": prdc.numpy().astype(np.float32), f"radii_k{k}": radii})
    else:
        prdc, radii = torch.from_numpy(prdc_hit[1]["features"]), prdc_hit[1][f"radii_k{k}"]
    files = [str(cache.path(*fid_args)), str(cache.path(*prdc_args))]
    return RealReference(prdc, radii, stats=stats, key=key, files=files)


def mode_classifier(ex: Extractor, family: str | None, name: str, data: DataBundle,
                    device: torch.device | str) -> tuple[Extractor | None, str]:
    """The family's classifier for mode counting (the feature extractor when it is that one);
    with other features a missing classifier skips the mode metrics (reason returned)."""
    if family is None:
        return None, f"no reference classifier for data set {data.name!r}"
    wanted = f"classifier:{family}"
    if name == wanted:
        return ex, wanted
    try:
        return build_extractor(wanted, data, device), wanted
    except FeatureExtractorError as exc:
        warnings.warn(f"mode metrics skipped: {exc}", stacklevel=2)
        return None, f"skipped: {wanted} unavailable"


def class_to_mode(data: DataBundle, n_classes: int) -> np.ndarray:
    """Classifier class → data mode (-1: a class outside every merged group)."""
    groups = data.info.get("classes")
    if groups is None:
        if n_classes != data.info.get("n_classes"):
            raise ValueError(
                f"the mode classifier has {n_classes} classes; data set {data.name!r} has "
                f"{data.info.get('n_classes')}: use the data set's own reference classifier"
            )
        return np.arange(n_classes)
    out = np.full(n_classes, -1, dtype=np.int64)
    for mode, members in enumerate(groups):
        out[np.asarray(members, dtype=np.int64)] = mode
    return out


def mode_stats(modes: np.ndarray, n_modes: int, priors: np.ndarray | None) -> dict[str, float]:
    from evaluation.modes import mode_histogram, mode_metrics

    inside = modes[modes >= 0]
    out = {"off_mode_frac": 1.0 - len(inside) / max(len(modes), 1)}
    if len(inside):
        out |= mode_metrics(mode_histogram(inside, n_modes), p_data=priors)
    return out


def image_metrics(samples: torch.Tensor, data: DataBundle, features: str = "auto",
                  device: torch.device | str = "cpu", cache: Any = None,
                  split: str = SPLIT, prdc_samples: int | None = None,
                  ) -> tuple[dict[str, float], dict[str, Any]]:
    """Metrics of generated images (float NCHW in [-1, 1], on the CPU) and the protocol record;
    the real reference is the `split` split of the data set `data` came from. `prdc_samples`
    caps the k-NN metrics (PR/DC, and KID's reference) at the first that many samples: their
    cost grows with n², the others' with n (paper-scale counts of 50k)."""
    from evaluation.fid import fid_from_stats
    from evaluation.inception_score import inception_score
    from evaluation.kid import KID_SEED, KID_SUBSETS, kid
    from evaluation.prdc import compute_prdc
    from evaluation.protocol import metric_protocol
    from trainables.data.registry import split_of

    if tuple(samples.shape[1:]) != tuple(data.x.shape[1:]):
        raise ValueError(f"generated samples have shape {tuple(samples.shape[1:])}; data set "
                         f"{data.name!r} has {tuple(data.x.shape[1:])}")
    name = resolve_features(data, features)
    ex = build_extractor(name, data, device, features)
    real = split_of(data, split)
    n_fake = len(samples)
    n_real = min(len(real.x), max(FID_REAL_MIN, n_fake))
    n_prdc = min(n_fake, len(real.x), prdc_samples or n_fake)
    ref = real_reference(real, ex, n_real, n_prdc, PRDC_K, cache, split)

    metrics: dict[str, float] = {}
    with exact_math():
        fake = ex(samples)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RankDeficientWarning)  # flagged in the metric instead
        fid = fid_from_stats(ref.stats, FeatureStats.from_features(fake))
    metrics["fid"], metrics["fid_rank_deficient"] = fid["fid"], float(fid["fid_rank_deficient"])
    metrics |= compute_prdc(ref.features, fake[:n_prdc], PRDC_K, real_radii=ref.radii)
    kid_out = kid(ref.features, fake)
    metrics["kid_mean"], metrics["kid_std"] = kid_out["kid_mean"], kid_out["kid_std"]

    logits = None
    try:
        with exact_math():
            logits = ex.logits(samples)
    except NotImplementedError:  # raw pixels have no classes: no IS
        pass
    if logits is not None and n_fake >= IS_SPLITS:
        metrics["is_mean"], metrics["is_std"] = inception_score(logits, IS_SPLITS)

    family = classifier_family(data)
    clf, clf_note = mode_classifier(ex, family, name, data, device)
    mode_note = clf_note
    if clf is not None and data.name == "stacked_mnist":
        from evaluation.classifiers import stacked_mnist_channel_logits, triples

        model = clf.base.model if isinstance(clf, ChannelAdapter) else clf.model
        # The MNIST classifier takes [-1, 1]; a generator may overshoot its tanh range slightly.
        channel_logits = stacked_mnist_channel_logits(model, samples.clamp(-1, 1))
        modes = triples(channel_logits).numpy()
        metrics |= mode_stats(modes, 1000, data.info["priors"])
        sure = confident_mask(channel_logits.numpy())
        metrics["confident_frac"] = float(sure.mean())
        metrics["between_frac"] = float(between_mask(channel_logits.numpy()).mean())
        # Modes among the samples whose three channels all read confidently.
        metrics["modes_confident"] = modes_confident(modes, sure.reshape(-1, 3).all(1), 1000)
        # PacGAN's and the papers' reference is uniform over the 1000 triples: both are kept.
        metrics["reverse_kl_log10_uniform"] = reverse_kl(mode_histogram(modes, 1000), 10)
        mode_note = (f"{clf_note} per channel (stacked_mnist_modes), 1000 modes, p_data = the "
                     f"data's triple frequencies (PacGAN's uniform reference differs by "
                     f"sampling noise); confident_frac = share of channels read with p >= "
                     f"0.9 (the learning gate); between_frac = share of channels read as two "
                     f"digits at once (top-2 p >= 0.9 together); modes_confident = modes "
                     f"among samples whose channels all read so; reverse_kl_log10_uniform "
                     f"against the uniform 1000")
    elif clf is not None and data.y is not None:
        lg = logits if clf is ex and logits is not None else clf.logits(samples)
        mapping = class_to_mode(data, lg.shape[1])
        modes = mapping[lg.argmax(1).numpy()]
        n_modes = int(data.info.get("n_modes") or mapping.max() + 1)
        metrics |= mode_stats(modes, n_modes, data.info["priors"])
        sure = confident_mask(lg.numpy())
        metrics["confident_frac"] = float(sure.mean())
        metrics["between_frac"] = float(between_mask(lg.numpy()).mean())
        metrics["modes_confident"] = modes_confident(modes, sure, n_modes)
        mode_note = (f"{clf_note} argmax → {n_modes} modes, p_data = the data's class priors; "
                     f"confident_frac = share of samples read with p >= 0.9 (the learning gate); "
                     f"between_frac = share read as two classes at once; "
                     f"modes_confident = modes among those samples")

    desc = ex.describe()
    proto = metric_protocol(
        desc, n_real, n_fake, split, k=PRDC_K, is_splits=IS_SPLITS, dataset=data.name,
        eval_features=features, n_real_prdc=n_prdc, n_fake_prdc=n_prdc,
        feature_dim=int(fake.shape[1]), real_subset=f"first n of randperm(seed {REAL_SUBSET_SEED})",
        real_key=ref.key, stats_cache_files="; ".join(ref.files), mode_classifier=mode_note,
        fid="float64 statistics, covariance N-1, sqrt trace from eigvals (evaluation.fid)",
        prdc="prdc order (real, fake), strict < against k-NN radius (evaluation.prdc)",
        kid=(f"torch-fidelity kid_features_to_metric (generated, real): cubic polynomial kernel, "
             f"{KID_SUBSETS} subsets of {int(kid_out['kid_subset_size'])}, rng seed {KID_SEED}; "
             "real = the PR/DC reference"),
        inception_score=("from the extractor's logits" if "is_mean" in metrics else "not computed"),
    )
    return metrics, proto
