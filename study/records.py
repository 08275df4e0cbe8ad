"""A study's MLflow records against its own: the check before a resume (the store in use holds
the study's experiment and parent run, and is the store the study was made with), and the
rebuild of those records from the study folder when the store is gone.

The study folder is the record of truth: its spec, Tune's experiment state and each trial's
`result.json` (every report), checkpoints and artifacts. A store lost with a replaced head node
(or a shell without $MLFLOW_TRACKING_URI) is rebuilt from them: `study resume NAME
--rebuild-tracking` makes the experiment, a parent and one child run per trial anew, replays
each trial's reports through the same callback that logged them, closes the finished and failed
trials as they ended, and points `study.json` at the new runs (the old ids kept under
`tracking_history`).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from study.paths import LINEAGE_FILE, SPEC_COPY, TUNE_DIR, StudyRecord

# What a rebuild cannot bring back: printed after every rebuild.
NOT_RECOVERED = (
    "run start and end times (the new runs carry the rebuild's time)",
    "the old MLflow run ids (kept in study.json under tracking_history)",
    "anything logged to the lost runs by hand, outside the study",
)


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class TrackingError(LookupError):
    """The study's MLflow records are not where the study looks for them (exit 2)."""


def _missing(record: StudyRecord, uri: str) -> str | None:
    """Why the store at `uri` does not hold this study's runs, or None when it does."""
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    db = Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None
    if db is not None and not db.is_file():  # checked without creating an empty store there
        return f"no database file, so no experiment {record.name!r}"
    client = MlflowClient(uri)
    try:
        exp = client.get_experiment(record.experiment_id)
    except MlflowException:
        exp = None
    if exp is None or exp.lifecycle_stage != "active" or exp.name != record.name:
        return f"no experiment {record.name!r} with id {record.experiment_id}"
    try:
        parent = client.get_run(record.parent_run_id)
    except MlflowException:
        return f"no parent run {record.parent_run_id}"
    if parent.info.experiment_id != record.experiment_id:
        return f"run {record.parent_run_id} is not in experiment {record.experiment_id}"
    return None


def present(record: StudyRecord, uri: str) -> bool:
    return _missing(record, uri) is None


def check_tracking(record: StudyRecord, uri: str, command: str = "resume") -> None:
    """Refuse (TrackingError) a store that lacks the study's runs, naming the URI in use, the
    URI recorded and the ways on. Another URI than the recorded one passes only when it holds
    the study's experiment and parent run (the same store, moved: `moved` records it)."""
    rebuild = f"study resume {record.name} --rebuild-tracking"
    if uri != record.tracking_uri:
        if present(record, uri):
            return
        raise TrackingError(
            f"study {record.name}: the MLflow store in use, {uri}, is not the study's: the "
            f"study was created with {record.tracking_uri} (study.json), and {uri} holds no "
            f"experiment {record.name!r} with id {record.experiment_id}. Either\n"
            f"  - use the study's store: --tracking-uri {record.tracking_uri} (or set "
            f"MLFLOW_TRACKING_URI to it)\n"
            f"  - or make the study's records anew in {uri} from the study folder: "
            f"`{rebuild} --tracking-uri {uri}`")
    why = _missing(record, uri)
    if why:
        raise TrackingError(
            f"study {record.name}: the MLflow store it was created with, {uri} (study.json), "
            f"has {why}: the store was lost or replaced; {command} stops before anything "
            f"runs. Either\n"
            f"  - if the store moved, point to it: `study {command} {record.name} "
            f"--tracking-uri URI` (or MLFLOW_TRACKING_URI)\n"
            f"  - or make the study's records anew in {uri} from the study folder: "
            f"`{rebuild}`")


def moved(folder: Path, record: StudyRecord, uri: str) -> StudyRecord:
    """The record pointed at `uri`, which holds the study's runs (checked), saved."""
    if uri == record.tracking_uri:
        return record
    old = {"tracking_uri": record.tracking_uri, "experiment_id": record.experiment_id,
           "parent_run_id": record.parent_run_id, "replaced": _now(), "how": "moved"}
    new = replace(record, tracking_uri=uri, tracking_history=[*record.tracking_history, old])
    new.save(folder)
    return new


def _reports(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every report of every trial, from the trials' `result.json` (one JSON object a line)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for path in sorted((folder / TUNE_DIR).glob("*/result.json")):
        for line in path.read_text().splitlines():
            if line.strip():
                result = json.loads(line)
                out.setdefault(str(result.get("trial_id")), []).append(result)
    return out


def _error_text(folder: Path, trial_id: str) -> str | None:
    for path in (folder / TUNE_DIR).glob(f"*{trial_id}*/error.txt"):
        lines = [ln.strip() for ln in path.read_text().splitlines() if ln.strip()]
        if lines:
            return lines[-1].removeprefix("study.trial.TrialFailed: ")
    return None


def rebuild(
    folder: Path, record: StudyRecord, static_params: dict[str, Any], mutable: tuple[str, ...],
    seeds: list[int], uri: str,
) -> tuple[StudyRecord, list[str]]:
    """The study's experiment, parent and child runs made anew at `uri` from the folder; the
    new record (saved) and one line per trial of what was replayed. Trials still to run get
    their runs when they start, as on any resume."""
    from mlflow.tracking import MlflowClient

    from study.spec import load_spec
    from study.tracking import MLflowTrialCallback, create_parent_run, ensure_experiment
    from study.tune_state import trial_states

    spec = load_spec(folder / SPEC_COPY)  # the copy the digest in study.json covers
    client = MlflowClient(uri)
    exp = client.get_experiment_by_name(record.name)
    if exp is not None and exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    exp_id = ensure_experiment(client, record.name, uri)
    parent = create_parent_run(client, exp_id, record.name, spec.model_dump(mode="json"),
                               record.spec_hash, folder / SPEC_COPY)
    old = {"tracking_uri": record.tracking_uri, "experiment_id": record.experiment_id,
           "parent_run_id": record.parent_run_id, "replaced": _now(), "how": "rebuilt"}
    client.set_tag(parent, "study.rebuilt_from", json.dumps(old))
    callback = MLflowTrialCallback(uri, exp_id, parent, record.name, str(folder / "artifacts"),
                                   static_params, None, mutable, seeds)
    # PBT exploits are replayed from the results (their `pbt_event`), not appended again.
    reports, lines = _reports(folder), []
    for state in trial_states(folder):
        tid, results = state["trial_id"], reports.get(state["trial_id"], [])
        config = (results[-1].get("config") if results else None) or state["config"]
        trial = SimpleNamespace(trial_id=tid, config=config or {},
                                last_result=results[-1] if results else {}, checkpoint=None)
        callback.run_id(trial)
        for result in results:
            callback.on_trial_result(0, [], trial, result)
        status = state["status"]
        if status == "TERMINATED":
            callback._finish(trial, "FINISHED")
        elif status == "ERROR":
            callback._finish(trial, "FAILED", _error_text(folder, tid) or "trial failed")
        else:
            client.set_terminated(callback.run_id(trial), "KILLED")
        last = results[-1].get("step") if results else None
        lines.append(f"{tid}: {len(results)} reports replayed (last step {last}), {status}")
    if (folder / LINEAGE_FILE).is_file():
        client.log_artifact(parent, str(folder / LINEAGE_FILE))
    new = replace(record, tracking_uri=uri, experiment_id=exp_id, parent_run_id=parent,
                  tracking_history=[*record.tracking_history, old])
    new.save(folder)
    return new, lines
