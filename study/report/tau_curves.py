"""Precision / recall / density / coverage / acceptance vs τ_infer (the simplicial paper's
Figure 8): the simplicial trainer logs `<metric>_tau<τ>` at each evaluation for every τ of its
sweep, without retraining. The curve of a configuration is the mean ± std (ddof=1) over its
seeds of each finished trial's last report."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from evaluation import metric_table  # noqa: E402
from study.report.load import Study  # noqa: E402
from study.report.tables import fmt  # noqa: E402

CURVE_METRICS = tuple(metric_table.curve_metrics())
_COLUMN = re.compile(rf"^({'|'.join(CURVE_METRICS)})_tau(.+)$")
_ALL = "configuration"


def tau_columns(columns: list[str] | pd.Index) -> dict[str, tuple[str, float]]:
    """`precision_tau0.135` → ("precision", 0.135) for every such column."""
    out = {}
    for c in columns:
        m = _COLUMN.match(str(c))
        if m:
            try:
                out[str(c)] = (m.group(1), float(m.group(2)))
            except ValueError:  # not a number after "_tau": not a curve column
                continue
    return out


def _last_reports(study: Study, steps: pd.DataFrame, trials: pd.DataFrame,
                  cols: list[str]) -> pd.DataFrame:
    """One row per finished trial: its last step that carries curve values (steps.parquet),
    else its final result (trials.parquet) when the steps lack the columns."""
    ok = trials[trials["status"] == "TERMINATED"]
    have = [c for c in cols if c in steps]
    if not have or steps.empty:
        return ok
    rows = steps[steps["trial_id"].isin(ok["trial_id"])].dropna(subset=have, how="all")
    last = rows.sort_values("step").groupby("trial_id", sort=False).tail(1)
    missing = [k for k in study.group_cols if k not in last]
    return last.merge(ok[["trial_id", *missing]], on="trial_id") if missing else last


def tau_curve_table(study: Study, steps: pd.DataFrame, trials: pd.DataFrame) -> pd.DataFrame:
    """Long table: configuration columns, metric, tau, mean, std, n (seeds). Empty when no
    `<metric>_tau<τ>` values exist."""
    cols = tau_columns([*steps.columns, *trials.columns])
    keys = study.group_cols
    out_cols = [*(keys or [_ALL]), "metric", "tau", "mean", "std", "n"]
    if not cols:
        return pd.DataFrame(columns=out_cols)
    last = _last_reports(study, steps, trials, list(cols))
    present = [c for c in cols if c in last]
    if last.empty or not present:
        return pd.DataFrame(columns=out_cols)
    if not keys:
        last = last.assign(**{_ALL: "all trials"})
    long = last.melt(id_vars=keys or [_ALL], value_vars=present, var_name="column").dropna(
        subset=["value"])
    long["metric"] = long["column"].map(lambda c: cols[c][0])
    long["tau"] = long["column"].map(lambda c: cols[c][1])
    g = long.groupby([*(keys or [_ALL]), "metric", "tau"], dropna=False, sort=True)["value"]
    table = g.agg(mean="mean", std=lambda v: v.std(ddof=1), n="size").reset_index()
    return table[out_cols]


def plot_tau_curves(study: Study, table: pd.DataFrame, out: Path) -> list[Path]:
    """`tau_infer_curves.png` (a panel per metric, a line per configuration, error bars: std
    over seeds) and the plotted numbers as `tau_infer_curves.parquet`."""
    if table.empty:
        return []
    keys = study.group_cols or [_ALL]
    table.to_parquet(out / "tau_infer_curves.parquet", index=False, engine="pyarrow")
    metrics = [m for m in CURVE_METRICS if m in set(table["metric"])]
    cols = min(len(metrics), 3)
    rows = -(-len(metrics) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.8 * cols, 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(metrics):]:
        ax.set_visible(False)
    conf_id = table.groupby(keys, dropna=False, sort=True).ngroup()
    n_conf = int(conf_id.max()) + 1
    cmap = plt.get_cmap("tab10" if n_conf <= 10 else "tab20")
    for ax, metric in zip(axes.flat, metrics, strict=False):
        sub = table[table["metric"] == metric]
        for i, line in sub.groupby(conf_id[sub.index], sort=True):
            line = line.sort_values("tau")
            first = line.iloc[0]
            label = ", ".join(f"{k}={fmt(first[k])}" for k in keys if k != _ALL) or "all trials"
            ax.errorbar(line["tau"], line["mean"], yerr=line["std"].fillna(0),
                        marker="o", ms=3, capsize=2, color=cmap(int(i) % cmap.N),
                        label=label if i < 16 else None)
        ax.set_xlabel("τ_infer")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes.flat[0].legend(fontsize=6)
    fig.suptitle(f"{study.name}: metrics vs τ_infer (last report, mean ± std over seeds)",
                 fontsize=9)
    fig.tight_layout()
    path = out / "tau_infer_curves.png"
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return [path]


def tau_infer_curves(study: Study, steps: pd.DataFrame, trials: pd.DataFrame,
                     out: Path) -> list[Path]:
    return plot_tau_curves(study, tau_curve_table(study, steps, trials), out)

