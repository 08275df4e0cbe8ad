"""On-disk cache of real-data statistics (FID mean/covariance, optional extra arrays such as PR/DC
radii), keyed by dataset, split, extractor name, extractor weights hash and n.

Files are ``.npz`` written atomically (temporary file in the same folder, fsync, ``os.replace``),
so concurrent writers (Ray workers) never expose a half-written file; the last writer wins.
Root: argument, else env ``STUDY_STATS_CACHE``, else ``~/.cache/gan-mode-study/stats``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Callable
from pathlib import Path

import numpy as np

from evaluation.atomic import atomic_savez
from evaluation.fid import FeatureStats

__all__ = ["StatsCache", "stats_key", "atomic_savez"]

STATS_CACHE_ENV = "STUDY_STATS_CACHE"


def stats_key(dataset: str, split: str, extractor: str, weights_sha256: str | None,
              n: int | None) -> str:
    """Readable, filename-safe key; the full tuple is also hashed so distinct keys never clash."""
    parts = {"dataset": dataset, "split": split, "extractor": extractor,
             "weights_sha256": weights_sha256 or "none", "n": "all" if n is None else int(n)}
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]
    readable = "-".join(str(parts[k]) for k in ("dataset", "split", "extractor", "n"))
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", readable)
    return f"{readable}-{digest}"


class StatsCache:
    """Real-data statistics on disk; see the module docstring for the key and the atomicity."""

    def __init__(self, root: str | Path | None = None) -> None:
        root = root or os.environ.get(STATS_CACHE_ENV) or "~/.cache/gan-mode-study/stats"
        self.root = Path(root).expanduser()

    def path(self, dataset: str, split: str, extractor: str, weights_sha256: str | None,
             n: int | None) -> Path:
        return self.root / f"{stats_key(dataset, split, extractor, weights_sha256, n)}.npz"

    def save(self, stats: FeatureStats, dataset: str, split: str, extractor: str,
             weights_sha256: str | None, n: int | None,
             extra: dict[str, np.ndarray] | None = None) -> Path:
        """Store ``stats`` (and ``extra`` arrays, e.g. ``{"radii_k5": ...}``) atomically."""
        meta = {"dataset": dataset, "split": split, "extractor": extractor,
                "weights_sha256": weights_sha256, "n": n}
        p = self.path(dataset, split, extractor, weights_sha256, n)
        arrays = {f"extra_{k}": np.asarray(v) for k, v in (extra or {}).items()}
        atomic_savez(p, **stats.to_arrays(), meta=np.array(json.dumps(meta)), **arrays)
        return p

    def load(self, dataset: str, split: str, extractor: str, weights_sha256: str | None,
             n: int | None) -> tuple[FeatureStats, dict[str, np.ndarray]] | None:
        """``(stats, extra arrays)`` or ``None`` when not cached."""
        p = self.path(dataset, split, extractor, weights_sha256, n)
        if not p.is_file():
            return None
        stats = FeatureStats.load(p)
        with np.load(p) as f:
            extra = {k[len("extra_"):]: f[k] for k in f.files if k.startswith("extra_")}
        return stats, extra

    def get_or_compute(self, compute: Callable[[], FeatureStats], dataset: str, split: str,
                       extractor: str, weights_sha256: str | None,
                       n: int | None) -> FeatureStats:
        """Load the cached statistics, or ``compute()`` and store them."""
        hit = self.load(dataset, split, extractor, weights_sha256, n)
        if hit is not None:
            return hit[0]
        stats = compute()
        self.save(stats, dataset, split, extractor, weights_sha256, n)
        return stats
