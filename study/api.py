"""The `study` commands as Python calls, for notebooks: the same validation, folders, MLflow
runs and results as the CLI.

    from study import api
    outcome = api.run("search_spaces/quickstart.yaml", set=["budget.steps=500", "seeds=[0]"])
    api.results("quickstart")          # the study's results table as a DataFrame
    api.resume("quickstart")           # continue an interrupted study
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from study.export import results_of
from study.paths import find_study, storage_root
from study.runner import StudyOutcome, resume_study, run_study


def run(spec: str | Path, *, set: list[str] | None = None, name: str | None = None,  # noqa: A002
        storage: str | None = None, tracking_uri: str | None = None,
        address: str | None = None, data_root: str | None = None) -> StudyOutcome:
    """`study run SPEC [--set PATH=VALUE ...]`: raises `study.spec.SpecError` on a bad spec."""
    return run_study(spec, storage, tracking_uri, address, data_root, name, set or None)


def resume(study: str, *, storage: str | None = None, address: str | None = None,
           retry_failed: bool = False, tracking_uri: str | None = None,
           rebuild_tracking: bool = False) -> StudyOutcome:
    """`study resume NAME [--retry-failed] [--tracking-uri URI] [--rebuild-tracking]`: raises
    `study.records.TrackingError` when the store in use lacks the study's runs."""
    return resume_study(study, storage, address, retry_failed, tracking_uri, rebuild_tracking)


def results(study: str, *, storage: str | None = None) -> pd.DataFrame:
    """The study's results table (`results.parquet`: a row a trial, its settings and metrics);
    `study.export.ExportError` before any trial has finished."""
    return results_of(find_study(study, storage_root(storage)))
