"""Helpers shared by the image loaders: uint8 → float32 NCHW in [-1, 1], resizing, errors."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from trainables.data.bundle import DATA_ROOT_ENV, DataBundle, DatasetError

_CHUNK = 8192  # images per conversion step: bounds the float temporaries of large sets


def resize_mode(src: int, dst: int) -> str:
    # Integer-factor downsampling averages blocks (like PIL's box filter); otherwise bilinear
    # with antialiasing. Recorded in `info["resize"]` as part of the metric protocol.
    return "area" if dst < src and src % dst == 0 else "bilinear"


def to_float_images(
    u8: np.ndarray, size: int | None = None, out: torch.Tensor | None = None
) -> torch.Tensor:
    """uint8 N×C×H×W (array or memmap, any strides) → float32 N×C×size×size in [-1, 1].

    Converted in chunks so a memory map is read piecewise; `out` may be a preallocated slice.
    """
    n, c, h, w = u8.shape
    out_hw = (size, size) if size else (h, w)
    if out is None:
        out = torch.empty((n, c, *out_hw), dtype=torch.float32)
    mode = resize_mode(h, out_hw[0])
    for i in range(0, n, _CHUNK):
        chunk = torch.from_numpy(np.array(u8[i : i + _CHUNK])).to(torch.float32)  # uint8 copy
        if (h, w) != out_hw:
            if mode == "area":
                chunk = F.interpolate(chunk, size=out_hw, mode="area")
            else:
                chunk = F.interpolate(
                    chunk, size=out_hw, mode="bilinear", align_corners=False, antialias=True
                ).clamp_(0, 255)
        out[i : i + _CHUNK] = chunk.div_(127.5).sub_(1.0)
    return out


def class_priors(y: np.ndarray | torch.Tensor, n_classes: int) -> np.ndarray:
    y = np.asarray(y)
    y = y[y >= 0]  # unlabelled samples (-1) do not count
    return np.bincount(y, minlength=n_classes) / max(len(y), 1)


def image_bundle(
    name: str, x: torch.Tensor, y: np.ndarray | torch.Tensor, n_classes: int, **info: Any
) -> DataBundle:
    y_t = torch.as_tensor(np.asarray(y, dtype=np.int64))
    meta = {
        "n_classes": n_classes, "n_modes": n_classes, "shape": tuple(x.shape[1:]),
        "priors": class_priors(y_t.numpy(), n_classes), "range": (-1.0, 1.0), "kind": "image",
    }
    meta.update(info)
    return DataBundle(name, x, y_t, meta)


def check_split(dataset: str, split: str, allowed: Sequence[str]) -> None:
    if split not in allowed:
        raise DatasetError(f"{dataset}: unknown split {split!r}; expected one of {list(allowed)}")


def not_found(
    dataset: str, searched: Iterable[Path], root: Path, download_hint: bool = True
) -> DatasetError:
    paths = "\n  ".join(str(p) for p in searched)
    fix = (
        f"Fix: point the data root at a folder holding one of these layouts (set "
        f"{DATA_ROOT_ENV} or pass --data-root; current root: {root})"
    )
    if download_hint:
        fix += ", or set the option download=True to fetch it with torchvision when online"
    return DatasetError(f"{dataset}: files not found. Searched:\n  {paths}\n{fix}.")
