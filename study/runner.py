"""Run, resume and inspect studies: the functions behind the CLI."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import shlex
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from evaluation import metric_table
from study import driver
from study import tuner as tuning
from study.paths import (
    LINEAGE_FILE,
    LINEAGE_TABLE,
    PARETO_TABLE,
    RESULTS_FILE,
    RESULTS_TABLE,
    SPEC_COPY,
    STUDY_FILE,
    TRACKING_ENV,
    TUNE_DIR,
    StudyExists,
    StudyRecord,
    find_study,
    storage_root,
    study_dir,
    tracking_uri,
)
from study.progress import ProgressCallback
from study.ray_env import init_ray
from study.spec import (
    SpecError,
    StudySpec,
    load_spec,
    num_samples,
    parse_spec,
    spec_warnings,
    total_trials,
)
from study.tracking import MLflowTrialCallback, create_parent_run, ensure_experiment
from study.trial import root_cause
from study.tune_state import trial_states

# Final values kept in the results table: every metric of the metric table (and the study's own).
_RESULT_METRICS = ("step", *metric_table.names(), "time_total_s", "objective",
                   "constraints_met")


@dataclass
class StudyOutcome:
    folder: Path
    record: StudyRecord
    table: pd.DataFrame
    errors: int
    interrupted: str | None = None  # why the driver stopped before every trial ended


def connect_ray(address: str | None = None) -> None:
    """Join RAY_ADDRESS / --address when given, else start (or reuse) a local Ray."""
    import ray

    if ray.is_initialized():
        return
    _quiet_start()
    address = address or os.environ.get("RAY_ADDRESS")
    # No address: a local Ray. It keeps the dashboard, which serves the State API that Ray
    # Train's placement-group cleaner needs to see a stopped trial's controller die (else its
    # CPUs stay reserved); study.ray_env points that API at this cluster.
    init_ray(address or None, logging_level="WARNING", log_to_driver=False)


class _DropNotice(logging.Filter):
    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


def run_ids(uri: str, experiment_id: str, parent_run_id: str) -> dict[str, str]:
    """Trial id → its MLflow run id (the children of the study's parent run)."""
    from mlflow.tracking import MlflowClient

    runs = MlflowClient(uri).search_runs(
        [experiment_id], f"tags.mlflow.parentRunId = '{parent_run_id}'", max_results=10000)
    return {r.data.tags["trial_id"]: r.info.run_id for r in runs if "trial_id" in r.data.tags}


def _quiet_start() -> None:
    """Notices that say nothing about the study: Ray's note that token authentication is on
    (its default; the warning when it is off stays) and MLflow creating its sqlite tables."""
    logging.getLogger("ray._private.authentication.authentication_token_setup").addFilter(
        _DropNotice("Token authentication is enabled"))
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
    # Tune's own resume line names `Tuner.restore(...)`, not this tool's command, which the
    # driver prints itself.
    logging.getLogger("ray.tune.tune").addFilter(_DropNotice("Experiment has been interrupted"))


def _static_params(spec: StudySpec) -> dict[str, Any]:
    return {"trainer": spec.label, "trainers": spec.trainers,
            "dataset": spec.dataset.model_dump(), "fixed": spec.fixed,
            "budget.steps": spec.budget.steps, "eval_every": spec.eval_every,
            "eval_samples": spec.eval_samples, "eval_features": spec.eval_features,
            "eval_split": spec.eval_split, "workers": spec.resources.workers}


def _make_tuner(spec: StudySpec, folder: Path, record: StudyRecord, restore: bool,
                retry_failed: bool = False) -> Any:
    from ray import tune

    # Tune's own reporter (its configuration box, TensorBoard hint, tables) off: the
    # ProgressCallback prints one line per trial event instead.
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")
    plan = tuning.trial_plan(spec, folder, record.data_root)
    trainable = tuning.trainable(plan)
    if restore:
        return tune.Tuner.restore(
            str(folder / TUNE_DIR), trainable, param_space=tuning.param_space(spec),
            resume_unfinished=True, resume_errored=retry_failed, restart_errored=False,
        )
    multi = len(spec.metrics) > 1
    callbacks = [
        MLflowTrialCallback(record.tracking_uri, record.experiment_id, record.parent_run_id,
                            spec.name, str(folder / "artifacts"), _static_params(spec),
                            str(folder / LINEAGE_FILE), tuple(spec.scheduler.mutations),
                            seeds=list(spec.seeds), study_file=str(folder / STUDY_FILE)),
        ProgressCallback(spec.metrics, spec.budget.steps, total_trials(spec)),
    ]
    return tune.Tuner(
        trainable,
        param_space=tuning.param_space(spec),
        tune_config=tune.TuneConfig(
            metric=None if multi else spec.tune_metric, mode=None if multi else spec.modes[0],
            search_alg=tuning.searcher(spec, folder), scheduler=tuning.scheduler(spec),
            num_samples=num_samples(spec),
            max_concurrent_trials=tuning.max_concurrent_trials(spec),
            # 1-worker trials: a finished trial's process runs the next (no new process,
            # imports or data load). Ray Train trials: a fresh actor per (re)start, so that
            # stopping one ends its Train run with it.
            reuse_actors=spec.resources.in_process,
        ),
        run_config=tune.RunConfig(
            name=TUNE_DIR, storage_path=str(folder), callbacks=callbacks, verbose=0,
            failure_config=tune.FailureConfig(max_failures=spec.max_failures),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=tuning.checkpoints_to_keep(spec)),
        ),
    )


def _new_study(spec_path: str | Path, storage: str | None, name: str | None,
               overrides: list[str] | None = None) -> tuple[StudySpec, Path]:
    """The validated spec (with --set overrides, renamed with --name) and its folder, refused
    if the name is taken."""
    spec = load_spec(spec_path, overrides)
    if name:  # same study under another name (validated like the spec's own)
        spec = parse_spec(spec.model_dump(mode="json") | {"name": name}, f"{spec_path} --name")
    folder = study_dir(storage_root(storage), spec.name)
    if (folder / STUDY_FILE).is_file():
        raise StudyExists(
            f"study {spec.name!r} already exists in {folder}: continue it with "
            f"`study resume {spec.name}`, or run the spec under another name with "
            f"`study run {spec_path} --name NEW_NAME`"
        )
    return spec, folder


def create_study(
    spec: StudySpec, folder: Path, spec_path: str | Path, tracking: str | None = None,
    data_root: str | None = None, renamed: bool = False, overrides: list[str] | None = None,
) -> StudyRecord:
    """Make the study folder and the MLflow parent run of a spec `_new_study` validated. A
    renamed or overridden spec is stored as validated (its digest covers the overrides), with
    the `--set` arguments in a comment at its top."""
    from mlflow.tracking import MlflowClient

    folder.mkdir(parents=True, exist_ok=True)
    if renamed:
        dumped = yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
        head = "".join(f"# --set {o}\n" for o in overrides or [])
        (folder / SPEC_COPY).write_text(head + dumped)
    else:
        shutil.copyfile(spec_path, folder / SPEC_COPY)
    uri = tracking_uri(tracking)
    client = MlflowClient(uri)
    exp_id = ensure_experiment(client, spec.name, uri)
    parent = create_parent_run(client, exp_id, spec.name, spec.model_dump(mode="json"),
                               spec.digest(), folder / SPEC_COPY)
    root = str(Path(data_root).resolve()) if data_root else os.environ.get("STUDY_DATA_ROOT")
    record = StudyRecord(spec.name, spec.digest(), uri, exp_id, parent,
                         dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), root)
    record.save(folder)
    return record


def run_study(
    spec_path: str | Path, storage: str | None = None, tracking: str | None = None,
    address: str | None = None, data_root: str | None = None, name: str | None = None,
    overrides: list[str] | None = None,
) -> StudyOutcome:
    # Before any folder or MLflow run exists: the name is free and the cluster can run it.
    spec, folder = _new_study(spec_path, storage, name, overrides)
    for line in spec_warnings(spec):
        print(f"warning: {line}", file=sys.stderr, flush=True)
    check_resources(spec, address)
    record = create_study(spec, folder, spec_path, tracking, data_root,
                          renamed=bool(name or overrides), overrides=overrides)
    print(f"study {spec.name}: folder {folder}, MLflow {record.tracking_uri}", flush=True)
    return _fit(spec, folder, record, restore=False)


def check_resources(spec: StudySpec, address: str | None = None) -> None:
    """Join Ray and refuse (SpecError) a trial the cluster cannot place: Tune would wait for it
    forever."""
    import ray

    connect_ray(address)
    have = ray.cluster_resources()
    r = spec.resources
    for field, kind, per_worker in (("cpus_per_worker", "CPU", r.cpus_per_worker),
                                    ("gpus_per_worker", "GPU", r.gpus_per_worker)):
        need = per_worker * r.workers
        if need > have.get(kind, 0):
            raise SpecError(
                f"invalid study spec for this cluster:\n  resources.{field}: a trial needs "
                f"{need:g} {kind} ({r.workers} worker(s) x {per_worker:g}); the cluster has "
                f"{have.get(kind, 0):g} {kind} and {have.get('CPU', 0):g} CPU in all")


def resume_study(
    name_or_path: str, storage: str | None = None, address: str | None = None,
    retry_failed: bool = False, tracking: str | None = None, rebuild_tracking: bool = False,
) -> StudyOutcome:
    """Continue a study. Before Ray starts: the MLflow store in use (flag, else
    $MLFLOW_TRACKING_URI, else the recorded one) must be the study's and hold its runs, else
    TrackingError; with `rebuild_tracking` the records are made anew there from the folder."""
    from ray import tune

    from study import records

    folder = find_study(name_or_path, storage_root(storage))
    record = StudyRecord.load(folder)
    spec = load_spec(folder / SPEC_COPY)
    if spec.digest() != record.spec_hash:
        raise SpecError(f"{folder / SPEC_COPY} changed since the study started; restore it")
    uri = tracking or os.environ.get(TRACKING_ENV) or record.tracking_uri
    if rebuild_tracking and uri == record.tracking_uri and records.present(record, uri):
        print(f"study {spec.name}: its MLflow records are in {uri}; nothing to rebuild")
    elif rebuild_tracking:
        record, lines = records.rebuild(folder, record, _static_params(spec),
                                         tuple(spec.scheduler.mutations), list(spec.seeds), uri)
        print(f"study {spec.name}: MLflow records rebuilt in {uri} (experiment "
              f"{record.experiment_id}, parent run {record.parent_run_id})", flush=True)
        print("\n".join(f"  {line}" for line in lines))
        print("  not recoverable: " + "; ".join(records.NOT_RECOVERED), flush=True)
    else:
        records.check_tracking(record, uri)
        record = records.moved(folder, record, uri)
    check_resources(spec, address)
    restore = tune.Tuner.can_restore(str(folder / TUNE_DIR))
    print(f"study {spec.name}: resuming from {folder}", flush=True)
    return _fit(spec, folder, record, restore=restore, retry_failed=retry_failed)


def _fit(spec: StudySpec, folder: Path, record: StudyRecord, restore: bool,
         retry_failed: bool = False) -> StudyOutcome:
    from mlflow.tracking import MlflowClient

    tuner = _make_tuner(spec, folder, record, restore, retry_failed)
    driver.mark_started(folder)
    try:
        with driver.sigterm_as_interrupt() as signals:
            grid = tuner.fit()
    except BaseException as exc:
        interrupted = isinstance(exc, KeyboardInterrupt)
        _end_early(folder, record, interrupted,
                   f"driver ended by {'Ctrl-C' if interrupted else type(exc).__name__}"
                   f"{'' if interrupted else f' ({root_cause(exc)})'}; continue with "
                   f"`study resume {spec.name}`")
        raise
    states = {t["trial_id"]: t["status"] for t in trial_states(folder)}
    table = results_table(grid, spec, states)
    ids = run_ids(record.tracking_uri, record.experiment_id, record.parent_run_id)
    table.insert(1, "mlflow_run_id", table["trial_id"].map(ids))
    lineage = lineage_table(folder / LINEAGE_FILE)
    if lineage is not None:
        counts = lineage["trial_id"].value_counts()
        table["exploits"] = table["trial_id"].map(counts).fillna(0).astype(int)
    pareto = pareto_front(spec, folder)
    client = MlflowClient(record.tracking_uri)
    for name, frame in ((RESULTS_FILE, table), (LINEAGE_TABLE, lineage), (PARETO_TABLE, pareto)):
        if frame is not None:
            _write_parquet(frame, folder / name)
            client.log_artifact(record.parent_run_id, str(folder / name))
    # The results as an MLflow table too: the parent run's Evaluation view shows it, and
    # mlflow.load_table reads it back (across studies of one experiment).
    client.log_table(record.parent_run_id, mlflow_table(table), RESULTS_TABLE)
    errors = int(sum(r.error is not None for r in grid))
    unfinished = [t for t, st in states.items() if st not in ("TERMINATED", "ERROR")]
    if unfinished:  # Tune returns after Ctrl-C or SIGTERM with the rest of the trials unrun
        reason = (f"interrupted by {signals[0] if signals else 'Ctrl-C'} with {len(unfinished)} "
                  f"of {len(grid)} trials unfinished; continue with `study resume {spec.name}`")
        _end_early(folder, record, True, reason)
        return StudyOutcome(folder, record, table, errors, interrupted=reason)
    client.set_terminated(record.parent_run_id, "FAILED" if errors == len(grid) else "FINISHED")
    driver.mark_ended(folder, driver.FAILED if errors == len(grid) else driver.FINISHED)
    return StudyOutcome(folder, record, table, errors)


def _end_early(folder: Path, record: StudyRecord, interrupted: bool, reason: str) -> None:
    """The driver stops before its trials end: runs KILLED (interrupted) or FAILED, and the
    driver record says so, with the reason."""
    driver.close_runs(record.tracking_uri, record.experiment_id, record.parent_run_id,
                      "KILLED" if interrupted else "FAILED", reason)
    driver.mark_ended(folder, driver.INTERRUPTED if interrupted else driver.FAILED, reason)


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def lineage_table(path: Path) -> pd.DataFrame | None:
    """PBT exploits, one row each: trial, donor, step, the mutation and both weight digests."""
    if not path.is_file():
        return None
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        e = json.loads(line)
        row = {k: e.get(k) for k in ("trial_id", "donor", "step", "donor_digest",
                                     "loaded_digest", "time")}
        row["mutation"] = json.dumps(e.get("mutation", {}), default=str)
        for k, change in e.get("mutation", {}).items():
            row[f"{k}.from"], row[f"{k}.to"] = change.get("from"), change.get("to")
        rows.append(row)
    return pd.DataFrame(rows) if rows else None


def pareto_front(spec: StudySpec, folder: Path) -> pd.DataFrame | None:
    """Multi-objective Optuna studies: the Pareto-optimal trials (means over seeds)."""
    if len(spec.metrics) < 2 or spec.searcher.type != "optuna":
        return None
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = JournalStorage(JournalFileBackend(str(folder / tuning.OPTUNA_JOURNAL)))
    study = optuna.load_study(study_name=spec.name, storage=storage)
    rows = [{"optuna_trial": t.number, **t.params,
             **{m: v for m, v in zip(spec.metrics, t.values, strict=True)}}
            for t in study.best_trials]
    return pd.DataFrame(rows)


_TRIAL_ID = re.compile(r"([0-9a-f]{5}_\d{5})")


INTERRUPTED = "INTERRUPTED"  # a trial the driver left before its budget: `study resume` goes on


def results_table(grid: Any, spec: StudySpec,
                  states: dict[str, str] | None = None) -> pd.DataFrame:
    """One row per trial, failed ones included: id, status, settings, seed, final metrics. A
    trial Tune's state still holds as running, pending or paused when the driver stopped is
    INTERRUPTED (Tune's result grid calls it terminated), its `step` where it stopped."""
    rows = []
    for result in grid:
        metrics = result.metrics or {}
        match = _TRIAL_ID.search(Path(result.path).name) if result.path else None
        tid = metrics.get("trial_id") or (match.group(1) if match else "?")
        state = (states or {}).get(tid, "TERMINATED")
        row: dict[str, Any] = {
            "trial_id": tid,
            "status": "ERROR" if result.error is not None else
            "TERMINATED" if state in ("TERMINATED", "ERROR") else INTERRUPTED,
        }
        row |= {k: v for k, v in (result.config or {}).items() if not k.startswith("__")}
        row |= {k: v for k, v in metrics.items() if k in _RESULT_METRICS or k in spec.metrics}
        if result.error is not None:
            row["error"] = root_cause(result.error)
        rows.append(row)
    table = pd.DataFrame(rows)
    key, ascending = spec.tune_metric, spec.modes[0] == "min"
    if key in table:
        table = table.sort_values(key, ascending=ascending, na_position="last")
    return table.reset_index(drop=True)


def mlflow_table(table: pd.DataFrame) -> pd.DataFrame:
    """The results table as logged for `mlflow.load_table`, which infers column types when it
    reads: a trial id of hex digits ('12345_00000', '305e5_00001') would come back as a number,
    so the ids go as `trial_<id>` under `trial`."""
    out = table.drop(columns="trial_id")
    out.insert(0, "trial", "trial_" + table["trial_id"].astype(str))
    return out


def print_summary(outcome: StudyOutcome) -> None:
    rec = outcome.record
    with pd.option_context("display.width", 160, "display.max_columns", 30):
        print(outcome.table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    print(f"\nresults: {outcome.folder / RESULTS_FILE}")
    pareto = outcome.folder / PARETO_TABLE
    if pareto.is_file():
        front = pd.read_parquet(pareto)
        print(f"\nPareto front ({len(front)} of the Optuna trials):")
        print(front.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    if (outcome.folder / LINEAGE_TABLE).is_file():
        n = len(pd.read_parquet(outcome.folder / LINEAGE_TABLE))
        print(f"\nPBT: {n} exploit(s), lineage in {outcome.folder / LINEAGE_TABLE}")
    if outcome.interrupted:
        print(f"study {rec.name}: {outcome.interrupted}")
    if outcome.errors:
        print(f"{outcome.errors} trial(s) failed: see `study status {rec.name}`")
    # The interpreter's own mlflow: `mlflow` alone is not on PATH outside an activated venv.
    print(f"compare runs in the MLflow UI: {shlex.quote(sys.executable)} -m mlflow ui "
          f"--backend-store-uri {shlex.quote(rec.tracking_uri)}")
    print(f"  then open {mlflow_runs_page(rec.experiment_id)}")


def mlflow_runs_page(experiment_id: str, base: str = "http://127.0.0.1:5000") -> str:
    """The study's runs table in MLflow's UI. MLflow 3.17 opens an experiment on its GenAI
    overview whatever the experiment's kind tag says (its browser-wide default workflow is
    GenAI); the `workflowType` parameter opens the model-training runs table instead."""
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType=machine_learning"
