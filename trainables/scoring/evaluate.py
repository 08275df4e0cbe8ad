"""Evaluation at the loop's cadence: samples → metrics from the evaluation package, plots.

Toy and mixture data here; image data in `trainables.scoring.images` (FID, PR/DC, IS, modes);
figures in `trainables.scoring.figures`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from trainables.core.method import GANMethod
from trainables.data import DataBundle
from trainables.scoring.figures import conditions_figure, plot_scatter, save_sample_grid

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
    features: str = "auto", split: str = "train",
) -> dict[str, float]:
    kind = data.info.get("kind")
    metrics: dict[str, float] = {}
    if method.g_average is not None and kind in TOY_KINDS:
        metrics |= live_toy_scores(method, data, n_samples)  # first: G's acceptance is not kept
    samples = method.sample(n_samples).detach().cpu()
    new_protocol = artifact_dir is not None and not (artifact_dir / "protocol.json").exists()
    if kind == "image":
        from trainables.scoring.images import image_metrics

        ctx = getattr(method, "ctx", None)
        device = ctx.device if ctx is not None else "cpu"
        found, proto = image_metrics(samples, data, features, device, split=split)
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
