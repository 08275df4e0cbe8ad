"""Feature extractors behind one interface, chosen by a name string.

``get_extractor(name, **opts)`` with ``name`` one of:

- ``"raw"``: the data itself, flattened (toy sets, Gaussian mixtures);
- ``"inception"``: torch-fidelity's TF-exact ``FeatureExtractorInceptionV3`` — 2048-d pool
  features (FID, PR/DC) and ``logits_unbiased`` (IS, as torch-fidelity); TF1-exact bilinear resize
  to 299; images are quantised to uint8 first (as torch-fidelity / stylegan2-ada / clean-fid).
  Weights: option ``weights_path``, else env ``STUDY_INCEPTION_WEIGHTS``, else torch hub's cache,
  else torch-fidelity's download; offline without weights → :class:`FeatureExtractorError`;
- ``"classifier:<dataset>"``: a small reference classifier from ``evaluation.classifiers``
  (``features`` = penultimate layer, ``logits`` = forward); stand-ins can be registered with
  :func:`register_classifier`.

All extractors take float images in [-1, 1], NCHW, and return float32 (N, D) tensors on CPU.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from evaluation.errors import FeatureExtractorError, MetricInputError, all_finite

__all__ = [
    "Extractor",
    "RawExtractor",
    "InceptionExtractor",
    "ClassifierExtractor",
    "get_extractor",
    "register_extractor",
    "register_classifier",
    "file_sha256",
    "quantize_uint8",
    "INCEPTION_WEIGHTS_ENV",
    "INCEPTION_WEIGHTS_URL",
    "inception_weights_file",
]

INCEPTION_WEIGHTS_ENV = "STUDY_INCEPTION_WEIGHTS"
INCEPTION_WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/"
    "weights-inception-2015-12-05-6726825d.pth"
)
INCEPTION_WEIGHTS_FILE = INCEPTION_WEIGHTS_URL.rsplit("/", 1)[1]

_SHA_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file (memoised on path, size and mtime)."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _SHA_CACHE:
        h = hashlib.sha256()
        with p.open("rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _SHA_CACHE[key] = h.hexdigest()
    return _SHA_CACHE[key]


def _check_images(images: torch.Tensor) -> torch.Tensor:
    if not isinstance(images, torch.Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if hasattr(images, "shape") else type(images).__name__
        raise MetricInputError(f"images: expected a float NCHW tensor in [-1, 1], got {shape}")
    if not all_finite(images):
        raise MetricInputError("images: contains NaN or inf values")
    return images


def quantize_uint8(images: torch.Tensor) -> torch.Tensor:
    """[-1, 1] floats → uint8 with round-half-up of (x + 1)·127.5 (= stylegan2-ada's x·127.5+128
    truncated), clamped to [0, 255]."""
    return torch.floor((images.float() + 1.0) * 127.5 + 0.5).clamp(0, 255).to(torch.uint8)


class Extractor:
    """Base class: ``__call__(images) -> (N, D) features``; ``logits`` where meaningful."""

    name: str = "base"
    batch_size: int = 256

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        images = _check_images(images)
        outs = [self._features(images[i:i + self.batch_size])
                for i in range(0, images.shape[0], self.batch_size)]
        return torch.cat(outs) if outs else torch.empty(0, 0)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        images = _check_images(images)
        outs = [self._logits(images[i:i + self.batch_size])
                for i in range(0, images.shape[0], self.batch_size)]
        return torch.cat(outs) if outs else torch.empty(0, 0)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError(f"extractor {self.name!r} has no logits")

    def describe(self) -> dict[str, Any]:
        raise NotImplementedError


class RawExtractor(Extractor):
    """The data itself, flattened to (N, C·H·W) (or (N, D) for vector data)."""

    name = "raw"

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        if not isinstance(images, torch.Tensor) or images.ndim < 2:
            raise MetricInputError("images: expected a tensor of shape (N, ...)")
        if not all_finite(images):
            raise MetricInputError("images: contains NaN or inf values")
        return images.detach().reshape(images.shape[0], -1).float().cpu()

    def describe(self) -> dict[str, Any]:
        return {"name": "raw", "weights_file": None, "weights_sha256": None,
                "resize": "none", "quantisation": "none"}


def _offline_error(detail: str) -> FeatureExtractorError:
    return FeatureExtractorError(
        f"Inception weights unavailable: {detail}. Provide torch-fidelity's TF-exact InceptionV3 "
        f"weights file {INCEPTION_WEIGHTS_FILE} (from {INCEPTION_WEIGHTS_URL}) and point the "
        f"option weights_path=... or the environment variable {INCEPTION_WEIGHTS_ENV} at it, or "
        "put it in torch hub's checkpoint cache; or use a 'classifier:<dataset>' extractor."
    )


def _probe(host: str, port: int, timeout: float) -> str | None:
    """None if ``host:port`` accepts a TCP connection within ``timeout`` s (DNS included)."""
    result: list[str | None] = ["timed out"]

    def connect() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result[0] = None
        except OSError as exc:
            result[0] = str(exc)

    t = threading.Thread(target=connect, daemon=True)
    t.start()
    t.join(timeout)
    return result[0]


def inception_weights_file(weights_path: str | Path | None = None, allow_download: bool = True,
                           timeout: float = 5.0) -> Path:
    """The Inception weights file the extractor would load (downloaded if allowed and absent);
    FeatureExtractorError when there is none."""
    path = weights_path or os.environ.get(INCEPTION_WEIGHTS_ENV) or None
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            source = "weights_path" if weights_path else INCEPTION_WEIGHTS_ENV
            raise _offline_error(f"{source} points at {p}, which does not exist")
        return p
    cached = Path(torch.hub.get_dir()) / "checkpoints" / INCEPTION_WEIGHTS_FILE
    if cached.is_file():
        return cached
    if not allow_download:
        raise _offline_error(f"not in {cached} and allow_download=False")
    reason = _probe("github.com", 443, timeout)  # fail fast offline instead of hanging
    if reason is not None:
        raise _offline_error(f"not in {cached} and cannot reach github.com ({reason})")
    try:
        torch.hub.download_url_to_file(INCEPTION_WEIGHTS_URL, str(cached), progress=False)
    except Exception as exc:  # noqa: BLE001 - any download failure gets the same advice
        raise _offline_error(f"download to {cached} failed ({exc})") from exc
    return cached


class InceptionExtractor(Extractor):
    """torch-fidelity's TF-exact InceptionV3: 2048-d pool features, ``logits_unbiased``."""

    name = "inception"

    def __init__(self, weights_path: str | Path | None = None, device: str = "cpu",
                 batch_size: int = 64, internal_dtype: str = "float32",
                 allow_download: bool = True, timeout: float = 5.0) -> None:
        self.weights_file = inception_weights_file(weights_path, allow_download, timeout)
        from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

        self.model = FeatureExtractorInceptionV3(
            "inception-v3-compat", ["2048", "logits_unbiased"],
            feature_extractor_weights_path=str(self.weights_file),
            feature_extractor_internal_dtype=internal_dtype,
        ).to(device)
        self.device, self.batch_size, self.internal_dtype = device, batch_size, internal_dtype

    def _run(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = quantize_uint8(images)
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if x.shape[1] != 3:
            raise MetricInputError(f"images: expected 1 or 3 channels, got {x.shape[1]}")
        with torch.no_grad():
            feats, logits = self.model(x.to(self.device))
        return feats.cpu(), logits.cpu()

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        return self._run(images)[0]

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        return self._run(images)[1]

    def describe(self) -> dict[str, Any]:
        return {"name": "inception", "weights_file": self.weights_file.name,
                "weights_sha256": file_sha256(self.weights_file),
                "resize": "tf1-bilinear-299", "quantisation": "uint8",
                "feature_layer": "2048", "logits_layer": "logits_unbiased",
                "internal_dtype": self.internal_dtype}


ClassifierLoader = Callable[[str | Path | None], tuple[torch.nn.Module, dict[str, Any]]]
_CLASSIFIER_LOADERS: dict[str, ClassifierLoader] = {}


def register_classifier(dataset: str, loader: ClassifierLoader | None) -> None:
    """Register (or with ``None`` remove) a loader ``root -> (module, info)`` for
    ``classifier:<dataset>``, overriding ``evaluation.classifiers.load_classifier``."""
    if loader is None:
        _CLASSIFIER_LOADERS.pop(dataset, None)
    else:
        _CLASSIFIER_LOADERS[dataset] = loader


class ClassifierExtractor(Extractor):
    """Penultimate-layer features and logits of a small reference classifier."""

    def __init__(self, dataset: str, root: str | Path | None = None, device: str = "cpu",
                 batch_size: int = 256, quantise: bool = True) -> None:
        if dataset in _CLASSIFIER_LOADERS:
            module, info = _CLASSIFIER_LOADERS[dataset](root)
        else:
            try:
                from evaluation import classifiers
            except ImportError as exc:
                raise FeatureExtractorError(
                    f"classifier:{dataset}: evaluation.classifiers is not available ({exc})"
                ) from exc
            try:
                module, info = classifiers.load_classifier(dataset, root)
            except FileNotFoundError as exc:
                raise FeatureExtractorError(f"classifier:{dataset}: {exc}") from exc
            info = dict(info)
            folder_fn = getattr(classifiers, "classifiers_dir", None)
            if "weights_file" not in info and folder_fn is not None:
                info["weights_file"] = str(Path(folder_fn(root)) / f"{dataset}.pt")
        self.name = f"classifier:{dataset}"
        self.model = module.to(device).eval()
        self.info = dict(info)
        self.device, self.batch_size, self.quantise = device, batch_size, quantise

    def _prep(self, images: torch.Tensor) -> torch.Tensor:
        x = quantize_uint8(images).float() / 127.5 - 1.0 if self.quantise else images.float()
        return x.to(self.device)

    def _features(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model.features(self._prep(images)).float().cpu()

    def _logits(self, images: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return self.model(self._prep(images)).float().cpu()

    def describe(self) -> dict[str, Any]:
        weights = self.info.get("weights_file") or self.info.get("path")
        sha = self.info.get("weights_sha256") or self.info.get("sha256")
        if sha is None and weights and Path(weights).is_file():
            sha = file_sha256(weights)
        out = {"name": self.name, "weights_file": str(weights) if weights else None,
               "weights_sha256": sha, "resize": "none",
               "quantisation": "uint8" if self.quantise else "none"}
        out.update({k: v for k, v in self.info.items() if k not in out and _scalar(v)})
        return out


def _scalar(v: Any) -> bool:
    return isinstance(v, (str, int, float, bool)) or v is None


ExtractorFactory = Callable[..., Extractor]
_EXTRACTORS: dict[str, ExtractorFactory] = {
    "raw": RawExtractor,
    "inception": InceptionExtractor,
}


def register_extractor(name: str, factory: ExtractorFactory) -> None:
    """Make ``get_extractor(name, **opts)`` call ``factory(**opts)``."""
    _EXTRACTORS[name] = factory


def get_extractor(name: str, **opts: Any) -> Extractor:
    """Build the extractor named ``name`` ("raw", "inception", "classifier:<dataset>", ...)."""
    if name.startswith("classifier:"):
        dataset = name.split(":", 1)[1]
        if not dataset:
            raise FeatureExtractorError("extractor name 'classifier:' needs a dataset")
        return ClassifierExtractor(dataset, **opts)
    if name not in _EXTRACTORS:
        known = sorted([*_EXTRACTORS, "classifier:<dataset>"])
        raise FeatureExtractorError(f"unknown extractor {name!r}; known: {known}")
    return _EXTRACTORS[name](**opts)
