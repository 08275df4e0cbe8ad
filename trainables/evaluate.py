"""Evaluation at the loop's cadence: samples → metrics from the evaluation package, plots.

Toy and mixture data here; image data in `trainables.evaluate_images` (FID, PR/DC, IS, modes,
sample grid). Every kind: the per-condition figure when the method has conditions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from trainables.data import DataBundle
from trainables.method import GANMethod

# (n_per_row, max_rows) asked of `sample_by_condition`: a Figure-1 block of image rows; for
# 2D points enough per condition to show its shape, up to Self-Cond's k = 50 clusters.
CONDITION_ROWS_IMAGE = (10, 10)
CONDITION_ROWS_2D = (100, 50)

# How the toy metrics are computed (recorded with every trial's results).
TOY_PROTOCOL = {
    "high_quality": "within 3 std of the nearest mode mean in 2D; in R^D the radius with the "
                    "same probability for a real sample, std*sqrt(chi2_D.ppf(chi2_2.cdf(9)))",
    "high_quality_box": "2D only (high_quality_pct_box, modes_box): every coordinate within "
                        "3 std of some mode mean, as the Self-Cond/PGMGAN authors' code counts; "
                        "a real sample passes with probability 0.9973^2 = 99.46% (Euclidean: "
                        "98.89%)",
    "modes": "modes with at least one high-quality sample",
    "reverse_kl": "KL(p_gen || p_data), natural log, all samples assigned to the nearest mean, "
                  "empty modes skipped (Self-Cond 2D code); p_data = the mixture's weights "
                  "(info['weights']: uniform unless weights/imbalance are set)",
    "mode_freq_l1": "sum_i |p_gen,i - p_data,i| over the same assignment and p_data",
    "g_ema": "with g_ema > 0 the metrics score the moving average of G (BN statistics "
             "re-estimated); live_* score G itself (the papers' protocol)",
}
TOY_KINDS = ("toy2d", "mixture")


def toy_scores(samples: np.ndarray, data: DataBundle) -> dict[str, float]:
    from evaluation.toy import hq_radius, toy_metrics

    std, dim = float(data.info["std"]), samples.shape[1]
    centers = np.asarray(data.info["centers"])
    weights = data.info.get("weights")  # the mixture's own mode weights (uniform by default)
    metrics = toy_metrics(samples, centers, std, radius=hq_radius(std, dim), weights=weights)
    if dim == 2:  # the criterion behind the papers' 2D tables, reported beside ours
        box = toy_metrics(samples, centers, std, box=True)
        metrics |= {"high_quality_pct_box": box["high_quality_pct"], "modes_box": box["modes"]}
    return metrics


def live_toy_scores(method: GANMethod, data: DataBundle, n_samples: int) -> dict[str, float]:
    """The toy metrics of G itself beside those of its average (cheap on toy data, so both
    curves are recorded; image runs score the average only)."""
    average, method.g_average = method.g_average, None
    try:
        live = method.sample(n_samples).detach().cpu().numpy().astype(np.float64)
    finally:
        method.g_average = average
    return {f"live_{k}": v for k, v in toy_scores(live, data).items()}


def write_protocol(artifact_dir: Path, data: DataBundle, n_samples: int,
                   proto: dict[str, Any] | None = None) -> None:
    """protocol.json beside the trial's plots: what the reported numbers mean and how made.
    `proto` is a ready record (image evaluation); otherwise the toy protocol is written."""
    from evaluation.protocol import metric_protocol

    if proto is None:
        extra = {"dataset": data.name, "n_eval_samples": n_samples}
        if data.info.get("kind") in TOY_KINDS:
            extra |= {"toy": TOY_PROTOCOL, "std": float(data.info["std"]),
                      "n_modes": int(data.info["n_modes"])}
        proto = metric_protocol({"name": "raw"}, len(data.x), n_samples, "train", **extra)
    artifact_dir.mkdir(parents=True, exist_ok=True)
    (artifact_dir / "protocol.json").write_text(json.dumps(proto, indent=2, default=str))


def evaluate(
    method: GANMethod, data: DataBundle, n_samples: int, step: int, artifact_dir: Path | None,
    features: str = "auto",
) -> dict[str, float]:
    kind = data.info.get("kind")
    metrics: dict[str, float] = {}
    if method.g_average is not None and kind in TOY_KINDS:
        metrics |= live_toy_scores(method, data, n_samples)  # first: G's acceptance is not kept
    samples = method.sample(n_samples).detach().cpu()
    new_protocol = artifact_dir is not None and not (artifact_dir / "protocol.json").exists()
    if kind == "image":
        from trainables.evaluate_images import image_metrics, save_sample_grid

        ctx = getattr(method, "ctx", None)
        device = ctx.device if ctx is not None else "cpu"
        found, proto = image_metrics(samples, data, features, device)
        metrics.update(found)
        if artifact_dir is not None:
            if new_protocol:
                write_protocol(artifact_dir, data, n_samples, proto)
            save_sample_grid(samples, artifact_dir / f"samples_step{step:07d}.png")
    elif new_protocol:
        write_protocol(artifact_dir, data, n_samples)
    if kind in TOY_KINDS:
        pts = samples.numpy().astype(np.float64)
        metrics.update(toy_scores(pts, data))
        if artifact_dir is not None and pts.shape[1] == 2:
            plot_scatter(data.x.numpy(), pts, artifact_dir / f"samples_step{step:07d}.png", step)
    if artifact_dir is not None:
        conditions_figure(method, data, artifact_dir / f"conditions_step{step:07d}.png", step)
    metrics.update(method.evaluate(step))
    return {k: float(v) for k, v in metrics.items()}


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
        from trainables.evaluate_images import plot_condition_rows

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
