"""Name → loader registry. Every loader returns a `DataBundle` in a documented range.

Conventions:
- toy / Gaussian-mixture sets: float32 coordinates, shape (N, D), `y` the index of the mode.
- images: float32 NCHW in [-1, 1] (what a tanh generator outputs), `y` the class (int64).
"""

from __future__ import annotations

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

    @property
    def n_modes(self) -> int | None:
        return self.info.get("n_modes")


Loader = Callable[..., DataBundle]
_LOADERS: dict[str, Loader] = {}
_KINDS: dict[str, str] = {}
_CACHE: dict[tuple, DataBundle] = {}


def register(name: str, kind: str) -> Callable[[Loader], Loader]:
    """A loader under `name`; `kind` (toy2d, mixture, image) decides which metrics it gets."""
    def deco(fn: Loader) -> Loader:
        _LOADERS[name], _KINDS[name] = fn, kind
        return fn

    return deco


def data_kind(name: str) -> str:
    """The kind of a data set by name, without loading it."""
    loader_options(name)  # refuses an unknown name
    return _KINDS[name]


def available() -> list[str]:
    _import_loaders()
    return sorted(_LOADERS)


def loader_options(name: str) -> list[str]:
    """The options a data set's loader takes (what `dataset.options` / `dataset.<opt>` may set)."""
    import inspect

    _import_loaders()
    if name not in _LOADERS:
        raise DatasetError(
            f"dataset.name: unknown data set {name!r}; expected one of {available()}"
        )
    params = inspect.signature(_LOADERS[name]).parameters
    return [p for p in params if p not in ("root", "split")]


def loader_option_types(name: str) -> dict[str, Any]:
    """Each option of a data set's loader with its annotated type (for checking a spec)."""
    import typing

    options = loader_options(name)
    hints = typing.get_type_hints(_LOADERS[name])
    return {o: hints.get(o, Any) for o in options}


def resolve_data_root(root: str | os.PathLike | None = None) -> Path:
    """Argument, else $STUDY_DATA_ROOT, else ~/.cache/gan-mode-study/data."""
    if root:
        return Path(root).expanduser()
    env = os.environ.get(DATA_ROOT_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "gan-mode-study" / "data"


def _freeze(value: Any) -> Any:
    if isinstance(value, dict):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def load_dataset(
    name: str, *, root: str | os.PathLike | None = None, split: str = "train", **options: Any
) -> DataBundle:
    """Load a data set by name; cached per process so trial steps never re-read files."""
    _import_loaders()
    if name not in _LOADERS:
        raise DatasetError(
            f"dataset.name: unknown data set {name!r}; expected one of {available()}"
        )
    key = (name, str(resolve_data_root(root)), split, _freeze(options))
    if key not in _CACHE:
        bundle = _LOADERS[name](root=resolve_data_root(root), split=split, **options)
        # How it was loaded: lets a method load another split of the same set (NEMGAN's test).
        bundle.info.setdefault("load_args", {"name": name, "root": str(resolve_data_root(root)),
                                             "split": split, "options": dict(options)})
        _CACHE[key] = bundle
    return _CACHE[key]


def _import_loaders() -> None:
    # Loader modules register themselves on import; imported lazily to keep start-up cheap.
    from trainables.data import cifar, imbalanced, mnist, stacked_mnist, toy  # noqa: F401
