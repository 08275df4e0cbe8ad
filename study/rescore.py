"""Score a study's checkpoints again under another protocol (`study evaluate`): more samples,
other features (Inception where the weights are), the test split. The metrics go to each
trial's own MLflow run and into the study's results table under a prefix that names the
protocol (`rescore/<features>-<split>-n<N>/<metric>`); the training-time columns stay as they
were."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import Any

import pandas as pd

from study.export import ExportError, checkpoints_of, results_of
from study.paths import (
    RESCORE_PREFIX,
    RESULTS_FILE,
    TRACKING_ENV,
    StudyRecord,
    find_study,
    storage_root,
)


def protocol_name(features: str, split: str, n: int) -> str:
    """`classifier-mnist-test-n10000`: MLflow metric keys allow no colon."""
    return re.sub(r"[^\w.\-]", "-", f"{features}-{split}-n{n}")


def check_options(features: str | None, split: str, samples: int | None) -> None:
    from evaluation.classifiers import available_classifiers

    if samples is not None and samples < 10:
        raise ExportError(f"--samples: expected at least 10, got {samples}")
    if features is None or features in ("auto", "raw", "inception"):
        return
    if features.startswith("classifier:") and \
            features.removeprefix("classifier:") in available_classifiers():
        return
    raise ExportError(f"--features: expected auto, raw, inception or one of "
                      f"{[f'classifier:{n}' for n in available_classifiers()]}, got {features!r}")


def rescore(study: str, storage: str | None, trials: list[str] | None, samples: int | None,
            features: str | None, split: str, seed: int | None = None,
            device: str = "cpu", data_root: str | None = None) -> pd.DataFrame:
    """Re-score the last checkpoint of each trial (all with one when `trials` is None)."""
    import os

    from mlflow import MlflowClient

    from trainables.restore import restore
    from trainables.scoring.evaluate import evaluate
    from trainables.scoring.images import inception_extractor, resolve_features

    check_options(features, split, samples)
    if features == "inception":  # no weights: say so before restoring anything (built once)
        inception_extractor(device)
    folder = find_study(study, storage_root(storage))
    record = StudyRecord.load(folder)
    table = results_of(folder)
    known = table["trial_id"].astype(str).tolist()
    wanted = trials or known
    missing = [t for t in wanted if t not in known]
    if missing:
        raise ExportError(f"{folder.name}: no trial {', '.join(missing)} (trials: "
                          f"{', '.join(known)})")
    found = {t: checkpoints_of(folder, t) for t in wanted}
    if trials and not all(found.values()):
        raise ExportError(f"{folder.name}: no checkpoint of trial "
                          f"{', '.join(t for t, c in found.items() if not c)}")
    client = MlflowClient(os.environ.get(TRACKING_ENV) or record.tracking_uri)
    rows = []
    for trial, ckpts in found.items():
        if not ckpts:
            continue  # failed before its first checkpoint
        restored = restore(ckpts[-1][1], device, data_root=data_root or record.data_root,
                           seed=seed)
        cfg = restored.config
        n, feats = samples or cfg.eval_samples, features or cfg.eval_features
        if split != "train" and restored.data.info.get("kind") != "image":
            raise ExportError(f"--split test applies to image data; {cfg.dataset['name']} is "
                              "scored against its own mixture")
        image = restored.data.info.get("kind") == "image"
        name = protocol_name(resolve_features(restored.data, feats) if image else "raw", split, n)
        with tempfile.TemporaryDirectory() as tmp:
            metrics = evaluate(restored.method, restored.data, n, restored.step, Path(tmp),
                               feats, split)
            run_id = _run_of(client, record, trial)
            if run_id is not None:
                _log(client, run_id, name, metrics, restored.step, Path(tmp))
        rows.append({"trial_id": trial}
                    | {f"{RESCORE_PREFIX}/{name}/{k}": v for k, v in metrics.items()})
    added = pd.DataFrame(rows)
    _merge_into_results(folder, added)
    return added


def _run_of(client: Any, record: StudyRecord, trial: str) -> str | None:
    from study.tracking import STUDY_TAG, TRIAL_TAG

    runs = client.search_runs([record.experiment_id],
                              f"tags.{TRIAL_TAG} = '{trial}' and tags.{STUDY_TAG} = "
                              f"'{record.name}'", max_results=1)
    return runs[0].info.run_id if runs else None


def _log(client: Any, run_id: str, name: str, metrics: dict[str, float], step: int,
         folder: Path) -> None:
    import time

    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    client.log_batch(run_id, metrics=[Metric(f"{RESCORE_PREFIX}/{name}/{k}", float(v), now, step)
                                      for k, v in metrics.items()])
    client.log_artifacts(run_id, str(folder), f"{RESCORE_PREFIX}/{name}")


def _merge_into_results(folder: Path, added: pd.DataFrame) -> None:
    """New columns (or a protocol scored again) for these trials; nothing else changes."""
    if added.empty:
        return
    table = pd.read_parquet(folder / RESULTS_FILE)
    new = added.set_index("trial_id")
    for column in new.columns:
        if column not in table:
            table[column] = float("nan")
        table[column] = table[column].astype(float)
        hit = table["trial_id"].isin(new.index)
        table.loc[hit, column] = table.loc[hit, "trial_id"].map(new[column]).to_numpy()
    tmp = folder / (RESULTS_FILE + ".tmp")
    table.to_parquet(tmp, index=False)
    tmp.replace(folder / RESULTS_FILE)
