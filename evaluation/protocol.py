"""The metric protocol every result carries (DESIGN.md, "Metric protocol"): extractor, weights
file and hash, resize, quantisation, n_real, n_fake, real split, PR/DC k, IS splits, versions.

Flat ``str -> scalar`` dict, ready for ``mlflow.log_params`` (the caller logs it).
"""

from __future__ import annotations

from functools import cache
from importlib import metadata
from typing import Any

from evaluation.features import Extractor

__all__ = ["metric_protocol", "library_versions", "installed_versions"]

_LIBS = {"torch": "torch", "numpy": "numpy", "scipy": "scipy", "sklearn": "scikit-learn",
         "torch_fidelity": "torch-fidelity"}


def installed_versions(dists: dict[str, str]) -> dict[str, str]:
    """Installed version of each distribution (key -> distribution name); ``"missing"`` if
    not installed."""
    out = {}
    for key, dist in dists.items():
        try:
            out[key] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            out[key] = "missing"
    return out


@cache
def library_versions() -> dict[str, str]:
    """Installed versions of the libraries the metrics depend on."""
    return installed_versions(_LIBS)


def metric_protocol(extractor: Extractor | dict[str, Any] | None, n_real: int | None,
                    n_fake: int | None, split: str | None, k: int = 5, is_splits: int = 10,
                    **extra: Any) -> dict[str, Any]:
    """Protocol record: ``extractor``, ``weights_file``, ``weights_sha256``, ``resize``,
    ``quantisation``, ``n_real``, ``n_fake``, ``split``, ``k``, ``is_splits``, ``version_<lib>``
    (torch, numpy, scipy, sklearn, torch_fidelity), plus any ``extra`` keys."""
    if extractor is None:
        desc: dict[str, Any] = {"name": "none"}
    elif isinstance(extractor, dict):
        desc = extractor
    else:
        desc = extractor.describe()
    out: dict[str, Any] = {
        "extractor": desc.get("name"),
        "weights_file": desc.get("weights_file"),
        "weights_sha256": desc.get("weights_sha256"),
        "resize": desc.get("resize", "none"),
        "quantisation": desc.get("quantisation", "none"),
        "n_real": n_real,
        "n_fake": n_fake,
        "split": split,
        "k": k,
        "is_splits": is_splits,
    }
    out.update({f"version_{lib}": v for lib, v in library_versions().items()})
    out.update(extra)
    return out
