"""MLflow: one parent run per study, one child run per trial, written from the Tune driver.

Only the driver writes (a Tune callback), so a local sqlite store never sees concurrent writers.
A trial's run is found again by its `trial_id` tag, so a resumed study or a restarted trial
reuses its run; metric steps already logged are skipped, so a replay after resume adds nothing.
"""

from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient
from ray import tune

from study.progress import failure_reason, short_config
from study.versions import git_revision, library_versions

TRIAL_TAG = "trial_id"
STUDY_TAG = "study"
# Tune's bookkeeping that says nothing about the model.
_SKIP = {"timestamp", "done", "pid", "node_ip", "hostname", "time_since_restore",
         "iterations_since_restore", "date", "checkpoint_dir_name", "should_checkpoint"}
# The x axis of every metric already (as a metric, MLflow's compare view would plot it).
_AXES = {"step", "training_iteration"}
# Logged when their value changes, not at every report: the optimisers' rates and PBT's
# mutated settings (a constant charted at every step hides what PBT changed).
_ON_CHANGE = ("lr_now.", "hp.")
# Present in every report: a resumed trial's last logged step is read from its history.
_CLOCK = "time_total_s"
FINGERPRINT_KEY = "dataset_fingerprint"  # the trial's first report: its data's SHA-256


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts → dotted keys (MLflow params must be flat)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out |= flatten(v, key + ".")
        else:
            out[key] = v
    return out


def _local_artifact_root(uri: str) -> str | None:
    """Beside a local sqlite store, artifacts go to ./mlartifacts next to the database file."""
    if uri.startswith("sqlite:///"):
        return (Path(uri.removeprefix("sqlite:///")).parent / "mlartifacts").as_uri()
    return None


# MLflow 3's UI opens an experiment by its kind: without this tag a study's experiment opened
# on the GenAI overview (traces, token usage) instead of its runs table.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}


def ensure_experiment(client: MlflowClient, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.tags.get("mlflow.experimentKind") is None:  # made by an earlier version
            for key, value in EXPERIMENT_KIND.items():
                client.set_experiment_tag(exp.experiment_id, key, value)
        return exp.experiment_id
    return client.create_experiment(name, artifact_location=_local_artifact_root(uri),
                                    tags=EXPERIMENT_KIND)


def create_parent_run(
    client: MlflowClient, experiment_id: str, name: str, spec: dict[str, Any], spec_hash: str,
    spec_path: Path,
) -> str:
    tags = {STUDY_TAG: name, "spec_hash": spec_hash, "git_revision": git_revision(),
            "mlflow.runName": name, "kind": "study",
            # The run page's note: what the study asks, in the spec's words.
            "mlflow.note.content": str(spec.get("description") or ""),
            "platform": f"{platform.system()} {platform.machine()} {platform.node()}"}
    tags |= {f"version.{k}": v for k, v in library_versions().items()}
    run = client.create_run(experiment_id, tags=tags)
    params = {k: json.dumps(v) if isinstance(v, list | dict) else v
              for k, v in flatten(spec).items()}
    client.log_batch(run.info.run_id, params=[Param(k, str(v)[:6000]) for k, v in params.items()])
    client.log_artifact(run.info.run_id, str(spec_path))
    return run.info.run_id


class MLflowTrialCallback(tune.Callback):
    """Tune callback: a child run per trial under the study's parent run."""

    # Class defaults: a study resumes with the callback Tune pickled when it started, which
    # may come from a version without these attributes.
    seeds: list[int] | None = None
    study_file: str | None = None

    def __init__(self, uri: str, experiment_id: str, parent_run_id: str, study: str,
                 artifact_root: str, static_params: dict[str, Any],
                 lineage_file: str | None = None, mutable: tuple[str, ...] = (),
                 seeds: list[int] | None = None, study_file: str | None = None) -> None:
        self.uri, self.experiment_id, self.parent_run_id = uri, experiment_id, parent_run_id
        self.study, self.artifact_root, self.static_params = study, artifact_root, static_params
        # PBT: exploit events go to this JSON-lines file; mutated settings are logged as
        # metrics `hp.<name>` (MLflow params cannot change value).
        self.lineage_file, self.mutable, self.seeds = lineage_file, mutable, seeds
        # study.json: a resumed study logs where it says now (a rebuilt store has new ids).
        self.study_file = study_file
        self._runs: dict[str, str] = {}
        self._last_step: dict[str, float] = {}
        self._logged: dict[tuple[str, str], float] = {}  # (trial, _ON_CHANGE key) → value
        self._client: MlflowClient | None = None

    def __getstate__(self) -> dict[str, Any]:  # Tune pickles callbacks with the experiment
        state = self.__dict__.copy()
        state["_client"], state["_runs"], state["_last_step"] = None, {}, {}
        state["_logged"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update({"_logged": {}} | state)
        if self.study_file and Path(self.study_file).is_file():
            record = json.loads(Path(self.study_file).read_text())
            self.uri, self.experiment_id = record["tracking_uri"], record["experiment_id"]
            self.parent_run_id = record["parent_run_id"]

    @property
    def client(self) -> MlflowClient:
        if self._client is None:
            self._client = MlflowClient(self.uri)
        return self._client

    def run_id(self, trial: Any) -> str:
        """The trial's run: cached, else found by tag (resume), else created."""
        tid = trial.trial_id
        if tid in self._runs:
            return self._runs[tid]
        found = self.client.search_runs(
            [self.experiment_id],
            f"tags.{TRIAL_TAG} = '{tid}' and tags.{STUDY_TAG} = '{self.study}' and "
            f"tags.mlflow.parentRunId = '{self.parent_run_id}'",
            max_results=2,
        )
        if found:
            run_id = found[0].info.run_id
            history = self.client.get_metric_history(run_id, _CLOCK)
            self._last_step[tid] = max((m.step for m in history), default=-math.inf)
            self.client.update_run(run_id, status="RUNNING")
        else:
            run_id = self._create(trial)
            self._last_step[tid] = -math.inf
        self._runs[tid] = run_id
        return run_id

    def _create(self, trial: Any) -> str:
        config = {k: v for k, v in trial.config.items() if not k.startswith("__")}
        # Named by what sets it apart (searched values, seed): MLflow lists runs by name.
        name = short_config(trial.config, self.seeds) or trial.trial_id
        tags = {"mlflow.parentRunId": self.parent_run_id, TRIAL_TAG: trial.trial_id,
                STUDY_TAG: self.study, "mlflow.runName": name}
        run = self.client.create_run(self.experiment_id, tags=tags)
        params = (flatten(self.static_params) | resolved_settings(self.static_params, config)
                  | flatten(config))
        self.client.log_batch(run.info.run_id,
                              params=[Param(k, str(v)[:6000]) for k, v in params.items()])
        return run.info.run_id

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.run_id(trial)

    def on_trial_result(self, iteration: int, trials: list, trial: Any, result: dict,
                        **info: Any) -> None:
        run_id, tid = self.run_id(trial), trial.trial_id
        step = result.get("step", result.get("training_iteration", 0))
        tags = []
        if isinstance(result.get("pbt_event"), str):
            # A clone restarts at the donor's step: its steps may repeat, and are new.
            tags += self._record_exploit(run_id, json.loads(result["pbt_event"]))
        elif step <= self._last_step.get(tid, -math.inf):
            return  # replayed after a resume: already logged
        self._last_step[tid] = step
        now = int(time.time() * 1000)
        # The config the trial ran with (PBT may already have changed `trial.config` for its
        # next exploit before callbacks see this result).
        config = result.get("config") or trial.config
        values = dict(result) | {f"hp.{k}": config[k] for k in self.mutable if k in config}
        metrics = []
        for k, v in values.items():
            if k in _SKIP or k in _AXES or not isinstance(v, int | float) or isinstance(v, bool) \
                    or not math.isfinite(float(v)):
                continue
            if k.startswith(_ON_CHANGE):
                if not self.mutable or self._logged.get((tid, k)) == v:
                    continue  # without mutations nothing changes: the setting.* params say it
                self._logged[tid, k] = v
            metrics.append(Metric(k, float(v), now, int(step)))
        if isinstance(result.get("checkpoint_path"), str):
            tags.append(RunTag("last_checkpoint", result["checkpoint_path"]))
        self.client.log_batch(run_id, metrics=metrics, tags=tags)
        if isinstance(result.get(FINGERPRINT_KEY), str):
            self._log_dataset(run_id, result[FINGERPRINT_KEY])

    def _log_dataset(self, run_id: str, fingerprint: str) -> None:
        """The data set as the run's input (`mlflow.data`): name, loader options and the
        content fingerprint the trial computed (its SHA-256); once per run."""
        from mlflow.data.code_dataset_source import CodeDatasetSource
        from mlflow.data.meta_dataset import MetaDataset
        from mlflow.entities import DatasetInput, InputTag

        if self.client.get_run(run_id).inputs.dataset_inputs:
            return  # logged before a resume
        spec = self.static_params.get("dataset", {})
        source = CodeDatasetSource({"loader": str(spec.get("name")), "sha256": fingerprint,
                                    "options": json.dumps(spec.get("options", {}),
                                                          sort_keys=True, default=str)})
        dataset = MetaDataset(source, name=str(spec.get("name")), digest=fingerprint[:16])
        context = InputTag("mlflow.data.context", "training")
        self.client.log_inputs(run_id, [DatasetInput(dataset._to_mlflow_entity(), [context])])

    def _record_exploit(self, run_id: str, event: dict[str, Any]) -> list[RunTag]:
        event["time"] = time.time()
        if self.lineage_file:
            with open(self.lineage_file, "a") as f:  # driver only: a single writer
                f.write(json.dumps(event, default=str) + "\n")
        run = self.client.get_run(run_id)
        n = int(run.data.tags.get("pbt.exploits", "0")) + 1
        text = json.dumps({k: event[k] for k in ("donor", "step", "mutation")}, default=str)
        return [RunTag("pbt.exploits", str(n)), RunTag(f"pbt.exploit.{n}", text[:5000]),
                RunTag("pbt.last_donor", str(event["donor"]))]

    def _finish(self, trial: Any, status: str, reason: str | None = None) -> None:
        run_id = self.run_id(trial)
        final = {k: v for k, v in (trial.last_result or {}).items()
                 if isinstance(v, int | float | str) and k not in _SKIP}
        self.client.log_dict(run_id, {"trial_id": trial.trial_id, "status": status,
                                      "final_metrics": final, "failure_reason": reason},
                             "final_metrics.json")
        folder = Path(self.artifact_root) / trial.trial_id
        _add_run_id(folder / "protocol.json", run_id)
        for path in sorted(folder.iterdir()) if folder.is_dir() else []:
            # protocol.json at the top, plots under samples/
            where = None if path.suffix == ".json" else "samples"
            self.client.log_artifact(run_id, str(path), where)
        if reason:
            self.client.set_tag(run_id, "failure_reason", reason[:5000])
        if status == "FINISHED":
            self._log_generator(run_id, trial)
        self.client.set_terminated(run_id, status)

    def _log_generator(self, run_id: str, trial: Any) -> None:
        """The final generator as a pyfunc model; a failure is a tag, never a failed study."""
        from study.generator_model import log_generator
        from trainables.checkpoint import local_folder

        ckpt = getattr(trial, "checkpoint", None)
        path = getattr(ckpt, "path", None) or (trial.last_result or {}).get("checkpoint_path")
        if not path:
            return
        try:
            log_generator(self.client, run_id, local_folder(str(path)))
        except Exception as exc:  # noqa: BLE001 - recorded on the run instead
            self.client.set_tag(run_id, "generator_model_error", str(exc)[:5000])

    def on_trial_complete(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, "FINISHED")

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._finish(trial, "FAILED", failure_reason(trial))


def _add_run_id(path: Path, run_id: str) -> None:
    """The trial's protocol.json names its MLflow run (the trial wrote it without knowing it)."""
    if not path.is_file():
        return
    try:
        protocol = json.loads(path.read_text())
    except ValueError:
        return
    if isinstance(protocol, dict):
        path.write_text(json.dumps(protocol | {"mlflow_run_id": run_id}, indent=2))


def resolved_settings(static: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    """Every setting of the trainer as the trial starts it, defaults included (the spec names
    only what it changes), as `setting.<name>` params; none where the values do not validate
    (PB2's float for an integer setting is rounded later, in the trial)."""
    from pydantic import ValidationError

    from trainables.core.settings import has_setting, merge_settings
    from trainables.registry import get_method

    trainer = config.get("trainer", static["trainer"])
    model = get_method(trainer).Config
    chosen = merge_settings(static.get("fixed", {}), static.get("trainers", {}).get(trainer, {}),
                            {k: v for k, v in config.items() if has_setting(model, k)})
    try:
        return flatten(model.model_validate(chosen).model_dump(mode="json"), "setting.")
    except ValidationError:
        return {}
