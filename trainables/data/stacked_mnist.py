"""Stacked MNIST: three MNIST digits as the R, G, B channels → 1000 modes (PacGAN / VEEGAN).

A fixed index set of `n` triples (100k in the papers) is drawn from the MNIST split with `seed`,
so every trial of a study sees the same data. Mode label y = 100a + 10b + c where a is the digit
in channel 0; `info["channel_labels"]` holds (a, b, c) and `info["indices"]` the MNIST indices.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainables.data.bundle import DataBundle, DatasetError, register
from trainables.data.images import image_bundle, to_float_images
from trainables.data.mnist import mnist_arrays


@register("stacked_mnist", "image")
def load_stacked_mnist(
    root: Path, split: str = "train", n: int = 100_000, seed: int = 0,
    size: int | None = None, download: bool = False,
) -> DataBundle:
    """`size=32` resizes 28→32 (bilinear), as the DCGAN-style Stacked MNIST models expect."""
    if n < 1:
        raise DatasetError(f"stacked_mnist: dataset.options.n must be positive, got {n}")
    images, labels, path = mnist_arrays("mnist", Path(root), split, download)
    rng = np.random.default_rng(seed + (0 if split == "train" else 1_000_003))
    indices = rng.integers(0, len(labels), size=(n, 3))
    channel_labels = labels[indices].astype(np.int64)  # (n, 3)
    y = channel_labels @ np.array([100, 10, 1])
    x = to_float_images(images[indices], size)  # (n, 3, 28, 28) uint8 gathered, then converted
    return image_bundle(
        "stacked_mnist", x, y, 1000, channel_labels=torch.from_numpy(channel_labels),
        indices=torch.from_numpy(indices), seed=seed, source=str(path.parent),
        resize=None if size in (None, 28) else "bilinear",
    )
