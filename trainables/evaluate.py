"""Evaluation at the loop's cadence: samples → metrics from the evaluation package, plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from trainables.data import DataBundle
from trainables.method import GANMethod


def evaluate(
    method: GANMethod, data: DataBundle, n_samples: int, step: int, artifact_dir: Path | None
) -> dict[str, float]:
    samples = method.sample(n_samples).detach().cpu()
    metrics: dict[str, float] = {}
    if data.info.get("kind") in ("toy2d", "mixture"):
        from evaluation.toy import toy_metrics

        pts = samples.numpy().astype(np.float64)
        metrics.update(toy_metrics(pts, np.asarray(data.info["centers"]), float(data.info["std"])))
        if artifact_dir is not None and pts.shape[1] == 2:
            plot_scatter(data.x.numpy(), pts, artifact_dir / f"samples_step{step:07d}.png", step)
    metrics.update(method.evaluate(step))
    return {k: float(v) for k, v in metrics.items()}


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
