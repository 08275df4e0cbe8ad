"""Every figure a run writes: the sample grid (images), the 2D scatter against the data, and the
per-condition figure (the papers' Figure 1: image rows, or one colour per condition in 2D)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from trainables.core.method import GANMethod
from trainables.data import DataBundle

GRID_SAMPLES = 64
# (n_per_row, max_rows) asked of `sample_by_condition`: a Figure-1 block of image rows; for
# 2D points enough per condition to show its shape, up to Self-Cond's k = 50 clusters.
CONDITION_ROWS_IMAGE = (10, 10)
CONDITION_ROWS_2D = (100, 50)


def save_sample_grid(samples: torch.Tensor, path: Path, n: int = GRID_SAMPLES) -> Path:
    from torchvision.utils import save_image

    path.parent.mkdir(parents=True, exist_ok=True)
    x = samples[:n].float().clamp(-1, 1)
    save_image(x, path, nrow=int(np.ceil(np.sqrt(len(x)))), normalize=True, value_range=(-1, 1),
               pad_value=1.0)
    return path


def plot_condition_rows(rows: torch.Tensor, labels: list[str], path: Path, step: int) -> Path:
    """One image row per condition, labelled: (rows, n_per_row, C, H, W) in [-1, 1]."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from torchvision.utils import make_grid

    r, n, c, h, w = rows.shape
    pad = 2
    grid = make_grid(rows.reshape(r * n, c, h, w).float().clamp(-1, 1), nrow=n, padding=pad,
                     normalize=True, value_range=(-1, 1), pad_value=1.0)
    img = grid.permute(1, 2, 0).numpy()
    # ~2 screen pixels per image pixel, plus room for the row labels and the title
    fig, ax = plt.subplots(figsize=(img.shape[1] / 50 + 1.6, img.shape[0] / 50 + 0.5), dpi=100)
    ax.imshow(img, interpolation="nearest")
    ax.set_yticks([pad + i * (h + pad) + h / 2 for i in range(r)], labels, fontsize=7)
    ax.set_xticks([])
    for side in ("top", "right", "bottom", "left"):
        ax.spines[side].set_visible(False)
    ax.set_title(f"samples per condition, step {step}", fontsize=8)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def conditions_figure(method: GANMethod, data: DataBundle, path: Path, step: int) -> Path | None:
    """The method's samples per partition / cluster / latent mode (the papers' Figure 1): image
    rows for images, one colour per condition for 2D points; None when it has no conditions."""
    is_image = data.info.get("kind") == "image"
    got = method.sample_by_condition(*(CONDITION_ROWS_IMAGE if is_image else CONDITION_ROWS_2D))
    if got is None:
        return None
    rows, labels = got
    rows = rows.detach().cpu()
    if rows.ndim < 3 or len(labels) != rows.shape[0]:
        raise ValueError(
            f"{type(method).__name__}.sample_by_condition: expected (rows, n_per_row, ...) "
            f"samples and one label per row, got shape {tuple(rows.shape)} and "
            f"{len(labels)} labels"
        )
    if is_image:
        return plot_condition_rows(rows, list(labels), path, step)
    if rows.shape[-1] != 2 or rows.ndim != 3:
        return None  # points beyond 2D: no picture
    return plot_condition_scatter(data.x.numpy(), rows.numpy(), list(labels), path, step)


def plot_condition_scatter(real: np.ndarray, rows: np.ndarray, labels: list[str], path: Path,
                           step: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(5, 4.2), dpi=100)
    idx = np.random.default_rng(0).choice(len(real), size=min(len(real), 5000), replace=False)
    ax.scatter(real[idx, 0], real[idx, 1], s=2, c="0.8", label="real")
    cmap = plt.get_cmap("tab10" if len(rows) <= 10 else "tab20" if len(rows) <= 20 else "hsv")
    for i, (pts, label) in enumerate(zip(rows, labels, strict=True)):
        color = cmap(i % cmap.N if len(rows) <= 20 else i / len(rows))
        ax.scatter(pts[:, 0], pts[:, 1], s=3, color=color,
                   label=label if len(rows) <= 20 else None)
    ax.set_title(f"samples per condition, step {step}", fontsize=9)
    ax.set_aspect("equal")
    ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=3, fontsize=6)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def plot_scatter(real: np.ndarray, fake: np.ndarray, path: Path, step: int) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 4), dpi=100)
    idx = np.random.default_rng(0).choice(len(real), size=min(len(real), 5000), replace=False)
    ax.scatter(real[idx, 0], real[idx, 1], s=2, c="tab:blue", alpha=0.3, label="real")
    ax.scatter(fake[:, 0], fake[:, 1], s=2, c="tab:red", alpha=0.5, label="generated")
    ax.set_title(f"step {step}")
    ax.legend(loc="upper right", markerscale=4, fontsize=7)
    ax.set_aspect("equal")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
