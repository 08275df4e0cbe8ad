"""What every loader returns and how it registers: `DataBundle`, `register`, the data root.

Conventions:
- toy / Gaussian-mixture sets: float32 coordinates, shape (N, D), `y` the index of the mode.
- images: float32 NCHW in [-1, 1] (what a tanh generator outputs), `y` the class (int64).
Loaders import this module; `registry` imports the loaders (never the reverse).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

DATA_ROOT_ENV = "STUDY_DATA_ROOT"


class DatasetError(ValueError):
    """A data set could not be loaded: names the data set or file and what was expected."""


@dataclass
class DataBundle:
    """Tensors of one split plus what evaluation needs to know about them."""

    name: str
    x: torch.Tensor
    y: torch.Tensor | None = None
    info: dict[str, Any] = field(default_factory=dict)

    _fingerprint: tuple[int, str] | None = field(default=None, init=False, repr=False,
                                                 compare=False)  # (id(x), digest)

    @property
    def n_modes(self) -> int | None:
        return self.info.get("n_modes")

    @property
    def fingerprint(self) -> str:
        """SHA-256 of x's content, computed once per bundle: it stands for the loader's options
        (n, std, seed, subset, root), which the bundle does not carry."""
        if self._fingerprint is None or self._fingerprint[0] != id(self.x):  # x replaced
            raw = self.x.detach().cpu().contiguous().numpy().tobytes()
            self._fingerprint = (id(self.x), hashlib.sha256(raw).hexdigest())
        return self._fingerprint[1]


Loader = Callable[..., DataBundle]
_LOADERS: dict[str, Loader] = {}
_KINDS: dict[str, str] = {}


def register(name: str, kind: str) -> Callable[[Loader], Loader]:
    """A loader under `name`; `kind` (toy2d, mixture, image) decides which metrics it gets."""
    def deco(fn: Loader) -> Loader:
        _LOADERS[name], _KINDS[name] = fn, kind
        return fn

    return deco


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """Argument, else $STUDY_DATA_ROOT, else ~/.cache/gan-mode-study/data."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "gan-mode-study" / "data"


