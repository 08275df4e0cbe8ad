"""Evaluation at the loop's cadence: samples → metrics from the evaluation package, plots."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from trainables.data import DataBundle
from trainables.method import GANMethod

# How the toy metrics are computed (recorded with every trial's results).
TOY_PROTOCOL = {
    "high_quality": "within 3 std of the nearest mode mean in 2D; in R^D the radius with the "
                    "same probability for a real sample, std*sqrt(chi2_D.ppf(chi2_2.cdf(9)))",
    "modes": "modes with at least one high-quality sample",
    "reverse_kl": "KL(p_gen || p_data), natural log, all samples assigned to the nearest mean, "
                  "empty modes skipped (Self-Cond 2D code)",
}


def write_protocol(artifact_dir: Path, data: DataBundle, n_samples: int) -> None:
    """protocol.json beside the trial's plots: what the reported numbers mean and how made."""
    from evaluation.protocol import metric_protocol

    extra = {"dataset": data.name, "n_eval_samples": n_samples}
    if data.info.get("kind") in ("toy2d", "mixture"):
        extra |= {"toy": TOY_PROTOCOL, "std": float(data.info["std"]),
                  "n_modes": int(data.info["n_modes"])}
    proto = metric_protocol({"name": "raw"}, len(data.x), n_samples, "train", **extra)
    artifact_dir.mkdir(parents=True, exist_ok=True)
    (artifact_dir / "protocol.json").write_text(json.dumps(proto, indent=2, default=str))


def evaluate(
    method: GANMethod, data: DataBundle, n_samples: int, step: int, artifact_dir: Path | None,
    features: str = "auto",
) -> dict[str, float]:
    samples = method.sample(n_samples).detach().cpu()
    metrics: dict[str, float] = {}
    if artifact_dir is not None and not (artifact_dir / "protocol.json").exists():
        write_protocol(artifact_dir, data, n_samples)
    if data.info.get("kind") in ("toy2d", "mixture"):
        from evaluation.toy import hq_radius, toy_metrics

        pts = samples.numpy().astype(np.float64)
        std, dim = float(data.info["std"]), pts.shape[1]
        metrics.update(toy_metrics(pts, np.asarray(data.info["centers"]), std,
                                   radius=hq_radius(std, dim)))
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
