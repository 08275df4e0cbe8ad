"""Per-trial and per-step tables (Parquet, readable by pandas without Ray).

Steps come from Tune's per-trial `result.json` (one JSON line per report). A resumed trial
replays reports, so steps are deduplicated keeping the last report of each step. Without
result.json files (e.g. storage cleaned) the MLflow child runs' metric histories are used.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from study.paths import TUNE_DIR
from study.report.load import Study

# Tune's bookkeeping: nothing about the model.
_SKIP = {"timestamp", "done", "pid", "node_ip", "hostname", "time_since_restore",
         "iterations_since_restore", "date", "checkpoint_dir_name", "should_checkpoint",
         "time_this_iter_s", "training_iteration", "time_total_s"}


def trials_table(study: Study) -> pd.DataFrame:
    """One row per trial: id, status, study/trainer/dataset, config columns, final metrics."""
    df = study.results.copy()
    df.insert(0, "study", study.name)
    if "trainer" in df:  # a study comparing trainers: each trial's own
        df.insert(1, "trainer", df.pop("trainer"))
    else:
        df.insert(1, "trainer", study.trainer)
    df.insert(2, "dataset", study.dataset)
    front = list(dict.fromkeys(["study", "trainer", "dataset", "trial_id", "status",
                                *study.config_cols]))
    return df[front + [c for c in df.columns if c not in front]]


def _scalar(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def _read_result_json(path: Path) -> list[dict[str, Any]]:
    rows = []
    for line in path.read_text().splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:  # a line cut short by a crash
            continue
        if not isinstance(item, dict) or "trial_id" not in item:
            continue
        row = {k: v for k, v in item.items() if k not in _SKIP and _scalar(v)}
        row["trial_id"] = item["trial_id"]
        row["step"] = item.get("step", item.get("training_iteration"))
        rows.append(row)
    return rows


def _steps_from_tune(folder: Path) -> pd.DataFrame:
    rows = [r for p in sorted((folder / TUNE_DIR).glob("*/result.json"))
            for r in _read_result_json(p)]
    return pd.DataFrame(rows)


def _steps_from_mlflow(study: Study, metrics: list[str]) -> pd.DataFrame:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(study.record.tracking_uri)
    runs = client.search_runs([study.record.experiment_id],
                              f"tags.study = '{study.name}'", max_results=10000)
    rows: dict[tuple[str, int], dict[str, Any]] = {}
    for run in runs:
        tid = run.data.tags.get("trial_id")
        if not tid:
            continue
        for key in run.data.metrics:
            if key not in metrics and key != "loss_d" and key != "loss_g":
                continue
            for m in client.get_metric_history(run.info.run_id, key):
                rows.setdefault((tid, m.step), {"trial_id": tid, "step": m.step})[key] = m.value
    return pd.DataFrame(list(rows.values()))


def steps_table(study: Study, trials: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """One row per trial × report step, with the trial's config columns."""
    steps = _steps_from_tune(study.folder)
    if steps.empty:
        steps = _steps_from_mlflow(study, metrics)
    if steps.empty:
        return pd.DataFrame(columns=["trial_id", "step", *study.config_cols])
    steps = steps[steps["trial_id"].isin(trials["trial_id"])]
    steps = steps.drop_duplicates(["trial_id", "step"], keep="last")
    config = trials[["trial_id", *study.config_cols]]
    steps = steps.drop(columns=[c for c in study.config_cols if c in steps]).merge(
        config, on="trial_id", how="left")
    front = ["trial_id", "step", *study.config_cols]
    steps = steps[front + [c for c in steps.columns if c not in front]]
    return steps.sort_values(["trial_id", "step"]).reset_index(drop=True)


def write_parquet(df: pd.DataFrame, path: Path) -> Path:
    df.to_parquet(path, index=False, engine="pyarrow")
    return path
