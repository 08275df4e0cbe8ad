"""Report figures (matplotlib, Agg): sensitivity, learning curves, samples, per-condition
rows, PBT, Pareto (τ_infer curves: `tau_curves`)."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from study.report.load import Study  # noqa: E402
from study.report.tables import LABELS, LOWER_IS_BETTER, fmt  # noqa: E402

_MAX_LEGEND = 16


def _save(fig: plt.Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _grid(n: int, size: float = 3.6) -> tuple[plt.Figure, np.ndarray]:
    cols = min(n, 3)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * 0.8 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def swept_numeric(study: Study) -> list[str]:
    """Configuration columns that vary and are numbers: the x axes of sensitivity plots."""
    df = study.results
    return [c for c in study.group_cols
            if pd.api.types.is_numeric_dtype(df[c]) and df[c].nunique(dropna=True) > 1]


def sensitivity(study: Study, table: pd.DataFrame, metrics: list[str], out: Path) -> list[Path]:
    """Metric vs each swept parameter, mean ± std over seeds; one line per other setting."""
    paths = []
    for param in swept_numeric(study):
        others = [c for c in study.group_cols if c != param]
        fig, axes = _grid(len(metrics))
        for ax, m in zip(axes, metrics, strict=False):
            groups = table.groupby(others, dropna=False) if others else [((), table)]
            for i, (key, sub) in enumerate(groups):
                sub = sub.sort_values(param)
                key = key if isinstance(key, tuple) else (key,)
                label = ", ".join(f"{o}={fmt(v)}" for o, v in zip(others, key, strict=True))
                ax.errorbar(sub[param], sub[f"{m}_mean"], yerr=sub[f"{m}_std"].fillna(0),
                            marker="o", capsize=3, label=label if i < _MAX_LEGEND else None)
            vals = table[param].dropna()
            if (vals > 0).all() and vals.max() / vals.min() >= 100:
                ax.set_xscale("log")
            ax.set_xlabel(param)
            ax.set_ylabel(LABELS.get(m, m))
            if others:
                ax.legend(fontsize=6)
        fig.suptitle(f"{study.name}: sensitivity to {param} (mean ± std over seeds)", fontsize=9)
        paths.append(_save(fig, out / f"sensitivity_{param}.png"))
    return paths


def _trial_label(study: Study, row: pd.Series) -> str:
    parts = [f"{c}={fmt(row[c])}" for c in study.config_cols if c in row]
    return f"{row['trial_id']} " + ", ".join(parts)


def learning_curves(study: Study, steps: pd.DataFrame, trials: pd.DataFrame,
                    metrics: list[str], out: Path) -> list[Path]:
    """Every trial's metrics over training steps; one colour per configuration."""
    plotted = [m for m in [*metrics, "loss_d", "loss_g"] if m in steps and steps[m].notna().any()]
    if steps.empty or not plotted:
        return []
    keys = study.group_cols
    configs = trials[keys].drop_duplicates().reset_index(drop=True) if keys else None
    cmap = plt.get_cmap("tab10" if configs is None or len(configs) <= 10 else "tab20")
    fig, axes = _grid(len(plotted))
    for ax, m in zip(axes, plotted, strict=False):
        for i, (_, trial) in enumerate(trials.iterrows()):
            curve = steps[steps["trial_id"] == trial["trial_id"]].dropna(subset=[m])
            if curve.empty:
                continue
            c = 0 if configs is None else int(
                (configs == trial[keys].values).all(axis=1).to_numpy().argmax())
            ax.plot(curve["step"], curve[m], marker=".", color=cmap(c % cmap.N),
                    label=_trial_label(study, trial) if i < _MAX_LEGEND else None)
        if m in LOWER_IS_BETTER and (steps[m].dropna() > 0).all():
            ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.set_ylabel(LABELS.get(m, m))
    axes[0].legend(fontsize=6)
    fig.suptitle(f"{study.name}: learning curves of every trial", fontsize=9)
    return [_save(fig, out / "learning_curves.png")]


def last_artifact(folder: Path, trial_id: str, prefix: str = "samples") -> Path | None:
    """The trial's `<prefix>_step*.png` at its last evaluated step, if it wrote any."""
    pattern = re.compile(rf"{re.escape(prefix)}_step(\d+)\.png$")
    found = [(int(m.group(1)), p)
             for p in (folder / "artifacts" / trial_id).glob(f"{prefix}_step*")
             if (m := pattern.search(p.name))]
    return max(found)[1] if found else None


def artifact_grid(study: Study, trials: pd.DataFrame, out: Path, prefix: str,
                  cell: float = 3.0) -> list[Path]:
    """Per-trial copies (in `<out>/<prefix>/`) of each trial's last `<prefix>_step*.png` plus
    one figure `<prefix>_grid.png`: a row per configuration, a column per seed."""
    copy_dir = out / prefix
    picked = []
    order = [c for c in study.config_cols if c in trials]
    for _, trial in trials.sort_values(order).iterrows() if order else trials.iterrows():
        src = last_artifact(study.folder, trial["trial_id"], prefix)
        if src is not None:
            copy_dir.mkdir(exist_ok=True)
            dst = copy_dir / f"{trial['trial_id']}_{src.name}"
            dst.write_bytes(src.read_bytes())
            picked.append((trial, dst))
    if not picked:
        return []
    keys = study.group_cols
    rows: dict[tuple, list] = {}
    for trial, path in picked:
        rows.setdefault(tuple(trial[k] for k in keys), []).append((trial, path))
    ncols = max(len(v) for v in rows.values())
    h, w = plt.imread(picked[0][1]).shape[:2]  # cells keep the images' aspect (+ the title)
    fig, axes = plt.subplots(len(rows), ncols, squeeze=False,
                             figsize=(cell * ncols, (cell * h / w + 0.4) * len(rows)))
    for r, (key, items) in enumerate(rows.items()):
        for c in range(ncols):
            ax = axes[r][c]
            ax.axis("off")
            if c < len(items):
                trial, path = items[c]
                ax.imshow(plt.imread(path))
                seed = f" seed={fmt(trial['seed'])}" if "seed" in trial else ""
                conf = ", ".join(f"{k}={fmt(v)}" for k, v in zip(keys, key, strict=True))
                ax.set_title(f"{conf}{seed}\n{trial['trial_id']}", fontsize=7)
    return [*(p for _, p in picked), _save(fig, out / f"{prefix}_grid.png")]


def sample_grid(study: Study, trials: pd.DataFrame, out: Path) -> list[Path]:
    """Per-trial copies of the last samples plot (samples/) plus samples_grid.png."""
    return artifact_grid(study, trials, out, "samples")


def conditions_grid(study: Study, trials: pd.DataFrame, out: Path) -> list[Path]:
    """Per-trial copies of the last per-condition rows (conditions/: one row per partition,
    cluster or latent mode, the papers' Figure 1) plus conditions_grid.png."""
    return artifact_grid(study, trials, out, "conditions", cell=4.5)


def pareto(study: Study, table: pd.DataFrame, out: Path) -> list[Path]:
    """Multi-objective studies: per-configuration means of the first two objectives."""
    if len(study.metrics) < 2:
        return []
    (a, b), (ma, mb) = study.metrics[:2], study.modes[:2]
    if f"{a}_mean" not in table or f"{b}_mean" not in table:
        return []
    pts = table[[f"{a}_mean", f"{b}_mean"]].dropna().to_numpy()
    if not len(pts):
        return []
    sign = np.array([1 if ma == "min" else -1, 1 if mb == "min" else -1])
    s = pts * sign
    front = np.array([not ((s <= p).all(1) & (s < p).any(1)).any() for p in s])
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.scatter(pts[~front, 0], pts[~front, 1], c="tab:gray", label="dominated")
    order = np.argsort(pts[front, 0])
    ax.plot(pts[front, 0][order], pts[front, 1][order], "o-", c="tab:red", label="Pareto front")
    ax.set_xlabel(f"{LABELS.get(a, a)} (mean over seeds)")
    ax.set_ylabel(f"{LABELS.get(b, b)} (mean over seeds)")
    ax.legend(fontsize=7)
    ax.set_title(f"{study.name}: Pareto front", fontsize=9)
    return [_save(fig, out / "pareto.png")]
