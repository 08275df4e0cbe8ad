"""Name → loader: load a data set by name, list the names and each loader's options. The loader
modules register themselves (`bundle.register`) when `_import_loaders` imports them."""

from __future__ import annotations

import os
from typing import Any

from trainables.data.bundle import _KINDS, _LOADERS, DataBundle, DatasetError, resolve_data_root

_CACHE: dict[tuple, DataBundle] = {}  # per process: trial steps never re-read files


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


def split_of(data: DataBundle, split: str) -> DataBundle:
    """The `split` split of the data set `data` was loaded from (`data` itself if it is that
    split); a DatasetError naming the data set when it has no such split."""
    args = data.info.get("load_args")
    if args is None:  # built by hand: it is the run's training data, nothing else is known
        if split == "train":
            return data
        raise DatasetError(f"{data.name}: built by hand, so its {split!r} split is unknown")
    if args["split"] == split:
        return data
    try:
        return load_dataset(args["name"], root=args["root"], split=split, **args["options"])
    except TypeError as exc:  # a loader without splits
        raise DatasetError(f"{data.name}: no {split!r} split ({exc})") from None


def _import_loaders() -> None:
    # Loader modules register themselves on import; imported lazily to keep start-up cheap.
    from trainables.data import cifar, imbalanced, mnist, stacked_mnist, toy  # noqa: F401
