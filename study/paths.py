"""Where studies live: the storage root, each study's folder and its `study.json`."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

STORAGE_ENV = "STUDY_STORAGE"
TRACKING_ENV = "MLFLOW_TRACKING_URI"
# The study folder's layout: <storage>/<name>/{study.json, spec.yaml, tune/, train/, ...}
STUDY_FILE = "study.json"
SPEC_COPY = "spec.yaml"
TUNE_DIR = "tune"
RESULTS_FILE = "results.parquet"
RESULTS_TABLE = "results_table.json"  # the same table as an MLflow table on the parent run
# (trial ids as `trial_<id>` under `trial`: mlflow.load_table would read "12345_00000" as a number)
RESCORE_PREFIX = "rescore"  # `study evaluate`'s columns and metrics: rescore/<protocol>/<metric>
LINEAGE_FILE = "lineage.jsonl"  # PBT exploit events, appended by the driver as they happen
LINEAGE_TABLE = "lineage.parquet"
PARETO_TABLE = "pareto.parquet"


class StudyNotFound(LookupError):
    pass


class StudyExists(FileExistsError):
    pass


def storage_root(value: str | os.PathLike | None = None) -> Path:
    """Flag, else $STUDY_STORAGE, else ./study_runs (absolute: Ray needs absolute paths)."""
    raw = value or os.environ.get(STORAGE_ENV) or "study_runs"
    return Path(raw).expanduser().resolve()


def tracking_uri(value: str | None = None) -> str:
    """Flag, else $MLFLOW_TRACKING_URI, else MLflow's own default: sqlite ./mlflow.db."""
    uri = value or os.environ.get(TRACKING_ENV)
    if uri:
        return uri
    return f"sqlite:///{Path('mlflow.db').resolve()}"


@dataclass
class StudyRecord:
    """What a study folder remembers so `study resume` needs nothing but its name."""

    name: str
    spec_hash: str
    tracking_uri: str
    experiment_id: str
    parent_run_id: str
    created: str
    data_root: str | None = None
    # Stores the study logged to before `study resume --rebuild-tracking` replaced them.
    tracking_history: list[dict[str, str]] = field(default_factory=list)

    def save(self, folder: Path) -> None:
        tmp = folder / (STUDY_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2))
        os.replace(tmp, folder / STUDY_FILE)

    @classmethod
    def load(cls, folder: Path) -> StudyRecord:
        return cls(**json.loads((folder / STUDY_FILE).read_text()))


def study_dir(root: Path, name: str) -> Path:
    return root / name


def find_study(name_or_path: str, root: Path) -> Path:
    """A study folder from its name (under the storage root) or a path to it."""
    for candidate in (Path(name_or_path).expanduser(), root / name_or_path):
        if (candidate / STUDY_FILE).is_file():
            return candidate.resolve()
    known = ", ".join(list_studies(root)) or "none"
    raise StudyNotFound(
        f"no study {name_or_path!r}: neither a folder with {STUDY_FILE} nor a study under "
        f"{root} (known studies: {known}; set --storage or ${STORAGE_ENV} if it lives elsewhere)"
    )


def list_studies(root: Path) -> list[str]:
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / STUDY_FILE).is_file())
