"""Imbalanced sets of the NEMGAN paper (Sec. IV.A, Tables I and III), built by merging classes
and sub-sampling MNIST / Fashion-MNIST.

- MNIST-2: 0 vs 4 and 3 vs 5, skews 70:30 and 90:10 (the first class is the majority).
- MNIST-5: {3,5,8}, {2}, {1,4,7,9}, {6}, {0}; priors ≈ [0.3, 0.1, 0.4, 0.1, 0.1].
- FMNIST-5: {Sandal, Sneaker, Ankle boot}, {Bag}, {T-shirt/top, Dress}, {Pullover, Coat, Shirt},
  {Trouser}; natural priors ≈ [0.3, 0.1, 0.2, 0.3, 0.1]. Table III prints [0.3, 0.1, 0.3, 0.2,
  0.1], which swaps groups 3 and 4 of the text's merge list; we follow the merge list.
With `priors=None` merged classes keep their natural sizes (the paper merges, it does not
sub-sample MNIST-5/FMNIST-5); with priors given, each group is sub-sampled (seeded) to the
largest set with those proportions. `info["priors"]` holds the realised frequencies.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from trainables.data.bundle import DataBundle, DatasetError, register
from trainables.data.images import image_bundle, to_float_images
from trainables.data.mnist import mnist_arrays

MNIST5 = [[3, 5, 8], [2], [1, 4, 7, 9], [6], [0]]
FMNIST5 = [[5, 7, 9], [8], [0, 3], [2, 4, 6], [1]]
BASES = ("mnist", "fashion_mnist")


def select_imbalanced(
    labels: np.ndarray, classes: Sequence[Sequence[int] | int],
    priors: Sequence[float] | None = None, seed: int = 0, n: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Indices into `labels` and their merged labels for the merge `classes` at `priors`."""
    groups = [[c] if isinstance(c, int) else list(c) for c in classes]
    flat = [c for g in groups for c in g]
    if len(groups) < 2 or len(set(flat)) != len(flat):
        raise DatasetError(
            f"dataset.options.classes: expected >= 2 disjoint groups of labels, got {groups}"
        )
    members = [np.flatnonzero(np.isin(labels, g)) for g in groups]
    sizes = np.array([len(m) for m in members])
    if np.any(sizes == 0):
        raise DatasetError(f"dataset.options.classes: a group of {groups} has no samples")
    if priors is None:
        p = sizes / sizes.sum()
    else:
        p = np.asarray(priors, dtype=np.float64)
        if p.shape != (len(groups),) or np.any(p <= 0):
            raise DatasetError(
                f"dataset.options.priors: expected {len(groups)} positive values, got {priors}"
            )
        p = p / p.sum()
    total = int(np.floor(np.min(sizes / p)))  # largest set with these proportions
    if n is not None:
        if n < len(groups) or n > total:
            raise DatasetError(f"dataset.options.n: expected {len(groups)}..{total}, got {n}")
        total = n
    counts = np.minimum(np.round(total * p).astype(int), sizes)
    rng = np.random.default_rng(seed)
    picked = [
        np.sort(rng.choice(m, size=k, replace=False))
        for m, k in zip(members, counts, strict=True)
    ]
    idx = np.concatenate(picked)
    merged = np.concatenate([np.full(k, g, dtype=np.int64) for g, k in enumerate(counts)])
    order = np.argsort(idx, kind="stable")  # keep the base set's order
    return idx[order], merged[order]


@register("imbalanced", "image")
def load_imbalanced(
    root: Path, split: str = "train", base: str = "mnist",
    classes: Sequence[Sequence[int] | int] = ((0,), (4,)), priors: Sequence[float] | None = None,
    n: int | None = None, seed: int = 0, download: bool = False, name: str = "imbalanced",
) -> DataBundle:
    if base not in BASES:
        raise DatasetError(f"dataset.options.base: expected one of {list(BASES)}, got {base!r}")
    images, labels, path = mnist_arrays(base, Path(root), split, download)
    split_seed = seed + (0 if split == "train" else 1_000_003)
    idx, y = select_imbalanced(labels, classes, priors, split_seed, n)
    groups = [[c] if isinstance(c, int) else list(c) for c in classes]
    return image_bundle(
        name, to_float_images(images[idx][:, None]), y, len(groups), base=base, classes=groups,
        target_priors=None if priors is None else list(priors),
        source_labels=torch.from_numpy(labels[idx].astype(np.int64)),
        indices=torch.from_numpy(idx), source=str(path.parent),
    )


def _register_preset(name: str, base: str, classes: list, priors: list | None) -> None:
    def loader(root: Path, split: str = "train", **options) -> DataBundle:
        options = {"base": base, "classes": classes, "priors": priors, **options}
        return load_imbalanced(root, split, name=name, **options)

    loader.__doc__ = f"{name}: {base} merged as {classes}, priors {priors or 'natural'}."
    register(name, "image")(loader)


for _a, _b in ((0, 4), (3, 5)):
    for _major in (70, 90):
        _register_preset(
            f"mnist2_{_a}v{_b}_{_major}", "mnist", [[_a], [_b]], [_major / 100, 1 - _major / 100]
        )
_register_preset("mnist5", "mnist", MNIST5, None)
_register_preset("fmnist5", "fashion_mnist", FMNIST5, None)
