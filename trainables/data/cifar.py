"""CIFAR-10, CIFAR-100 and STL-10 (48×48).

CIFAR-10 sources, first hit wins (`source` option forces one):
- "pickle": the official python pickles, `<root>/cifar-10-batches-py/` (torchvision layout);
- "npz": the offline subset, `<root>/cifar-10-subset/*.npz` with x_train/y_train/x_test/y_test
  (uint8 N×32×32×3); `info["subset"]` is True so results are never mistaken for full CIFAR-10;
- torchvision's download when `download=True`.
CIFAR-100: `<root>/cifar-100-python/{train,test}`, fine (100) or coarse (20) labels.
STL-10: torchvision's binary layout `<root>/stl10_binary/*.bin`, read through a memory map and
resized in chunks (96 → `size`, 48 by default as in the GAN papers); unlabelled images get y = -1.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from trainables.data.bundle import DataBundle, DatasetError, register
from trainables.data.images import check_split, image_bundle, not_found, to_float_images

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
]
STL10_CLASSES = [
    "airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck",
]
STL10_COUNTS = {"train": 5_000, "test": 8_000, "unlabeled": 100_000}
STL10_BYTES = 3 * 96 * 96


def _read_pickle(path: Path, label_key: bytes) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            batch = pickle.load(f, encoding="bytes")
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[label_key], dtype=np.int64)
    except Exception as exc:  # unpickling garbage raises many types
        raise DatasetError(
            f"{path}: not a valid CIFAR python pickle ({type(exc).__name__}: {exc}); expected a "
            f"dict with b'data' (N×3072 uint8) and {label_key!r}. Delete it and fetch it again."
        ) from exc
    if data.ndim != 2 or data.shape[1] != 3072 or len(labels) != len(data):
        raise DatasetError(
            f"{path}: data has shape {data.shape} with {len(labels)} labels; expected N×3072 "
            "with N labels"
        )
    return data.reshape(-1, 3, 32, 32), labels


def _read_npz(path: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    try:
        with np.load(path) as d:
            x, y = d[f"x_{split}"], d[f"y_{split}"].astype(np.int64).ravel()
    except Exception as exc:
        raise DatasetError(
            f"{path}: not a readable CIFAR npz with x_{split}/y_{split} arrays ({exc})"
        ) from exc
    if x.dtype != np.uint8 or x.ndim != 4 or x.shape[1:] != (32, 32, 3) or len(y) != len(x):
        raise DatasetError(
            f"{path}: x_{split} is {x.dtype} {x.shape} with {len(y)} labels; expected uint8 "
            "N×32×32×3 with N labels"
        )
    return x.transpose(0, 3, 1, 2), y


def _tv_download(cls_name: str, root: Path, **kwargs) -> None:
    try:
        import torchvision.datasets as tvd

        getattr(tvd, cls_name)(str(root), download=True, **kwargs)
    except Exception as exc:
        raise DatasetError(f"{cls_name}: torchvision download into {root} failed: {exc}") from exc


def _check_labels(y: np.ndarray, n_classes: int, where: Path) -> None:
    if len(y) and (y.min() < 0 or y.max() >= n_classes):
        raise DatasetError(f"{where}: labels must lie in 0..{n_classes - 1}")


@register("cifar10", "image")
def load_cifar10(
    root: Path, split: str = "train", source: str = "auto", download: bool = False,
) -> DataBundle:
    check_split("cifar10", split, ["train", "test"])
    pickle_dir = root / "cifar-10-batches-py"
    names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    npz = sorted((root / "cifar-10-subset").glob("*.npz"))
    searched = [pickle_dir / nm for nm in names] + [root / "cifar-10-subset" / "*.npz"]
    if source not in ("auto", "pickle", "npz"):
        raise DatasetError(f"cifar10: source must be auto, pickle or npz, got {source!r}")
    has_pickles = all((pickle_dir / nm).is_file() for nm in names)
    if source != "npz" and not has_pickles and download:
        _tv_download("CIFAR10", root, train=split == "train")
        has_pickles = all((pickle_dir / nm).is_file() for nm in names)
    if source != "npz" and has_pickles:
        parts = [_read_pickle(pickle_dir / nm, b"labels") for nm in names]
        x = np.concatenate([p[0] for p in parts])
        y = np.concatenate([p[1] for p in parts])
        where, subset = pickle_dir, False
    elif source != "pickle" and npz:
        x, y = _read_npz(npz[0], split)
        where, subset = npz[0], True
    else:
        raise not_found("cifar10", searched, root)
    _check_labels(y, 10, where)
    return image_bundle(
        "cifar10", to_float_images(x), y, 10, class_names=CIFAR10_CLASSES, source=str(where),
        subset=subset,
    )


@register("cifar100", "image")
def load_cifar100(
    root: Path, split: str = "train", label_mode: str = "fine", download: bool = False,
) -> DataBundle:
    check_split("cifar100", split, ["train", "test"])
    if label_mode not in ("fine", "coarse"):
        raise DatasetError(f"cifar100: label_mode must be fine or coarse, got {label_mode!r}")
    path = root / "cifar-100-python" / split
    if not path.is_file() and download:
        _tv_download("CIFAR100", root, train=split == "train")
    if not path.is_file():
        raise not_found("cifar100", [path], root)
    x, y = _read_pickle(path, f"{label_mode}_labels".encode())
    n_classes = 100 if label_mode == "fine" else 20
    _check_labels(y, n_classes, path)
    return image_bundle(
        "cifar100", to_float_images(x), y, n_classes, label_mode=label_mode, source=str(path)
    )


def _stl_part(folder: Path, part: str, n: int | None) -> tuple[np.ndarray, np.ndarray]:
    x_path = folder / f"{part}_X.bin"
    size = x_path.stat().st_size
    count = size // STL10_BYTES
    if size == 0 or size % STL10_BYTES:
        raise DatasetError(
            f"{x_path}: {size} bytes, not a whole number of 3×96×96 uint8 images "
            f"({STL10_BYTES} bytes each; the official file holds {STL10_COUNTS[part]}). "
            "The file is truncated or corrupted."
        )
    # Column-major images (torchvision transposes H and W the same way); memory-mapped so
    # only the requested images are read.
    x = np.memmap(x_path, dtype=np.uint8, mode="r").reshape(-1, 3, 96, 96)[:n]
    x = x.transpose(0, 1, 3, 2)
    if part == "unlabeled":
        return x, np.full(len(x), -1, dtype=np.int64)
    y_path = folder / f"{part}_y.bin"
    y = np.fromfile(y_path, dtype=np.uint8).astype(np.int64) - 1  # files hold 1..10
    if len(y) != count or (count and (y.min() < 0 or y.max() > 9)):
        raise DatasetError(
            f"{y_path}: expected {count} labels in 1..10 (one per image of {x_path.name}), "
            f"found {len(y)}"
        )
    return x, y[: len(x)]


@register("stl10", "image")
def load_stl10(
    root: Path, split: str = "train", size: int | None = 48, n: int | None = None,
    download: bool = False,
) -> DataBundle:
    """split: train, test, unlabeled or train+unlabeled (the GAN papers' 105k images);
    `n` keeps only the first n images (in file order), `size=None` keeps 96×96."""
    check_split("stl10", split, ["train", "test", "unlabeled", "train+unlabeled"])
    folder = root / "stl10_binary"
    parts = split.split("+")
    files = [folder / f"{p}_X.bin" for p in parts]
    files += [folder / f"{p}_y.bin" for p in parts if p != "unlabeled"]
    if not all(f.is_file() for f in files) and download:
        _tv_download("STL10", root, split=split)
    if not all(f.is_file() for f in files):
        raise not_found("stl10", files, root)
    arrays, left = [], n
    for p in parts:
        if left is not None and left <= 0:
            break
        arrays.append(_stl_part(folder, p, left))
        left = None if left is None else left - len(arrays[-1][0])
    side = size or 96
    total = sum(len(a[0]) for a in arrays)
    x = torch.empty((total, 3, side, side), dtype=torch.float32)  # one buffer, no concat copy
    start = 0
    for xa, _ in arrays:
        to_float_images(xa, size, out=x[start : start + len(xa)])
        start += len(xa)
    return image_bundle(
        "stl10", x, np.concatenate([a[1] for a in arrays]), 10, class_names=STL10_CLASSES,
        source=str(folder), resize=None if side == 96 else f"area 96->{side}",
    )
