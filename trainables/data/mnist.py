"""MNIST and Fashion-MNIST from idx(.gz) files, and scikit-learn's 8×8 digits.

Layouts searched under the data root (first hit wins):
- flat, as in the offline copies: `<root>/mnist/*.gz`, `<root>/fashion-mnist/*.gz`
- torchvision's: `<root>/MNIST/raw/*`, `<root>/FashionMNIST/raw/*` (gz or uncompressed)
`download=True` falls back to torchvision's downloader (writes the torchvision layout).
Files are validated (idx magic number, dimensions, byte count, sample count), never trusted.
"""

from __future__ import annotations

import functools
import gzip
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from trainables.data.bundle import DataBundle, DatasetError, register
from trainables.data.images import check_split, image_bundle, not_found, to_float_images

IMAGES_MAGIC, LABELS_MAGIC = 0x00000803, 0x00000801  # idx3 / idx1, unsigned bytes
SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60_000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10_000),
}


@dataclass(frozen=True)
class Family:
    dirs: tuple[str, ...]
    torchvision_class: str
    class_names: tuple[str, ...]


FAMILIES = {
    "mnist": Family(("mnist", "MNIST/raw"), "MNIST", tuple(str(i) for i in range(10))),
    "fashion_mnist": Family(
        ("fashion-mnist", "fashion_mnist", "FashionMNIST/raw"), "FashionMNIST",
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"),
    ),
}


def read_idx(path: Path, magic: int, item_shape: tuple[int, ...], count: int) -> np.ndarray:
    """Read and validate one idx file; any mismatch is a DatasetError naming the file."""
    try:
        raw = gzip.open(path).read() if path.suffix == ".gz" else path.read_bytes()
    except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        raise DatasetError(
            f"{path}: unreadable or truncated file ({exc}); delete it and fetch it again"
        ) from exc
    ndim = 1 + len(item_shape)
    header = 4 + 4 * ndim
    expected_dims = (count, *item_shape)
    if len(raw) < 4 or int.from_bytes(raw[:4], "big") != magic:
        got = f"{int.from_bytes(raw[:4], 'big'):#010x}" if len(raw) >= 4 else "nothing"
        raise DatasetError(
            f"{path}: bad idx magic number {got}; expected {magic:#010x} "
            f"(uint8 idx file with {ndim} dimensions). The file is corrupted or not an idx file."
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if dims != expected_dims:
        raise DatasetError(f"{path}: idx header gives shape {dims}; expected {expected_dims}")
    expected = header + int(np.prod(dims))
    if len(raw) != expected:
        raise DatasetError(
            f"{path}: {len(raw)} bytes (decompressed); expected {expected} for shape {dims}. "
            "The file is truncated or corrupted; delete it and fetch it again."
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _candidates(family: str, root: Path, stem: str) -> list[Path]:
    return [root / d / (stem + ext) for d in FAMILIES[family].dirs for ext in (".gz", "")]


def _find(family: str, root: Path, split: str) -> tuple[Path, Path] | None:
    img, lbl, _ = SPLIT_FILES[split]
    for d in FAMILIES[family].dirs:
        for ext in (".gz", ""):
            pair = (root / d / (img + ext), root / d / (lbl + ext))
            if pair[0].is_file() and pair[1].is_file():
                return pair
    return None


def _download(family: str, root: Path) -> None:
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, FAMILIES[family].torchvision_class)
        for train in (True, False):
            cls(str(root), train=train, download=True)
    except Exception as exc:  # network errors come in many types; report them all alike
        raise DatasetError(f"{family}: torchvision download into {root} failed: {exc}") from exc


@functools.lru_cache(maxsize=8)
def mnist_arrays(
    family: str, root: Path, split: str, download: bool = False
) -> tuple[np.ndarray, np.ndarray, Path]:
    """Raw (uint8 N×28×28 images, uint8 labels, images path); cached per process, read-only."""
    check_split(family, split, list(SPLIT_FILES))
    found = _find(family, root, split)
    if found is None and download:
        _download(family, root)
        found = _find(family, root, split)
    if found is None:
        img, lbl, _ = SPLIT_FILES[split]
        searched = _candidates(family, root, img) + _candidates(family, root, lbl)
        raise not_found(family, searched, root)
    count = SPLIT_FILES[split][2]
    images = read_idx(found[0], IMAGES_MAGIC, (28, 28), count)
    labels = read_idx(found[1], LABELS_MAGIC, (), count)
    if labels.max() > 9:
        raise DatasetError(f"{found[1]}: labels must lie in 0..9, found {int(labels.max())}")
    return images, labels, found[0]


def _load(family: str, root: Path, split: str, download: bool) -> DataBundle:
    images, labels, path = mnist_arrays(family, Path(root), split, download)
    x = to_float_images(images[:, None])
    return image_bundle(
        family, x, labels, 10, class_names=list(FAMILIES[family].class_names),
        source=str(path.parent),
    )


@register("mnist", "image")
def load_mnist(root: Path, split: str = "train", download: bool = False) -> DataBundle:
    return _load("mnist", root, split, download)


@register("fashion_mnist", "image")
def load_fashion_mnist(root: Path, split: str = "train", download: bool = False) -> DataBundle:
    return _load("fashion_mnist", root, split, download)


@register("digits", "image")
def load_digits(
    root: Path, split: str = "train", test_fraction: float = 0.2, split_seed: int = 0
) -> DataBundle:
    """sklearn's 1,797 8×8 digits (values 0..16 → [-1, 1]); a fixed stratified split."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    check_split("digits", split, ["train", "test"])
    data = sk_digits()
    idx_train, idx_test = train_test_split(
        np.arange(len(data.target)), test_size=test_fraction, random_state=split_seed,
        stratify=data.target,
    )
    idx = idx_train if split == "train" else idx_test
    x = torch.from_numpy(data.images[idx].astype(np.float32) / 8.0 - 1.0).unsqueeze(1)
    return image_bundle("digits", x, data.target[idx], 10, source="sklearn.datasets.load_digits")
