"""The per-trial driver: a Tune function trainable that trains one run.

A 1-worker trial runs the loop in its own process and reports to Tune directly
(`TuneReporter`): no Train controller, worker actor or queue to start, and each checkpoint
is stored once, by Tune. A trial with 2 or more workers (or `train_worker_group: always`)
launches a Ray Train `TorchTrainer` (DDP) and waits for it in a thread, while
`ReportForwarder` (a Train callback) passes every report and its checkpoint back over a Ray
queue; the trial re-reports them to Tune *with* the checkpoint, which PBT needs to clone a trial
(Ray's own `TuneReportCallback` forwards only a path).

Where a trial starts follows from the Tune checkpoint it starts with (`meta.json`):
- none: from scratch (a resumed study's Train run finds that run's own snapshot);
- its own: its latest snapshot, RNG included (pause, restore, retry);
- another trial's (a PBT exploit): the donor's weights with this trial's mutated settings (a
  new Train run named after the donor and step); the copy is reported as a lineage event.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import train, tune
from ray.train.torch import TorchConfig, TorchTrainer
from ray.train.v2.api.callback import UserCallback
from ray.util.queue import Queue

from trainables.checkpoint import META_FILE, local_folder, location
from trainables.core.settings import merge_settings
from trainables.loop import LoopConfig, ray_train_worker, train_loop

SEED_KEY = "seed"
TRAINER_KEY = "trainer"  # the grid axis of a study that compares trainers
REPEAT_INDEX = "__trial_index__"
STAGES_DIR = "stages"  # <study folder>/stages: cached stages its trials share (partitions)
DATASET_PREFIX = "dataset."  # set by tune.search.Repeater when seeds repeat an Optuna point
GROUP_START_RETRIES = 3  # Train controller failures (a worker group that did not start) tolerated


class TrialFailed(RuntimeError):
    """The Train run failed; the message is the root cause (what MLflow records)."""


@dataclass
class TrialPlan:
    """What every trial of a study shares (passed with tune.with_parameters, not in config)."""

    study: str
    study_dir: str
    trainer: str
    dataset: dict[str, Any]
    fixed: dict[str, Any]
    seeds: list[int]
    steps: int
    eval_every: int
    checkpoint_every: int
    eval_samples: int
    eval_features: str = "auto"
    eval_split: str = "train"
    time_s: float | None = None
    data_root: str | None = None
    workers: int = 1
    in_process: bool = True  # the loop in the trial's own process (1 worker), else Ray Train
    cpus_per_worker: float = 1
    gpus_per_worker: float = 0
    max_failures: int = 0
    keep_checkpoints: int | None = 2  # None: keep every one (PBT, PB2)
    int_params: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    trainers: dict[str, dict[str, Any]] = field(default_factory=dict)  # own fixed settings
    # {metric, mode, constraints}: each report then carries `objective` (see `constrain`).
    objective: dict[str, Any] | None = None

    def loop_config(self, config: dict[str, Any], trial_id: str) -> LoopConfig:
        hparams = {k: v for k, v in config.items()
                   if k not in (SEED_KEY, TRAINER_KEY) and not k.startswith("__")}
        trainer = str(config.get(TRAINER_KEY, self.trainer))
        for k in self.int_params:  # PB2 proposes floats for integer settings
            if k in hparams:
                hparams[k] = int(round(hparams[k]))
        # `dataset.<option>` parameters sweep the data set itself (e.g. the number of modes).
        data_opts = {k.removeprefix(DATASET_PREFIX): hparams.pop(k) for k in list(hparams)
                     if k.startswith(DATASET_PREFIX)}
        dataset = self.dataset | {"options": self.dataset.get("options", {}) | data_opts}
        if SEED_KEY in config:
            seed = int(config[SEED_KEY])
        else:
            seed = self.seeds[int(config.get(REPEAT_INDEX, 0)) % len(self.seeds)]
        return LoopConfig(
            trainer=trainer,
            method=merge_settings(self.fixed, self.trainers.get(trainer, {}), hparams),
            dataset=dataset,
            data_root=self.data_root, seed=seed, steps=self.steps, time_s=self.time_s,
            eval_every=self.eval_every, checkpoint_every=self.checkpoint_every,
            eval_samples=self.eval_samples, eval_features=self.eval_features,
            eval_split=self.eval_split,
            artifact_dir=str(Path(self.study_dir) / "artifacts" / trial_id),
            stage_dir=str(Path(self.study_dir) / STAGES_DIR),
            threads=max(1, int(self.cpus_per_worker)), trial_id=trial_id,
        )

    def trainer_for(self, loop: LoopConfig, run_name: str, queue: Queue) -> TorchTrainer:
        use_gpu = self.gpus_per_worker > 0
        resources = {"CPU": self.cpus_per_worker}
        if use_gpu:
            resources["GPU"] = self.gpus_per_worker
        return TorchTrainer(
            ray_train_worker,
            train_loop_config=loop.model_dump(),
            scaling_config=train.ScalingConfig(
                num_workers=self.workers, use_gpu=use_gpu, resources_per_worker=resources
            ),
            torch_config=TorchConfig(backend="nccl" if use_gpu else "gloo"),
            run_config=train.RunConfig(
                name=run_name,
                storage_path=str(Path(self.study_dir) / "train"),
                callbacks=[ReportForwarder(queue)],
                failure_config=self.failure_config(),
                checkpoint_config=train.CheckpointConfig(num_to_keep=self.keep_checkpoints),
            ),
        )

    def failure_config(self) -> train.FailureConfig:
        """Ray Train retries a worker group that fails to start without end by default (a
        trial then hangs where its group can never start): a few retries, then the trial fails
        with the cause."""
        return train.FailureConfig(max_failures=self.max_failures,
                                   controller_failure_limit=GROUP_START_RETRIES)


class ReportForwarder(UserCallback):
    """Runs in the Train controller: each report's rank-0 metrics and checkpoint → the trial."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def after_report(self, run_context: Any, metrics: list[dict[str, Any]],
                     checkpoint: train.Checkpoint | None) -> None:
        report = metrics[0].copy()
        if checkpoint is not None:
            report["checkpoint_path"] = checkpoint.path
        # Blocks while the trial still re-reports the previous one (queue of size 1).
        self.queue.put(("report", report, checkpoint))


_DONE = ("done", None, None)


def start_point(trial_id: str, config: dict[str, Any]) -> tuple[str, str | None, dict | None]:
    """(Train run name, folder to start from, lineage event or None) from the Tune checkpoint."""
    ckpt = tune.get_checkpoint()
    if ckpt is None:
        return trial_id, None, None
    meta = read_checkpoint_meta(ckpt)
    # Workers may run on other nodes: hand them the storage location, not a local copy.
    folder = location(ckpt)
    if meta.get("trial_id") in (None, trial_id):  # our own snapshot (pause, restore)
        return meta.get("run_name") or trial_id, folder, None
    donor, step = meta["trial_id"], int(meta["step"])
    mine = {k: v for k, v in config.items() if not k.startswith("__")}
    theirs = meta.get("method", {})
    mutation = {k: {"from": theirs.get(k), "to": v} for k, v in mine.items()
                if k in theirs and theirs[k] != v}
    event = {"trial_id": trial_id, "donor": donor, "step": step, "mutation": mutation,
             "config": mine,
             "donor_digest": meta.get("weights_digest"), "donor_metrics": meta.get("metrics", {})}
    return f"{trial_id}-from-{donor}-{step:07d}", folder, event


def read_checkpoint_meta(ckpt: train.Checkpoint) -> dict[str, Any]:
    """meta.json of a checkpoint on any storage (local disk, NFS, S3), without copying it."""
    path = f"{ckpt.path.rstrip('/')}/{META_FILE}"
    try:
        with ckpt.filesystem.open_input_stream(path) as f:
            return json.loads(f.read().decode())
    except FileNotFoundError:
        return {}


def run_trial(config: dict[str, Any], plan: TrialPlan) -> None:
    trial_id = tune.get_context().get_trial_id()
    run_name, start, event = start_point(trial_id, config)
    loop = plan.loop_config(config, trial_id).model_copy(
        update={"run_name": run_name, "resume_from": start})
    if plan.in_process:
        own = local_folder(start) if start is not None and event is None else None
        loop = loop.model_copy(update={"resume_from": None if own else start})
        train_loop(loop.model_dump(), TuneReporter(own, event, plan.objective))
        return
    queue: Queue = Queue(maxsize=1, actor_options={"num_cpus": 0})
    failure: list[BaseException] = []

    def fit() -> None:
        try:
            plan.trainer_for(loop, run_name, queue).fit()
        except BaseException as exc:  # noqa: BLE001 — handed to the trial thread below
            failure.append(exc)
        finally:
            queue.put(_DONE)

    threading.Thread(target=fit, name=f"train-{trial_id}", daemon=True).start()
    while True:
        kind, metrics, ckpt = queue.get()
        if kind == "done":
            break
        _attach_event(metrics, event)
        constrain(metrics, plan.objective)
        event = None
        tune.report(metrics, checkpoint=_as_tune_checkpoint(ckpt))
    if failure:  # Train wraps worker errors; keep the root cause readable
        raise TrialFailed(root_cause(failure[0])) from None


@dataclass
class TuneReporter:
    """The loop's reporter inside a 1-worker trial: straight to Tune, which stores the
    checkpoint folder in the trial's storage (once)."""

    own: Path | None  # the trial's own snapshot to resume exactly, if any
    event: dict[str, Any] | None  # the PBT exploit this run starts from, if any
    objective: dict[str, Any] | None = None  # the spec's constraints (TrialPlan.objective)

    def restore_dir(self) -> Path | None:
        return self.own

    def report(self, metrics: dict[str, Any], checkpoint_dir: Path | None) -> None:
        import ray

        metrics = metrics | {"node_id": ray.get_runtime_context().get_node_id()}
        _attach_event(metrics, self.event)
        constrain(metrics, self.objective)
        self.event = None
        ckpt = tune.Checkpoint.from_directory(str(checkpoint_dir)) if checkpoint_dir else None
        tune.report(metrics, checkpoint=ckpt)


PENALTY = 1e12  # added to (min) or taken from (max) the metric of a trial outside its constraints


def constrain(metrics: dict[str, Any], objective: dict[str, Any] | None) -> None:
    """`objective` (what Tune ranks when the spec has constraints): the metric where every
    constrained metric lies in its range, else the metric pushed PENALTY past it, so such a
    trial ranks after every trial inside (and among those outside, by its metric); and
    `constraints_met` (1 or 0). A report without the metric is left alone."""
    if not objective or objective["metric"] not in metrics:
        return
    met = all(isinstance(metrics.get(name), int | float) and low <= metrics[name] <= high
              for name, (low, high) in objective["constraints"].items())
    value = float(metrics[objective["metric"]])
    worse = PENALTY if objective["mode"] == "min" else -PENALTY
    metrics["objective"] = value if met else value + worse
    metrics["constraints_met"] = float(met)


def _attach_event(metrics: dict[str, Any], event: dict[str, Any] | None) -> None:
    """The first report after an exploit carries the lineage event, with the digest of the
    weights loaded."""
    if event is not None:
        event["loaded_digest"] = metrics.pop("loaded_digest", None)
        event["lr_now"] = {k: v for k, v in metrics.items() if k.startswith("lr_now.")}
        metrics["pbt_event"] = json.dumps(event, default=str)
    metrics.pop("loaded_digest", None)


def _as_tune_checkpoint(ckpt: train.Checkpoint | None) -> tune.Checkpoint | None:
    if ckpt is None:
        return None
    return tune.Checkpoint(ckpt.path, filesystem=ckpt.filesystem)


def root_cause(exc: BaseException) -> str:
    """The innermost meaningful message of a (possibly wrapped, remote) exception."""
    seen: list[BaseException] = []
    cur: BaseException | None = exc
    while cur is not None and cur not in seen:
        seen.append(cur)
        cur = cur.__cause__ or cur.__context__
    text = "\n".join(str(e) for e in seen)
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    errors = [ln for ln in lines if "Error:" in ln or "Exception:" in ln]
    return (errors[-1] if errors else (lines[-1] if lines else type(exc).__name__))[:2000]
