"""Read a finished study from its folder: spec, study.json, results.parquet. No Ray needed."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from study.driver import RUNNING, liveness
from study.paths import RESULTS_FILE, SPEC_COPY, StudyRecord, find_study, storage_root
from study.report.errors import ReportError
from study.tune_state import trial_states

SEED = "seed"
_DONE = {"TERMINATED", "ERROR"}


@dataclass
class Study:
    folder: Path
    record: StudyRecord
    spec: dict[str, Any]
    results: pd.DataFrame

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def trainer_names(self) -> list[str]:
        return list(self.spec.get("trainers") or {}) or [str(self.spec.get("trainer", "?"))]

    @property
    def trainer(self) -> str:
        """The trainer, or the compared trainers as `a vs b`."""
        return " vs ".join(self.trainer_names)

    @property
    def dataset(self) -> str:
        return str((self.spec.get("dataset") or {}).get("name", "?"))

    @property
    def metrics(self) -> list[str]:
        m = self.spec.get("metric", "reverse_kl")
        return m if isinstance(m, list) else [m]

    @property
    def modes(self) -> list[str]:
        m = self.spec.get("mode", "min")
        return m if isinstance(m, list) else [m] * len(self.metrics)

    @cached_property
    def config_cols(self) -> list[str]:
        """Trial config columns: searched and mutated settings, then the seed."""
        keys = ["trainer"] if self.spec.get("trainers") else []  # the compared trainers' axis
        keys += list(self.spec.get("search") or {})
        keys += [k for k in (self.spec.get("scheduler") or {}).get("mutations") or {}
                 if k not in keys]
        return [k for k in [*keys, SEED] if k in self.results.columns]

    @property
    def group_cols(self) -> list[str]:
        """A configuration is every config column but the seed."""
        return [c for c in self.config_cols if c != SEED]

    @property
    def scheduler(self) -> str:
        return str((self.spec.get("scheduler") or {}).get("type", "none"))


def load_finished(name_or_path: str | Path, storage: str | None = None) -> Study:
    """The study, or ReportError if any trial is still pending/running or results are missing."""
    folder = find_study(str(name_or_path), storage_root(storage))
    record = StudyRecord.load(folder)
    unfinished = [t for t in trial_states(folder) if t["status"] not in _DONE]
    if unfinished:
        state, _ = liveness(folder)
        doing = ("is still running" if state == RUNNING
                 else f"stopped before its trials ended (driver {state})")
        raise ReportError(
            f"study {record.name!r} {doing}: {len(unfinished)} of its trials are unfinished; "
            + ("wait for it to finish" if state == RUNNING
               else f"continue it with `study resume {record.name}`"))
    if not (folder / RESULTS_FILE).is_file():
        raise ReportError(
            f"study {record.name!r} has no {RESULTS_FILE} yet (running or interrupted): "
            f"finish it with `study resume {record.name}`")
    spec = yaml.safe_load((folder / SPEC_COPY).read_text()) or {}
    results = pd.read_parquet(folder / RESULTS_FILE)
    seeds = spec.get("seeds") or [0]
    if SEED not in results and len(seeds) == 1:
        results[SEED] = seeds[0]  # a single seed is not in Tune's config
    for col in results.columns:  # list-valued settings (NEMGAN conditions) as hashable text
        if results[col].map(_is_list).any():
            results[col] = results[col].map(_list_text)
    return Study(folder, record, spec, results)


def _is_list(v: Any) -> bool:
    return isinstance(v, (list, tuple, np.ndarray))


def _list_text(v: Any) -> Any:
    return "[" + ", ".join(map(str, v)) + "]" if _is_list(v) else v
